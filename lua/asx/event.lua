-- The event format in Lua, read from the one table in src/asx_event.h
-- (asx_event_schema through the FFI), and the encoders of messages: what
-- loggers write for an event that is a Lua table (ex:emit, send_event)
-- rather than one of the book's records, which C encodes. Both write the
-- same text for the same event.
--
--   event.NAMES[code]   a type's name in files and messages
--   event.CODES[name]   the code of a type the book records
--   event.TYPES         every type's name, in code order
--   event.TRADE         the name of trades
--   event.FIELDS[name]  its fields, in file order (time and session come first)
--   event.TAGS[name]    its InfluxDB tags, { key =, field = }, in key order
--   event.message(e, session, names)  the Lua message of a book record;
--                              names, the exchange's instrument names by
--                              number from 0, is optional
--   event.named_message(e, session, names)  its type's name, then the same
--   event.reader(name, field)  a function(e) reading one field of a record
--   event.clean_utf8(s)        s as valid UTF-8, each invalid sequence U+FFFD
local ffi = require("ffi")
local F = require("asx.ffi")
local C = F.C

local M = {}

local NAMES, CODES, TYPES, FIELDS, TAGS = {}, {}, {}, {}, {}
M.NAMES, M.CODES, M.TYPES, M.FIELDS, M.TAGS = NAMES, CODES, TYPES, FIELDS, TAGS
for code = 0, C.ASX_EV_COUNT - 1 do
  local name = ffi.string(C.asx_event_type_name(code))
  NAMES[code] = name
  TYPES[#TYPES + 1] = name
  FIELDS[name], TAGS[name] = {}, {}
end
M.TRADE = NAMES[C.ASX_EV_TRADE]

-- True for a pointer to the book's event records (const asx_event *), what
-- the exchange hands to the loggers that read them in C: not a light
-- userdata, which the FFI would take as any pointer.
local RECORDS = ffi.typeof("const asx_event *")
function M.is_records(v)
  return ffi.istype(RECORDS, v)
end

-- The names of sides and reasons by their codes, which start at 0: tables
-- made by table.new hold index 0 in their array part, so that a message
-- reads a name by an index rather than by hashing the code.
local new_table = require("table.new")
local SIDES = new_table(2, 0)
for _, s in ipairs({ C.ASX_BUY, C.ASX_SELL }) do
  SIDES[s] = ffi.string(C.asx_event_side_name(s))
end
local REASONS = new_table(3, 0)
for _, r in ipairs({ C.ASX_TRIM_MONEY, C.ASX_TRIM_STOCKS, C.ASX_TRIM_LIMIT }) do
  REASONS[r] = ffi.string(C.asx_event_reason_name(r))
end
-- Why an order was cancelled, by code; a trader's own cancel has none.
local CANCEL_REASONS = new_table(8, 0)
for r = 1, 255 do
  local name = C.asx_event_cancel_reason_name(r)
  if name == nil then break end
  CANCEL_REASONS[r] = ffi.string(name)
end
M.CANCEL_REASONS = CANCEL_REASONS

-- The fields as the book's records carry them, per type the book records.
local members = {}
do
  local count = ffi.new("size_t[1]")
  local schema = C.asx_event_schema(count)
  for i = 0, tonumber(count[0]) - 1 do
    local f = schema[i]
    local tname, fname = NAMES[f.type], ffi.string(f.name)
    local list = FIELDS[tname]
    list[#list + 1] = fname
    if f.tag ~= nil then TAGS[tname][#TAGS[tname] + 1] = { key = ffi.string(f.tag), field = fname } end
    if f.member ~= nil then
      CODES[tname] = f.type
      members[f.type] = members[f.type] or {}
      table.insert(members[f.type], { name = fname, member = ffi.string(f.member), kind = f.kind })
    end
  end
  for _, tags in pairs(TAGS) do
    table.sort(tags, function(a, b) return a.key < b.key end)
  end
end

-- event.message is generated from the schema, so that building a message
-- costs what the hand-written table constructor would. event.named_message
-- is the same with the type's name first, a constant in each branch: a
-- delivery that sends both reads no table for the name.
do
  local VALUE = {
    [C.ASX_EVF_INT] = "tonumber(e.%s)",
    [C.ASX_EVF_OPT] = "(e.%s ~= 0 and tonumber(e.%s) or nil)",
    [C.ASX_EVF_SIDE] = "SIDES[e.%s]",
    [C.ASX_EVF_REASON] = "REASONS[e.%s]",
    [C.ASX_EVF_WHY] = "WHY[e.%s]",
    -- The name of the record's instrument: the exchange's Lua string by the
    -- book's number when the caller gives its names, a table look-up where
    -- ffi.string would hash the C string again for every event.
    [C.ASX_EVF_NAME] = "(names and names[e.instrument] or e.%s ~= nil and ffi_string(e.%s) or nil)",
  }
  local HEAD = "local tonumber, SIDES, REASONS, WHY, ffi_string, NAMES = ..."
  local codes = {}
  for code in pairs(members) do codes[#codes + 1] = code end
  table.sort(codes)
  local function generate(named)
    local src = { HEAD, "return function(e, session, names)",
      "local t, m, name = e.type" }
    for i, code in ipairs(codes) do
      local items = {}
      for _, f in ipairs(members[code]) do
        items[#items + 1] = ("[%q] = %s"):format(f.name, VALUE[f.kind]:format(f.member, f.member))
      end
      -- The last type takes any other code, so a message is always built
      -- (named by the code, as the exchange's table of names has it).
      local test = i == 1 and ("if t == %d then"):format(code)
        or i < #codes and ("elseif t == %d then"):format(code) or "else"
      local name = i < #codes and ("%q"):format(NAMES[code]) or "NAMES[t]"
      -- time and session are in the constructor, so the table is made at
      -- its final size rather than grown by a rehash.
      src[#src + 1] = ("%s m = { %s, time = e.time, session = session }%s"):format(test,
        table.concat(items, ", "), named and (" name = %s"):format(name) or "")
    end
    src[#src + 1] = named and "end return name, m end" or "end return m end"
    return assert(loadstring(table.concat(src, "\n"), named and "=asx.event.named_message" or "=asx.event.message"))(
      tonumber, SIDES, REASONS, CANCEL_REASONS, ffi.string, NAMES)
  end
  M.message, M.named_message = generate(false), generate(true)

  -- A function that reads one field of a book record of the named type, as
  -- event.message gives it: for a consumer that keeps a few fields without
  -- a message per event (the REPL's trade history).
  function M.reader(type_name, field)
    for _, f in ipairs(members[CODES[type_name]] or {}) do
      if f.name == field then
        local body = HEAD .. " return function(e, names) return %s end"
        return assert(loadstring(body:format(VALUE[f.kind]:format(f.member, f.member)),
          "=asx.event.reader"))(tonumber, SIDES, REASONS, CANCEL_REASONS, ffi.string)
      end
    end
    error(("reader: no field '%s' in the book's '%s' events"):format(tostring(field), tostring(type_name)), 2)
  end
end

-- Numbers -------------------------------------------------------------------

-- The one number formatter: integers as integers, other numbers by
-- asx_fmt_double, which the C encoders use, in the shortest form that reads
-- back as the same number.
local numbuf = ffi.new("char[32]")
local function num(v)
  -- Small integers are the common case, and LuaJIT formats them exactly.
  if v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53 then return ("%d"):format(v) end
  return ffi.string(numbuf, C.asx_fmt_double(numbuf, v))
end
M.format_number = num

-- Text ------------------------------------------------------------------------

-- Files hold valid UTF-8 whatever bytes a message has: each invalid
-- sequence becomes U+FFFD, by the same C code the native rows use.
local function clean_utf8(s)
  if not s:find("[\128-\255]") then return s end
  local n = #s
  if C.asx_fmt_utf8_valid(s, n) == n then return s end
  local buf = ffi.new("char[?]", 3 * n)
  return ffi.string(buf, C.asx_fmt_utf8(buf, s, n))
end
-- Also for JSON that lua-cjson wrote, which passes bytes past 127 through
-- as they are: an invalid sequence can only be part of a string (or a key),
-- and cleaning the whole text cleans each string as on its own.
M.clean_utf8 = clean_utf8

-- The text of a value that has none of its own in a file (a function, a
-- userdata, a table in a CSV field): tostring's, or the value's type when
-- its __tostring raises or gives no string, so that what a strategy puts
-- in a message cannot make asx's own loggers fail (and be detached).
local function text_of(v)
  local ok, text = pcall(tostring, v)
  if ok and type(text) == "string" then return text end
  return type(v)
end

-- The fields beyond its type's that a message carries, sorted.
local skip_common = { type = true, time = true, session = true }
local skip_by_type = {}
for name, fields in pairs(FIELDS) do
  local s = { type = true, time = true, session = true }
  for _, f in ipairs(fields) do s[f] = true end
  skip_by_type[name] = s
end

local function sorted_keys(t, skip)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" and not (skip and skip[k]) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function extra_keys(event_type, m)
  return sorted_keys(m, skip_by_type[event_type] or skip_common)
end

-- CSV ---------------------------------------------------------------------------

local function csv_field(v)
  local t = type(v)
  if t == "number" then return num(v) end
  if v == nil then return "" end
  if t ~= "string" then v = text_of(v) end
  v = clean_utf8(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- The header row of a CSV file with the given columns: a column of the
-- user's is any text, quoted and made valid UTF-8 as a field is.
function M.csv_header(columns)
  local row = { "time", "session" }
  for i, k in ipairs(columns) do row[i + 2] = csv_field(k) end
  return table.concat(row, ",") .. "\n"
end

-- A CSV row of message m with the given columns, ending in a newline.
function M.csv_row(columns, m)
  local row = { csv_field(m.time or 0), csv_field(m.session) }
  for i, k in ipairs(columns) do row[i + 2] = csv_field(m[k]) end
  return table.concat(row, ",") .. "\n"
end

-- JSON --------------------------------------------------------------------------

local json_escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_string(s)
  return '"' .. clean_utf8(s):gsub('[%c"\\]', function(c)
    return json_escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

-- A table with this metatable is an array even when empty ([] rather
-- than {}): a list that a reader takes as a list whatever its length.
local array_mt = {}
M.array_mt = array_mt

-- How many tables deep a value may nest, counting its own: past that a
-- table is most likely a cycle, and JSON has no way to say "the same as
-- above". Its text would be tostring's, an address that changes from run
-- to run, so it is refused instead (too_deep, and json_value raises).
local MAX_DEPTH = 16
M.MAX_DEPTH = MAX_DEPTH
local TOO_DEEP = ("tables nested more than %d deep (or in a cycle)"):format(MAX_DEPTH)

-- Whether table v, whose length is n, is written as a JSON array: it has a
-- first element and no key but the integers 1 to n (a hole among them is a
-- null). Otherwise it is an object of all its keys that JSON can name:
-- strings, numbers and booleans, as text. {1, 2, x = 3} was written [1,2]
-- and {[1] = "a", [3] = "c"} ["a"] (or ["a",null,"c"], as its length fell),
-- the other keys lost.
local function is_array(v, n)
  if n == 0 then return false end
  for k in next, v do
    if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > n then return false end
  end
  return true
end

-- The keys of table v that a JSON object holds, as text, sorted, and the
-- keys themselves in that order; strings first where a number or boolean
-- has the same text, so that the order is the same every run.
local key_rank = { string = 1, number = 2, boolean = 3 }
local function object_keys(v)
  local keys = {}
  for k in next, v do
    if key_rank[type(k)] then keys[#keys + 1] = k end
  end
  local text = {}
  for _, k in ipairs(keys) do text[k] = type(k) == "number" and num(k) or tostring(k) end
  table.sort(keys, function(a, b)
    local ta, tb = text[a], text[b]
    if ta ~= tb then return ta < tb end
    return key_rank[type(a)] < key_rank[type(b)]
  end)
  return keys, text
end

-- The path of the first value of table v, in the order JSON writes them,
-- that is a table more than MAX_DEPTH - depth tables below v ('.b[2].c'),
-- or nil when there is none.
local function deep_path(v, depth)
  if depth == MAX_DEPTH then return "" end
  local n = #v
  if is_array(v, n) then
    for i = 1, n do
      local x = v[i]
      if type(x) == "table" then
        local p = deep_path(x, depth + 1)
        if p then return ("[%d]"):format(i) .. p end
      end
    end
    return nil
  end
  for k, x in next, v do
    if type(x) == "table" and key_rank[type(k)] then
      -- Sorted only when there is one to find: the message names the first.
      local keys, text = object_keys(v)
      for _, key in ipairs(keys) do
        x = v[key]
        if type(x) == "table" then
          local p = deep_path(x, depth + 1)
          if p then return "." .. text[key] .. p end
        end
      end
      return nil
    end
  end
  return nil
end

-- For a message about to be sent: nil when every field can be written, or
-- the path of the first field that nests too deep ("a.b[2]").
function M.too_deep(m)
  local path = deep_path(m, -1)
  return path and path:sub(2)
end

-- null: a value the caller uses for JSON's null in tables (cjson.null).
local function json_value(v, depth, null)
  local t = type(v)
  if v == nil or (null ~= nil and rawequal(v, null)) then
    return "null"
  elseif t == "number" then
    if v ~= v or v == 1 / 0 or v == -1 / 0 then return "null" end
    return num(v)
  elseif t == "string" then
    return json_string(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    if depth == MAX_DEPTH then error(TOO_DEEP, 0) end
    local n = #v
    if is_array(v, n) then
      local parts = {}
      for i = 1, n do parts[i] = json_value(v[i], depth + 1, null) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    if n == 0 and getmetatable(v) == array_mt then return "[]" end
    local parts = {}
    local keys, text = object_keys(v)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = json_string(text[k]) .. ":" .. json_value(v[k], depth + 1, null)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return json_string(text_of(v))
end

-- Any Lua value as JSON text, by the rules of the JSON lines: every number
-- exactly (the one number formatter above; NaN and the infinities null),
-- tables as arrays or objects (is_array), an object's keys sorted, text as
-- valid UTF-8. Every JSON asx writes goes
-- through here, where lua-cjson 2.1.0 (Debian 12's) writes at most 14
-- significant digits: a price of 15 digits, or a fraction, read back as
-- another number. null, optional, stands for null in v (cjson.null).
-- Raises for tables nested more than MAX_DEPTH deep.
function M.json(v, null)
  return json_value(v, 0, null)
end

-- A JSON line of message m: type, time, session, its type's fields, then
-- any others, sorted. Raises for tables nested more than MAX_DEPTH deep.
function M.json_line(event_type, m, session)
  local parts = { '{"type":', json_string(event_type), ',"time":', json_value(m.time or 0, 0),
    ',"session":', json_value(session, 0) }
  local fields = FIELDS[event_type]
  if fields then
    for _, k in ipairs(fields) do
      local v = m[k]
      if v ~= nil then parts[#parts + 1] = "," .. json_string(k) .. ":" .. json_value(v, 0) end
    end
  end
  for _, k in ipairs(extra_keys(event_type, m)) do
    parts[#parts + 1] = "," .. json_string(k) .. ":" .. json_value(m[k], 0)
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

-- InfluxDB line protocol ------------------------------------------------------------

-- A line break would end the point: it becomes a space. A backslash cannot
-- end a name or tag: InfluxDB takes the separator after it as escaped and
-- refuses the point; it is dropped, as escape_tag in src/asx_event.c drops it.
local function escape_key(s) return (s:gsub("\n", " "):gsub("\\+$", ""):gsub("([, =])", "\\%1")) end
local function escape_measurement(s) return (s:gsub("\n", " "):gsub("\\+$", ""):gsub("([, ])", "\\%1")) end
local function field_value(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == 1 / 0 or v == -1 / 0 then return nil end -- InfluxDB has no NaN
    if v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53 then return num(v) .. "i" end
    return num(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "string" then
    return '"' .. v:gsub('(["\\])', "\\%1"):gsub("\n", "\\n") .. '"'
  end
  return nil
end

-- Why InfluxDB cannot take event type t as a measurement, or nil. It skips
-- the tabs and NULs that start a line, then takes a line that starts with
-- '#' for a comment and drops it without a word; a name that is empty once
-- those and the backslashes dropped at its end (escape_measurement) are
-- gone makes a line it refuses. Every other name makes a line it takes.
function M.unwritable_type(t)
  if t:find("^[%z\t]*#") then
    return "event type not starting with '#' expected (InfluxDB takes its points for comments)"
  end
  if t:find("^[%z\t\\]*$") then
    return "event type with a character other than a backslash, tab or NUL expected"
  end
  return nil
end

-- "measurement,tags fields" for message m; the logger adds seq and the
-- timestamp.
function M.line(event_type, m, session)
  local parts = { escape_measurement(event_type) }
  local is_tag = {}
  local tags = {}
  for _, tag in ipairs(TAGS[event_type] or {}) do
    local v = m[tag.field]
    if v ~= nil then tags[#tags + 1] = { tag.key, v } end
    is_tag[tag.key], is_tag[tag.field] = true, true
  end
  if session ~= nil then tags[#tags + 1] = { "session", session } end
  table.sort(tags, function(a, b) return a[1] < b[1] end)
  for _, kv in ipairs(tags) do
    local v = type(kv[2]) == "number" and num(kv[2]) or tostring(kv[2])
    v = escape_key(v)
    if v ~= "" then parts[#parts + 1] = "," .. kv[1] .. "=" .. v end
  end
  local fields = {}
  local function add(k, v)
    local fv, key = field_value(v), escape_key(k)
    if fv and key ~= "" then fields[#fields + 1] = key .. "=" .. fv end
  end
  for _, k in ipairs(FIELDS[event_type] or {}) do
    if not is_tag[k] then add(k, m[k]) end
  end
  for _, k in ipairs(extra_keys(event_type, m)) do
    if not is_tag[k] then add(k, m[k]) end
  end
  if #fields == 0 then fields[1] = "event=true" end
  return table.concat(parts) .. " " .. table.concat(fields, ",")
end

return M
