-- A line reader or HTTP server closed from inside its own callback: the
-- Lua thread the callback runs on stays alive until the callback is over.
-- Closing let go of that thread at once, so a collection inside a coroutine
-- (which marks the coroutine as running, not the thread that resumed it)
-- freed it under the callback, which returned into freed memory: here
-- strings of bytes 'A' take that memory over, and the process ended with a
-- segmentation fault.
local run = require("helpers.run")

-- Collects from inside a coroutine, then fills the memory freed.
local COLLECT = [[coroutine.wrap(function() collectgarbage() collectgarbage() ]]
  .. [[local k = {} for len = 1, 300 do for _ = 1, 100 do k[#k + 1] = string.rep("A", len) end end ]]
  .. [[_G.kept = k end)()]]

describe("closing from inside a callback", function()
  it("quit() at the prompt, then a collection in a coroutine: the line ends and the summary follows", function()
    local repl, status, summary = run.repl("quit() " .. COLLECT .. " print('after')\n", "--clock virtual --seed 1")
    assert.are.same({ "after" }, repl)
    assert.are.equal(0, status)
    assert.are.equal("seed: 1", summary[1])
  end)

  it("srv:close() in core.http_listen's on_request, then a collection in a coroutine: the answer goes", function()
    local d = run.tmpdir()
    run.write(d .. "/server.lua", [[
local asx, core = require("asx"), require("asx.core")
local s
local a
a = assert(core.http_listen({ port = 0, on_request = function()
  a:close()
  a = nil
  ]] .. COLLECT .. [[

  s:stop()
  return 200, "text/plain", "closed\n"
end }))
io.stdout:write(a:port(), "\n")
io.stdout:flush()
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
s = asx.session({ clock = "real", duration = 60, traders = { Idle:new() } })
s:run()
]])
    local port = run.serve(d, "^(%d+)\n")
    local answer = run.output(("curl -s -m 10 'http://127.0.0.1:%s/'"):format(port))
    local code = run.served_status(d)
    local err = run.slurp(d .. "/err")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("closed\n", answer)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)
end)
