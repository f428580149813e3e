-- The CSV and JSON-lines loggers: exact file content for a known sequence of
-- book calls and for a small virtual-clock session, the generic path
-- (send_event) against the native one (consume_events), the command-line
-- constructor, and bad input.
local asx = require("asx")
local loggers = require("asx.loggers")
local files = require("helpers.run")

local slurp, tmpname = files.slurp, files.tmpname

-- A market driven by hand: a resting sell, a buy that sweeps two prices,
-- a market buy, a trimmed buy, a cancel. Every kind of book event appears.
local function drive(ex)
  local a = asx.trader({ exchange = ex, money = 1000, stocks = 10 })
  local b = asx.trader({ exchange = ex, money = 25, stocks = 0 })
  local ids = { a = a.id, b = b.id }
  ex:set_time(0.5)
  a:sell(3, 10)
  a:sell(2, 11)
  ex:set_time(1.25)
  b:buy(2, 11)                  -- 2 @ 10: money 25 -> 5
  ex:set_time(2)
  b:buy(5)                      -- market: trimmed to floor(5 / 10) = 0
  local o = a:buy(1, 3)
  ex:set_time(0.1 + 0.2)        -- an inexact time, written exactly
  a:cancel(o)
  return ids
end

-- The rows drive() gives, with the two traders' ids.
local function expected(ids, session)
  local A, B = ids.a, ids.b
  local s = session or ""
  local js = session and ('"' .. session .. '"') or "null"
  local csv = {
    exchange = table.concat({
      "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument",
      ("1.25,%s,10,2,%d,%d,3,1,buy,STOCK"):format(s, B, A),
    }, "\n") .. "\n",
    order = table.concat({
      "time,session,id,trader,side,price,amount,instrument",
      ("0.5,%s,1,%d,sell,10,3,STOCK"):format(s, A),
      ("0.5,%s,2,%d,sell,11,2,STOCK"):format(s, A),
      ("1.25,%s,3,%d,buy,11,2,STOCK"):format(s, B),
      ("2,%s,4,%d,buy,,5,STOCK"):format(s, B),
      ("2,%s,5,%d,buy,3,1,STOCK"):format(s, A),
    }, "\n") .. "\n",
    cancel = table.concat({
      "time,session,id,trader,side,remaining,reason,instrument",
      ("0.30000000000000004,%s,5,%d,buy,1,,STOCK"):format(s, A),
    }, "\n") .. "\n",
    trim = table.concat({
      "time,session,id,trader,side,price,from,to,reason,instrument",
      ("2,%s,4,%d,buy,10,5,0,money,STOCK"):format(s, B),
    }, "\n") .. "\n",
  }
  local jsonl = table.concat({
    ('{"type":"order","time":0.5,"session":%s,"id":1,"trader":%d,"side":"sell","price":10,"amount":3,"instrument":"STOCK"}')
      :format(js, A),
    ('{"type":"order","time":0.5,"session":%s,"id":2,"trader":%d,"side":"sell","price":11,"amount":2,"instrument":"STOCK"}')
      :format(js, A),
    ('{"type":"order","time":1.25,"session":%s,"id":3,"trader":%d,"side":"buy","price":11,"amount":2,"instrument":"STOCK"}')
      :format(js, B),
    ('{"type":"exchange","time":1.25,"session":%s,"price":10,"amount":2,"buyer":%d,"seller":%d,'
      .. '"buy_order":3,"sell_order":1,"aggressor":"buy","instrument":"STOCK"}'):format(js, B, A),
    ('{"type":"order","time":2,"session":%s,"id":4,"trader":%d,"side":"buy","amount":5,"instrument":"STOCK"}'):format(js, B),
    ('{"type":"trim","time":2,"session":%s,"id":4,"trader":%d,"side":"buy","price":10,"from":5,"to":0,'
      .. '"reason":"money","instrument":"STOCK"}'):format(js, B),
    ('{"type":"order","time":2,"session":%s,"id":5,"trader":%d,"side":"buy","price":3,"amount":1,"instrument":"STOCK"}')
      :format(js, A),
    ('{"type":"cancel","time":0.30000000000000004,"session":%s,"id":5,"trader":%d,"side":"buy",'
      .. '"remaining":1,"instrument":"STOCK"}'):format(js, A),
  }, "\n") .. "\n"
  return csv, jsonl
end

-- A logger that turns the generic path into file rows: it has no
-- consume_events, so the exchange builds a table per event for it and calls
-- send_event, which the file loggers format in Lua.
local function generic(L)
  return { send_event = function(_, t, m) return L:send_event(t, m) end }
end

