-- asx-sweep's command line: a study file expanded into asx-host runs, run
-- by GNU parallel or a Slurm job array (or printed for any other engine),
-- and their summaries gathered into results.csv and summary.csv.
-- src/asx_host_main.c, built as asx-sweep, calls main(arg). Exit status:
--   0  every run succeeded (or, with --slurm and no --wait, the job was
--      submitted; with --print, the commands were printed);
--   1  some runs failed (they are reported; the CSV files hold the rest),
--      a report field is in no run's summary (its column is empty), or the
--      backend could not run;
--   2  a bad command line or study file; nothing ran.
--
-- The study's folder (--out, default ./NAME) holds study.json (the study
-- file and the asx-host it was run with), commands (one run a line),
-- runs/ID.json|.out|.err (each run's summary and output), the backend's
-- files (joblog and jobs for parallel, slurm/ for Slurm) and the CSV files.
local cjson = require("cjson").new()
local study = require("asx.sweep.study")
local results = require("asx.sweep.results")
local progress = require("asx.sweep.progress")
local sys = require("asx.sweep.sys")
local terminal = require("asx.terminal")
local check = require("asx.check")
local cli_number = require("asx.cli_number")

local M = {}

local PROG = "asx-sweep"
local USAGE = "usage: asx-sweep [options] STUDY.lua\n       asx-sweep collect DIR"
local HELP = [[
Runs a study: the asx-host runs its file describes (parameter points x
seeds), on GNU parallel or Slurm, then writes results.csv (one row per run)
and summary.csv (per point: each metric's mean, sd and 95% CI over seeds).

options:
  -o, --out DIR          the study's folder (default: ./NAME, NAME the
                         study's name or its file name without .lua)
  -j, --jobs N           runs at once (default: one per core); with
                         --slurm, at most N array tasks at once
      --resume           run only the runs that are missing or failed
      --timeout SECONDS  stop a run still running after SECONDS of wall
                         time (SIGTERM, then SIGKILL 5 s later) and count
                         it as failed (default: no limit)
      --sshlogin LOGIN   GNU parallel's --sshlogin: run on other machines
                         too (asx and DIR at the same paths); repeatable
      --slurm            submit the runs as a Slurm job array
      --chunk K          runs per array task (default 1)
      --partition P, --time T, --account A
                         passed to sbatch
      --sbatch OPTION    any other sbatch option, e.g. --sbatch=--mem=1G
      --wait             with --slurm: wait for the job, then collect
      --print            print the runs' commands, one a line, run nothing;
                         then `asx-sweep collect DIR` reads their results
  -q, --quiet            no progress line and no table
  -h, --help             this help
      --version          the version

asx-sweep collect DIR gathers the results of runs made by --slurm without
--wait, or by any other engine from --print's commands.]]

local usage = require("asx.usage")
local usage_error = usage.fail

local VALUED = {
  ["-o"] = "out", ["--out"] = "out", ["-j"] = "jobs", ["--jobs"] = "jobs", ["--chunk"] = "chunk",
  ["--partition"] = "partition", ["--time"] = "time", ["--account"] = "account", ["--timeout"] = "timeout",
}
local LISTS = { ["--sshlogin"] = "sshlogin", ["--sbatch"] = "sbatch" }
local FLAGS = {
  ["--resume"] = "resume", ["--slurm"] = "slurm", ["--wait"] = "wait", ["--print"] = "print",
  ["-q"] = "quiet", ["--quiet"] = "quiet", ["-h"] = "help", ["--help"] = "help", ["--version"] = "version",
}

function M.parse(argv)
  local opts, words = {}, {}
  usage.each_option(argv, {
    valued = setmetatable({}, { __index = function(_, flag) return VALUED[flag] or LISTS[flag] end }),
    flags = FLAGS,
    on_value = function(flag, value)
      local name = LISTS[flag]
      if name then
        opts[name] = opts[name] or {}
        opts[name][#opts[name] + 1] = value
      else
        opts[VALUED[flag]] = value
      end
    end,
    on_flag = function(flag) opts[FLAGS[flag]] = true end,
    on_word = function(a) words[#words + 1] = a end,
  })
  -- Read as asx-host reads its numbers (asx.cli_number): --timeout 1e3
  -- was refused while asx-host took -d 1e3.
  local function number(name, read, ...)
    local v = opts[name]
    if v == nil then return end
    local n, err = read("--" .. name, v, ...)
    if n == nil then usage_error("%s", err) end
    opts[name] = n
  end
  number("jobs", cli_number.option, check.integer("positive"), check.is_count)
  number("chunk", cli_number.option, check.integer("positive"), check.is_count)
  -- Positive where asx-host's -d is non-negative: a 0 timeout is no limit.
  number("timeout", cli_number.seconds, "positive")
  if opts.wait and not opts.slurm then usage_error("--wait goes with --slurm") end
  if opts.slurm and opts.print then usage_error("--slurm and --print do not go together") end
  if opts.sshlogin and opts.slurm then usage_error("--sshlogin is for GNU parallel, not --slurm") end
  return opts, words
end

-- The asx-host to run: the one next to this asx-sweep, else $ASX_HOST.
local function find_host(argv)
  local host = os.getenv("ASX_HOST") or (argv.bindir and argv.bindir .. "/asx-host")
  if not host or not sys.exists(host) then
    usage_error("cannot find asx-host next to asx-sweep; set ASX_HOST to its path")
  end
  return host
end

-- Makes (or, without --resume, empties) the study's folder. A folder that
-- exists but holds no study is refused rather than written into.
local function prepare(out, s, host, runs, resume, timeout)
  local commands = {}
  for i, r in ipairs(runs) do commands[i] = r.command end
  commands = table.concat(commands, "\n") .. "\n"
  local manifest = out .. "/study.json"
  if sys.exists(out) and not sys.exists(manifest) then
    local listing = sys.capture("ls -A " .. sys.quote(out) .. " 2>/dev/null")
    if listing:match("%S") then usage_error("'%s' exists and is not a study's folder; choose another --out", out) end
  end
  -- Two sweeps in one folder would empty and write each other's runs.
  local ok, err = pcall(function()
    sys.mkdir(out .. "/runs")
    return sys.lock(out)
  end)
  if not ok then
    if type(err) == "table" and err.io then usage_error("%s", err.io) end
    error(err, 0)
  end
  if not err then usage_error("'%s' is in use by another asx-sweep; wait for it to end, or choose another --out", out) end
  if resume and sys.exists(manifest) then
    if sys.read(out .. "/commands") ~= commands then
      usage_error("--resume: the study's runs differ from those in '%s' (the study, --timeout or asx-host changed); "
        .. "run it without --resume, or into another --out", out)
    end
  elseif sys.exists(manifest) then
    sys.capture(("rm -rf %s %s %s %s %s"):format(sys.quote(out .. "/runs"), sys.quote(out .. "/joblog"),
      sys.quote(out .. "/jobs"), sys.quote(out .. "/slurm"), sys.quote(out .. "/results.csv")))
    os.remove(out .. "/summary.csv")
  end
  -- A folder that cannot be made or written is a bad --out: nothing runs.
  ok, err = pcall(function()
    sys.mkdir(out .. "/runs")
    sys.write(manifest, cjson.encode({ study = s.path, host = host, timeout = timeout }) .. "\n")
    sys.write(out .. "/commands", commands)
  end)
  if not ok then
    if type(err) == "table" and err.io then usage_error("%s", err.io) end
    error(err, 0)
  end
end

-- Gathers and reports the results; returns the exit status.
local function finish(s, runs, out, exits, opts)
  local points, names, failed, problems = results.collect(s, runs, out, exits)
  for _, r in ipairs(failed) do io.stderr:write(PROG, ": ", results.failure(r)) end
  for _, p in ipairs(problems) do io.stderr:write(PROG, ": ", terminal.text(p), "\n") end
  if not opts.quiet then
    io.stdout:write(results.table(s, points, names))
  end
  io.stderr:write(("%s: %d runs, %d failed; results in %s/results.csv and summary.csv\n"):format(PROG, #runs,
    #failed, out))
  return (#failed > 0 or #problems > 0) and 1 or 0
end

local function runs_ok(runs)
  local n, ok = 0, {}
  for _, r in ipairs(runs) do
    local j = results.decode(sys.read(r.summary), r.summary)
    if j and not results.unfinished(j) then
      n = n + 1
      ok[r.run] = true
    end
  end
  return n, ok
end

function M.run(opts, path, argv)
  local s = study.load(path)
  local host = find_host(argv)
  local out = sys.absolute(opts.out or s.name)
  -- Its path is in every run's command, one line each.
  if out:find("%c") then usage_error("--out: a folder path without control characters (a line break, a tab) expected") end
  local runs = study.runs(s, host, out, opts.timeout)
  local backend
  if opts.slurm then
    backend = require("asx.sweep.slurm")
    if not backend.available() then usage_error("--slurm: sbatch is not on the PATH") end
  elseif not opts.print then
    backend = require("asx.sweep.parallel")
    if not backend.available() then usage_error("GNU parallel is not on the PATH (Debian: apt-get install parallel)") end
  end
  prepare(out, s, host, runs, opts.resume, opts.timeout)

  if opts.print then
    for _, r in ipairs(runs) do io.stdout:write(r.command, "\n") end
    return 0
  end

  local already, ok = 0, {}
  if opts.resume then already, ok = runs_ok(runs) end
  local prog = progress.new(#runs, already, opts.quiet)
  local exits
  if opts.slurm then
    local todo = {}
    for _, r in ipairs(runs) do
      if not ok[r.run] then todo[#todo + 1] = r end
    end
    if #todo == 0 then return finish(s, runs, out, {}, opts) end
    local okj, id, tasks = pcall(backend.submit, s, todo, out, opts)
    if not okj then
      io.stderr:write(("%s: %s\n"):format(PROG, type(id) == "table" and id.io or tostring(id)))
      return 1
    end
    io.stderr:write(("%s: submitted Slurm job %s: %d runs in %d array tasks\n"):format(PROG, id, #todo, tasks))
    if not opts.wait then
      io.stderr:write(("%s: when it has ended: asx-sweep collect %s\n"):format(PROG, sys.quote(out)))
      return 0
    end
    exits = backend.wait(id, todo, out, prog)
  else
    exits = backend.run(runs, out, opts, prog, ok)
  end
  prog:finish()
  return finish(s, runs, out, exits, opts)
end

function M.collect(opts, dir)
  local out = sys.absolute(dir)
  local text = sys.read(out .. "/study.json")
  local okj, manifest = pcall(cjson.decode, text or "")
  if not okj or type(manifest) ~= "table" or type(manifest.study) ~= "string" then
    usage_error("collect: '%s' is not a study's folder (no study.json)", dir)
  end
  local s = study.load(manifest.study)
  if not sys.lock(out) then usage_error("collect: '%s' is in use by another asx-sweep; wait for it to end", dir) end
  local timeout = tonumber(manifest.timeout)
  local runs = study.runs(s, manifest.host, out, timeout)
  local commands = {}
  for i, r in ipairs(runs) do commands[i] = r.command end
  if sys.read(out .. "/commands") ~= table.concat(commands, "\n") .. "\n" then
    usage_error("collect: %s has changed since its runs were made", manifest.study)
  end
  return finish(s, runs, out, require("asx.sweep.slurm").exits(runs, out), opts)
end

function M.main(argv)
  argv = argv or {}
  local ok, opts, words = pcall(M.parse, argv)
  local status
  if ok and opts.help then
    io.stdout:write(USAGE, "\n", HELP, "\n")
    return 0
  elseif ok and opts.version then
    io.stdout:write(("%s %s\n"):format(PROG, argv.version or "unknown"))
    return 0
  end
  if ok then
    if words[1] == "collect" and #words == 2 then
      ok, status = pcall(M.collect, opts, words[2])
    elseif words[1] == "collect" then
      ok, status = false, { usage = "collect: one study folder expected" }
    elseif #words == 1 then
      ok, status = pcall(M.run, opts, words[1], argv)
    else
      ok, status = false, { usage = #words == 0 and "no study file given" or "one study file expected" }
    end
  else
    status = opts
  end
  if not ok and type(status) == "table" and status.io then
    io.stderr:write(("%s: %s\n"):format(PROG, status.io))
    return 1
  end
  return usage.exit(PROG, USAGE, ok, status)
end

return M
