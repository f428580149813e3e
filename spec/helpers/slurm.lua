-- A real single-node Slurm for the specs: Debian's munged, slurmctld and
-- slurmd, started as root with everything in a new temporary directory, on
-- free loopback ports, with the node "localhost" of 2 CPUs; stopped by
-- their pids. Slurm's clients find it through SLURM_CONF, which the caller
-- passes to the commands it runs (M.env).
local net = require("helpers.net")
local run = require("helpers.run")

local M = {}

local function spawn(cmd, log)
  local pid = tonumber(run.output(("sh -c '(exec %s >%s 2>&1) & echo $!'"):format(cmd, log)))
  assert(pid, "could not start: " .. cmd)
  return pid
end

local function stop_pid(pid)
  os.execute("kill " .. pid .. " 2>/dev/null")
  if not net.wait_until(function() return net.gone(pid) end, 15) then
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    net.wait_until(function() return net.gone(pid) end, 5)
  end
end

-- Starts the three daemons; returns { dir, conf, env, pids } once the node
-- is idle, and raises with the daemons' logs when it is not within 30 s.
function M.start()
  local dir = run.tmpdir()
  local host = run.output("hostname -s"):gsub("%s+$", "")
  assert(os.execute(("mkdir -p %s/state %s/spool && mungekey -c -k %s/munge.key"):format(dir, dir, dir)) == 0,
    "mungekey failed")
  local cluster = { dir = dir, conf = dir .. "/slurm.conf", pids = {} }
  cluster.env = "SLURM_CONF=" .. cluster.conf .. " "
  cluster.pids[1] = spawn(("munged -F --socket=%s/munge.sock --key-file=%s/munge.key --pid-file=%s/munged.pid "
    .. "--seed-file=%s/munge.seed"):format(dir, dir, dir, dir), dir .. "/munged.log")
  local f = assert(io.open(cluster.conf, "w"))
  f:write(([[
ClusterName=asxspec
SlurmctldHost=%s(127.0.0.1)
SlurmctldPort=%d
SlurmdPort=%d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%s/munge.sock
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool
SlurmctldPidFile=%s/slurmctld.pid
SlurmdPidFile=%s/slurmd.pid
SlurmctldLogFile=%s/slurmctld.log
SlurmdLogFile=%s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
]]):format(host, net.free_port(), net.free_port(), dir, dir, dir, dir, dir, dir, dir))
  f:close()
  assert(net.wait_until(function() return run.read(dir .. "/munge.sock") ~= nil
    or os.execute("test -S " .. dir .. "/munge.sock") == 0 end, 10), "munged did not start")
  cluster.pids[2] = spawn(("slurmctld -D -f %s"):format(cluster.conf), dir .. "/slurmctld.out")
  cluster.pids[3] = spawn(("slurmd -D -N localhost -f %s"):format(cluster.conf), dir .. "/slurmd.out")
  local idle = net.wait_until(function()
    return run.output(cluster.env .. "sinfo -h -o %T 2>/dev/null"):match("^idle") ~= nil
  end, 30)
  if not idle then
    local logs = ""
    for _, name in ipairs({ "munged.log", "slurmctld.out", "slurmd.out" }) do
      logs = logs .. "\n== " .. name .. "\n" .. (run.read(dir .. "/" .. name) or "")
    end
    M.stop(cluster)
    error("the Slurm node did not become idle:" .. logs)
  end
  return cluster
end

-- Stops every daemon it started, by pid (slurmd and slurmctld first, then
-- munged), and removes the directory.
function M.stop(cluster)
  for i = #cluster.pids, 1, -1 do stop_pid(cluster.pids[i]) end
  os.execute("rm -rf '" .. cluster.dir .. "'")
end

return M
