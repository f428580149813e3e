-- The prompt of `asx-host -i`: a Lua REPL inside a live session.
--
-- Lines come from the line reader in src/asx_repl.c (libedit on a terminal,
-- plain reads from a pipe or a file), one at a time, from the same libuv loop
-- that runs the agents: with the real clock they keep trading while the user
-- types. Each line is evaluated in the session's own Lua state (globals are
-- the session's globals); the built-in commands live in an environment table
-- in front of _G, so they neither clobber nor depend on what strategies did
-- to the globals.
--
-- Every command returns its data as a Lua value whose printed form is the
-- display, so `book()` shows the ladder while `book().asks[1].price` is a
-- number. Misuse raises an error naming the command and the argument, as
-- everywhere in asx (README.md, "Errors"); the REPL prints it and goes on.
--
-- The REPL is a mode of the host: lua/asx/host.lua runs the session as it
-- always does and M.attach puts the prompt on it; the commands that act on
-- the session (pause, step, spawn, kill) are the session's own methods.
-- Without a session the REPL still works on a bare exchange (pause, step
-- and friends then raise).
local asx = require("asx")
local event = require("asx.event")
local C = require("asx.ffi").C

local M = {}

-- Lines typed at the prompt may replace any global, the string library's
-- functions included; the REPL keeps its own references.
local type, tostring, tonumber, pairs, ipairs, select = type, tostring, tonumber, pairs, ipairs, select
local rawget, getmetatable, setmetatable, pcall, next = rawget, getmetatable, setmetatable, pcall, next
local huge = math.huge
local concat, sort = table.concat, table.sort
local format, gsub, gmatch, sub, find, match, byte = string.format, string.gsub, string.gmatch,
  string.sub, string.find, string.match, string.byte
local real_metatable = debug.getmetatable
local loadstring, setfenv, unpack, error = loadstring, setfenv, unpack, error
local jit_off = jit and jit.off
local argerror, is_count = asx._argerror, asx._is_count

M.PROMPT = "asx> "
M.CONTINUE = ">> "
M.TRADES_KEPT = 10000 -- the trade history trades(n) can reach back into
M.DEPTH = 3           -- how deep tables print
M.MAX_ROWS = 50       -- rows a displayed table shows
M.MAX_STRING = 4000   -- bytes of a string value shown, about as much text as MAX_ROWS rows
M.MAX_ITEMS = 100     -- entries shown of one table
M.MAX_TOTAL = 1000    -- entries shown of one value, nested tables included

-- Formatting values --------------------------------------------------------
--
-- Printing runs code the user wrote (__tostring) on values the user built,
-- and must never raise out of the prompt: a failure prints as a placeholder
-- naming the value's type and what went wrong, and the prompt comes back.
-- Tables are read raw (rawget, next), so __index, __len and __pairs never
-- run; only __tostring does, as tostring would call it.

-- Integers print without a fraction; others as Lua prints them.
local function fmt_num(v)
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  if v % 1 == 0 and v > -1e15 and v < 1e15 then return format("%d", v) end
  return tostring(v)
end
M.fmt_num = fmt_num

-- The text of an error value, running none of its metamethods.
local function error_text(e)
  local te = type(e)
  if te == "string" then return e end
  if te == "number" then return fmt_num(e) end
  return "(" .. te .. " error value)"
end

-- One line, short enough for a placeholder.
local function brief(text)
  text = gsub(match(text, "^[^\n]*"), "%c", "?")
  if #text > 200 then text = sub(text, 1, 200) .. "..." end
  return text
end

local function placeholder(v, what, err)
  return format("<%s: %s: %s>", type(v), what, brief(error_text(err)))
end

-- tostring that never raises: a __tostring that fails or returns something
-- other than a string gives a placeholder.
local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if not ok then return placeholder(v, "__tostring raised", s) end
  if type(s) ~= "string" then return format("<%s: __tostring returned a %s>", type(v), type(s)) end
  return s
