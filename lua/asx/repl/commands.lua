-- The prompt's commands. Each is one function, with its help line beside
-- it; help() lists them in the order they are defined here. A command is
-- made for one prompt by its factory, which receives the prompt's context:
--   exchange, me, session (an asx.session, or nil: pause, step and friends
--   then raise), recorder (the trade history), given, defaults, load_strategy, inputs, quit.
local asx = require("asx")
local fmt = require("asx.repl.format")

local M = {}

-- Lines typed at the prompt may replace any global, the string library's
-- functions included; the REPL keeps its own references.
local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local rawget, getmetatable, setmetatable, pcall = rawget, getmetatable, setmetatable, pcall
local huge = math.huge
local concat, sort = table.concat, table.sort
local error = error
local check = require("asx.check")
local session = require("asx.session")
local argerror, is_count = check.argerror, check.is_count
local fmt_num, layout, column, rows_class = fmt.fmt_num, fmt.layout, fmt.column, fmt.rows_class
local is_trader = check.is_trader
-- A trader's orders, value and balances as the base class reads them, from
-- its account: an agent's own metatable is its strategy's to change.
local P = debug.getregistry()["asx.private"]
local queries, account_of = P.trader_queries, P.account_of


local function fmt_time(t) return t and ("%.3f"):format(t) or nil end

