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
end)
