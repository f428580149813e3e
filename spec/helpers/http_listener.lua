-- A one-shot HTTP server for the specs, run as its own process:
--   luajit spec/helpers/http_listener.lua [STATUS [BODY]]
-- It prints "PORT PID" on a line as soon as it listens, then serves one
-- request: it answers STATUS (default 204) with BODY (default none) and prints the request exactly
-- as received (head and body), then exits. A spec reads the first line to
-- know where to send, and the rest once its client is done.
package.path = "spec/?.lua;" .. package.path
local ffi = require("ffi")
local net = require("helpers.net")
local C = net.C

local status = tonumber(arg[1]) or 204
local body = arg[2] or ""
local fd, port = net.listen()
io.stdout:write(port, " ", C.getpid(), "\n")
io.stdout:flush()

local c = C.accept(fd, nil, nil)
assert(c >= 0, "accept failed")
local buf = ffi.new("char[65536]")
local got = ""
local head_end, want
repeat
  local n = tonumber(C.read(c, buf, 65536))
  if n <= 0 then break end
  got = got .. ffi.string(buf, n)
  head_end = head_end or got:find("\r\n\r\n", 1, true)
  if head_end and not want then
    local len = got:sub(1, head_end):lower():match("\ncontent%-length:%s*(%d+)")
    want = head_end + 3 + (tonumber(len) or 0)
  end
until want and #got >= want
local reply = ("HTTP/1.1 %d Spec\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
  .. "Connection: close\r\n\r\n%s"):format(status, #body, body)
C.write(c, reply, #reply)
C.close(c)
C.close(fd)
io.stdout:write(got)
io.stdout:flush()