end
M.safe_tostring = safe_tostring

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local function is_ident(k)
  return type(k) == "string" and match(k, "^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

-- Strings print as Lua source would write them, with every control
-- character escaped (a string holding terminal escape sequences must not
-- drive the terminal), and cut after MAX_STRING bytes.
local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape(c)
  return ESCAPES[c] or format("\\%03d", byte(c))
end

local function quote(s)
  local cut = ""
  if #s > M.MAX_STRING then
    local n = M.MAX_STRING
    -- Not in the middle of a UTF-8 sequence.
    while n > M.MAX_STRING - 3 and find(sub(s, n + 1, n + 1), "^[\128-\191]") do n = n - 1 end
    cut = format("... (%d bytes)", #s)
    s = sub(s, 1, n)
  end
  return '"' .. gsub(s, '[%c"\\]', escape) .. '"' .. cut
end

local function scalar(v)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "number" then return fmt_num(v) end
  return safe_tostring(v)
end

local is_trader = asx.is_trader

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
-- among the table's own fields.
local TRADER_SKIP = { id = true, exchange = true }

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
-- trailing blanks trimmed so the output compares exactly.
local function layout(columns, rows)
  local cells, width, right = {}, {}, {}
  for c, col in ipairs(columns) do
    width[c] = #col.title
    right[c] = col.right
  end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local v = col.get(row)
      local s = v == nil and (col.blank or "-") or type(v) == "number" and fmt_num(v) or tostring(v)
      cells[r][c] = s
      if #s > width[c] then width[c] = #s end
    end
  end
  local function line(values)
    local parts = {}
    for c = 1, #columns do
      local s = values[c]
      local pad = (" "):rep(width[c] - #s)
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

-- Trade history -------------------------------------------------------------

-- A logger that keeps the last `size` trades in parallel arrays used as a
-- ring, reading the book's event records directly (consume_events), so that
-- keeping the history costs no Lua table per event.
local Recorder = {}
Recorder.__index = Recorder

-- The fields of a trade it keeps, read as the event schema says.
local TRADE_FIELDS = { "price", "amount", "buyer", "seller", "aggressor" }
local read_trade = {}
for i, f in ipairs(TRADE_FIELDS) do read_trade[i] = event.reader(event.TRADE, f) end

function M.recorder(size)
  local self = { size = size or M.TRADES_KEPT, count = 0, total = 0, time = {} }
  for _, f in ipairs(TRADE_FIELDS) do self[f] = {} end
  return setmetatable(self, Recorder)
end

function Recorder:consume_events(evs, n)
  local size = self.size
  for i = 0, n - 1 do
    local e = evs[i]
    if e.type == C.ASX_EV_TRADE then
      local k = self.total % size + 1
      self.total = self.total + 1
      self.time[k] = e.time
      for j = 1, #TRADE_FIELDS do self[TRADE_FIELDS[j]][k] = read_trade[j](e) end
    end
  end
  self.count = self.total < size and self.total or size
end
-- The exchange hands the book's raw records to registered consumers only.
debug.getregistry()["asx.native_consumers"][Recorder.consume_events] = true

-- The last n trades, oldest first.
function Recorder:last(n)
  local out = {}
  if n > self.count then n = self.count end
  for j = self.total - n, self.total - 1 do
    local k = j % self.size + 1
    local row = { time = self.time[k] }
    for _, f in ipairs(TRADE_FIELDS) do row[f] = self[f][k] end
    out[#out + 1] = row
  end
  return out
end

-- The commands --------------------------------------------------------------

local function fmt_time(t) return t and ("%.3f"):format(t) or nil end

local Trades = rows_class("trades", {
  column("time", function(r) return fmt_time(r.time) end, true),
  column("price", "price", true),
  column("amount", "amount", true),
  column("buyer", "buyer", true),
  column("seller", "seller", true),
  column("aggressor", "aggressor"),
}, "no trades yet")

local Traders = rows_class("traders", {
  column("id", "id", true),
  column("strategy", "strategy"),
  column("money", "money", true),
  column("stocks", "stocks", true),
  column("orders", "orders", true),
  column("value", "value", true),
  column("state", "state"),
}, "no traders")

local Orders = rows_class("orders", {
  column("id", "id", true),
  column("trader", function(o) return tonumber(o.trader) end, true),
  column("side", "side"),
  column("price", "price", true),
  column("amount", "amount", true),
  column("filled", "filled", true),
}, "no resting orders")

-- The ladder: asks above bids, highest price on top, as the seed library's
-- Exchange.__repr__ drew it, with the order count beside each amount.
local Book = {}
Book.__index = Book
Book.__tostring = function(b)
  local rows = {}
  for i = #b.asks, 1, -1 do
    local l = b.asks[i]
    rows[#rows + 1] = { price = l.price, sell = ("%s (%d)"):format(fmt_num(l.amount), l.orders),
      mark = i == 1 and "best ask" or nil }
  end
  local split = #rows
  for i, l in ipairs(b.bids) do
    rows[#rows + 1] = { price = l.price, buy = ("%s (%d)"):format(fmt_num(l.amount), l.orders),
      mark = i == 1 and "best bid" or nil }
  end
  local text = layout({
    column("buy", "buy", true, ""), column("price", "price", true), column("sell", "sell", false, ""),
    { title = "", get = function(r) return r.mark or "" end },
  }, rows)
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local width = 0
  for _, l in ipairs(lines) do if #l > width then width = #l end end
  table.insert(lines, split + 2, ("-"):rep(width))
  lines[#lines + 1] = b.spread and ("spread %s, mid %s"):format(fmt_num(b.spread), fmt_num(b.mid))
    or "spread -, mid -"
  return concat(lines, "\n")
end

local Stats = {}
Stats.__index = Stats
local STATS_ORDER = { "time", "clock", "state", "agents", "orders", "cancels", "trades", "volume",
  "notional", "open", "high", "low", "last", "best_bid", "best_ask", "resting" }
Stats.__tostring = function(s)
  local rows = {}
  for _, k in ipairs(STATS_ORDER) do
    local v = s[k]
    if k == "time" then v = fmt_time(v) end
    rows[#rows + 1] = { k = k, v = v }
  end
  return (layout({ column("", "k"), column("", "v", true) }, rows):gsub("^%s*\n", ""))
end

local Help = setmetatable({}, { __tostring = function() return M.help_text end })

M.help_text = table.concat({
  "book(depth)        the order book as a ladder (default depth 10); .asks/.bids, best first",
  "trades(n)          the last n trades (default 10), oldest first",
  "traders(filter)    agents with balances and state; filter: strategy or state name, or a",
  "                   function(row); sort with :sort(\"value\") or :sort(\"-value\")",
  "trader(id)         the live trader object with that id",
  "orders(id)         resting orders in book order, all or one trader's",
  "stats()            the session's figures so far",
  "pause()            stop the session's clock",
  "resume()           start it again",
  "step(seconds)      advance the session that much, then pause",
  "speed(x)           run the real clock x times faster; speed() tells the current factor",
  "spawn(file_or_class, count, opts)  add count agents (default 1) to the running session",
  "kill(id)           stop one agent and cancel its orders",
  "me                 your trader: me:buy(5, 101), me:sell(2), me:cancel_all()",
  "help()             this list",
  "quit()             end the session (also Ctrl-D, or Ctrl-C twice)",
}, "\n")

-- Builds the commands around an exchange and a session control interface.
local function commands(ctx)
  local ex, ctl, recorder = ctx.exchange, ctx.session, ctx.recorder
  local cmd = {}

  local function need(fname, method)
    if not ctl or type(ctl[method]) ~= "function" then
      error(("%s: not available in this session"):format(fname), 3)
    end
    return ctl
  end

  local function find_trader(fname, id)
    if type(id) == "table" and is_trader(id) then return id end
    if not is_count(id) then argerror(1, fname, "trader id expected", id, 3) end
    local t = ex.traders[id]
    if not t then
      error(("bad argument #1 to '%s' (no trader with id %d)"):format(fname, id), 3)
    end
    return t
  end

  function cmd.help()
    return Help
  end

  function cmd.book(depth)
    if depth == nil then depth = 10 end
    if not is_count(depth) then argerror(1, "book", "positive integer depth expected", depth) end
    local b = setmetatable({ asks = ex:depth("sell", depth), bids = ex:depth("buy", depth),
      best_bid = ex:best_bid(), best_ask = ex:best_ask() }, Book)
    if b.best_bid and b.best_ask then
      b.spread = b.best_ask - b.best_bid
      b.mid = (b.best_ask + b.best_bid) / 2
    end
    return b
  end

  function cmd.trades(n)
    if n == nil then n = 10 end
    if not is_count(n) then argerror(1, "trades", "positive integer count expected", n) end
    return setmetatable(recorder:last(n), Trades)
  end

  local function strategy_of(t)
    if t == ctx.me then return "me" end
    local cls = getmetatable(t)
    return type(cls) == "table" and rawget(cls, "name") or "trader"
  end

  local function state_of(t)
    if t == ctx.me then return "user" end
    if ctl and type(ctl.agent_state) == "function" then return ctl:agent_state(t) or "-" end
    return "-"
  end

  function cmd.traders(filter)
    local tf = type(filter)
    if filter ~= nil and tf ~= "string" and tf ~= "function" then
      argerror(1, "traders", "strategy or state name, or function, expected", filter)
    end
    -- ex.traders is weak: hold the traders while the rows are built.
    local ids, live = {}, {}
    for id, t in pairs(ex.traders) do ids[#ids + 1], live[id] = id, t end
    sort(ids)
    local last = ex:last_price()
    local rows = {}
    for _, id in ipairs(ids) do
      local t = live[id]
      local buys, sells = t:standing_orders()
      local row = { id = id, strategy = strategy_of(t), money = t.money, stocks = t.stocks,
        orders = #buys + #sells, value = t:value(last), state = state_of(t), trader = t }
      local keep = filter == nil or (tf == "string" and (row.strategy == filter or row.state == filter))
        or (tf == "function" and filter(row))
      if keep then rows[#rows + 1] = row end
    end
    return setmetatable(rows, Traders)
  end

  function cmd.trader(id)
    -- Not a tail call: the error's position must be the caller's line.
    local t = find_trader("trader", id)
    return t
  end

  function cmd.orders(id)
    local rows = {}
    if id ~= nil then
      local t = find_trader("orders", id)
      local buys, sells = t:standing_orders()
      for _, o in ipairs(buys) do rows[#rows + 1] = o end
      for _, o in ipairs(sells) do rows[#rows + 1] = o end
    else
      for _, side in ipairs({ "buy", "sell" }) do
        for _, l in ipairs(ex:depth(side)) do
          for _, o in ipairs(ex:level(side, l.price)) do rows[#rows + 1] = o end
        end
      end
    end
    return setmetatable(rows, Orders)
  end

  function cmd.stats()
    local s = ex:stats()
    s.best_bid, s.best_ask = ex:best_bid(), ex:best_ask()
    local n = 0
    for _, t in pairs(ex.traders) do if t ~= ctx.me then n = n + 1 end end
    s.agents = n
    if ctl then
      s.time = ctl:now()
      s.clock = ctl.clock
      s.state = ctl:state()
    else
      s.time = ex:time()
    end
    return setmetatable(s, Stats)
  end

  function cmd.pause()
    need("pause", "pause"):pause(true)
  end

  function cmd.resume()
    need("resume", "resume"):resume()
  end

  function cmd.step(seconds)
    need("step", "step")
    if type(seconds) ~= "number" or seconds ~= seconds or seconds <= 0 or seconds == huge then
      argerror(1, "step", "positive number of seconds expected", seconds)
    end
    ctl:pause(true)
    ctl:step(seconds)
  end

  function cmd.speed(x)
    need("speed", "speed")
    if x == nil then return ctl:speed() end
    if type(x) ~= "number" or x ~= x or x <= 0 or x == huge then
      argerror(1, "speed", "positive factor expected", x)
    end
    if ctl.clock ~= "real" then
      error("speed: the virtual clock has no speed; it runs as fast as it can (use step or resume)", 2)
    end
    ctl:speed(x)
  end

  function cmd.spawn(what, count, opts)
    need("spawn", "spawn")
    local cls = what
    if type(what) == "string" then
      if not ctx.load_strategy then error("spawn: cannot load files in this session", 2) end
      local ok, res = pcall(ctx.load_strategy, what)
      if not ok then
        error(("bad argument #1 to 'spawn' (%s)"):format(tostring(res):gsub("^spawn: ", "")), 2)
      end
      cls = res
    elseif not (type(what) == "table" and asx.is_trader_class(what) and type(what.cycle) == "function") then
      argerror(1, "spawn", "strategy file name or Trader class with cycle expected", what)
    end
    if count == nil then count = 1 end
    if not is_count(count) then argerror(2, "spawn", "positive integer count expected", count) end
    if opts ~= nil and type(opts) ~= "table" then argerror(3, "spawn", "table of options expected", opts) end
    -- Balances the options leave out: the class's fields, else the host's
    -- defaults, as for the agents of the command line.
    local topts, defaults = {}, ctx.defaults or {}
    for k, v in pairs(opts or {}) do topts[k] = v end
    if topts.money == nil then topts.money = cls.money or defaults.money end
    if topts.stocks == nil then topts.stocks = cls.stocks or defaults.stocks end
    return ctl:spawn(cls, count, topts)
  end

  function cmd.kill(id)
    need("kill", "kill")
    local t = find_trader("kill", id)
    if t == ctx.me then error("bad argument #1 to 'kill' (me is not an agent)", 2) end
    -- Only an agent that waits can be stopped; the others have ended (or,
    -- for a trader that is no agent, never started).
    local st = ctl:agent_state(t)
    if st ~= "idle" and st ~= "waiting" then return false end
    return ctl:kill(t)
  end

  function cmd.quit()
    ctx.quit("quit")
  end

  return cmd
end

-- Evaluation ----------------------------------------------------------------

local function is_incomplete(err)
  return sub(err, -7) == "'<eof>'"
end

-- Compiles a chunk typed at the prompt: as an expression first, so that its
-- values print, then as a statement. Returns the function, or nil and
-- "incomplete" or the syntax error. The expression's values go through a
-- call to the function passed as the chunk's argument rather than straight
-- to `return`: `return f(x)` would be a tail call, and an error raised in f
-- would lose its "stdin:1:" position. The newline keeps a trailing comment
-- from swallowing the closing parenthesis.
--
-- first is the line of the script the chunk starts on (default 1). Lua
-- numbers a chunk's lines from 1, so a chunk from further down is named
-- "stdin:<lines before it>" and M.script_lines turns "stdin:6:2:" in
-- messages back into the script's "stdin:8:".
function M.compile(src, first)
  local name = (first or 1) > 1 and "=stdin:" .. (first - 1) or "=stdin"
  local f, experr = loadstring("local __values = ...; return __values(" .. src .. "\n)", name)
  if f then return f end
  local err
  f, err = loadstring(src, name)
  if f then return f end
  if is_incomplete(err) then return nil, "incomplete" end
  -- "1 +* 2" fails as a statement at its first token, which says little;
  -- the expression's error points at the real culprit.
  local near = match(err, "unexpected symbol near '(.-)'$")
  if near and match(src, "^%s*()") == find(src, near, 1, true) and not is_incomplete(experr) then
    return nil, experr
  end
  return nil, err
end

-- Positions in chunks compiled by M.compile, as lines of the whole script.
function M.script_lines(text)
  return (gsub(text, "stdin:(%d+):(%d+)", function(before, line)
    return "stdin:" .. (tonumber(before) + tonumber(line))
  end))
end

local function pack(...) return { n = select("#", ...), ... } end
local function pack_values(...) return { n = select("#", ...), packed_ = pack, ... } end

-- The REPL -------------------------------------------------------------------

-- Starts the prompt. opts:
--   exchange   the session's exchange (required)
--   me         the user's trader (optional)
--   session    the asx.session the exchange belongs to (optional): the
--              commands pause, step, speed, spawn and kill are its methods
--   defaults   { money =, stocks = } of agents spawned without them
--   load_strategy  function(path) -> Trader class, used by spawn("file.lua")
--   history    a file name, or false for none (default ~/.asx_history)
--   on_exit    called once with "quit", "eof" or "interrupt" when the user
--              ends the REPL; the host then stops the session
--   stdout, stderr  file handles (default io.stdout, io.stderr)
-- Returns the REPL object (r:close() ends it without calling on_exit).
function M.start(opts)
  if type(opts) ~= "table" then argerror(1, "start", "table of options expected", opts) end
  local ex = opts.exchange
  if not asx.is_exchange(ex) then argerror(1, "start", "exchange: exchange expected", ex) end
  local out, errout = opts.stdout or io.stdout, opts.stderr or io.stderr
  local history = opts.history
  if history == nil then
    local home = os.getenv("HOME")
    history = home and home ~= "" and home .. "/.asx_history" or false
  end

  local self = { exchange = ex, me = opts.me, session = opts.session, buffer = nil, done = false }
  self.recorder = M.recorder(opts.trades_kept)
  ex:add_logger(self.recorder)

  local ctx = { exchange = ex, me = opts.me, session = opts.session, recorder = self.recorder,
    defaults = opts.defaults,
    load_strategy = opts.load_strategy }
  local reader

  -- A __gc metamethod that raises makes whichever allocation runs it raise,
  -- once per finalizer, in the REPL's own code too: what the prompt cannot
  -- go on without is tried again.
  local function surely(f, ...)
    for _ = 1, 10 do
      if pcall(f, ...) then return end
    end
  end

  local function finish(reason)
    if self.done then return end
    self.done = true
    pcall(out.flush, out)
    if reader then surely(reader.close, reader) end
    if reason and opts.on_exit then surely(opts.on_exit, reason) end
  end
  ctx.quit = finish

  local cmd = commands(ctx)
  local env = setmetatable({}, {
    __index = function(_, k)
      local v = cmd[k]
      if v ~= nil then return v end
      if k == "me" then return ctx.me end
      return _G[k]
    end,
    __newindex = _G,
  })
  self.env = env
  self.commands = cmd

  -- Whether line numbers are the script's (pipe and file modes), and how
  -- many lines failed there: the exit status tells a script's caller.
  local script = false
  self.lineno, self.failures = 0, 0

  local function lines_of(text)
    return script and M.script_lines(text) or text
  end

  -- Writing must not fail the prompt either (a closed stdout).
  local function put(f, ...)
    pcall(f.write, f, ...)
    pcall(f.flush, f)
  end

  local function print_error(msg)
    pcall(out.flush, out)
    put(errout, lines_of(msg), "\n")
  end

  local function fail(msg)
    self.failures = self.failures + 1
    print_error(msg)
  end

  local function fail_with(e)
    fail(type(e) == "string" and e or "error: " .. M.format(e))
  end

  -- Evaluates one complete chunk and prints its values or its error.
  -- Returns "incomplete" when the chunk needs more lines.
  local function run(src, first)
    local f, err = M.compile(src, script and first or 1)
    if err == "incomplete" then return err end
    if not f then return fail(err) end
    setfenv(f, env)
    -- Interpreted, so that Ctrl-C can stop it (see asx_lua_repl.c).
    if jit_off then jit_off(f, true) end
    local res = pack(pcall(f, pack_values))
    if not res[1] then return fail_with(res[2]) end
    -- An expression returns its values packed; a statement returns nothing
    -- unless it says `return`, whose values print too.
    local values = res[2]
    if res.n == 2 and type(values) == "table" and rawget(values, "packed_") == pack then
      res = values
    else
      res = { n = res.n - 1, select(2, unpack(res, 1, res.n)) }
    end
    if res.n > 0 then
      local parts = {}
      for i = 1, res.n do parts[#parts + 1] = M.format(res[i]) end
      put(out, concat(parts, "\t"), "\n")
    end
  end

  -- The next line waits while a step runs: a script's `book()` after
  -- `step(5)` must see the book after the step.
  local function ready()
    local ctl = ctx.session
    return not (ctl and type(ctl.stepping) == "function" and ctl:stepping())
  end

  local function next_prompt()
    if self.done then return end
    if self.buffer then
      reader:prompt(M.CONTINUE)
    else
      reader:prompt(M.PROMPT, ready)
    end
  end

  -- One line: the statement so far runs once it is complete.
  local function take_line(line)
    self.lineno = self.lineno + 1
    if not self.buffer then self.first = self.lineno end
    local src = self.buffer and self.buffer .. "\n" .. line or line
    if match(src, "^%s*$") then
      self.buffer = nil
      return
    end
    -- A leading "=" prints an expression, as in the stock Lua REPL.
    local status = run((gsub(src, "^%s*=", "return ", 1)), self.first)
    self.buffer = status == "incomplete" and src or nil
  end

  -- Nothing may escape to the reader: a callback that raises leaves it
  -- waiting for a prompt that never comes. The line runs where Ctrl-C can
  -- interrupt it (reader:pcall); whatever fails, the next prompt comes.
  local function on_line(line)
    if self.done then return end
    if line == nil then
      if self.buffer then pcall(fail, "stdin: incomplete statement at end of input") end
      return finish("eof")
    end
    local ok, err = reader:pcall(take_line, line)
    if not ok then
      self.buffer = nil
      pcall(fail_with, err)
    end
    surely(next_prompt)
  end

  local function on_interrupt(count)
    self.buffer = nil
    if count >= 2 then return finish("interrupt") end
    surely(next_prompt)
  end

  -- Ctrl-C during a line or the step it started: the line has been
  -- interrupted already if it could be; a step stops where it got to.
  local function on_break()
    local ctl = ctx.session
    if not self.done and ctl and type(ctl.stepping) == "function" and ctl:stepping() then
      surely(ctl.pause, ctl, true)
      print_error(format("interrupted: the step stopped at %s s", fmt_time(ctl:now())))
    end
  end

  -- The names the REPL adds in front of the globals, for completion.
  local own = { me = ctx.me }
  for k, v in pairs(cmd) do own[k] = v end
  local function complete(word)
    local ok, list = pcall(M.complete, own, word)
    return ok and list or {}
  end

  local core = require("asx.core")
  local err
  reader, err = core.repl_open({ on_line = on_line, on_interrupt = on_interrupt, on_break = on_break,
    complete = complete, history = history or nil })
  if not reader then error("start: " .. tostring(err), 2) end
  self.reader = reader
  self.mode = reader:mode()
  script = self.mode ~= "tty"
  self.close = function() finish(nil) end
  -- For output that does not come from the line being evaluated.
  self.print = function(text, stream)
    text = lines_of(text)
    if self.done then
      put(stream == "stderr" and errout or out, text)
    else
      reader:print(text, stream)
    end
  end
  next_prompt()
  return self
end

-- asx-host -i ----------------------------------------------------------------

-- How often `me` wakes. As an agent `me` only keeps the session alive while
-- the prompt is open (a session ends when no agent waits any more), and lets
-- a virtual clock with nothing else to run pause instead of racing ahead.
M.KEEPALIVE = 1

-- asx-host -i ----------------------------------------------------------------

-- How often `me` wakes. As an agent `me` only keeps the session alive while
-- the prompt is open (a session ends when no agent waits any more), and lets
-- a virtual clock with nothing else to run pause instead of racing ahead.
M.KEEPALIVE = 1

-- Puts the prompt on a session host.run has made, before it runs: adds the
-- user's trader `me` as the last agent (so the strategies' agents keep the
-- positions, and so the random draws, they have in a run without -i),
-- pauses a virtual clock (nothing would be left to look at by the time the
-- first line is read), prints the start message unless opts.quiet, and
-- opens the reader. opts: money, stocks (me's), defaults (see M.start),
-- load_strategy, quiet. Returns the REPL object, or nil and why the reader
-- could not open.
function M.attach(s, opts)
  local Me = asx.Trader:extend("me")
  function Me:cycle()
    while true do
      self:sleep(M.KEEPALIVE)
      if s.clock == "virtual" and not s:stepping() then
        local c = s.sched:counts()
        if c.waiting == 0 and c.idle == 0 then s:pause(true) end
      end
    end
  end
  local me = Me:new({ money = opts.money, stocks = opts.stocks })
  s:add(me)
  if s.clock == "virtual" then s:pause(true) end

  if not opts.quiet then
    io.stderr:write(("asx-host: %d agents, %s clock, seed %d%s; you are %s (money %d, stocks %d)%s\n")
      :format(#s.traders - 1, s.clock, s.seed,
        s.duration and (", duration " .. fmt_num(s.duration) .. " s") or "", tostring(me), me.money,
        me.stocks, s.clock == "virtual" and "; paused: step(seconds) or resume()" or ""))
    io.stderr:write("type help() for the commands\n")
  end

  local ok, res = pcall(M.start, {
    exchange = s.exchange, me = me, session = s, defaults = opts.defaults,
    load_strategy = opts.load_strategy, on_exit = function() s:stop() end,
  })
  if not ok then return nil, (tostring(res):gsub("^start: ", "")) end
  return res
end

-- Tab completion: global names (and commands) for a bare word; fields and
-- methods after "." and ":". Lookups are raw and follow only __index tables,
-- never functions: completing a name must not have effects.
local function lookup(v, k)
  local depth = 0
  while type(v) == "table" and depth < 8 do
    local x = rawget(v, k)
    if x ~= nil then return x end
    local mt = getmetatable(v)
    v = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  return nil
end

-- A trader's methods live on its class, reached through an __index
-- function (id, exchange, money and stocks are virtual); walk the class
-- chain instead.
local function class_fields(cls, out)
  local depth = 0
  while type(cls) == "table" and depth < 16 do
    for k in pairs(cls) do
      if is_ident(k) and sub(k, 1, 1) ~= "_" then out[k] = true end
    end
    local mt = getmetatable(cls)
    cls = rawget(cls, "super") or (type(mt) == "table" and type(rawget(mt, "__index")) == "table"
      and rawget(mt, "__index")) or nil
    depth = depth + 1
  end
end

local function fields(v, out)
  local private = is_trader(v) and "_" or "__"
  if private == "_" then
    out.id, out.exchange, out.money, out.stocks = true, true, true, true
    class_fields(getmetatable(v), out)
  end
  local depth = 0
  while v ~= nil and depth < 8 do
    if type(v) == "table" then
      for k in pairs(v) do
        if is_ident(k) and sub(k, 1, #private) ~= private then out[k] = true end
      end
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    v = type(idx) == "table" and idx or nil
    depth = depth + 1
  end
end

-- Returns the candidates for word, each the whole replacement, sorted.
function M.complete(names_of, word)
  local base, sep, prefix = match(word, "^(.-)([.:])([%w_]*)$")
  local names = {}
  if not base then
    if not match(word, "^[%a_]?[%w_]*$") then return {} end
    prefix = word
    fields(_G, names)
    for k in pairs(names_of) do names[k] = true end
    for k in pairs(KEYWORDS) do names[k] = true end
  else
    local v
    for part in gmatch(base .. ".", "(.-)[.:]") do
      if not is_ident(part) then return {} end
      if v == nil then v = names_of[part] or rawget(_G, part) else v = lookup(v, part) end
      if v == nil then return {} end
    end
    fields(v, names)
  end
  local out = {}
  for k in pairs(names) do
    if sub(k, 1, #prefix) == prefix then
      out[#out + 1] = base and base .. sep .. k or k
    end
  end
  sort(out)
  return out
end

return M
