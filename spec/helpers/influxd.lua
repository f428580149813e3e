-- Debian's influxd (1.x) for the specs and the benchmarks: started with
-- everything in a new temporary directory and on free loopback ports, and
-- stopped by its pid.
local net = require("helpers.net")
local run = require("helpers.run")

local M = {}

-- Starts influxd; returns { pid, dir, port, url } once it listens, and
-- raises an error with its log when it does not within 30 seconds. With
-- opts.nice it runs at the lowest CPU priority.
function M.start(opts)
  local dir = run.tmpdir()
  local http, rpc = net.free_port(), net.free_port()
  local f = assert(io.open(dir .. "/influxdb.conf", "w"))
  f:write(([[
reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
  logging-enabled = false
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
]]):format(rpc, dir, dir, dir, http))
  f:close()
  local nice = opts and opts.nice and "exec nice -n 19 " or "exec "
  local pid = tonumber(run.output(("sh -c '(%sinfluxd -config %s/influxdb.conf >%s/influxd.log 2>&1) & echo $!'")
    :format(nice, dir, dir)))
  assert(pid, "could not start influxd")
  local srv = { pid = pid, dir = dir, port = http, url = ("http://127.0.0.1:%d"):format(http) }
  if not net.wait_until(function() return net.listening(http) end, 30) then
    os.execute("kill -9 " .. pid)
    error("influxd did not start listening: " .. (run.read(dir .. "/influxd.log") or ""))
  end
  return srv
end

-- Kills the server at once, as a crash would, and waits until it is gone;
-- its directory stays. Killing it again does nothing.
function M.kill(srv)
  if not srv.killed then
    os.execute("kill -9 " .. srv.pid)
    assert(net.wait_until(function() return net.gone(srv.pid) end, 10), "influxd did not stop")
    srv.killed = true
  end
end

-- Kills the server, if it still runs, and removes its directory.
function M.stop(srv)
  M.kill(srv)
  os.execute("rm -rf " .. srv.dir)
end

return M
