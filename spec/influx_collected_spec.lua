-- An InfluxDB logger that a strategy makes and drops, collected while the
-- session runs. Its finalizer closed it, and closing runs the loop to wait
-- for the server: from inside an agent's call, the loop ran the scheduler
-- again, which resumed the other agents in the middle of this one's call
-- (one failed with a stray error, the next with "sleep: only an agent can
-- sleep"; the sanitizer build aborted on the scheduler's assertion). The
-- logger is abandoned there instead, and the session goes on unharmed.
local helpers = require("helpers.run")

describe("an InfluxDB logger collected during a session", function()
  it("is ended without running the loop: every agent's call goes on", function()
    local d = helpers.tmpdir()
    helpers.write(d .. "/leak.lua", [[
local Leak = require("asx").Trader:extend("leak")
function Leak:cycle()
  for _ = 1, 3 do
    require("asx.loggers").influxdb({ url = "http://127.0.0.1:1", quiet = true })
    collectgarbage()
    collectgarbage()
    self:sleep(1)
  end
end
return Leak
]])
    local r = helpers.sh([["$HOST" -q --clock virtual --seed 1 -d 5 "$D/leak.lua:3"]], d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.status)
    local out = helpers.lines(r.stdout)
    assert.are.equal("session time: 3.000 s", out[3])
    assert.are.equal("agents leak: 3 (0 running, 3 finished, 0 failed)", out[5])
  end)
end)
