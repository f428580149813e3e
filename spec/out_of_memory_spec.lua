-- An agent that fails when memory is all but gone. Its error's report (the
-- message and a traceback, made outside the agent) ran out of memory in
-- turn, outside any protected call: the error unwound through the
-- scheduler's loop, a libuv callback, up to asx-host's main, which ended
-- with status 1, "asx-host: not enough memory" and no summary. The agent
-- fails alone, its memory collected, and the session goes on.
local helpers = require("helpers.run")

describe("out of memory", function()
  it("an agent whose error's report runs out of memory fails alone, as not enough memory", function()
    -- Under a limit of the address space, without the sanitizers, whose
    -- allocator aborts the process at it (as in spec/hostile_repl_spec.lua).
    if (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true) then
      pending("under the sanitizers, whose allocator aborts at a limit of the address space")
      return
    end
    local d = helpers.tmpdir()
    local f = assert(io.open(d .. "/hog.lua", "w"))
    -- It keeps all the memory it can get, then raises a message of 64 KiB,
    -- which its report copies with a traceback.
    f:write([[
local Hog = require("asx").Trader:extend("hog")
function Hog:cycle()
  self:sleep(1)
  local m = ("m"):rep(65536)
  local kept = {}
  pcall(function() while true do kept[#kept + 1] = ("x"):rep(65536) .. #kept end end)
  error(m, 0)
end
return Hog
]])
    f:close()
    f = assert(io.open(d .. "/idle.lua", "w"))
    f:write([[
local Idle = require("asx").Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
return Idle
]])
    f:close()
    local r = helpers.sh([[
ulimit -v 400000 && "$HOST" -q --clock virtual --seed 1 -d 5 "$D/hog.lua:1" "$D/idle.lua:1"
]], d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("hog#1: not enough memory\n", r.stderr)
    assert.are.equal(0, r.status)
    local out = helpers.lines(r.stdout)
    assert.are.equal("seed: 1", out[1])
    assert.are.equal("session time: 5.000 s", out[3])
    assert.are.equal("agents hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents idle: 1 (1 running, 0 finished, 0 failed)", out[6])
  end)
end)