describe("asx.loggers.csv", function()
  it("writes the trades with a header, exactly", function()
    local path = tmpname(".csv")
    local L = assert(loggers.csv(path))
    local ex = asx.exchange({ logger = L })
    local ids = drive(ex)
    assert.is_true(L:close())
    local csv = expected(ids)
    assert.are.equal(csv.exchange, slurp(path))
    assert.are.same({ written = 1, dropped = 0 }, L:stats())
    os.remove(path)
  end)

  it("writes one file per event type, the same from both paths", function()
    for _, path_of in ipairs({ "native", "generic" }) do
      local path = tmpname("-{type}.csv")
      local L = assert(loggers.csv(path, { events = "all" }))
      local ex = asx.exchange({ logger = path_of == "native" and L or generic(L) })
      local ids = drive(ex)
      ex:emit("agent", { id = ids.a, name = "maker#1", strategy = "maker", state = "failed",
        message = 'oops, "bad"\nline 2' })
      assert.is_true(L:close())
      local csv = expected(ids)
      for _, t in ipairs({ "exchange", "order", "cancel", "trim" }) do
        assert.are.equal(csv[t], slurp(path:gsub("{type}", t)))
      end
      assert.are.equal("time,session,id,name,strategy,state,message\n"
        .. ('0.30000000000000004,,%d,maker#1,maker,failed,"oops, ""bad""\nline 2"\n'):format(ids.a),
        slurp(path:gsub("{type}", "agent")))
      assert.are.equal("time,session,state,seed,clock\n", slurp(path:gsub("{type}", "session")))
      for _, t in ipairs({ "exchange", "order", "cancel", "trim", "agent", "session" }) do
        os.remove((path:gsub("{type}", t)))
      end
    end
  end)

  it("names the files after the path when it has no {type}", function()
    local dir = tmpname("")
    assert.is_true(os.execute("mkdir " .. dir) == 0)
    local L = assert(loggers.csv(dir .. "/run.csv", { events = { "order", "cancel" } }))
    assert.is_true(L:close())
    assert.are.equal("time,session,id,trader,side,price,amount,instrument\n", slurp(dir .. "/run-order.csv"))
    assert.are.equal("time,session,id,trader,side,remaining,reason,instrument\n", slurp(dir .. "/run-cancel.csv"))
    os.execute("rm -r " .. dir)
  end)

  it("writes the session id, quoted when it must be", function()
    local path = tmpname(".csv")
    local L = assert(loggers.csv(path, { events = "exchange" }))
    local ex = asx.exchange({ logger = L })
    ex.session_id = 'run "7", b'
    local ids = drive(ex)
    assert.is_true(L:close())
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n"
      .. ('1.25,"run ""7"", b",10,2,%d,%d,3,1,buy,STOCK\n'):format(ids.b, ids.a), slurp(path))
    os.remove(path)
  end)

  it("writes a session id that is NaN or an infinity as JSON's null, as a field, and in CSV by name", function()
    -- The book's events carried the number's text, nan: no line was JSON.
    for _, case in ipairs({ { 0 / 0, "nan" }, { 1 / 0, "inf" }, { -1 / 0, "-inf" }, { -0.5, "-0.5" } }) do
      local jpath, cpath = tmpname(".jsonl"), tmpname(".csv")
      local J, L = assert(loggers.jsonl(jpath)), assert(loggers.csv(cpath))
      local ex = asx.exchange({ loggers = { J, L } })
      ex.session_id = case[1]
      local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
      a:sell(1, 10)
      a:buy(1, 10)
      ex:emit("note", {})
      assert.is_true(J:close())
      assert.is_true(L:close())
      local json = case[1] == case[1] and case[1] > -1 / 0 and case[1] < 1 / 0 and case[2] or "null"
      local lines = {}
      for line in slurp(jpath):gmatch("[^\n]+") do lines[#lines + 1] = line:match('"session":([^,}]*)') end
      assert.are.same({ json, json, json, json }, lines)
      assert.are.equal(("0,%s,10,1,%d,%d,2,1,buy,STOCK\n"):format(case[2], a.id, a.id),
        slurp(cpath):match("\n(.*)$"))
      os.remove(jpath)
      os.remove(cpath)
    end
  end)

  it("refuses a session id that is no string or number at assignment, keeping the one it had", function()
    -- A table was written as its address ("table: 0x...") in the book's
    -- events and otherwise by the loggers' own fields.
    local path = tmpname(".csv")
    local L = assert(loggers.csv(path, { events = "exchange" }))
    local ex = asx.exchange({ logger = L })
    for _, case in ipairs({ { {}, "table" }, { true, "boolean" }, { print, "function" } }) do
      assert.has_error(function() ex.session_id = case[1] end,
        ("exchange field 'session_id': string or number expected, got %s"):format(case[2]))
    end
    assert.is_nil(ex.session_id)
    -- Also once it has one, as every exchange in a session has.
    asx.session({ exchange = ex, seed = 1, session_id = "s1" })
    assert.are.equal("s1", ex.session_id)
    assert.has_error(function() ex.session_id = false end,
      "exchange field 'session_id': string or number expected, got boolean")
    assert.are.equal("s1", ex.session_id)
    ex.session_id = 7
    local ids = drive(ex)
    assert.is_true(L:close())
    assert.are.equal(("1.25,7,10,2,%d,%d,3,1,buy,STOCK\n"):format(ids.b, ids.a), slurp(path):match("\n(.*)$"))
    os.remove(path)
  end)

  -- rawset put the table in the exchange's own table, past the check, and
  -- the file loggers wrote ex.session_id: "table: 0x...", an address.
  it("writes the checked session id whatever rawset put in the exchange's table", function()
    local cpath, jpath = tmpname(".csv"), tmpname(".jsonl")
    local L, J = assert(loggers.csv(cpath, { events = "exchange" })), assert(loggers.jsonl(jpath))
    local ex = asx.exchange({ loggers = { L, J } })
    ex.session_id = "s1"
    rawset(ex, "session_id", {})
    local ids = drive(ex)
    ex:emit("note", {})
    assert.is_true(L:close())
    assert.is_true(J:close())
    assert.are.equal(("1.25,s1,10,2,%d,%d,3,1,buy,STOCK\n"):format(ids.b, ids.a), slurp(cpath):match("\n(.*)$"))
    local lines = {}
    for line in slurp(jpath):gmatch("[^\n]+") do lines[#lines + 1] = line:match('"session":([^,}]*)') end
    assert.are.same({ '"s1"', '"s1"', '"s1"', '"s1"', '"s1"', '"s1"', '"s1"', '"s1"', '"s1"' }, lines)
    os.remove(cpath)
    os.remove(jpath)
  end)

  it("keeps custom columns for a type of the user's own", function()
    local path = tmpname(".csv")
    local L = assert(loggers.csv(path, { events = "note", columns = { "text", "n" } }))
    L:send_event("note", { time = 1.5, session = 3, text = "a,b", n = 2 ^ 53 })
    L:send_event("exchange", { time = 2, price = 1 }) -- not a type of this file
    assert.is_true(L:close())
    assert.are.equal('time,session,text,n\n1.5,3,"a,b",9007199254740992\n', slurp(path))
    os.remove(path)
  end)

  it("rejects bad arguments with errors naming them", function()
    assert.has_error(function() loggers.csv() end,
      "bad argument #1 to 'csv' (file path string expected, got nil)")
    assert.has_error(function() loggers.csv("x.csv", 5) end,
      "bad argument #2 to 'csv' (table of options expected, got 5)")
    assert.has_error(function() loggers.csv("x.csv", { events = 5 }) end,
      "bad argument #2 to 'csv' (events: an event type, a list of them or 'all' expected, got 5)")
    assert.has_error(function() loggers.csv("x.csv", { events = "note" }) end,
      "bad argument #2 to 'csv' (columns for event type 'note' (unknown type) expected, got nil)")
    -- A misspelt option was ignored: { apend = true } wrote over the file.
    assert.has_error(function() loggers.csv("x.csv", { apend = true }) end,
      "bad argument #2 to 'csv' (unknown option \"apend\": events, columns, header, append, max_bytes or session "
        .. "expected)")
    assert.has_error(function() loggers.jsonl("x.jsonl", { events = "all" }) end,
      "bad argument #2 to 'jsonl' (unknown option \"events\": append, max_bytes or session expected)")
    assert.has_error(function() loggers.csv("x.csv", { "all" }) end,
      "bad argument #2 to 'csv' (unknown option number: events, columns, header, append, max_bytes or session "
        .. "expected)")
    assert.has_error(function() loggers.csv("x.csv", { max_bytes = -1 }) end,
      "bad argument #2 to 'csv' (max_bytes: non-negative integer up to 2^53 - 1 expected, got -1)")
    -- Past the integers C's size_t takes (1e300 was converted anyway).
    for _, mb in ipairs({ 1e300, 2 ^ 53, 0 / 0, 1 / 0 }) do
      assert.has_error(function() loggers.jsonl("x.jsonl", { max_bytes = mb }) end,
        ("bad argument #2 to 'jsonl' (max_bytes: non-negative integer up to 2^53 - 1 expected, got %s)")
          :format(require("asx.check").show(mb)))
    end
    -- It said only "got string".
    assert.has_error(function() loggers.csv("") end,
      "bad argument #1 to 'csv' (file path string expected, got an empty string)")
    assert.has_error(function() loggers.jsonl("") end,
      "bad argument #1 to 'jsonl' (file path string expected, got an empty string)")
  end)

  it("returns nil and the reason when the file cannot be opened", function()
    local L, err = loggers.csv("/nonexistent-dir/t.csv")
    assert.is_nil(L)
    assert.are.equal("cannot open '/nonexistent-dir/t.csv': No such file or directory", err)
  end)

  it("raises when used after close, and closes twice harmlessly", function()
    local path = tmpname(".csv")
    local L = assert(loggers.csv(path))
    assert.is_true(L:close())
    assert.is_true(L:close())
    assert.is_true(L:flush())
    assert.has_error(function() L:send_event("exchange", {}) end, "send_event: this logger is closed")
    os.remove(path)
  end)

  it("names send_event's bad argument at the caller's line", function()
    local path = tmpname(".jsonl")
    for _, L in ipairs({ assert(loggers.jsonl(path)), assert(loggers.influxdb({ url = "http://127.0.0.1:1/?db=x",
      quiet = true })) }) do
      local line = debug.getinfo(1, "l").currentline
      local ok, err = pcall(L.send_event, L, 5, {})
      assert.is_false(ok)
      assert.are.equal("bad argument #1 to 'send_event' (event type string expected, got 5)", err)
      ok, err = pcall(function() L:send_event("exchange", "x") end)
      assert.is_false(ok)
      assert.are.equal(("spec/loggers_spec.lua:%d: bad argument #2 to 'send_event' (message table expected, "
        .. "got string)"):format(line + 4), err)
      assert.is_true(L:close())
      ok, err = pcall(function() L:send_event("exchange", {}) end)
      assert.is_false(ok)
      assert.are.equal(("spec/loggers_spec.lua:%d: send_event: this logger is closed"):format(line + 9), err)
    end
    os.remove(path)
  end)

  it("refuses a file another open logger writes, by any path to it, and leaves it whole", function()
    local dir = files.tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local a = dir .. "/a.csv"
    local L = assert(loggers.csv(a))
    assert.is_true(os.execute(("ln -s a.csv '%s/sym.csv' && ln '%s' '%s/hard.jsonl'"):format(dir, a, dir)) == 0)
    assert.are.same({ nil, ("cannot open '%s': already open for logging"):format(a) }, { loggers.csv(a) })
    for _, p in ipairs({ dir .. "/./a.csv", dir .. "/sym.csv", dir .. "/hard.jsonl" }) do
      assert.are.same({ nil, ("cannot open '%s': already open for logging as '%s'"):format(p, a) },
        { loggers.jsonl(p, { append = true }) })
    end
    L:send_event("exchange", { time = 1, price = 2, amount = 3 })
    assert.is_true(L:close())
    local header = "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n"
    assert.are.equal(header .. "1,,2,3,,,,,,\n", slurp(a))
    -- Closed, it can be opened again, by any name.
    local L2 = assert(loggers.csv(dir .. "/sym.csv", { append = true, header = false }))
    assert.is_true(L2:close())
    -- A logger nobody can reach any more does not hold its file.
    local function abandon() assert(loggers.csv(a)) end
    abandon()
    local L3 = assert(loggers.csv(a))
    assert.is_true(L3:close())
    assert.are.equal(header, slurp(a))
  end)

  it("refuses an event type given twice, which would be one file twice", function()
    assert.has_error(function() loggers.csv("x-{type}.csv", { events = { "order", "order" } }) end,
      "bad argument #2 to 'csv' (events: each type once expected, got 'order')")
  end)

  it("counts the rows a full disk lost", function()
    local L = loggers.csv("/dev/full", { append = true })
    if not L then return end -- no /dev/full here
    local ex = asx.exchange({ logger = L })
    drive(ex)
    local ok, err = L:close()
    assert.is_nil(ok)
    assert.are.equal("cannot write '/dev/full': No space left on device", err)
    assert.are.same({ written = 0, dropped = 1 }, L:stats())
  end)
end)

describe("asx.loggers.jsonl", function()
  it("writes every event, one JSON object a line, the same from both paths", function()
    for _, path_of in ipairs({ "native", "generic" }) do
      local path = tmpname(".jsonl")
      local L = assert(loggers.jsonl(path))
      local ex = asx.exchange({ logger = path_of == "native" and L or generic(L) })
      ex.session_id = "s1"
      local ids = drive(ex)
      assert.is_true(L:flush())
      local _, jsonl = expected(ids, "s1")
      assert.are.equal(jsonl, slurp(path))
      assert.are.same({ written = 8, dropped = 0 }, L:stats())
      assert.is_true(L:close())
      os.remove(path)
    end
  end)

  it("writes the fields it does not know after the known ones, sorted", function()
    local path = tmpname(".jsonl")
    local L = assert(loggers.jsonl(path))
    L:send_event("session", { time = 0, session = 4, state = "stop", seed = 42, clock = "virtual",
      trades = 10, wall = 0.25, tags = { "a", "b" }, nan = 0 / 0, ok = true })
    L:send_event("note", { time = 1 / 3, session = 4, b = "\1\t", a = { x = 1 } })
    assert.is_true(L:close())
    assert.are.equal('{"type":"session","time":0,"session":4,"state":"stop","seed":42,'
      .. '"clock":"virtual","nan":null,"ok":true,"tags":["a","b"],"trades":10,"wall":0.25}\n'
      .. '{"type":"note","time":0.3333333333333333,"session":4,"a":{"x":1},"b":"\\u0001\\t"}\n',
      slurp(path))
    os.remove(path)
  end)

  -- They were written in exponent form from 1e17 on (2^60 as
  -- 1.152921504606847e+18), while the README says integers are integers.
  it("writes integers past 2^53 in all their digits below 1e21, from both paths", function()
    for _, path_of in ipairs({ "native", "generic" }) do
      local path = tmpname(".jsonl")
      local L = assert(loggers.jsonl(path))
      local ex = asx.exchange({ logger = path_of == "native" and L or generic(L) })
      ex.session_id = 2 ^ 60
      ex:emit("note", { time = 1e17, a = 2 ^ 53 + 2, b = -2 ^ 63, c = { 1e20, 1e21 }, d = 1.5e300 })
      assert.is_true(L:close())
      assert.are.equal('{"type":"note","time":100000000000000000,"session":1152921504606846976,'
        .. '"a":9007199254740994,"b":-9223372036854775808,"c":[100000000000000000000,1e+21],"d":1.5e+300}\n',
        slurp(path), path_of)
      os.remove(path)
    end
  end)

  -- Past 16 tables deep a table was written as tostring's "table: 0x...",
  -- an address that changes from run to run: it is refused, and nothing of
  -- the message is written; 16 deep is written whole.
  it("writes tables nested 16 deep whole and refuses deeper ones or cycles, naming the field", function()
    local function nest(n)
      local top = {}
      local x = top
      for _ = 2, n do x.a = {}; x = x.a end
      return top
    end
    local cycle = {}
    cycle.self = cycle
    local path = tmpname(".jsonl")
    local L = assert(loggers.jsonl(path))
    local ex = asx.exchange({ logger = L })
    ex:emit("note", { time = 1, v = nest(16) })
    assert.are.same({ false, "bad argument #2 to 'emit' (message of tables nested at most 16 deep expected, "
      .. "got field 'v[2]" .. (".a"):rep(15) .. "' nested deeper (or in a cycle))" },
      { pcall(ex.emit, ex, "note", { v = { 1, nest(16) } }) })
    assert.are.same({ false, "bad argument #2 to 'emit' (message of tables nested at most 16 deep expected, "
      .. "got field 'z" .. (".self"):rep(16) .. "' nested deeper (or in a cycle))" },
      { pcall(ex.emit, ex, "note", { z = cycle }) })
    assert.are.same({ false, ("send_event: jsonl logger(%s): field 'w%s': tables nested more than 16 deep "
      .. "(or in a cycle)"):format(path, (".a"):rep(16)) }, { pcall(L.send_event, L, "note", { w = nest(17) }) })
    assert.are.same({ false, "tables nested more than 16 deep (or in a cycle)" },
      { pcall(require("asx.event").json, nest(17)) })
    assert.is_true(L:close())
    assert.are.equal('{"type":"note","time":1,"session":null,"v":' .. ('{"a":'):rep(15) .. "{}"
      .. ("}"):rep(15) .. "}\n", slurp(path))
    os.remove(path)
  end)

  -- {1, 2, x = 3} was written [1,2] and {[1] = "a", [3] = "c"} ["a"]: the
  -- keys past the array's length, or not strings, were lost.
  it("writes a table with keys beside its array, or holes, as an object of all its keys", function()
    local json = require("asx.event").json
    assert.are.equal('{"1":1,"2":2,"x":3}', json({ 1, 2, x = 3 }))
    assert.are.equal('{"1":"a","3":"c"}', json({ [1] = "a", [3] = "c" }))
    assert.are.equal('{"-1":"m","0":"z","1.5":"h","true":"t"}', json({ [0] = "z", [-1] = "m", [1.5] = "h", [true] = "t" }))
    -- The same text for a string and a number: the string first, every run.
    assert.are.equal('{"1":"s","1":"n","2":"b"}', json({ [1] = "n", ["1"] = "s", [2] = "b" }))
    assert.are.equal('[[1,2],{"1":3,"y":4}]', json({ { 1, 2 }, { 3, y = 4 } }))
    -- A table under a number key is checked for its depth as it is written.
    local deep = {}
    local x = deep
    for _ = 2, 17 do x.a = {}; x = x.a end
    assert.are.same({ false, "bad argument #2 to 'emit' (message of tables nested at most 16 deep expected, "
      .. "got field 'v.2" .. (".a"):rep(15) .. "' nested deeper (or in a cycle))" },
      { pcall(asx.exchange().emit, asx.exchange(), "note", { v = { 1, [2] = deep, k = 0 } }) })
  end)

  it("keeps every line of a long run, whole and in order", function()
    local path = tmpname(".jsonl")
    local L = assert(loggers.jsonl(path, { max_bytes = 1 }))
    local ex = asx.exchange({ logger = L })
    local a = asx.trader({ exchange = ex, money = 0, stocks = 100000 })
    for _ = 1, 100000 do a:sell(1, 5) end
    assert.is_true(L:close())
    local n = 0
    for line in io.lines(path) do
      n = n + 1
      assert.are.equal(('{"type":"order","time":0,"session":null,"id":%d,"trader":%d,"side":"sell",'
        .. '"price":5,"amount":1,"instrument":"STOCK"}'):format(n, a.id), line)
    end
    assert.are.equal(100000, n)
    os.remove(path)
  end)
end)

describe("a virtual-clock session with file loggers", function()
  -- A seller that offers one share at 10 every 0.5 s and a buyer that takes
  -- one at market every 0.75 s: the trades are known in advance.
  local Seller = asx.Trader:extend("seller")
  function Seller:cycle()
    for _ = 1, 4 do
      self:sell(1, 10)
      self:sleep(0.5)
    end
  end
  local Buyer = asx.Trader:extend("buyer")
  function Buyer:cycle()
    for _ = 1, 3 do
      self:sleep(0.75)
      self:buy(1)
    end
  end

  local function run(seed)
    local csv, jsonl = tmpname(".csv"), tmpname(".jsonl")
    local C = assert(loggers.csv(csv))
    local J = assert(loggers.jsonl(jsonl))
    local seller = Seller:new({ money = 0, stocks = 4 })
    local buyer = Buyer:new({ money = 100, stocks = 0 })
    local s = asx.session({ traders = { seller, buyer }, loggers = { C, J }, clock = "virtual",
      seed = seed, duration = 10 })
    s:run()
    assert.is_true(C:close())
    assert.is_true(J:close())
    local a, b = slurp(csv), slurp(jsonl)
    os.remove(csv)
    os.remove(jsonl)
    return a, b, seller.id, buyer.id, s:summary()
  end

  it("writes exactly the events of the session", function()
    local _, jsonl, S, B = run(42)
    -- The session's own events (start, stop, agents) are the session's
    -- business; the book's are checked here, exactly.
    local book = {}
    for line in jsonl:gmatch("[^\n]+\n") do
      if not line:find('^{"type":"session"') and not line:find('^{"type":"agent"') then
        book[#book + 1] = line
      end
    end
    local function order(t, id, who, side, price)
      return ('{"type":"order","time":%s,"session":"42","id":%d,"trader":%d,"side":"%s",%s"amount":1,'
        .. '"instrument":"STOCK"}\n')
        :format(t, id, who, side, price and ('"price":%d,'):format(price) or "")
    end
    local function trade(t, bo, so)
      return ('{"type":"exchange","time":%s,"session":"42","price":10,"amount":1,"buyer":%d,"seller":%d,'
        .. '"buy_order":%d,"sell_order":%d,"aggressor":"buy","instrument":"STOCK"}\n'):format(t, B, S, bo, so)
    end
    assert.are.same({
      order(0, 1, S, "sell", 10),
      order(0.5, 2, S, "sell", 10),
      order(0.75, 3, B, "buy"), trade(0.75, 3, 1),
      order(1, 4, S, "sell", 10),
      order(1.5, 5, B, "buy"), trade(1.5, 5, 2),
      order(1.5, 6, S, "sell", 10),
      order(2.25, 7, B, "buy"), trade(2.25, 7, 4),
    }, book)
  end)

  it("writes exactly the trades of the session", function()
    local csv, _, S, B, summary = run(42)
    assert.are.equal(3, summary.trades)
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n"
      .. ("0.75,42,10,1,%d,%d,3,1,buy,STOCK\n"):format(B, S)
      .. ("1.5,42,10,1,%d,%d,5,2,buy,STOCK\n"):format(B, S)
      .. ("2.25,42,10,1,%d,%d,7,4,buy,STOCK\n"):format(B, S), csv)
  end)

  -- Trader ids count up per process, so two runs differ by an offset: the
  -- ids are made relative to the first trader of the run before comparing.
  local function relative(csv, jsonl, base)
    csv = csv:gsub("([^\n]*)\n", function(line)
      local f = {}
      for v in (line .. ","):gmatch("([^,]*),") do f[#f + 1] = v end
      if tonumber(f[5]) then
        f[5], f[6] = tonumber(f[5]) - base, tonumber(f[6]) - base
      end
      return table.concat(f, ",") .. "\n"
    end)
    jsonl = jsonl:gsub('"(%a+)":(%d+)', function(k, v)
      if k == "trader" or k == "buyer" or k == "seller" then v = tonumber(v) - base end
      return ('"%s":%s'):format(k, v)
    end)
    -- Agent events name the trader by id and as class#id.
    jsonl = jsonl:gsub('({"type":"agent",[^\n]-"id":)(%d+)(,"name":"[%w_]+#)(%d+)', function(a, id, b, n)
      return a .. (tonumber(id) - base) .. b .. (tonumber(n) - base)
    end)
    return csv, jsonl
  end

  local function random_run(seed)
    local csv, jsonl = tmpname(".csv"), tmpname(".jsonl")
    local C = assert(loggers.csv(csv))
    local J = assert(loggers.jsonl(jsonl))
    local Random = dofile("strategies/random_trader.lua")
    local traders = {}
    for i = 1, 20 do traders[i] = Random:new({ money = 300, stocks = 10 }) end
    local s = asx.session({ traders = traders, loggers = { C, J }, clock = "virtual", seed = seed,
      duration = 20 })
    s:run()
    assert.is_true(C:close())
    assert.is_true(J:close())
    local a, b = relative(slurp(csv), slurp(jsonl), traders[1].id)
    os.remove(csv)
    os.remove(jsonl)
    return a, b, s:summary(), C:stats(), J:stats()
  end

  it("gives identical files for two runs with the same seed", function()
    local csv1, jsonl1, sum1, cst, jst = random_run(7)
    local csv2, jsonl2 = random_run(7)
    assert.is_true(sum1.trades > 10)
    assert.are.equal(sum1.trades, cst.written)
    local _, lines = jsonl1:gsub("\n", "")
    assert.are.equal(lines, jst.written)
    assert.are.equal(csv1, csv2)
    assert.are.equal(jsonl1, jsonl2)
    local csv3 = random_run(8)
    assert.are_not.equal(csv1, csv3)
  end)
end)

describe("asx.loggers.from_cli", function()
  it("makes a CSV logger of the trades for --log FILE.csv", function()
    local path = tmpname(".csv")
    local L = assert(loggers.from_cli("log", path))
    assert.is_true(L:close())
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n", slurp(path))
    os.remove(path)
  end)

  it("makes a JSON-lines logger for --log FILE.jsonl", function()
    local path = tmpname(".JSONL")
    local L = assert(loggers.from_cli("log", path))
    L:send_event("session", { time = 0, state = "start", seed = 1, clock = "real" })
    assert.is_true(L:close())
    assert.are.equal('{"type":"session","time":0,"session":null,"state":"start","seed":1,"clock":"real"}\n',
      slurp(path))
    os.remove(path)
  end)

  it("explains a bad --log value in one line", function()
    assert.are.same({ nil, "--log: unknown extension in 'x.txt' (expected .csv or .jsonl)" },
      { loggers.from_cli("log", "x.txt") })
    assert.are.same({ nil, "--log: cannot open '/nonexistent-dir/x.csv': No such file or directory" },
      { loggers.from_cli("log", "/nonexistent-dir/x.csv") })
    assert.are.same({ nil, "--log: a value is needed" }, { loggers.from_cli("log", "") })
  end)

  it("loads the user's logger for --logger FILE.lua", function()
    local path = tmpname(".lua")
    files.write(path, "local L = { seen = {} }\n"
      .. "function L:send_event(t, m) self.seen[#self.seen + 1] = t .. ':' .. m.price end\n"
      .. "return L\n")
    local L = assert(loggers.from_cli("logger", path))
    local ex = asx.exchange({ logger = L })
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    a:sell(1, 7)
    a:buy(1, 7)
    assert.are.same({ "exchange:7" }, (function()
      local out = {}
      for _, s in ipairs(L.seen) do if s:find("^exchange") then out[#out + 1] = s end end
      return out
    end)())
    files.write(path, "return 42\n")
    assert.are.same({ nil, "--logger: " .. path .. " does not return a logger (an object with a "
      .. "send_event method)" }, { loggers.from_cli("logger", path) })
    files.write(path, "return {\n")
    local L2, err = loggers.from_cli("logger", path)
    assert.is_nil(L2)
    assert.are.equal("--logger: " .. path .. ":2: unexpected symbol near '<eof>'", err)
    os.remove(path)
  end)

  it("parses --influx URLs for 1.x and 2.x", function()
    local env = {}
    local function getenv(k) return env[k] end
    local p = loggers.parse_influx_url
    assert.are.same({ url = "http://127.0.0.1:8086", db = "influxdb_exchange" },
      p("http://127.0.0.1:8086/", getenv))
    assert.are.same({ url = "http://h:1/prefix", db = "my db", user = "u", password = "p" },
      p("http://h:1/prefix/?db=my%20db&u=u&p=p", getenv))
    assert.are.same({ nil, "ASX_INFLUX_TOKEN is not set (InfluxDB 2.x needs a token)" },
      { p("http://h:8086/?org=o&bucket=b", getenv) })
    env.ASX_INFLUX_TOKEN = "t0k"
    assert.are.same({ url = "https://h:8086", org = "o", bucket = "b", token = "t0k" },
      p("https://h:8086/?org=o&bucket=b", getenv))
    local malformed = "malformed URL '%s' (expected http://HOST:PORT/?db=NAME or "
      .. "http://HOST:PORT/?org=ORG&bucket=BUCKET)"
    for _, bad in ipairs({ "localhost:8086", "http://", "http://h:port/", "http://h:0/", "ftp://h/",
      "http://h:8086/?db" }) do
      assert.are.same({ nil, malformed:format(bad) }, { p(bad, getenv) })
    end
    assert.are.same({ nil, "URL 'http://h/?org=o' needs both org and bucket for InfluxDB 2.x" },
      { p("http://h/?org=o", getenv) })
    assert.are.same({ nil, "unknown parameter 'x' in URL 'http://h/?x=1' (expected db, or org and bucket)" },
      { p("http://h/?x=1", getenv) })
    assert.are.same({ nil, "--influx: " .. malformed:format("nope") }, { loggers.from_cli("influx", "nope") })
  end)

  it("never shows a password given in an --influx URL", function()
    local p = loggers.parse_influx_url
    assert.are.same({ url = "http://h:8086/db", db = "x", user = "bob", password = "s3c@ret" },
      p("http://bob:s3c%40ret@h:8086/db/?db=x"))
    assert.are.same({ url = "http://h:8086", db = "influxdb_exchange", user = "bob", password = "pw" },
      p("http://h:8086/?u=bob&p=pw"))
    assert.are.same({ nil, "malformed URL 'http://bob:***@h:port/?p=***' (expected http://HOST:PORT/?db=NAME or "
      .. "http://HOST:PORT/?org=ORG&bucket=BUCKET)" }, { p("http://bob:s3cret@h:port/?p=s3cret") })
    assert.are.same({ nil, "unknown parameter 'x' in URL 'http://h/?u=bob&p=***&x=1' (expected db, or org and "
      .. "bucket)" }, { p("http://h/?u=bob&p=s3cret&x=1") })
    assert.are.same({ nil, "URL 'http://bob:***@h/?org=o&bucket=b' has a user and password (1.x) and "
      .. "org/bucket (2.x, which takes the token from ASX_INFLUX_TOKEN)" },
      { p("http://bob:s3cret@h/?org=o&bucket=b") })
    assert.are.equal("http://bob@h/", loggers.mask_url("http://bob@h/"))
    -- A server that cannot be reached: neither the logger's name nor its
    -- error has the password.
    local L = assert(loggers.influxdb({ url = "http://bob:s3cret@127.0.0.1:1/", db = "x", quiet = true,
      close_timeout = 0 }))
    assert.are.equal("influxdb logger(http://bob:***@127.0.0.1:1/)", tostring(L))
    L:send_event("session", { time = 0, state = "start" })
    local ok, err = L:flush(0.5)
    assert.is_nil(ok)
    assert.matches("^1 points not written yet", err)
    assert.is_nil(err:find("s3cret", 1, true))
    assert.is_nil(L:report():find("s3cret", 1, true))
    L:close(0)
  end)

  it("raises for an unknown kind", function()
    assert.has_error(function() loggers.from_cli("tape", "x") end,
      "bad argument #1 to 'from_cli' ('log', 'logger' or 'influx' expected, got tape)")
  end)
end)
