-- How the prompt shows values: the value printer (M.format) and the
-- layout of rows under a header (M.layout, M.rows_class), which the
-- commands' displays (lua/asx/repl/commands.lua) are made of.

local M = {}

-- Lines typed at the prompt may replace any global, the string library's
-- functions included; the REPL keeps its own references.
local type, tostring, ipairs = type, tostring, ipairs
local rawget, pcall, next = rawget, pcall, next
local huge = math.huge
local concat, sort = table.concat, table.sort
local format, gsub, sub, find, match, byte = string.format, string.gsub, string.sub, string.find,
  string.match, string.byte
local real_metatable = debug.getmetatable
local check = require("asx.check")
local terminal = require("asx.terminal")
local terminal_text, text_columns = terminal.text, terminal.columns
local argerror = check.argerror

M.DEPTH = 3           -- how deep tables print
M.MAX_ROWS = 50       -- rows a displayed table shows
M.MAX_STRING = 4000   -- bytes of a text shown (M.cut), about as much text as MAX_ROWS rows
M.MAX_ITEMS = 100     -- entries shown of one table
M.MAX_TOTAL = 1000    -- entries shown of one value, nested tables included

-- Formatting values --------------------------------------------------------
--
-- Printing runs code the user wrote (__tostring) on values the user built,
-- and must never raise out of the prompt: a failure prints as a placeholder
-- naming the value's type and what went wrong, and the prompt comes back.
-- Tables are read raw (rawget, next), so __index, __len and __pairs never
-- run; only __tostring does, as tostring would call it.

-- Integral numbers print as the files write them (event.format_number,
-- asx_fmt_double): in all their digits below 1e21, so that 2^54 at the
-- prompt is the 18014398509481984 of the JSON lines, not 1.8014398509482e+16.
-- Others as Lua prints them (0.1 + 0.2 as 0.3, as print shows it).
local format_number = require("asx.event").format_number
local function fmt_num(v)
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  if v % 1 == 0 then return format_number(v) end
  return tostring(v)
end
M.fmt_num = fmt_num

local error_text = require("asx.check").error_text

-- One line, short enough for a placeholder.
local function brief(text)
  text = gsub(match(text, "^[^\n]*"), "%c", "?")
  if #text > 200 then text = sub(text, 1, 200) .. "..." end
  return text
end

