-- Signal names by number, as the C library names them (sigabbrev_np,
-- glibc 2.32): SIGKILL for 9, whatever the machine numbers them; "signal N"
-- for a number it does not name. What the summaries say of a signal that
-- stopped a session, and asx-sweep of one that ended a run.
local ffi = require("ffi")

ffi.cdef [[
const char *sigabbrev_np(int sig);
]]

local M = {}

function M.name(sig)
  local abbrev = type(sig) == "number" and sig % 1 == 0 and sig > 0 and sig < 128
    and ffi.C.sigabbrev_np(sig) or nil
  if abbrev == nil then return "signal " .. tostring(sig) end
  return "SIG" .. ffi.string(abbrev)
end

return M
