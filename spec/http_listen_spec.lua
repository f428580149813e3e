-- core.http_listen, the server under the live page, with a handler of the
-- user's own: an answer HTTP cannot carry is the handler's error, answered
-- with status 500, and the server goes on. Run as asx-lua SCRIPT, with the
-- session's real clock driving the loop.
local run = require("helpers.run")


local SERVER = [[
local asx, core = require("asx"), require("asx.core")
local s
local answers = {
  ["/negative"] = function() return -5, "text/plain", "x" end,
  ["/nan"] = function() return 0 / 0, "text/plain", "x" end,
  ["/nil"] = function() return nil end,
  ["/table"] = function() return 200, "text/plain", {} end,
  ["/crlf"] = function() return 200, "text/plain\r\nX-Injected: 1", "x" end,
  ["/ok"] = function() return 201, "text/plain", "fine" end,
  ["/stop"] = function() s:stop() return 200, "text/plain", "bye" end,
}
-- A tick every inf seconds is never: its milliseconds converted to 0 and
-- it ticked at once.
local srv = assert(core.http_listen({ port = 0, on_request = function(_, path) return answers[path]() end,
  every = math.huge, on_tick = function() io.stderr:write("tick\n") end }))
io.stdout:write(srv:port(), "\n")
io.stdout:flush()
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
s = asx.session({ clock = "real", duration = 60, traders = { Idle:new() } })
s:run()
srv:close()
]]

describe("core.http_listen", function()
  it("answers 500 to a handler's bad status, content type or body, naming it on stderr, and goes on", function()
    local d = run.tmpdir()
    run.write(d .. "/server.lua", SERVER)
    local port = run.serve(d, "^(%d+)\n")
    local function get(path)
      return run.output(("curl -s -i -m 10 'http://127.0.0.1:%s%s'"):format(port, path))
    end
    for _, path in ipairs({ "/negative", "/nan", "/nil", "/table", "/crlf" }) do
      local answer = get(path)
      assert.matches("^HTTP/1%.1 500 ", answer, nil, path)
      assert.is_nil(answer:find("X-Injected", 1, true), path)
    end
    assert.matches("^HTTP/1%.1 201 .*\r\n\r\nfine$", get("/ok"))
    get("/stop")
    local code = run.served_status(d)
    local err = run.slurp(d .. "/err")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, code)
    local pre = "asx http: error in on_request: "
    assert.are.equal(pre .. "bad result #1 (HTTP status from 100 to 599 expected, got -5)\n"
      .. pre .. "bad result #1 (HTTP status from 100 to 599 expected, got nan)\n"
      .. pre .. "bad result #1 (HTTP status from 100 to 599 expected, got nil)\n"
      .. pre .. "bad result #3 (string expected, got table)\n"
      .. pre .. "bad result #2 (content type without control characters expected, got one at byte 11)\n", err)
  end)
end)

-- A server closed (and collected) while a client keeps its connection open:
-- the client's next request on that connection reached the collected
-- binding's memory (here strings of bytes 'A' took it over: a segmentation
-- fault). It is answered 503 now. A second server stops the session.
local CLOSED = [[
local asx, core = require("asx"), require("asx.core")
local s
local keep = {}
local a
a = assert(core.http_listen({ port = 0, on_request = function()
  a:close()
  a = nil
  collectgarbage()
  collectgarbage()
  for len = 1, 200 do
    for _ = 1, 200 do keep[#keep + 1] = string.rep("A", len) end
  end
  return 200, "text/plain", "closed\n"
end }))
local b = assert(core.http_listen({ port = 0, on_request = function()
  s:stop()
  return 200, "text/plain", "stopped\n"
end }))
io.stdout:write(a:port(), " ", b:port(), "\n")
io.stdout:flush()
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
s = asx.session({ clock = "real", duration = 60, traders = { Idle:new() } })
s:run()
b:close()
]]

describe("core.http_listen, closed", function()
  it("answers 503 to a request that a connection still open sends after close, calling no handler", function()
    local d = run.tmpdir()
    run.write(d .. "/server.lua", CLOSED)
    local pa, pb = run.serve(d, "^(%d+) (%d+)\n")
    -- Both requests on one connection (curl keeps it for the second URL).
    local answer = run.output(("curl -s -m 10 -w '%%{http_code} %%{num_connects}\\n' "
      .. "'http://127.0.0.1:%s/close' 'http://127.0.0.1:%s/again'"):format(pa, pa))
    run.output(("curl -s -m 10 'http://127.0.0.1:%s/stop'"):format(pb))
    local code = run.served_status(d)
    local err = run.slurp(d .. "/err")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("closed\n200 1\nthe server is closed\n503 0\n", answer)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)
end)

-- A server closed by an agent while a client reads its event stream:
-- closing ran the loop to send the stream's last bytes, from inside the
-- agent's call, and the loop ran the session's scheduler again, which
-- resumed the other agents in the middle of that call (the closing agent
-- then failed: "sleep: only an agent can sleep"). The last bytes now go as
-- the session's loop runs on.
local STREAM_CLOSED = [[
local asx, core = require("asx"), require("asx.core")
local s
local streaming = false
local srv = assert(core.http_listen({ port = 0, on_request = function()
  streaming = true
  return "stream"
end }))
io.stdout:write(srv:port(), "\n")
io.stdout:flush()
local Closer = asx.Trader:extend("closer")
function Closer:cycle()
  while not streaming do self:sleep(0.05) end
  srv:close()
  self:sleep(0.05)
  s:stop()
end
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(0.01) end end
s = asx.session({ clock = "virtual", duration = 1e9, traders = { Closer:new(), Idle:new() } })
-- Twenty wall seconds at most, whatever happens.
local t0 = core.hrtime()
s.sched:on_progress(function() if core.hrtime() - t0 > 20 then s:stop() end end, 0.1)
s:run()
io.stdout:write(s.sched:counts().failed, " failed\n")
]]

describe("core.http_listen, closed by an agent", function()
  it("ends its streams without running the loop from inside the agent: no agent fails", function()
    local d = run.tmpdir()
    run.write(d .. "/server.lua", STREAM_CLOSED)
    local port = run.serve(d, "^(%d+)\n")
    local stream = run.output(("curl -s -N -m 20 'http://127.0.0.1:%s/stream'"):format(port))
    local code = run.served_status(d)
    local out, err = run.slurp(d .. "/out"), run.slurp(d .. "/err")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(": asx\n\n", stream)
    assert.are.equal("", err)
    assert.are.equal(port .. "\n0 failed\n", out)
    assert.are.equal(0, code)
  end)
end)
