-- The progress line of a study on a terminal: runs done, failed and in all,
-- the time so far and an estimate of the rest (from the mean time per run
-- finished so far, which holds when the runs are alike).
local sys = require("asx.sweep.sys")

local Progress = {}
Progress.__index = Progress

local M = {}

-- total runs, of which `already` were done before this start (a resumed
-- study). The line goes to stderr, and only when it is a terminal.
function M.new(total, already, quiet)
  return setmetatable({ total = total, done = already or 0, already = already or 0, failed = 0,
    t0 = sys.clock(), show = not quiet and sys.isatty(2) }, Progress)
end

local function duration(t)
  t = math.floor(t + 0.5)
  if t >= 3600 then return ("%dh%02dm"):format(math.floor(t / 3600), math.floor(t % 3600 / 60)) end
  if t >= 60 then return ("%dm%02ds"):format(math.floor(t / 60), t % 60) end
  return ("%ds"):format(t)
end

function Progress:line()
  local elapsed = sys.clock() - self.t0
  local finished = self.done + self.failed - self.already
  local rest = self.total - self.done - self.failed
  local eta = ""
  if finished > 0 and rest > 0 then eta = (", about %s left"):format(duration(elapsed / finished * rest)) end
  return ("runs: %d done, %d failed, %d in all; %s elapsed%s"):format(self.done, self.failed, self.total,
    duration(elapsed), eta)
end

-- Counts one run that ended (ok or not) and redraws the line.
function Progress:update(done, failed)
  self.done, self.failed = done or self.done, failed or self.failed
  if self.show then io.stderr:write("\r\27[K", self:line()) end
end

function Progress:finish()
  if self.show then io.stderr:write("\r\27[K") end
end

return M
