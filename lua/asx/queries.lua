-- The exchange's read-only queries: the Exchange methods instruments,
-- orderbook, depth, best_bid, best_ask, level, stats and last_price, and its
-- printed form, with what the traders' own queries (lua/asx/trader.lua)
-- share with them. lua/asx/exchange.lua copies the methods into its class;
-- the rest goes to the private state (lua/asx/private.lua): like every asx
-- module, this one returns nothing of it.
require("asx.private")
local P = debug.getregistry()["asx.private"]
if P.exchange_queries then return true end

local F = require("asx.ffi")
local check = require("asx.check")
local ffi, C = F.ffi, F.C
local type, tostring, tonumber, pairs, error = type, tostring, tonumber, pairs, error
local argerror, self_error, is_count = check.argerror, check.self_error, check.is_count

local state_of = P.state_of
local BUY, SELL = C.ASX_BUY, C.ASX_SELL
local SIDE_OF = { buy = BUY, sell = SELL }

-- The methods, copied into the Exchange class.
local Exchange = {}

-- The private state of self for a method named fname, called from the
-- method itself.
local function exchange_state(self, fname)
  local st = state_of[self]
  if not st then
    if P.gone[self] then error(fname .. ": this exchange is gone (freed as Lua closes)", 3) end
    self_error(fname, "exchange", self, 3)
  end
  return st
end

-- The book of the instrument a query names as its argument #n: the first
-- instrument's when name is nil.
local function book_of(st, name, fname, n)
  if name == nil then return st.book end
  local i = st.index[name]
  if i == nil then
    if type(name) ~= "string" then argerror(n, fname, "instrument name expected", name, 3) end
    error(("bad argument #%d to '%s' (unknown instrument %q)"):format(n, fname, name), 3)
  end
  return st.books[i]
end

-- The instruments' names, the default (the first) first.
function Exchange:instruments()
  local st = exchange_state(self, "instruments")
  local out = {}
  for i = 0, st.n - 1 do out[i + 1] = st.names[i] end
  return out
end

-- The best levels of side s, at most depth of them (all when depth is nil):
-- their number, then their prices and amounts as C arrays, and the number of
-- orders at each when with_counts.
local function read_levels(book, s, depth, with_counts)
  local n = tonumber(C.asx_book_levels(book, s))
  if depth and depth < n then n = depth end
  if n == 0 then return 0 end
  local prices = ffi.new("int64_t[?]", n)
  local amounts = ffi.new("int64_t[?]", n)
  local counts = with_counts and ffi.new("uint32_t[?]", n) or nil
  return tonumber(C.asx_book_depth(book, s, prices, amounts, counts, n)), prices, amounts, counts
end

-- One side as a table of amounts by price.
local function side_levels(book, s, depth)
  local levels = {}
  local got, prices, amounts = read_levels(book, s, depth, false)
  for i = 0, got - 1 do
    levels[tonumber(prices[i])] = tonumber(amounts[i])
  end
  return levels
end

local function orderbook(book, depth, fname)
  if depth ~= nil and not is_count(depth) then
    argerror(1, fname, check.DEPTH_EXPECTED, depth, 3)
  end
  return side_levels(book, BUY, depth), side_levels(book, SELL, depth)
end

function Exchange:orderbook(depth, instrument)
  local st = exchange_state(self, "orderbook")
  -- Not a tail call: orderbook's errors name this method's caller.
  local bids, asks = orderbook(book_of(st, instrument, "orderbook", 2), depth, "orderbook")
  return bids, asks
end

-- The non-empty levels of one side from the best price outwards, as an
-- array of { price =, amount =, orders = } (for displays, which need order).
function Exchange:depth(side, depth, instrument)
  local book = book_of(exchange_state(self, "depth"), instrument, "depth", 3)
  local s = SIDE_OF[side]
  if not s then argerror(1, "depth", "'buy' or 'sell' expected", side) end
  if depth ~= nil and not is_count(depth) then
    argerror(2, "depth", check.DEPTH_EXPECTED, depth)
  end
  local out = {}
  local got, prices, amounts, counts = read_levels(book, s, depth, true)
  for i = 0, got - 1 do
    out[i + 1] = { price = tonumber(prices[i]), amount = tonumber(amounts[i]), orders = counts[i] }
  end
  return out
end

function Exchange:best_bid(instrument)
  local st = exchange_state(self, "best_bid")
  local p = C.asx_book_best_bid(instrument == nil and st.book or book_of(st, instrument, "best_bid", 1))
  if p == 0 then return nil end
  return tonumber(p)
end

function Exchange:best_ask(instrument)
  local st = exchange_state(self, "best_ask")
  local p = C.asx_book_best_ask(instrument == nil and st.book or book_of(st, instrument, "best_ask", 1))
  if p == 0 then return nil end
  return tonumber(p)
end

function Exchange:level(side, price, instrument)
  local st = exchange_state(self, "level")
  local s = SIDE_OF[side]
  if not s then argerror(1, "level", "'buy' or 'sell' expected", side) end
  if not is_count(price) then argerror(2, "level", check.PRICE_EXPECTED, price) end
  local book = book_of(st, instrument, "level", 3)
  local anchors = st.anchors
  local out, n = {}, 0
  local o = C.asx_book_level_first(book, s, price)
  while o ~= nil do
    n = n + 1
    out[n] = anchors[o.slot_]
    o = C.asx_order_next(o)
  end
  return out
end

local function last_price(book)
  local s = C.asx_book_stats(book)
  if s.trades == 0 then return nil end
  return tonumber(s.last)
end

local function book_stats(book)
  local s = C.asx_book_stats(book)
  return {
    orders = tonumber(s.orders), cancels = tonumber(s.cancels), trades = tonumber(s.trades),
    volume = C.asx_u128_double(s.volume), notional = C.asx_u128_double(s.notional),
    open = s.trades > 0 and tonumber(s.open) or nil, high = s.trades > 0 and tonumber(s.high) or nil,
    low = s.trades > 0 and tonumber(s.low) or nil, last = s.trades > 0 and tonumber(s.last) or nil,
    resting = tonumber(C.asx_book_resting(book)),
  }
end

-- The figures the books keep, as a table: one instrument's, or with no
-- name the whole exchange's. Counts and sums add up over the instruments;
-- prices (open, high, low, last) do not mix, so the whole exchange has them
-- only when it has one instrument.
function Exchange:stats(instrument)
  local st = exchange_state(self, "stats")
  if instrument ~= nil or st.n == 1 then return book_stats(book_of(st, instrument, "stats", 1)) end
  local all = { orders = 0, cancels = 0, trades = 0, volume = 0, notional = 0, resting = 0 }
  for i = 0, st.n - 1 do
    local s = book_stats(st.books[i])
    for k in pairs(all) do all[k] = all[k] + s[k] end
  end
  return all
end

function Exchange:last_price(instrument)
  local st = exchange_state(self, "last_price")
  return last_price(instrument == nil and st.book or book_of(st, instrument, "last_price", 1))
end

function Exchange:__tostring()
  local book = exchange_state(self, "tostring").book
  local bid, ask = C.asx_book_best_bid(book), C.asx_book_best_ask(book)
  return ("exchange(bid %s, ask %s, %d resting)"):format(bid == 0 and "nil" or tostring(tonumber(bid)),
    ask == 0 and "nil" or tostring(tonumber(ask)), tonumber(C.asx_book_resting(book)))
end

P.exchange_state, P.book_of, P.orderbook, P.last_price = exchange_state, book_of, orderbook, last_price
P.exchange_queries = Exchange
return true
