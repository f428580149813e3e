-- An agent that fails when memory is all but gone. Its error's report (the
-- message and a traceback, made outside the agent) ran out of memory in
-- turn, outside any protected call: the error unwound through the
-- scheduler's loop, a libuv callback, up to asx-host's main, which ended
-- with status 1, "asx-host: not enough memory" and no summary. The agent
-- fails alone, its memory collected, and the session goes on.
local helpers = require("helpers.run")

describe("out of memory", function()
  it("an agent whose error's report runs out of memory fails alone, as not enough memory", function()
    -- Under a limit of the address space, without the sanitizers, whose
    -- allocator aborts the process at it (as in spec/hostile_repl_spec.lua).
    local why = helpers.address_limit_pending()
    if why then pending(why) return end
    local d = helpers.tmpdir()
    -- It keeps all the memory it can get, then raises a message of 64 KiB,
    -- which its report copies with a traceback.
    helpers.write(d .. "/hog.lua", [[
local Hog = require("asx").Trader:extend("hog")
function Hog:cycle()
  self:sleep(1)
  local m = ("m"):rep(65536)
  local kept = {}
  pcall(function() while true do kept[#kept + 1] = ("x"):rep(65536) .. #kept end end)
  error(m, 0)
end
return Hog
]])
    helpers.write(d .. "/idle.lua", [[
local Idle = require("asx").Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
return Idle
]])
    -- No stuck-agent warning: filling 400 MB may take over 5 s on a loaded machine.
    local r = helpers.sh([[
ulimit -v 400000 && "$HOST" -q --clock virtual --seed 1 -d 5 --stuck-warning 0 "$D/hog.lua:1" "$D/idle.lua:1"
]], d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("hog#1: not enough memory\n", r.stderr)
    assert.are.equal(0, r.status)
    local out = helpers.lines(r.stdout)
    assert.are.equal("seed: 1", out[1])
    assert.are.equal("session time: 5.000 s", out[3])
    assert.are.equal("agents hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents idle: 1 (1 running, 0 finished, 0 failed)", out[6])
  end)
end)

-- What the HTTP server's binding does before and after core.http_listen's
-- on_request (pushing the request, converting a number body) allocates, and
-- an allocation can raise: memory running out, or a finalizer that raises
-- (deterministic, so the one used here). Raised outside a protected call,
-- the error unwound through h2o and libuv: the request had no answer and the
-- session ended with an error. It answers 500, and the server goes on.
describe("an error raised while on_request's request is pushed", function()
  it("answers 500, says why, and the server goes on", function()
    local run = require("helpers.run")
    local d = run.tmpdir()
    -- /arm leaves behind a finalizer that raises and makes the next
    -- allocation's step run the whole collection, finalizers included; the
    -- agent sleeps past the requests, so the next allocation is the binding's.
    helpers.write(d .. "/server.lua", [[
local asx, core = require("asx"), require("asx.core")
local arm = require("spec.fixtures.raising_finalizer")
local s, srv
srv = assert(core.http_listen({ port = 0, on_request = function(_, path)
  if path == "/arm" then
    arm()
    return 200, "text/plain", "armed\n"
  end
  srv:close()
  s:stop()
  return 200, "text/plain", "stopped\n"
end }))
io.stdout:write(srv:port(), "\n")
io.stdout:flush()
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1000) end end
s = asx.session({ clock = "real", duration = 60, traders = { Idle:new() } })
s:run()
]])
    local port = run.serve(d, "^(%d+)\n")
    local function get(path)
      return run.output(("curl -s -m 10 -o /dev/null -w '%%{http_code}' 'http://127.0.0.1:%s%s'"):format(port, path))
    end
    local armed, failed, stopped = get("/arm"), get("/next"), get("/stop")
    local code = run.served_status(d)
    local err = run.slurp(d .. "/err")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.same({ "200", "500", "200" }, { armed, failed, stopped })
    assert.are.equal("asx http: error in on_request: raised by a finalizer\n", err)
    assert.are.equal(0, code)
  end)
end)

-- The same for the scheduler's tick function (and its progress callback and
-- courier, which report their errors the same way): a number raised was
-- converted to text for the message outside any protected call, and the
-- conversion allocates. It is written without allocating.
describe("a number raised by sched:on_tick's function", function()
  it("is reported as the number, and the session goes on", function()
    local run = require("helpers.run")
    local d = run.tmpdir()
    -- The finalizer raises only until the agent runs again: from the
    -- report of the tick's error, where the conversion allocated.
    helpers.write(d .. "/tick.lua", [[
local asx = require("asx")
local arm = require("spec.fixtures.raising_finalizer")
local window = false
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do window = false self:sleep(1) end end
local s = asx.session({ clock = "virtual", duration = 5, traders = { Idle:new() } })
local armed = false
s.sched:on_tick(function()
  if armed then return end
  armed = true
  arm(function() return window end)
  window = true
  error(42, 0)
end, 1)
s:run()
print("ran to", s:now())
]])
    local lua = run.LUA
    local r = run.sh(("'%s' \"$D/tick.lua\""):format(lua), d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("asx: the tick function failed: 42\n", r.stderr)
    assert.are.equal("ran to\t5\n", r.stdout)
    assert.are.equal(0, r.status)
  end)
end)

-- The report on an agent that does not yield is made in a debug hook, in
-- whatever Lua code runs next: its traceback and text allocate, and an
-- allocation can raise (here a finalizer that raises; memory running out
-- alike). The error came out of the hook into the agent, which failed with
-- it for no fault of its own (or, in Lua code that C calls outside any
-- protected call, unwound through C). The report is made under a protected
-- call, and without the traceback when that fails.
describe("an error raised while the stuck agent report is made", function()
  it("leaves the agent running and the report says where it is", function()
    local run = require("helpers.run")
    local d = run.tmpdir()
    -- Interpreted (jit.off), so that the hook fires; the loop allocates
    -- nothing, so the finalizer runs first in the report.
    helpers.write(d .. "/busy.lua", [[
local asx = require("asx")
local arm = require("spec.fixtures.raising_finalizer")
jit.off()
local window, finished = false, false
local Busy = asx.Trader:extend("busy")
function Busy:cycle()
  arm(function() return window end)
  window = true
  local clock, t = os.clock, os.clock() + 0.6
  while clock() < t do end
  window = false
  finished = true
end
local s = asx.session({ clock = "virtual", duration = 5, stuck_warning = 0.1, traders = { Busy:new() } })
s:run()
print("finished", finished)
]])
    local r = run.sh(("'%s' \"$D/busy.lua\""):format(run.LUA), d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("finished\ttrue\n", r.stdout)
    assert.matches("^asx: warning: busy#1 has not yielded for %d+%.%d s, at [^\n]*/busy%.lua:10\n$", r.stderr)
    assert.are.equal(0, r.status)
  end)
end)

-- After an agent runs out of memory, what it held is collected before its
-- report, and the collection can raise: LuaJIT shrinks its string table
-- (which such an agent fills) into a new allocation, and a finalizer of
-- what the agent held may raise (deterministic, so the one used here). It
-- raised outside any protected call, through the scheduler's loop, out of
-- the session's run (asx-host: "asx-host: not enough memory", status 1, no
-- summary, about one run in a hundred of hostile_safety_spec's hog). The
-- agent fails alone, as not enough memory, and the session goes on.
describe("an error raised by the collection after an agent ran out of memory", function()
  it("fails the agent alone, as not enough memory", function()
    local why = helpers.address_limit_pending()
    if why then pending(why) return end
    local d = helpers.tmpdir()
    helpers.write(d .. "/hog.lua", [[
local asx = require("asx")
local Hog = asx.Trader:extend("hog")
function Hog:cycle()
  self:sleep(1)
  local p = newproxy(true)
  getmetatable(p).__gc = function() error("raised by a finalizer", 0) end
  local kept = {}
  while true do kept[#kept + 1] = { #kept, tostring(#kept), p } end
end
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
local s = asx.session({ clock = "virtual", duration = 5, stuck_warning = 0, traders = { Hog:new(), Idle:new() } })
s:run()
print("ran to", s:now())
]])
    local r = helpers.sh(("ulimit -v 300000 && '%s' \"$D/hog.lua\""):format(helpers.LUA), d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("hog#1: not enough memory\n", r.stderr)
    assert.are.equal("ran to\t5\n", r.stdout)
    assert.are.equal(0, r.status)
  end)
end)
