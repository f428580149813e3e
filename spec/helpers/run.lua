-- Helpers the specs share for files and processes: the asx-host under
-- test, reading a file whole, fresh temporary paths, and running shell
-- commands either for their output or, with a watchdog, for their status,
-- stdout and stderr.
local M = {}

M.BUILD = os.getenv("ASX_BUILD") or "build"
M.cwd = os.getenv("PWD") or "."
M.HOST = M.BUILD:sub(1, 1) == "/" and M.BUILD .. "/asx-host" or M.cwd .. "/" .. M.BUILD .. "/asx-host"
-- asx-lua, beside asx-host: a Lua script run in asx-host's own Lua state.
M.LUA = M.HOST:gsub("asx%-host$", "asx-lua")
M.USAGE = "usage: asx-host [options] FILE.lua[:COUNT]...\nTry 'asx-host --help' for more.\n"

-- The content of a file, or nil and the reason when it cannot be opened.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

-- The content of a file that must exist.
function M.slurp(path)
  return assert(M.read(path))
end

-- A fresh temporary path ending in ext; nothing is created there.
function M.tmpname(ext)
  local p = os.tmpname()
  os.remove(p)
  return p .. (ext or "")
end

-- A new empty temporary directory; the caller removes it.
function M.tmpdir()
  local p = M.tmpname()
  assert(os.execute("mkdir -p " .. p) == 0, "cannot make " .. p)
  return p
end

-- Writes text to the file at path (made anew), for the strategies, scripts
-- and studies a spec runs.
function M.write(path, text)
  local f = assert(io.open(path, "w"))
  assert(f:write(text))
  assert(f:close())
end

-- Why a spec that limits the address space (ulimit -v) is pending here, or
-- nil: under the sanitizers, whose runtimes spec/run.sh preloads, the
-- allocator aborts the process at the limit instead of failing the
-- allocation. A spec begins `local why = run.address_limit_pending()`,
-- `if why then pending(why) return end` (not `return pending(why)`: a tail
-- call, which would leave busted no line of the spec to name).
function M.address_limit_pending()
  if (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true) then
    return "under the sanitizers, whose allocator aborts at a limit of the address space"
  end
  return nil
end

-- Runs a shell command and returns its standard output. The sanitizer
-- runtimes that spec/run.sh preloads for our own code are not for the
-- tools run this way (curl hangs with them), so they are left out.
function M.output(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD " .. cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- Runs a shell script from the repository root, with the host as "$HOST"
-- and the directory dir as "$D"; returns { status, stdout, stderr }. The
-- script and its output go in dir, which the caller removes; without dir
-- they go in a temporary directory removed afterwards. A watchdog kills a
-- run that hangs, so a broken build fails the spec instead of stalling it.
function M.sh(script, dir)
  local own = not dir
  dir = dir or M.tmpdir()
  local path = dir .. "/run.sh"
  local f = assert(io.open(path, "w"))
  f:write("HOST='", M.HOST, "'\nD='", dir, "'\n", script, "\n")
  f:close()
  os.execute(("cd '%s' && timeout -s KILL 120 sh '%s' >'%s/out' 2>'%s/err' </dev/null; echo $? >'%s/code'")
    :format(M.cwd, path, dir, dir, dir))
  local r = { status = tonumber(M.slurp(dir .. "/code")), stdout = M.slurp(dir .. "/out"),
    stderr = M.slurp(dir .. "/err") }
  if own then os.execute("rm -rf '" .. dir .. "'") end
  return r
end

-- Runs asx-host -i -q ARGS with script on standard input, as a script's
-- caller would (stderr merged, in order: the REPL flushes stdout before it
-- writes an error). Returns the lines the REPL printed, the exit status and
-- the summary lines (from "seed: " on). A prompt that never ends is killed
-- after a minute, which makes it a failed test rather than a hung suite.
function M.repl(script, args)
  local path = M.tmpname(".txt")
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local p = assert(io.popen(("timeout 60 %s -i -q %s < %s 2>&1; echo \"status: $?\""):format(M.HOST, args or "",
    path)))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local lines = M.lines(out)
  local status = tonumber(table.remove(lines):match("^status: (%d+)$"))
  local repl, summary = {}, {}
  local into = repl
  for _, l in ipairs(lines) do
    if l:match("^seed: %d+$") then into = summary end
    into[#into + 1] = l
  end
  return repl, status, summary
end

-- Splits text into its lines, each without its newline; a last line with
-- no newline is left out.
function M.lines(s)
  local out = {}
  for l in s:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

-- The lines of a [[...]] block, the last one with or without its newline,
-- so that expected output reads in a spec as it prints.
function M.block(s)
  local out = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  if out[#out] == "" then out[#out] = nil end
  return out
end

-- asx-host's summary lines without the two that depend on the machine's
-- speed (wall time, orders per wall second), as specs compare them.
function M.steady(stdout)
  local out = {}
  for _, l in ipairs(M.lines(stdout)) do
    if not l:match("^wall time: ") and not l:match("^orders per wall second: ") then out[#out + 1] = l end
  end
  return out
end

-- Polls fn until it returns a value, for at most `seconds` of wall time
-- (30 unless given); what names the condition in the error.
function M.wait_for(what, fn, seconds)
  local deadline = os.time() + (seconds or 30)
  repeat
    local v = fn()
    if v then return v end
    os.execute("sleep 0.05")
  until os.time() > deadline
  error("timed out waiting for " .. what, 2)
end

-- Starts DIR/server.lua under asx-lua in the background (its stdout in
-- DIR/out, stderr in DIR/err, exit status in DIR/code once it ends), and
-- returns the captures of pattern on its stdout once they are there.
function M.serve(dir, pattern)
  os.execute(("cd '%s' && ('%s' '%s/server.lua' >'%s/out' 2>'%s/err'; echo $? >'%s/code') &")
    :format(M.cwd, M.LUA, dir, dir, dir, dir))
  local found
  M.wait_for("the server's ports", function()
    found = { (M.read(dir .. "/out") or ""):match(pattern) }
    return found[1] ~= nil
  end)
  return unpack(found)
end

-- The exit status of a server started by serve, once it has exited.
function M.served_status(dir)
  return M.wait_for("the server to exit", function() return tonumber(M.read(dir .. "/code") or "") end)
end

return M
