-- The state asx's own modules share and Lua code must not reach: what the C
-- core relies on, keyed weakly by the Lua objects, and the internal functions
-- that take it on trust. It lives in the Lua registry, under "asx.private",
-- so that plain Lua code (without the debug library) can neither read nor
-- write it, rawset and setmetatable included. require("asx.private") makes
-- it and returns nothing of it: asx's modules read it from the registry.
--
-- No value may lead back to its key: LuaJIT's weak tables are not
-- ephemerons, so such an entry would never be collected.
local registry = debug.getregistry()
if registry["asx.private"] then return true end

local function weak(mode) return setmetatable({}, { __mode = mode }) end

-- The built-in loggers' consume_events, the only ones given the book's raw
-- event records (lua/asx/loggers adds them). They are listed in the registry
-- so that no Lua code can add a function of its own. The value is true, or
-- for one that can take them in C, in batches, a function of the logger
-- that returns the book's sink for it (lua/asx/exchange.lua).
registry["asx.native_consumers"] = weak("k")

registry["asx.private"] = {
  account_of = weak("k"),  -- trader -> asx_account
  exchange_of = weak("k"), -- trader -> exchange, for life
  state_of = weak("k"),    -- exchange -> its private state (book, anchors, ...)
  classes = weak("k"),     -- Trader and its subclasses
  owners = weak("v"),      -- trader id -> trader, so an order can name its owner without keeping it
  -- trader -> { [instrument name] = stocks } asked for by asx.trader{ stocks = { ... } }, until
  -- the trader joins its exchange and its account gets them.
  wanted_positions = weak("k"),
  native_consumers = registry["asx.native_consumers"],
  -- Set by the modules that define them (lua/asx/order.lua, exchange.lua,
  -- queries.lua): order_t, the exchange's deliver and cancel, and its
  -- queries' exchange_state, book_of, orderbook, last_price and methods.
}

-- The account of trader self, for its method fname, called from the method
-- itself: the error names the method and the caller's line.
local self_error = require("asx.check").self_error
local P = registry["asx.private"]
local account_of = P.account_of
function P.trader_account(self, fname)
  local acct = account_of[self]
  if not acct then self_error(fname, "trader", self, 3) end
  return acct
end
return true
