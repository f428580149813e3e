-- The little of the operating system asx-sweep needs: quoting words for
-- /bin/sh, running a command for its output and status, files and folders,
-- and waiting.
local ffi = require("ffi")

ffi.cdef [[
int poll(void *fds, unsigned long nfds, int timeout);
int isatty(int fd);
int open(const char *path, int flags, ...);
int close(int fd);
int flock(int fd, int operation);
char *strerror(int errnum);
]]

local M = {}

-- A word as /bin/sh reads it back: as is when it has nothing special.
function M.quote(s)
  s = tostring(s)
  if s:match("^[%w%-_./:=,+@%%]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns its stdout and its exit status.
function M.capture(cmd)
  local p = assert(io.popen(cmd .. "\necho \"$?\""))
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)(%d+)\n$")
  return body or out, tonumber(status) or -1
end

function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- A file or folder that cannot be written: raises { io = reason }, which
-- asx-sweep says in one line (no traceback: it is the disk's, not a bug).
local function io_error(fmt, ...)
  error({ io = fmt:format(...) }, 0)
end
M.io_error = io_error

-- Writes text to path through a temporary file and a rename, so a reader
-- never sees half of it; raises { io = reason } on failure (a full disk),
-- leaving the file as it was.
function M.write(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then io_error("cannot write '%s': %s", path, err) end
  local ok, err2 = f:write(text)
  local closed, cerr = f:close()
  ok, err2 = ok and closed, err2 or cerr
  if ok then ok, err2 = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    io_error("cannot write '%s': %s", path, (tostring(err2):gsub("^.*%.tmp: ", "")))
  end
end

function M.mkdir(path)
  local out, status = M.capture("mkdir -p " .. M.quote(path) .. " 2>&1")
  if status ~= 0 then
    -- mkdir's message ends with the reason: "...: Not a directory".
    local reason = out:match(":%s*([^:\n]+)\n?$")
    io_error("cannot make the folder '%s'%s", path, reason and (": " .. reason) or "")
  end
end

-- Takes the folder path for this process until it exits: an exclusive
-- flock on the folder itself (no file in it), not inherited by the runs
-- (O_CLOEXEC), so that it goes with asx-sweep however it ends. Returns
-- true, or false when another process holds it; raises { io = reason } when
-- the folder cannot be opened.
local O_RDONLY, O_CLOEXEC, LOCK_EX, LOCK_NB, EWOULDBLOCK = 0, 0x80000, 2, 4, 11
local held = {}
function M.lock(path)
  if held[path] then return true end
  local fd = ffi.C.open(path, O_RDONLY + O_CLOEXEC)
  if fd < 0 then io_error("cannot open the folder '%s': %s", path, ffi.string(ffi.C.strerror(ffi.errno()))) end
  if ffi.C.flock(fd, LOCK_EX + LOCK_NB) ~= 0 then
    local errno = ffi.errno()
    ffi.C.close(fd)
    if errno == EWOULDBLOCK then return false end
    io_error("cannot lock the folder '%s': %s", path, ffi.string(ffi.C.strerror(errno)))
  end
  held[path] = fd
  return true
end

-- An absolute path without "." and ".." parts (read as text: symbolic
-- links are not followed).
local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- An absolute path for path, relative to base (default: the working
-- directory), normalized.
function M.absolute(path, base)
  if path:sub(1, 1) == "/" then return path end
  base = base or os.getenv("PWD") or M.capture("pwd"):gsub("\n$", "")
  return normalize(base .. "/" .. path)
end

function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The last n lines of a file, or nil when it is missing or empty.
function M.tail(path, n)
  local s = M.read(path)
  if not s or s == "" then return nil end
  local lines = {}
  for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local out = {}
  for i = math.max(1, #lines - n + 1), #lines do out[#out + 1] = lines[i] end
  return out
end

function M.sleep(seconds)
  ffi.C.poll(nil, 0, math.floor(seconds * 1000))
end

function M.isatty(fd)
  return ffi.C.isatty(fd) == 1
end

-- Wall seconds from an arbitrary start, for elapsed times.
function M.clock()
  return require("asx.core").hrtime()
end

return M
