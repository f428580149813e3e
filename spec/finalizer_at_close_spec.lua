-- A script run by plain luajit (not asx-host, which refuses __gc) may leave
-- a finalizer that trades. lua_close runs every finalizer, of objects still
-- reachable too, the books' (cdata) before newproxy's: the order reached
-- freed books, and luajit ended with a segmentation fault (a use-after-free
-- in asx_book_submit). Now every call finds the exchange gone and says so.
local run = require("helpers.run")

describe("a finalizer that trades at lua_close (plain luajit)", function()
  it("finds the exchange gone: each call raises or returns as for no exchange, and luajit exits 0", function()
    local r = run.sh(("cat >\"$D/close.lua\" <<'EOF'\n%s\nEOF\n"
      .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit \"$D/close.lua\""):format([[
local asx = require("asx")
local ex = asx.exchange({ instruments = { "A", "B" } })
local t = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
local o = t:buy(1, 5)
local p = newproxy(true)
getmetatable(p).__gc = function()
  for _, f in ipairs({
    function() return t:buy(1, 5) end,
    function() return t:sell(1, 6, "B") end,
    function() return t:cancel(o) end,
    function() return t:cancel_all() end,
    function() return o.status end,
    function() return ex:best_bid() end,
    function() return ex:stats() end,
  }) do
    io.stderr:write(tostring(select(2, pcall(f))), "\n")
  end
end
KEEP = p
print("end of script")]], run.BUILD))
    assert.are.same({ status = 0, stdout = "end of script\n", stderr = table.concat({
      "buy: the exchange of trader#1 is gone (freed as Lua closes)",
      "sell: the exchange of trader#1 is gone (freed as Lua closes)",
      "false",
      "false",
      "cancelled",
      "best_bid: this exchange is gone (freed as Lua closes)",
      "stats: this exchange is gone (freed as Lua closes)",
    }, "\n") .. "\n" }, r)
  end)

  -- The loggers' and the candles' C objects are freed by finalizers too,
  -- the cdata's, before newproxy's: a __gc that logged wrote into a freed
  -- log writer (ASan: heap-use-after-free in asx_logfile_write). A logger
  -- freed so is closed: what it would write raises, but flush() and close()
  -- have nothing left to do and stats() tells its last figures, where all
  -- three raised.
  it("finds the loggers and the candles closed: a write raises saying so, flush, close and stats answer, and luajit exits 0",
    function()
    local r = run.sh(("cat >\"$D/close.lua\" <<'EOF'\n%s\nEOF\n"
      .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit \"$D/close.lua\" \"$D\""):format([[
local dir = ...
local loggers = require("asx.loggers")
local J = assert(loggers.jsonl(dir .. "/t.jsonl"))
local V = assert(loggers.csv(dir .. "/t.csv"))
local I = assert(loggers.influxdb({ url = "http://127.0.0.1:9/", db = "x", quiet = true }))
local cs = require("asx.report.candles").new()
J:send_event("note", { x = 1 })
J:send_event("note", { x = 2 })
I:send_event("note", { x = 1 })
local p = newproxy(true)
getmetatable(p).__gc = function()
  for _, f in ipairs({
    function() return J:send_event("note", { x = 1 }) end,
    function() return V:send_event("exchange", { price = 1 }) end,
    function() return J:flush() end,
    function() return J:stats().written end,
    function() return J:close() end,
    function() return J:stats().written end,
    function() return V:stats().written end,
    function() return I:send_event("note", { x = 1 }) end,
    function() return I:flush() end,
    function() local st = I:stats() return st.written .. " " .. st.dropped .. " " .. st.queued end,
    function() return I:close() end,
    function() return cs:add_trade(1, 10, 1) end,
  }) do
    io.stderr:write(tostring(select(2, pcall(f))), "\n")
  end
end
KEEP = { p, J, V, I, cs }
print("end of script")]], run.BUILD))
    local dir = r.stderr:match("log file '(.-)/t%.jsonl'") or "?"
    assert.are.same({ status = 0, stdout = "end of script\n", stderr = table.concat({
      "log file '" .. dir .. "/t.jsonl' is closed (freed as Lua closes)",
      "log file '" .. dir .. "/t.csv' is closed (freed as Lua closes)",
      "true",
      "2",
      "true",
      "2",
      "0",
      "this logger is closed (freed as Lua closes)",
      "true",
      "0 1 0",
      "true",
      "add_trade: these candles are gone (freed as Lua closes)",
    }, "\n") .. "\n" }, r)
  end)

  -- Among cdata finalizers the order is the finalizer table's, which
  -- changes from run to run: a trade in one of 64 lands before, between
  -- or after the books' and the logger's. Whichever comes first, nothing
  -- reaches freed memory, and each call trades or says what is gone.
  it("trades, or finds the log file or the exchange gone, in whatever order the cdata finalizers run", function()
    for _ = 1, 8 do
      local r = run.sh(("cat >\"$D/close.lua\" <<'EOF'\n%s\nEOF\n"
        .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit \"$D/close.lua\" \"$D\""):format([[
local dir = ...
local ffi = require("ffi")
local asx = require("asx")
local ex = asx.exchange({})
ex:add_logger(assert(require("asx.loggers").csv(dir .. "/t.csv")))
local t = asx.trader({ exchange = ex, money = 100000, stocks = 1000 })
t:buy(10, 1000)
KEEP = {}
for i = 1, 64 do
  KEEP[i] = ffi.gc(ffi.new("int[1]"), function()
    local ok, err = pcall(t.sell, t, 10, 1)
    io.stderr:write(ok and "sold" or tostring(err):gsub("^log file '.*'", "log file"), "\n")
  end)
end
print("end of script")]], run.BUILD))
      assert.are.same({ 0, "end of script\n" }, { r.status, r.stdout })
      local lines = 0
      for line in r.stderr:gmatch("[^\n]+") do
        lines = lines + 1
        assert.is_true(line == "sold" or line == "log file is closed (freed as Lua closes)"
          or line == "sell: the exchange of trader#1 is gone (freed as Lua closes)", line)
      end
      assert.are.equal(64, lines)
    end
  end)
end)
