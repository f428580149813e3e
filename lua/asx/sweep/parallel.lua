-- The GNU parallel backend: every run of the study as one job of parallel,
-- on this machine (--jobs) or over SSH on several (--sshlogin, which needs
-- asx and the study's folder at the same paths there, e.g. a shared disk).
--
-- parallel keeps its job log in the study's folder, so `--resume` hands the
-- same jobs to `parallel --resume-failed`, which re-runs exactly those that
-- failed or never ran. Each job prints "asx-sweep-run RUN STATUS" when it
-- ends, which parallel passes on as the job finishes: that drives the
-- progress line and gives each run's exit status.
local sys = require("asx.sweep.sys")

local M = {}

local DONE = "asx-sweep-run"

function M.available()
  local _, status = sys.capture("command -v parallel >/dev/null 2>&1")
  return status == 0
end

-- The job log without the jobs that exited 0 but left no good summary (ok:
-- { [run] = true } for a run with one): a run that a signal stopped early,
-- whose asx-host exits 0. parallel --resume-failed then runs them again,
-- with those that failed.
local function forget_unfinished(joblog, ok)
  local text = sys.read(joblog)
  if not text then return end
  local kept = {}
  for line in text:gmatch("[^\n]+") do
    local fields = {}
    for f in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = f end
    local seq = tonumber(fields[1])
    if not (seq and fields[7] == "0" and not ok[seq]) then kept[#kept + 1] = line end
  end
  sys.write(joblog, table.concat(kept, "\n") .. "\n")
end

-- Runs the runs; returns { [run] = exit status } for those that ran now.
-- With opts.resume, ok ({ [run] = true }) lists the runs not to run again.
function M.run(runs, out, opts, progress, ok)
  if opts.resume then forget_unfinished(out .. "/joblog", ok or {}) end
  local jobs = {}
  for i, r in ipairs(runs) do
    jobs[i] = ("%s; s=$?; echo %s %d $s; exit $s"):format(r.command, DONE, r.run)
  end
  sys.write(out .. "/jobs", table.concat(jobs, "\n") .. "\n")
  local words = { "parallel", "--joblog", sys.quote(out .. "/joblog") }
  if opts.resume then words[#words + 1] = "--resume-failed" end
  if opts.jobs then words[#words + 1] = "--jobs " .. opts.jobs end
  for _, login in ipairs(opts.sshlogin or {}) do words[#words + 1] = "--sshlogin " .. sys.quote(login) end
  words[#words + 1] = "<" .. sys.quote(out .. "/jobs")
  local p = assert(io.popen(table.concat(words, " ")))
  local exits = {}
  local done, failed = progress.done, progress.failed
  for line in p:lines() do
    local run, status = line:match("^" .. DONE:gsub("%-", "%%-") .. " (%d+) (%d+)$")
    if run then
      run, status = tonumber(run), tonumber(status)
      exits[run] = status
      if status == 0 then done = done + 1 else failed = failed + 1 end
      progress:update(done, failed)
    end
  end
  p:close()
  return exits
end

return M
