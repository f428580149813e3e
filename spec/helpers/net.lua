-- Small network helpers for the specs, on LuaJIT's FFI and libc only, so
-- they need nothing beyond what asx itself needs: free loopback ports, a
-- check that something listens on one, and waiting for a process to end.
local ffi = require("ffi")

ffi.cdef([[
typedef struct { uint16_t family; uint16_t port; uint32_t addr; uint8_t zero[8]; } asx_spec_sockaddr_in;
int socket(int domain, int type, int protocol);
int bind(int fd, const void *addr, uint32_t len);
int listen(int fd, int backlog);
int accept(int fd, void *addr, void *len);
int connect(int fd, const void *addr, uint32_t len);
int getsockname(int fd, void *addr, uint32_t *len);
int setsockopt(int fd, int level, int name, const void *value, uint32_t len);
long read(int fd, void *buf, size_t n);
long write(int fd, const void *buf, size_t n);
int close(int fd);
int getpid(void);
int poll(void *fds, unsigned long n, int timeout);
uint16_t htons(uint16_t v);
uint16_t ntohs(uint16_t v);
]])

local C = ffi.C
local AF_INET, SOCK_STREAM = 2, 1
local LOOPBACK = 0x0100007f -- 127.0.0.1 in network byte order on little-endian

local M = { C = C }

function M.addr(port)
  local a = ffi.new("asx_spec_sockaddr_in")
  a.family = AF_INET
  a.port = C.htons(port or 0)
  a.addr = LOOPBACK
  return a
end

-- A listening socket on a free loopback port: fd, port.
function M.listen()
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0, "socket failed")
  local one = ffi.new("int[1]", 1)
  C.setsockopt(fd, 1, 2, one, 4) -- SO_REUSEADDR
  local a = M.addr(0)
  assert(C.bind(fd, a, ffi.sizeof(a)) == 0, "bind failed")
  assert(C.listen(fd, 16) == 0, "listen failed")
  local len = ffi.new("uint32_t[1]", ffi.sizeof(a))
  C.getsockname(fd, a, len)
  return fd, C.ntohs(a.port)
end

-- A port that was free a moment ago (the kernel does not hand it out again
-- at once): for servers that must be told their port.
function M.free_port()
  local fd, port = M.listen()
  C.close(fd)
  return port
end

-- True when something accepts connections on the port.
function M.listening(port)
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  local a = M.addr(port)
  local ok = C.connect(fd, a, ffi.sizeof(a)) == 0
  C.close(fd)
  return ok
end

function M.pause(ms) C.poll(nil, 0, ms) end

-- Waits (at most timeout seconds, 20 by default) until check() is true:
-- for a server started by a spec to be ready, which it says no other way.
function M.wait_until(check, timeout)
  for _ = 1, (timeout or 20) * 50 do
    if check() then return true end
    M.pause(20)
  end
  return check()
end

-- A connection to a server on port that asks for path and reads its status
-- line only: fd and that line ("" if none came within 10 s). Its small
-- receive buffer, and its segments of an Ethernet's 1460 bytes, keep most
-- of the answer waiting in the server, as over a network: with loopback's
-- 64 KB segments the server's kernel takes some 3 MB of it, a page whole,
-- and the server holds nothing a spec could see.
function M.ask(port, path)
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  assert(fd >= 0, "socket failed")
  C.setsockopt(fd, 1, 8, ffi.new("int[1]", 4096), 4) -- SOL_SOCKET, SO_RCVBUF
  C.setsockopt(fd, 6, 2, ffi.new("int[1]", 1460), 4) -- IPPROTO_TCP, TCP_MAXSEG
  local a = M.addr(port)
  assert(C.connect(fd, a, ffi.sizeof(a)) == 0, "connect failed")
  local req = "GET " .. path .. " HTTP/1.1\r\nHost: x\r\n\r\n"
  assert(C.write(fd, req, #req) == #req)
  local buf = ffi.new("char[1]")
  local got = ""
  local pfd = ffi.new("struct { int fd; short events, revents; }", fd, 1, 0) -- POLLIN
  while not got:find("\r\n", 1, true) and C.poll(pfd, 1, 10000) == 1 do
    if C.read(fd, buf, 1) ~= 1 then break end
    got = got .. ffi.string(buf, 1)
  end
  return fd, got
end

-- Whether a process has ended (gone, or a zombie nobody reaped yet).
function M.gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return true end
  local s = f:read("*a")
  f:close()
  return s:match("^%d+ %b() (%a)") == "Z"
end

return M
