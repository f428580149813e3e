-- Whether more agents fit in the memory left: the one estimate the command
-- line, the prompt's spawn() and the library's spawn()/add() refuse a count
-- with, so a count past the machine's memory is an error, not the kernel
-- killing the process once it has taken all the memory there is.
local M = {}

-- What one sleeping agent costs (its coroutine, trader, account and
-- wake-up), as `make bench` measures it (host.bytes_per_idle_agent).
M.BYTES_PER_AGENT = 807

-- What an agent's account adds for each instrument past the first: its
-- position, a 64-bit integer in an array of the account's.
M.BYTES_PER_INSTRUMENT = 8

-- The bytes the kernel can still give this process without swapping:
-- MemAvailable, else the free pages; nil when neither can be read.
function M.available()
  local f = io.open("/proc/meminfo", "r")
  if f then
    local text = f:read("*a")
    f:close()
    local kb = text and text:match("MemAvailable:%s*(%d+) kB")
    if kb then return tonumber(kb) * 1024 end
  end
  local ffi = require("ffi")
  pcall(ffi.cdef, "long sysconf(int name);")
  -- _SC_AVPHYS_PAGES and _SC_PAGESIZE, as Linux numbers them.
  local ok, pages, size = pcall(function() return ffi.C.sysconf(86), ffi.C.sysconf(30) end)
  if ok and pages > 0 and size > 0 then return tonumber(pages) * tonumber(size) end
  return nil
end

-- The estimate of one agent of an exchange of ninst instruments (default 1).
local function each(ninst)
  return M.BYTES_PER_AGENT + M.BYTES_PER_INSTRUMENT * ((ninst or 1) - 1)
end

local function gigabytes(bytes)
  return ("%.1f GB"):format(bytes / 1e9)
end

-- Why n more agents, of an exchange of ninst instruments (default 1), would
-- not fit in the bytes available (read now when nil), or nil.
function M.too_many(n, available, ninst)
  available = available or M.available()
  local one = each(ninst)
  local need = n * one
  if available and need > available then
    return ("%s about %s of memory (%d bytes each) and %s are available"):format(
      n == 1 and "1 agent needs" or ("%.0f agents need"):format(n), gigabytes(need), one, gigabytes(available))
  end
  return nil
end

-- too_many for n more agents of session s, reading /proc/meminfo only when
-- the memory read at the last reading, less what the agents added since
-- take, cannot hold them: add() in a loop costs a subtraction per agent.
-- Memory freed since (agents killed) only shows at the next reading, and
-- a refusal always comes from a fresh one.
function M.session_too_many(s, n)
  local ninst, agents = #s.instrument_names, #s.traders
  local last = s.memory_read
  if last and n * each(ninst) <= last.available - (agents - last.agents) * each(ninst) then return nil end
  local available = M.available()
  s.memory_read = { available = available or math.huge, agents = agents }
  return M.too_many(n, available, ninst)
end

return M
