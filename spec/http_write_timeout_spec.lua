-- The HTTP server's write timeout (src/asx_httpd.h): a connection whose
-- response waits and whose client takes none of it for the timeout is cut,
-- freeing its slot; a client that reads, however slowly, is never cut. Run
-- as asx-lua SCRIPT with core.http_listen's write_timeout, a few seconds
-- where asx-host has ten, and the session's real clock driving the loop.
local ffi = require("ffi")
local net = require("helpers.net")
local run = require("helpers.run")

local POLLIN, POLLERR, POLLHUP = 1, 8, 16

-- A server of a 256 KB body at /big and a stream at /stream, which gets
-- 16 KB every 20 ms (far more than the slow client below reads); /stop
-- ends the session.
local function server(write_timeout)
  return ([[
local asx, core = require("asx"), require("asx.core")
local s
local big, chunk = string.rep("x", 256 * 1024), string.rep("y", 16 * 1024)
local srv
srv = assert(core.http_listen({ port = 0, write_timeout = %s, every = 0.02,
  on_request = function(_, path)
    if path == "/stream" then return "stream" end
    if path == "/stop" then s:stop() end
    return 200, "text/plain", path == "/big" and big or "ok\n"
  end,
  on_tick = function() srv:broadcast(chunk) end }))
io.stdout:write(srv:port(), "\n")
io.stdout:flush()
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
s = asx.session({ clock = "real", duration = 120, traders = { Idle:new() } })
s:run()
srv:close()
]]):format(write_timeout)
end

local function serve(write_timeout)
  local d = run.tmpdir()
  run.write(d .. "/server.lua", server(write_timeout))
  return d, tonumber(run.serve(d, "^(%d+)\n"))
end

-- Stops the server; its exit status and stderr.
local function stop(d, port)
  run.output(("curl -s -m 10 'http://127.0.0.1:%d/stop'"):format(port))
  local code = run.served_status(d)
  local err = run.slurp(d .. "/err")
  os.execute("rm -rf '" .. d .. "'")
  return code, err
end

local function pollfd(fd, events)
  return ffi.new("struct { int fd; short events, revents; }", fd, events, 0)
end

-- Whether the server cut fd (a reset or an end: the socket hangs up or
-- errs), waiting at most ms for it, without reading what it holds.
local function cut(fd, ms)
  local pfd = pollfd(fd, 0)
  return net.C.poll(pfd, 1, ms) == 1 and bit.band(pfd.revents, POLLERR + POLLHUP) ~= 0
end

describe("core.http_listen's write timeout", function()
  it("is refused, naming it, outside 0.01 to 1e9 seconds", function()
    local core = require("asx.core")
    for _, bad in ipairs({ 0, 0.001, -1, 2e9, 0 / 0, "10", true }) do
      local ok, err = pcall(core.http_listen, { port = 0, on_request = function() end, write_timeout = bad })
      assert.is_false(ok)
      assert.are.equal("bad argument #1 to '?' (write_timeout: seconds from 0.01 to 1e9 expected)", err,
        tostring(bad))
    end
  end)

  it("cuts the connections whose clients never read, and the next client is served", function()
    local d, port = serve(3)
    local fds = {}
    for i = 1, 128 do
      local fd, got = net.ask(port, "/big")
      assert.are.equal("HTTP/1.1 200 OK\r\n", got, i)
      fds[i] = fd
    end
    -- They hold every slot: the next client is turned away.
    local fd, got = net.ask(port, "/big")
    net.C.close(fd)
    assert.are.equal("HTTP/1.1 503 Service Unavailable\r\n", got)
    -- Each is cut once the timeout passes with nothing taken (a connection
    -- whose answer waits was never closed before).
    for i = 1, 128 do
      assert.is_true(cut(fds[i], 20000), i)
      net.C.close(fds[i])
    end
    -- Their slots are free (once the server has closed them all).
    local served
    assert.is_true(net.wait_until(function()
      fd, got = net.ask(port, "/big")
      net.C.close(fd)
      served = got
      return got == "HTTP/1.1 200 OK\r\n"
    end), served)
    local code, err = stop(d, port)
    assert.are.equal(0, code)
    assert.are.equal("", err)
  end)

  it("never cuts a stream whose client reads, however slowly, and cuts one whose client does not", function()
    local d, port = serve(1)
    local slow, got = net.ask(port, "/stream")
    assert.are.equal("HTTP/1.1 200 OK\r\n", got)
    local idle
    idle, got = net.ask(port, "/stream")
    assert.are.equal("HTTP/1.1 200 OK\r\n", got)
    -- The slow client reads 1 KB every 20 ms (a pace, not a wait: it is
    -- the client under test), some 50 KB a second where the stream sends
    -- 800 KB, for four times the timeout at least.
    local buf = ffi.new("char[1024]")
    local pfd = pollfd(slow, POLLIN)
    local total = 0
    for i = 1, 200 do
      assert.are.equal(1, net.C.poll(pfd, 1, 10000), i)
      local n = tonumber(net.C.read(slow, buf, 1024))
      assert.is_true(n > 0, i)
      total = total + n
      net.pause(20)
    end
    assert.is_true(total >= 100 * 1024, total)
    assert.is_false(cut(slow, 0))
    assert.is_true(cut(idle, 10000))
    net.C.close(slow)
    net.C.close(idle)
    local code, err = stop(d, port)
    assert.are.equal(0, code)
    assert.are.equal("", err)
  end)
end)
