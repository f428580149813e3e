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
end)
