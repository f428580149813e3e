-- The Slurm backend: the runs as one job array. Array task i runs a chunk
-- of runs one after another (--chunk, default 1: one run per task), so a
-- study of many short runs does not flood the scheduler with tiny jobs.
-- `--jobs N` becomes the array's throttle (%N): at most N tasks at once.
--
-- The job script, the list of runs it works through and Slurm's own logs
-- go to the study folder's slurm/; the compute nodes must see that folder
-- and asx-host at the same paths (asx installed on every node, or both on
-- a shared file system). Each run's exit status goes to runs/ID.exit.
local sys = require("asx.sweep.sys")

local M = {}

function M.available()
  local _, status = sys.capture("command -v sbatch >/dev/null 2>&1")
  return status == 0
end

local function script(s, out, ntodo, opts)
  local chunk = opts.chunk or 1
  local tasks = math.ceil(ntodo / chunk)
  local q = sys.quote
  local lines = {
    "#!/bin/sh",
    "# asx-sweep's job array for the study " .. s.name .. " (" .. s.path .. ").",
    "#SBATCH --job-name=" .. q("asx-" .. s.name),
    ("#SBATCH --array=0-%d%s"):format(tasks - 1, opts.jobs and ("%" .. opts.jobs) or ""),
    "#SBATCH --ntasks=1",
    "#SBATCH --cpus-per-task=1",
    "#SBATCH --output=" .. q(out .. "/slurm/%A_%a.log"),
  }
  for _, o in ipairs({ "partition", "time", "account" }) do
    if opts[o] then lines[#lines + 1] = ("#SBATCH --%s=%s"):format(o, q(opts[o])) end
  end
  for _, o in ipairs(opts.sbatch or {}) do lines[#lines + 1] = "#SBATCH " .. o end
  local rest = {
    "",
    "# Task i runs lines i*CHUNK+1 .. (i+1)*CHUNK of the list: a run's number,",
    "# a tab, its asx-host command.",
    ("chunk=%d"):format(chunk),
    "first=$((SLURM_ARRAY_TASK_ID * chunk + 1))",
    "last=$((first + chunk - 1))",
    ("sed -n \"${first},${last}p\" %s | {"):format(q(out .. "/slurm/todo")),
    "  status=0",
    "  while IFS='\t' read -r id cmd; do",
    "    sh -c \"$cmd\" </dev/null",
    "    code=$?",
    ("    echo \"$code\" > %s\"/$id.exit\""):format(q(out .. "/runs")),
    "    [ \"$code\" -eq 0 ] || status=1",
    "  done",
    "  exit $status",
    "}",
  }
  for _, l in ipairs(rest) do lines[#lines + 1] = l end
  return table.concat(lines, "\n") .. "\n", tasks
end

-- Writes the job script for the runs to do and submits it; returns the
-- job id and the number of array tasks, or raises with sbatch's message.
function M.submit(s, runs, out, opts)
  sys.mkdir(out .. "/slurm")
  local todo = {}
  for i, r in ipairs(runs) do
    os.remove(out .. "/runs/" .. r.id .. ".exit")
    todo[i] = r.id .. "\t" .. r.command
  end
  sys.write(out .. "/slurm/todo", table.concat(todo, "\n") .. "\n")
  local text, tasks = script(s, out, #runs, opts)
  sys.write(out .. "/slurm/job.sh", text)
  local reply, status = sys.capture("sbatch --parsable " .. sys.quote(out .. "/slurm/job.sh") .. " 2>&1")
  local id = reply:match("^(%d+)")
  if status ~= 0 or not id then
    error(("sbatch failed: %s"):format((reply:gsub("%s+$", ""))), 0)
  end
  sys.write(out .. "/slurm/jobid", id .. "\n")
  return id, tasks
end

-- Whether the job still has tasks pending or running.
local function active(id)
  local reply, status = sys.capture("squeue -h -j " .. id .. " -t PD,R,CG,CF,S,RQ -o %i 2>/dev/null")
  return status == 0 and reply:match("%S") ~= nil
end

-- Waits for the job to end, updating the progress line from the runs'
-- exit files; returns { [run] = exit status }.
function M.wait(id, runs, out, progress)
  local exits = {}
  local function count()
    local done, failed = progress.already, 0
    for _, r in ipairs(runs) do
      local code = tonumber(sys.read(out .. "/runs/" .. r.id .. ".exit") or "")
      if code then
        exits[r.run] = code
        if code == 0 then done = done + 1 else failed = failed + 1 end
      end
    end
    progress:update(done, failed)
  end
  while active(id) do
    count()
    sys.sleep(1)
  end
  count()
  return exits
end

-- The exit statuses the runs' exit files hold (for `asx-sweep collect`).
function M.exits(runs, out)
  local exits = {}
  for _, r in ipairs(runs) do exits[r.run] = tonumber(sys.read(out .. "/runs/" .. r.id .. ".exit") or "") end
  return exits
end

return M