-- How the prompt writes a position in the chunks it compiled (the REPL
-- sets it to a script's line numbers, lua/asx/repl/init.lua); nil: as Lua
-- gave it.
M.positions = nil

local function placeholder(v, what, err)
  local text = error_text(err)
  if M.positions then text = M.positions(text) end
  return format("<%s: %s: %s>", type(v), what, brief(text))
end

-- The text s cut after MAX_STRING bytes, not in the middle of a UTF-8
-- sequence, and what says it was: "... (N bytes)", N its whole length, or
-- "". One limit and one wording for every text the prompt shows of the
-- user's: a string value, what a __tostring returned, an error's message.
local function cut(s)
  local max = M.MAX_STRING
  if #s <= max then return s, "" end
  local n = max
  while n > max - 3 and find(sub(s, n + 1, n + 1), "^[\128-\191]") do n = n - 1 end
  return sub(s, 1, n), format("... (%d bytes)", #s)
end
M.cut = cut

-- tostring that never raises: a __tostring that fails or returns something
-- other than a string gives a placeholder; its text is cut as a string's.
local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if not ok then return placeholder(v, "__tostring raised", s) end
  if type(s) ~= "string" then return format("<%s: __tostring returned a %s>", type(v), type(s)) end
  local head, more = cut(s)
  return head .. more
end

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local function is_ident(k)
  return type(k) == "string" and match(k, "^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

-- Strings print as Lua source would write them, with every control
-- character escaped (a string holding terminal escape sequences must not
-- drive the terminal), and cut (M.cut).
local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape(c)
  return ESCAPES[c] or format("\\%03d", byte(c))
end

local function quote(s)
  local head, more = cut(s)
  return '"' .. gsub(head, '[%c"\\]', escape) .. '"' .. more
end

local function scalar(v)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "number" then return fmt_num(v) end
  return safe_tostring(v)
end

local is_trader = check.is_trader

local WIDTH = 78 -- wider tables print one entry per line

-- Keys print in a stable order: numbers, then strings, then booleans (false
-- first), then the rest by type name and printed form. Each key's rank and
-- sort value are computed once, and ties keep the traversal order, so the
-- comparison is a strict order whatever a __tostring returns.
local KEY_RANK = { number = 1, string = 2, boolean = 3 }
local function entry_less(a, b)
  if a.rank ~= b.rank then return a.rank < b.rank end
  if a.value ~= b.value then return a.value < b.value end
  return a.pos < b.pos
end

-- The rank and sort value of a key.
local function key_order(k)
  local tk = type(k)
  if tk == "number" or tk == "string" then return KEY_RANK[tk], k end
  if tk == "boolean" then return 3, k and 1 or 0 end
  return 4, tk .. " " .. safe_tostring(k)
end

-- The first `limit` keys of v in print order, and how many keys there are
-- in all, leaving out the array part 1..n and the keys in skip. Only the
-- keys shown are kept, in order, so a table of millions of keys prints in
-- time proportional to its size and memory proportional to `limit`.
local function first_keys(v, n, skip, limit)
  local kept, total = {}, 0
  for k in next, v do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) and not (skip and skip[k]) then
      total = total + 1
      local rank, value = key_order(k)
      local last = kept[#kept]
      -- Ties go after: a later key (larger pos) is never less than last.
      if #kept < limit or (limit > 0 and (rank < last.rank or (rank == last.rank and value < last.value))) then
        local e = { key = k, rank = rank, value = value, pos = total }
        local i = #kept
        if i == limit then kept[i] = nil; i = i - 1 end
        while i > 0 and entry_less(e, kept[i]) do
          kept[i + 1] = kept[i]
          i = i - 1
        end
        kept[i + 1] = e
      end
    end
  end
  return kept, total
end

local render

-- The entries of a table, as text; st.budget counts down the entries the
-- whole value may still show.
local function render_items(v, depth, indent, st, skip)
  local items = {}
  local n = 0
  while rawget(v, n + 1) ~= nil do n = n + 1 end
  local limit = M.MAX_ITEMS
  local keys, nkeys = first_keys(v, n, skip, limit)
  local total = n + nkeys
  local function room()
    if #items >= limit or st.budget <= 0 then return false end
    st.budget = st.budget - 1
    return true
  end
  for i = 1, n do
    if not room() then break end
    items[#items + 1] = render(rawget(v, i), depth - 1, indent .. "  ", st)
  end
  for _, e in ipairs(keys) do
    if not room() then break end
    local k = e.key
    local ks = is_ident(k) and k or "[" .. render(k, 0, indent, st) .. "]"
    items[#items + 1] = ks .. " = " .. render(rawget(v, k), depth - 1, indent .. "  ", st)
  end
  if total > #items then items[#items + 1] = format("... (%d more)", total - #items) end
  return items
end

local function wrap(items, indent, prefix)
  if #items == 0 then return prefix .. "{}" end
  local one = prefix .. "{ " .. concat(items, ", ") .. " }"
  if #one + #indent <= WIDTH and not find(one, "\n", 1, true) then return one end
  local inner = indent .. "  "
  return prefix .. "{\n" .. inner .. concat(items, ",\n" .. inner) .. "\n" .. indent .. "}"
end

-- Traders print with their balances, which live in C and so would not show
-- among the table's own fields; the keys asx keeps in a trader (its account
-- and exchange: lua/asx/private.lua) are not shown.
require("asx.private")
local private = debug.getregistry()["asx.private"]
local TRADER_SKIP = { id = true, exchange = true, [private.ACCOUNT] = true, [private.EXCHANGE] = true }

local function render_trader(v, depth, indent, st)
  local items = { "money = " .. scalar(v.money), "stocks = " .. scalar(v.stocks) }
  for _, s in ipairs(render_items(v, depth, indent, st, TRADER_SKIP)) do items[#items + 1] = s end
  return wrap(items, indent, safe_tostring(v) .. " ")
end

function render(v, depth, indent, st)
  local tv = type(v)
  if tv ~= "table" then return scalar(v) end
  local seen = st.seen
  if is_trader(v) then
    if seen[v] or depth <= 0 then return safe_tostring(v) end
    seen[v] = true
    -- A trader's balances come through its class; a broken one prints as
    -- tostring shows it.
    local ok, text = pcall(render_trader, v, depth, indent, st)
    seen[v] = nil
    return ok and text or safe_tostring(v)
  end
  local mt = real_metatable(v)
  if mt and rawget(mt, "__tostring") then return safe_tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth <= 0 then return next(v) == nil and "{}" or "{...}" end
  seen[v] = true
  local items = render_items(v, depth, indent, st)
  seen[v] = nil
  return wrap(items, indent, "")
end

-- The printed form of one value, as the prompt shows it. Never raises.
function M.format(v, depth)
  local ok, text = pcall(render, v, depth or M.DEPTH, "", { seen = {}, budget = M.MAX_TOTAL })
  if ok then return text end
  return placeholder(v, "cannot be printed", text)
end

-- Tables of rows -----------------------------------------------------------

-- Lays out rows under a header: numbers right-aligned, text left-aligned,
-- trailing blanks trimmed so the output compares exactly. A cell is
-- measured as the terminal shows it: its control characters escaped (as
-- the prompt prints every text of the user's) and one column per UTF-8
-- character, so that the columns after a strategy named "café" or "a\027b"
-- line up (they were measured in bytes, before the escapes).
local function layout(columns, rows)
  local cells, width, right = {}, {}, {}
  for c, col in ipairs(columns) do
    width[c] = text_columns(col.title)
    right[c] = col.right
  end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local v = col.get(row)
      local s = v == nil and (col.blank or "-") or type(v) == "number" and fmt_num(v) or tostring(v)
      s = terminal_text(s)
      cells[r][c] = s
      local w = text_columns(s)
      if w > width[c] then width[c] = w end
    end
  end
  local function line(values)
    local parts = {}
    for c = 1, #columns do
      local s = values[c]
      local pad = (" "):rep(width[c] - text_columns(s))
      parts[c] = right[c] and pad .. s or s .. pad
    end
    return (concat(parts, "  "):gsub("%s+$", ""))
  end
  local titles = {}
  for c, col in ipairs(columns) do titles[c] = col.title end
  local out = { line(titles) }
  for r = 1, #rows do out[#out + 1] = line(cells[r]) end
  return concat(out, "\n")
end
M.layout = layout

local function field(name) return function(row) return row[name] end end

local function column(title, get, right, blank)
  return { title = title, get = type(get) == "string" and field(get) or get, right = right, blank = blank }
end

-- A display object: an array of rows that prints as a table and sorts by a
-- column (`traders():sort("-value")`: a leading minus sorts descending).
local function rows_class(name, columns, empty)
  local cls = {}
  cls.__index = cls
  -- Ten thousand agents make a table nobody reads on a terminal: the display
  -- shows the first rows and says how many it left out; the value itself
  -- keeps them all, for # and indexing.
  cls.__tostring = function(self)
    local n = #self
    if n == 0 then return empty end
    if n <= M.MAX_ROWS then return layout(columns, self) end
    local first = {}
    for i = 1, M.MAX_ROWS do first[i] = self[i] end
    return layout(columns, first) .. ("\n... %d more rows"):format(n - M.MAX_ROWS)
  end
  local known = {}
  for _, col in ipairs(columns) do known[col.title] = col.get end
  function cls.sort(self, key)
    local desc = false
    if type(key) == "string" and key:sub(1, 1) == "-" then
      desc, key = true, key:sub(2)
    end
    local get = type(key) == "string" and known[key]
    if not get then
      local names = {}
      for _, col in ipairs(columns) do names[#names + 1] = col.title end
      argerror(1, name .. ":sort", "column name expected (" .. concat(names, ", ") .. ")", key)
    end
    -- Ties keep their current order, so sorts can be chained.
    local pos = {}
    for i, row in ipairs(self) do pos[row] = i end
    sort(self, function(a, b)
      local x, y = get(a), get(b)
      if x == y or x == nil or y == nil or type(x) ~= type(y) then
        if (x == nil) ~= (y == nil) then return y == nil end
        return pos[a] < pos[b]
      end
      if desc then return x > y end
      return x < y
    end)
    return self
  end
  return cls
end
M.column = column
M.rows_class = rows_class
M.is_ident = is_ident
M.KEYWORDS = KEYWORDS

return M
