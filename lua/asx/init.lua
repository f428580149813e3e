-- require "asx": the exchange, its traders and their orders.
--
-- The book, the accounts and the matching live in C (src/asx_book.c); asx's
-- Lua modules check arguments, keep the Lua objects alive while C points at
-- them, and deliver the book's events to loggers after each call:
--   lua/asx/private.lua   what C relies on, out of reach of Lua code
--   lua/asx/order.lua     orders, read-only views of the book's records
--   lua/asx/exchange.lua  the exchange: its book, queries and loggers
--   lua/asx/trader.lua    Trader: trading calls and an agent's calls
--   lua/asx/amend.lua     Trader's amend and replace
--   lua/asx/trader_queries.lua  Trader's read-only queries (position, value, ...)
-- This file assembles the public table from them.
--
-- Error convention (README.md, "Errors"): a wrong argument raises a Lua error
-- naming the function and the argument and changes nothing; an expected
-- market outcome (nothing to cancel) returns false.
-- The FFI types and their metatypes exist once per Lua state, so this module
-- does too: a second load (a test runner that clears package.loaded) gets
-- the first one back rather than a copy with its own trader ids.
local registry = debug.getregistry()
if registry["asx.module"] then return registry["asx.module"] end

local exchange = require("asx.exchange")
local trader = require("asx.trader")

local asx = { MAX_QTY = require("asx.check").MAX, _VERSION = "0.1.0" }

asx.Exchange = exchange.Exchange
asx.exchange = exchange.new
-- True when v is an exchange made by asx.exchange.
asx.is_exchange = exchange.is_exchange
-- The book of an exchange, for code that calls the C core itself (tests
-- that check the book's invariants).
asx._book = exchange.book
-- A session's scheduler drives the book's clock (lua/asx/session.lua).
asx._set_clock = exchange.set_clock
-- and carries the messages of traders with a latency (lua/asx/courier.lua).
asx._set_courier = exchange.set_courier
-- Hands the loggers that take the book's records in batches (the report)
-- those held back, before their data is read.
asx._flush_events = exchange.flush_events

asx.Trader = trader.Trader
asx.is_trader_class = trader.is_trader_class
asx.is_trader = trader.is_trader
asx.trader = trader.trader

-- Sessions (lua/asx/session.lua) need this module, so they load on first use.
function asx.session(opts) return require("asx.session").new(opts) end

registry["asx.module"] = asx
return asx