-- The trades' and the orders' columns, and with several instruments, where
-- one list holds rows of each, the instrument's last, as in the log files:
-- trades() and orders() listed ACME's and BOLT's rows alike, their prices
-- side by side with nothing to tell them apart.
local TRADE_COLUMNS = {
  column("time", function(r) return fmt_time(r.time) end, true),
  column("price", "price", true),
  column("amount", "amount", true),
  column("buyer", "buyer", true),
  column("seller", "seller", true),
  column("aggressor", "aggressor"),
}
local ORDER_COLUMNS = {
  column("id", "id", true),
  column("trader", function(o) return tonumber(o.trader) end, true),
  column("side", "side"),
  column("price", "price", true),
  column("amount", "amount", true),
  column("filled", "filled", true),
}
local function with_instrument(columns)
  local out = {}
  for i, c in ipairs(columns) do out[i] = c end
  out[#columns + 1] = column("instrument", "instrument")
  return out
end
local Trades = rows_class("trades", TRADE_COLUMNS, "no trades yet")
local TradesNamed = rows_class("trades", with_instrument(TRADE_COLUMNS), "no trades yet")

-- With several instruments the stocks column is one per instrument, headed
-- by its name, as trades() and orders() name theirs: it showed the default
-- instrument's stocks only, under "stocks".
local function traders_class(names)
  local stocks = { column("stocks", "stocks", true) }
  if #names > 1 then
    stocks = {}
    for i, name in ipairs(names) do
      stocks[i] = column(name, function(r) return r.positions[name] end, true)
    end
  end
  local columns = { column("id", "id", true), column("strategy", "strategy"), column("money", "money", true) }
  for _, c in ipairs(stocks) do columns[#columns + 1] = c end
  columns[#columns + 1] = column("orders", "orders", true)
  columns[#columns + 1] = column("value", "value", true)
  columns[#columns + 1] = column("state", "state")
  return rows_class("traders", columns, "no traders")
end

local Orders = rows_class("orders", ORDER_COLUMNS, "no resting orders")
local OrdersNamed = rows_class("orders", with_instrument(ORDER_COLUMNS), "no resting orders")

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
  -- Named when the exchange has several instruments.
  if b.instrument then table.insert(lines, 1, b.instrument) end
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

-- The commands, in help()'s order: { name, usage, help, make }, where
-- make(ctx) returns the command's function for one prompt.
local LIST = {}

-- Defines a command: usage and help make its line in help() (help may run
-- over several lines); make(ctx) returns its function. A name without make
-- is a topic of help() only (`me`).
local function command(name, usage, help, make)
  LIST[#LIST + 1] = { name = name, usage = usage, help = help, make = make }
end

-- What the commands share -----------------------------------------------------

-- The session, or an error at the caller's caller (the line typed).
local function need(ctx, fname, method)
  local ses = ctx.session
  if not ses or type(ses[method]) ~= "function" then
    error(("%s: not available in this session"):format(fname), 3)
  end
  return ses
end

-- A trader of the exchange by id (or the trader itself); errors at the
-- caller's caller.
local function find_trader(ctx, fname, id)
  if type(id) == "table" and is_trader(id) then return id end
  if not is_count(id) then argerror(1, fname, "trader id expected", id, 3) end
  local t = P.traders_of(ctx.exchange)[id]
  if not t then
    error(("bad argument #1 to '%s' (no trader with id %d)"):format(fname, id), 3)
  end
  return t
end

local function strategy_of(ctx, t)
  if t == ctx.me then return "me" end
  -- An agent's strategy is the one it was started as, whatever its
  -- metatable is now.
  local ses = ctx.session
  local i = ses and ses.runs and ses:_agent(t)
  if i then return ses:_class(i).name end
  -- A class's fields are read through its metatable, which runs no code of
  -- the user's; any other metatable is read raw.
  local cls = getmetatable(t)
  if asx.is_trader_class(cls) then return cls.name end
  return type(cls) == "table" and rawget(cls, "name") or "trader"
end

local function state_of(ctx, t)
  if t == ctx.me then return "user" end
  local ses = ctx.session
  if ses and type(ses.agent_state) == "function" then return ses:agent_state(t) or "-" end
  return "-"
end

-- The exchange's instruments; raises naming fname when instrument (its
-- argument #argn, else #2) is given and not one of them.
local function check_instrument(ex, instrument, fname, argn)
  argn = argn or 2
  local names = ex:instruments()
  if instrument == nil then return names end
  for _, name in ipairs(names) do
    if name == instrument then return names end
  end
  if type(instrument) ~= "string" then argerror(argn, fname, "instrument name expected", instrument, 3) end
  error(("bad argument #%d to '%s' (unknown instrument %q)"):format(argn, fname, instrument), 3)
end

-- The commands ------------------------------------------------------------------

command("book", "book(depth, name)",
  "the order book as a ladder (default depth 10); .asks/.bids, best first;\nname: an instrument (default the first)",
function(ctx)
  local ex = ctx.exchange
  return function(depth, instrument)
    if depth == nil then depth = 10 end
    if not is_count(depth) then argerror(1, "book", check.DEPTH_EXPECTED, depth) end
    local names = check_instrument(ex, instrument, "book")
    local b = setmetatable({ asks = ex:depth("sell", depth, instrument), bids = ex:depth("buy", depth, instrument),
      best_bid = ex:best_bid(instrument), best_ask = ex:best_ask(instrument),
      instrument = #names > 1 and (instrument or names[1]) or nil }, Book)
    if b.best_bid and b.best_ask then
      b.spread = b.best_ask - b.best_bid
      b.mid = (b.best_ask + b.best_bid) / 2
    end
    return b
  end
end)

command("trades", "trades(n, name)", "the last n trades (default 10), oldest first; name: of one instrument",
function(ctx)
  local ex = ctx.exchange
  return function(n, instrument)
    if n == nil then n = 10 end
    if not is_count(n) then argerror(1, "trades", check.COUNT_EXPECTED, n) end
    local names = check_instrument(ex, instrument, "trades")
    return setmetatable(ctx.recorder:last(n, instrument), instrument == nil and #names > 1 and TradesNamed or Trades)
  end
end)

command("traders", "traders(filter)",
  "agents with balances and state; filter: strategy or state name, or a\n"
  .. "function(row); sort with :sort(\"value\") or :sort(\"-value\")",
function(ctx)
  local ex = ctx.exchange
  local several = #ex:instruments() > 1
  local Traders = traders_class(ex:instruments())
  return function(filter)
    local tf = type(filter)
    if filter ~= nil and tf ~= "string" and tf ~= "function" then
      argerror(1, "traders", "strategy or state name, or function, expected", filter)
    end
    -- ex.traders is weak: hold the traders while the rows are built.
    local ids, live = {}, {}
    for id, t in pairs(P.traders_of(ex)) do ids[#ids + 1], live[id] = id, t end
    sort(ids)
    local last = ex:last_price()
    local rows = {}
    for _, id in ipairs(ids) do
      local t = live[id]
      -- An agent that emptied its own table of the keys asx keeps there
      -- (lua/asx/private.lua) is no longer listed.
      local acct = account_of(t)
      if acct then
        local buys, sells = queries.standing_orders(t)
        local row = { id = id, strategy = strategy_of(ctx, t), money = tonumber(acct.money),
          stocks = tonumber(acct.stocks), orders = #buys + #sells, value = queries.value(t, last),
          state = state_of(ctx, t), trader = t, positions = several and queries.positions(t) or nil }
        local keep = filter == nil or (tf == "string" and (row.strategy == filter or row.state == filter))
          or (tf == "function" and filter(row))
        if keep then rows[#rows + 1] = row end
      end
    end
    return setmetatable(rows, Traders)
  end
end)

command("trader", "trader(id)", "the live trader object with that id",
function(ctx)
  return function(id)
    -- Not a tail call: the error's position must be the caller's line.
    local t = find_trader(ctx, "trader", id)
    return t
  end
end)

command("orders", "orders(id)", "resting orders in book order, all or one trader's",
function(ctx)
  local ex = ctx.exchange
  return function(id)
    local rows = {}
    if id ~= nil then
      local t = find_trader(ctx, "orders", id)
      local buys, sells = queries.standing_orders(t)
      for _, o in ipairs(buys) do rows[#rows + 1] = o end
      for _, o in ipairs(sells) do rows[#rows + 1] = o end
    else
      -- Every instrument's, where it listed the default one's only.
      for _, name in ipairs(ex:instruments()) do
        for _, side in ipairs({ "buy", "sell" }) do
          for _, l in ipairs(ex:depth(side, nil, name)) do
            for _, o in ipairs(ex:level(side, l.price, name)) do rows[#rows + 1] = o end
          end
        end
      end
    end
    return setmetatable(rows, #ex:instruments() > 1 and OrdersNamed or Orders)
  end
end)

command("stats", "stats(name)", "the session's figures so far; name: of one instrument",
function(ctx)
  local ex, ses = ctx.exchange, ctx.session
  return function(instrument)
    local names = check_instrument(ex, instrument, "stats", 1)
    local s = ex:stats(instrument)
    -- The whole exchange's, with several instruments, has no prices (open
    -- ... last), and so no best ones: it gave the default instrument's best
    -- bid and ask beside the counts of all, with nothing to say so.
    if instrument ~= nil or #names == 1 then
      s.best_bid, s.best_ask = ex:best_bid(instrument), ex:best_ask(instrument)
    end
    local n = 0
    for _, t in pairs(P.traders_of(ex)) do if t ~= ctx.me then n = n + 1 end end
    s.agents = n
    if ses then
      s.time = ses:now()
      s.clock = ses.clock
      s.state = ses:state()
    else
      s.time = ex:time()
    end
    return setmetatable(s, Stats)
  end
end)

command("pause", "pause()", "stop the session's clock",
function(ctx)
  return function()
    need(ctx, "pause", "pause"):pause(true)
  end
end)

command("resume", "resume()", "start it again",
function(ctx)
  return function()
    need(ctx, "resume", "resume"):resume()
  end
end)

command("step", "step(seconds)", "advance the session that much, then pause",
function(ctx)
  return function(seconds)
    local ses = need(ctx, "step", "step")
    if type(seconds) ~= "number" or seconds ~= seconds or seconds <= 0 or seconds == huge then
      argerror(1, "step", "positive number of seconds expected", seconds)
    end
    -- The step runs once the line has ended (the line runs inside the
    -- session's loop): a second step in the same line found it under way
    -- and was dropped without a word (for i = 1, 3 do step(1) end stepped
    -- 1 s).
    if ses:stepping() then
      error("step: a step is under way (the session steps once the line ends, so a line steps once: "
        .. "step(a + b))", 2)
    end
    ses:pause(true)
    ses:step(seconds)
  end
end)

command("speed", "speed(x)", "run the real clock x times faster; speed() tells the current factor",
function(ctx)
  return function(x)
    local ses = need(ctx, "speed", "speed")
    if x == nil then return ses:speed() end
    if type(x) ~= "number" or x ~= x or x <= 0 or x == huge then
      argerror(1, "speed", "positive factor expected", x)
    end
    if ses.clock ~= "real" then error(session.NO_SPEED, 2) end
    ses:speed(x)
  end
end)

command("spawn", "spawn(file_or_class, count, opts)", "add count agents (default 1) to the running session",
function(ctx)
  return function(what, count, opts)
    local ses = need(ctx, "spawn", "spawn")
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
    if not is_count(count) then argerror(2, "spawn", check.COUNT_EXPECTED, count) end
    -- Checked as the command line's agents are: a count past the memory
    -- would take the machine's memory before the call returns.
    local why = ctx.too_many and ctx.too_many(count)
    if why then error(("bad argument #2 to 'spawn' (%s)"):format(why), 2) end
    if opts ~= nil and type(opts) ~= "table" then argerror(3, "spawn", "table of options expected", opts) end
    -- Balances the options leave out: the host's --money/--stocks, else the
    -- class's fields, else the host's defaults, as for the agents of the
    -- command line (a number of stocks is each instrument's there too).
    local topts, given, defaults = {}, ctx.given or {}, ctx.defaults or {}
    for k, v in pairs(opts or {}) do topts[k] = v end
    if topts.money == nil then topts.money = given.money or cls.money or defaults.money end
    if topts.stocks == nil then topts.stocks = given.stocks or cls.stocks or defaults.stocks end
    topts.stocks = session.each_instrument(ses.exchange, topts.stocks)
    return ses:spawn(cls, count, topts)
  end
end)

command("kill", "kill(id)", "stop one agent and cancel its orders",
function(ctx)
  return function(id)
    local ses = need(ctx, "kill", "kill")
    local t = find_trader(ctx, "kill", id)
    if t == ctx.me then error("bad argument #1 to 'kill' (me is not an agent)", 2) end
    -- Only an agent that waits can be stopped; the others have ended (or,
    -- for a trader that is no agent, never started), but for the one that
    -- runs now (kill called from its own cycle, or from a logger its order
    -- reached), which is refused as s:kill refuses it: false said it had
    -- ended, and it went on.
    local st = ses:agent_state(t)
    if st == "running" then
      error(("kill: %s#%d is running; it can stop itself by returning"):format(getmetatable(t).name, t.id), 2)
    end
    if st ~= "idle" and st ~= "waiting" then return false end
    return ses:kill(t)
  end
end)

command("me", "me", "your trader: me:buy(5, 101), me:sell(2), me:cancel_all()")

-- chart() and report(): lua/asx/report/repl.lua.
for _, c in ipairs(require("asx.report.repl").commands) do command(c.name, c.usage, c.help, c.make) end

command("help", "help()", "this list",
function()
  local Help = setmetatable({}, { __tostring = function() return M.help_text end })
  return function()
    return Help
  end
end)

command("quit", "quit()", "end the session (also Ctrl-D, or Ctrl-C twice)",
function(ctx)
  return function()
    ctx.quit("quit")
  end
end)

-- help()'s text: one line per command, the help in a column after the
-- usage (or two spaces after a long one).
local HELP_COLUMN = 19
do
  local lines = {}
  for _, c in ipairs(LIST) do
    local pad = (" "):rep(HELP_COLUMN - #c.usage < 2 and 2 or HELP_COLUMN - #c.usage)
    lines[#lines + 1] = c.usage .. pad .. c.help:gsub("\n", "\n" .. (" "):rep(HELP_COLUMN))
  end
  M.help_text = concat(lines, "\n")
end

-- The commands for one prompt, by name. ctx: see the top of this file.
function M.make(ctx)
  local cmd = {}
  for _, c in ipairs(LIST) do
    if c.make then cmd[c.name] = c.make(ctx) end
  end
  return cmd
end

return M
