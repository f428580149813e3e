-- Hostile strategies against memory safety, run in asx-host as a user would:
-- the session survives, the culprit is named with its file and line, and
-- the summary and exit status are those of a session with one failed agent.
local run = require("helpers.run")

local lines, sh = run.lines, run.sh
local F = "spec/fixtures/"

local function host(args)
  return sh('"$HOST" ' .. args)
end

-- asx-host ARGS under a limit of 300 MB of address space (a spec that
-- calls it is pending under the sanitizers: run.address_limit_pending).
local function host_limited(args)
  return sh('ulimit -v 300000 && "$HOST" ' .. args)
end

describe("asx-host against hostile strategies", function()
  it("a strategy assigning self.exchange fails alone, named with its file and line", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/hijack.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    assert.matches("^hijack#%d+: spec/fixtures/hostile/hijack%.lua:14: trader field 'exchange' is read%-only "
      .. "%(a trader joins an exchange with ex:register%(trader%), for life%)\nstack traceback:\n", r.stderr)
    local _, failures = r.stderr:gsub("hijack#%d+: ", "")
    assert.are.equal(1, failures)
    local out = lines(r.stdout)
    assert.are.equal("agents hijack: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    -- Its one order and the pairs' eight; the pairs trade among themselves.
    assert.are.same({ "orders: 9", "trades: 4", "volume: 4" }, { out[7], out[8], out[9] })
    assert.are.equal("value hijack: mean 100.00, best 100, start 100.00", out[12])
  end)

  -- A strategy of spec/fixtures/hostile/ run beside four pairs: it alone
  -- fails, with message at the start of stderr, and the pairs finish.
  local function fails_alone(name, message)
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/" .. name .. ".lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    local want = name .. "#1: " .. message .. "\nstack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal(("agents %s: 1 (0 running, 0 finished, 1 failed)"):format(name), out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
  end

  it("a strategy's terminal escape codes reach stderr escaped, in its error and its name", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/escapes.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    local want = "evil\\027[2J#1: \\027]0;pwned\\007 over\\013written\\194\\155,\ttab\nnext line\n"
      .. "stack traceback:\n\t[C]: in function 'error'\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    assert.is_nil(r.stderr:find("[\27\7\r]"))
    -- The summary on stdout names it so too.
    assert.are.equal("agents evil\\027[2J: 1 (0 running, 0 finished, 1 failed)", lines(r.stdout)[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", lines(r.stdout)[6])
  end)

  it("a strategy giving proxies raising finalizers fails alone where it sets __gc", function()
    fails_alone("finalizers", "spec/fixtures/hostile/finalizers.lua:25: newproxy: finalizers (__gc) "
      .. "are not available in asx-host (setting __gc)")
  end)

  it("a strategy recursing through coroutine.resume and gsub fails alone, the C stack whole", function()
    fails_alone("recursion", "spec/fixtures/hostile/recursion.lua:15: gsub: replacement functions nested more "
      .. "than 200 deep (a recursion through gsub would overflow the C stack)")
  end)

  it("a strategy taking io.stdout and io.stderr away fails alone, its error and the summary printed", function()
    fails_alone("streams", "spec/fixtures/hostile/streams.lua:11: after the streams")
  end)

  it("a strategy setting a debug hook that raises fails alone where it sets it", function()
    fails_alone("hook", "spec/fixtures/hostile/hook.lua:11: debug.sethook: hooks are not available in "
      .. "asx-host (a hook is the whole Lua state's, and asx's own stop stuck agents and serve Ctrl-C)")
  end)

  it("a strategy giving file handles a raising finalizer fails alone where it sets __gc", function()
    fails_alone("file_finalizer", "spec/fixtures/hostile/file_finalizer.lua:12: io: finalizers (__gc) "
      .. "are not available in asx-host (setting __gc)")
  end)

  it("a strategy assigning the standard library's globals fails alone; the summary and files are whole", function()
    local dir = run.tmpdir()
    local r = host(("-q --clock virtual --seed 3 -d 5 --summary %s/s.json --log %s/t.csv %shostile/globals.lua %shost/pair.lua")
      :format(dir, dir, F, F))
    local json = run.slurp(dir .. "/s.json")
    local csv = lines(run.slurp(dir .. "/t.csv"))
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(0, r.status)
    local want = "globals#1: spec/fixtures/hostile/globals.lua:14: buy 1 8\nstack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents globals: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.matches('"status":0', json, 1, true)
    assert.are.equal(5, #csv)
  end)

  it("a strategy patching the standard library's tables fails alone; the summary and files are whole", function()
    local dir = run.tmpdir()
    local r = host(("-q --clock virtual --seed 3 -d 5 --summary %s/s.json %shostile/library_fields.lua %shost/pair.lua")
      :format(dir, F, F))
    local json = run.slurp(dir .. "/s.json")
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal(0, r.status)
    -- Its own math.floor, removed, reads the library's; its new string
    -- method is every string's.
    local want = "library_fields#1: spec/fixtures/hostile/library_fields.lua:14: FIELDS FUNCTION: BUILTIN#39!\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents library_fields: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("open/high/low/close: 10/10/10/10", out[10])
    assert.matches('"status":0', json, 1, true)
  end)

  it("a strategy clearing the standard library's globals, then editing the tables, edits its own copies", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/library_globals.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    -- Each read after the global was cleared is the copy's: the fields it
    -- removed read the library's again.
    local want = "library_globals#1: spec/fixtures/hostile/library_globals.lua:18: 5 of 5 found\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents library_globals: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.equal("open/high/low/close: 10/10/10/10", out[10])
  end)

  it("a module a strategy requires replaces the standard library's globals and fields in its own copies", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/module_user.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local want = "module_user#1: spec/fixtures/hostile/module_user.lua:14: module: mine mine, strategy: function\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents module_user: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.equal("value pair: mean 400.00, best 400, start 400.00", out[13])
  end)

  it("a module reached through a directory of installed libraries and out of it is the user's", function()
    -- "/usr/share/lua/5.1/../../../home/..." begins as an installed
    -- library's path: the module ran against the real globals, and took
    -- string.format from the summary (exit 2).
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/module_dotdot.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local want = "module_dotdot#1: spec/fixtures/hostile/module_dotdot.lua:15: module: mine mine, strategy: function\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents module_dotdot: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("value pair: mean 400.00, best 400, start 400.00", out[13])
  end)

  it("a module in Lua 5.1's style, module(..., package.seeall), replaces library fields in its own copies", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/module_seeall.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local want = "module_seeall#1: spec/fixtures/hostile/module_seeall.lua:14: module: mine, strategy: 1\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents module_seeall: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("value pair: mean 400.00, best 400, start 400.00", out[13])
  end)

  it("a module a strategy requires cannot change the thread's environment", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/module_thread.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local want = "module_thread#1: setfenv: the thread's environment is asx-host's own (level 0)\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents module_thread: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
  end)

  it("a strategy reaching the standard library's tables by require, getfenv, load or package.loaded", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/library_paths.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local READ_ONLY = "read-only in asx-host (a file's string.format = v changes its own copy)"
    local want = "spec/fixtures/hostile/library_paths.lua:16: package.loaded.string: the format field is "
      .. READ_ONLY .. "\n"
      .. "spec/fixtures/hostile/library_paths.lua:17: package.loaded.math: the floor field is "
      .. READ_ONLY:gsub("string%.format", "math.floor") .. "\n"
      .. "false false\n"
      .. "library_paths#1: spec/fixtures/hostile/library_paths.lua:19: function function function\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents library_paths: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.equal("open/high/low/close: 10/10/10/10", out[10])
  end)

  it("a strategy changing the environments of asx's functions is refused, and fails alone", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/environments.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local want = "0 mine\nsetfenv: the thread's environment is asx-host's own (level 0)\n"
      .. "environments#1: spec/fixtures/hostile/environments.lua:30: setfenv: the function's environment is "
      .. "asx-host's own (the real globals, which asx's code reads)\nstack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents environments: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("open/high/low/close: 10/10/10/10", out[10])
  end)

  it("a strategy changing the strings' metatable is refused, and fails alone", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/string_metatable.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    local MT = "strings' metatable: read-only in asx-host, whose own code calls strings' methods"
    local want = "spec/fixtures/hostile/string_metatable.lua:11: getmetatable(\"\").__index: the string library's "
      .. "own fields are read-only there in asx-host (string.format = f changes the file's own copy)\n"
      .. "spec/fixtures/hostile/string_metatable.lua:12: " .. MT .. " (setting __tostring)\n"
      .. "SHARED!\n"
      .. "string_metatable#1: spec/fixtures/hostile/string_metatable.lua:15: " .. MT .. " (setting __index)\n"
      .. "stack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents string_metatable: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.equal("open/high/low/close: 10/10/10/10", out[10])
  end)

  it("a strategy's bad arguments to the sandbox's loaders, getfenv, setfenv and module read as LuaJIT's", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/sandbox_errors.lua")
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("", r.stderr)
    local at = "spec/fixtures/hostile/sandbox_errors.lua:"
    -- Where it said "sandbox.lua:244: bad argument #1 to 'real_getfenv'",
    -- at asx's own line and with a name the strategy never used.
    assert.are.same({
      at .. "14: bad argument #1 to 'load' (function expected, got table)",
      at .. "15: bad argument #1 to 'loadstring' (function expected, got table)",
      at .. "16: bad argument #1 to 'loadfile' (string expected, got table)",
      at .. "17: bad argument #1 to 'dofile' (string expected, got table)",
      at .. "18: bad argument #1 to 'getfenv' (number expected, got table)",
      at .. "19: bad argument #1 to 'getfenv' (invalid level)",
      at .. "20: bad argument #1 to 'setfenv' (invalid level)",
      at .. "21: bad argument #1 to 'module' (string expected, got table)",
      "mine true 2",
      "seed: 3",
    }, { unpack(lines(r.stdout), 1, 10) })
  end)

  it("a strategy with a field of its own named position runs, and the summary is whole", function()
    local r = host("-q --clock virtual --seed 3 -d 5 " .. F .. "hostile/own_position.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("", r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents own_position: 2 (0 running, 2 finished, 0 failed)", out[5])
    assert.are.equal("value own_position: mean 400.00, best 400, start 400.00", out[12])
  end)

  it("runs files in environments where the standard library's names stay their own, other globals shared", function()
    local chunk = assert(loadstring("type, shared_by_env = 'buy', 'yes'; return type, table.concat({ 'a', 'b' })"))
    local env = require("asx.sandbox").environment()
    setfenv(chunk, env)
    assert.are.same({ "buy", "ab" }, { chunk() })
    assert.are.equal("function", type(type))
    assert.are.equal("yes", _G.shared_by_env)
    _G.shared_by_env = nil
    -- A cleared global of the library reads its copy; _G is the environment.
    local cleared = assert(loadstring("string = nil; string.upper = nil; _G.math.floor = nil; "
      .. "return string.upper, _G == getfenv(1)"))
    setfenv(cleared, require("asx.sandbox").environment())
    assert.are.same({ string.upper, true }, { cleared() })
    assert.are.same({ "function", "function" }, { type(string.upper), type(math.floor) })
  end)

  it("a strategy assigning a field of the exchange named like a method fails alone", function()
    fails_alone("exchange_field", "spec/fixtures/hostile/exchange_field.lua:10: exchange field 'stats' is "
      .. "read-only (a method of the exchange)")
  end)

  it("a strategy opening its process's memory to write there fails alone, refused the file", function()
    fails_alone("process_memory", "spec/fixtures/hostile/process_memory.lua:12: /proc/self/mem: writing a "
      .. "process's memory is not available in asx-host")
  end)

  it("a strategy that runs out of memory fails alone, its order cancelled, the summary and log whole", function()
    -- The report of the failure allocated while the agent's garbage was
    -- still held, ran out of memory again outside any protected call, and
    -- asx-host ended with "asx-host: not enough memory", status 1 and no
    -- summary.
    local why = run.address_limit_pending()
    if why then pending(why) return end
    local d = run.tmpdir()
    local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 --log " .. d .. "/t.csv "
      .. F .. "hostile/hog.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("hog#1: not enough memory\n", r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    -- The hog's order and the pairs' eight; its order was cancelled, so it
    -- kept its money.
    assert.are.same({ "orders: 9", "trades: 4", "volume: 4" }, { out[7], out[8], out[9] })
    assert.are.equal("value hog: mean 400.00, best 400, start 400.00", out[12])
    assert.are.equal(("csv: 4 rows written to %s/t.csv"):format(d), out[#out])
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("a strategy that keeps what it makes in its own field until memory runs out fails alone, the summary whole",
    function()
    -- Its trader, which the session holds for the summary, kept all of it
    -- after the agent failed: no agent was named, the others failed in turn
    -- ("asx: the agent error handler failed: not enough memory"), and
    -- asx-host ended with "asx-host: not enough memory", status 1 and no
    -- summary.
    local why = run.address_limit_pending()
    if why then pending(why) return end
    local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 "
      .. F .. "hostile/field_hog.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("field_hog#1: not enough memory\n", r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents field_hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    -- Its order and the pairs' eight; its order was cancelled, so it kept
    -- its money (its account is asx's, not one of its fields).
    assert.are.same({ "orders: 9", "trades: 4", "volume: 4" }, { out[7], out[8], out[9] })
    assert.are.equal("value field_hog: mean 400.00, best 400, start 400.00", out[12])
  end)

  it("a strategy that keeps what it makes in a global leaves every agent failed, each named, the summary whole",
    function()
    -- Out of asx's reach: the memory stays taken. Each agent's report had
    -- none, said "asx: the agent error handler failed: not enough memory"
    -- naming none, and the summary had none either: asx-host ended with
    -- "asx-host: not enough memory", status 1.
    local why = run.address_limit_pending()
    if why then pending(why) return end
    local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 "
      .. F .. "hostile/global_hog.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    local said = " not enough memory (no memory was left to handle it)\n"
    assert.are.equal("global_hog#1:" .. said .. "pair#2:" .. said .. "pair#3:" .. said .. "pair#4:" .. said
      .. "pair#5:" .. said, r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents global_hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 0 finished, 4 failed)", out[6])
    assert.are.same({ "orders: 5", "trades: 0", "volume: 0" }, { out[7], out[8], out[9] })
    assert.are.equal("value pair: mean 300.00, best 300, start 300.00", out[#out])
  end)

  it("an on_fill handler that runs out of memory fails its agent alone, the summary whole", function()
    -- The handler's garbage was still there when its failure was reported:
    -- the report ran out of memory again, then each agent's next turn, and
    -- asx-host ended with "asx-host: not enough memory", status 1 and no
    -- summary.
    local why = run.address_limit_pending()
    if why then pending(why) return end
    local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 "
      .. F .. "hostile/fill_hog.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("fill_hog#1: not enough memory\n", r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents fill_hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.same({ "orders: 9", "trades: 4", "volume: 4" }, { out[7], out[8], out[9] })
  end)

  it("an on_fill handler that keeps what it makes in its trader's field fails its agent alone, the summary whole",
    function()
    -- Its trader kept it all after the courier collected: the courier
    -- failed ("asx: the courier failed: not enough memory") and each pair
    -- after it ran out in turn.
    local why = run.address_limit_pending()
    if why then pending(why) return end
    local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 "
      .. F .. "hostile/fill_field_hog.lua " .. F .. "host/pair.lua")
    assert.are.equal(0, r.status)
    assert.are.equal("fill_field_hog#1: not enough memory\n", r.stderr)
    local out = lines(r.stdout)
    assert.are.equal("agents fill_field_hog: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.same({ "orders: 9", "trades: 4", "volume: 4" }, { out[7], out[8], out[9] })
  end)

  -- In a local, the logger's garbage was still there when its failure was
  -- reported, which ran out of memory again in the agent's call: the agent
  -- failed, blamed for it, and the logger stayed. In its own field, the
  -- session held it after the logger was detached, and every agent after it
  -- ran out in turn (pair#1 to pair#4: not enough memory).
  for _, case in ipairs({ { "hog_logger", "a local" }, { "field_hog_logger", "its own field" } }) do
    local fixture, where = case[1], case[2]
    it(("a logger that runs out of memory keeping what it makes in %s is detached, and the agents go on")
      :format(where), function()
      local why = run.address_limit_pending()
      if why then pending(why) return end
      local r = host_limited("-q --clock virtual --seed 3 -d 5 --stuck-warning 0 --logger "
        .. F .. "hostile/" .. fixture .. ".lua " .. F .. "host/pair.lua")
      -- 3: the detached logger missed the events after.
      assert.are.equal(3, r.status)
      assert.are.equal(("asx: logger spec/fixtures/hostile/%s.lua failed and was detached: not enough memory\n")
        :format(fixture), r.stderr)
      local out = lines(r.stdout)
      assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[5])
      assert.are.same({ "orders: 8", "trades: 4", "volume: 4" }, { out[6], out[7], out[8] })
      assert.are.equal(("logger spec/fixtures/hostile/%s.lua: detached after an error, 12 events missed")
        :format(fixture), out[#out])
    end)
  end

  it("a strategy loading bytecode gets an error from every loader, and fails alone", function()
    fails_alone("bytecode", "spec/fixtures/hostile/bytecode.lua:23: loadstring: binary chunks are not "
      .. "loaded in asx-host (LuaJIT does not verify bytecode)")
  end)
end)

describe("asx-host against strategies that alter their own classes", function()
  it("names a failed agent by its class and id when the class's __tostring raises", function()
    local d = run.tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 3 -d 5 --log "$D/events.jsonl" ' .. F
      .. "hostile/bad_tostring.lua " .. F .. "host/pair.lua", d)
    local events = run.slurp(d .. "/events.jsonl")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status)
    local want = "bad_tostring#1: spec/fixtures/hostile/bad_tostring.lua:16: failing on purpose\nstack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents bad_tostring: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.matches('"name":"bad_tostring#1","strategy":"bad_tostring","state":"started"', events, 1, true)
    assert.matches('"name":"bad_tostring#1","strategy":"bad_tostring","state":"failed"', events, 1, true)
  end)

  it("counts agents that changed their metatable with the strategy they were started as", function()
    local d = run.tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 3 -d 5 --summary "$D/s.json" --report "$D/r.html" '
      .. F .. "hostile/own_class.lua " .. F .. "host/pair.lua", d)
    local summary = run.slurp(d .. "/s.json")
    local report = run.read(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.status)
    local out = lines(r.stdout)
    assert.are.equal("agents own_class: 2 (0 running, 2 finished, 0 failed)", out[5])
    assert.are.equal("agents pair: 4 (0 running, 4 finished, 0 failed)", out[6])
    assert.are.equal("value own_class: mean 400.00, best 400, start 400.00", out[12])
    assert.are.same({ median = 400, mean = 400, start = 400, min = 400, max = 400 },
      require("cjson").decode(summary).value.own_class)
    assert.matches("own_class", report, 1, true)
  end)

  it("names, stops and values an agent that emptied its own table of asx's keys", function()
    local d = run.tmpdir()
    local r = sh('"$HOST" -q --clock virtual --seed 3 -d 5 --log "$D/events.jsonl" --summary "$D/s.json" '
      .. F .. "hostile/own_keys.lua", d)
    local events = run.slurp(d .. "/events.jsonl")
    local summary = run.slurp(d .. "/s.json")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(0, r.status)
    local want = "own_keys#1: spec/fixtures/hostile/own_keys.lua:16: failing on purpose\nstack traceback:\n"
    assert.are.equal(want, r.stderr:sub(1, #want))
    local out = lines(r.stdout)
    assert.are.equal("agents own_keys: 1 (0 running, 0 finished, 1 failed)", out[5])
    assert.are.equal("value own_keys: mean 300.00, best 300, start 300.00", out[11])
    -- Its resting order was cancelled when it failed.
    assert.matches('{"type":"cancel","time":2,"session":"3","id":1,"trader":1,"side":"sell","remaining":1,'
      .. '"instrument":"STOCK"}', events, 1, true)
    assert.matches('"name":"own_keys#1","strategy":"own_keys","state":"failed"', events, 1, true)
    assert.are.same({ median = 300, mean = 300, start = 300, min = 300, max = 300 },
      require("cjson").decode(summary).value.own_keys)
  end)
end)
