-- asx-sweep on a real single-node Slurm (spec/helpers/slurm.lua starts it as
-- root on loopback): the study that spec/sweep_spec.lua runs on GNU
-- parallel gives the same results.csv and summary.csv as a job array, with
-- --wait or collected afterwards. Exclude with ASX_SPEC_EXCLUDE=slurm.
local run = require("helpers.run")
local net = require("helpers.net")
local slurm = require("helpers.slurm")

local lines, sh, tmpdir, slurp = run.lines, run.sh, run.tmpdir, run.slurp
local SWEEP = run.HOST:gsub("asx%-host$", "asx-sweep")
local STUDY = run.cwd .. "/spec/fixtures/studies/small.lua"

describe("asx-sweep on Slurm #slurm", function()
  local cluster, d
  local function sweep(args)
    return sh(("env -u LD_PRELOAD %s'%s' %s"):format(cluster.env, SWEEP, args), d)
  end

  setup(function()
    cluster = slurm.start()
    d = tmpdir()
    assert.are.equal(0, sweep('-q --jobs 2 -o "$D/parallel" ' .. STUDY).status)
  end)
  teardown(function()
    if cluster then slurm.stop(cluster) end
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("runs the study as a job array and, with --wait, collects the same results", function()
    local r = sweep('-q --slurm --wait --chunk 2 --jobs 2 -o "$D/slurm" ' .. STUDY)
    assert.are.equal(0, r.status)
    local err = lines(r.stderr)
    assert.matches("^asx%-sweep: submitted Slurm job %d+: 6 runs in 3 array tasks$", err[1])
    assert.are.equal(2, #err)
    assert.are.equal(slurp(d .. "/parallel/results.csv"), slurp(d .. "/slurm/results.csv"))
    assert.are.equal(slurp(d .. "/parallel/summary.csv"), slurp(d .. "/slurm/summary.csv"))
    local script = slurp(d .. "/slurm/slurm/job.sh")
    assert.matches("\n#SBATCH %-%-array=0%-2%%2\n", script)
    assert.matches("\n#SBATCH %-%-output=" .. d:gsub("%p", "%%%0") .. "/slurm/slurm/%%A_%%a%.log\n", script)
  end)

  it("submits without --wait, and collect gathers the results once the job has ended", function()
    local r = sweep('-q --slurm -o "$D/later" ' .. STUDY)
    assert.are.equal(0, r.status)
    local id = r.stderr:match("submitted Slurm job (%d+): 6 runs in 6 array tasks\n")
    assert.is_truthy(id)
    assert.matches("when it has ended: asx%-sweep collect " .. d:gsub("%p", "%%%0") .. "/later\n$", r.stderr)
    assert.is_true(net.wait_until(function()
      return not run.output(cluster.env .. "squeue -h -j " .. id .. " -o %i"):match("%d")
    end, 60))
    local c = sweep('-q collect "$D/later"')
    assert.are.equal(0, c.status)
    assert.are.equal(slurp(d .. "/parallel/results.csv"), slurp(d .. "/later/results.csv"))
  end)
end)
