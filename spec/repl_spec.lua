-- End-to-end specs of `asx-host -i` driven through a pipe, as a script would:
-- each test writes lines to its standard input and compares what it prints,
-- line by line. The fixture strategy (spec/fixtures/quoter.lua) makes a book
-- known exactly; with the virtual clock the session starts paused, so the
-- state after step(3) is the same on every run.
local QUOTER = "spec/fixtures/quoter.lua"

local helpers = require("helpers.run")
local run = helpers.repl
local lines = helpers.block

local VIRTUAL = "--seed 1 --clock virtual " .. QUOTER

describe("asx-host -i through a pipe", function()
  it("prints the values of expressions and nothing for statements", function()
    local out, status = run([[
1+1
"a", nil, 2.5
x = { 1, 2, { a = 1, b = { c = { d = 1 } } }, z = "s", [10] = true }
x
= 7 * 6
t = {} t.self = t
t
print("printed")
return 1, 2
]])
    assert.are.same(lines([[
2
"a"	nil	2.5
{ 1, 2, { a = 1, b = { c = {...} } }, [10] = true, z = "s" }
42
{ self = <cycle> }
printed
1	2]]), out)
    assert.are.equal(0, status)
  end)

  it("prints long tables one entry per line, keys in a stable order", function()
    local out = run([[
{ zeta = "a fairly long string value", alpha = "another fairly long string", [3] = 1, [true] = 0 }
]])
    assert.are.same(lines([[
{
  [3] = 1,
  alpha = "another fairly long string",
  zeta = "a fairly long string value",
  [true] = 0
}]]), out)
  end)

  it("continues incomplete statements on the next lines", function()
    local out = run([[
for i = 1, 3 do
  print(i)
end
x = {
  1,
  2 }
#x
"still", "here"
]])
    assert.are.same(lines([[
1
2
3
2
"still"	"here"]]), out)
  end)

  it("prints errors with their line in the script, goes on, and exits 1", function()
    local out, status = run([[
error("boom")
1 +* 2
nil + 1
error({ code = 1 })
y = 5
y
function f()
  error("in f")
end
for i = 1,
  2 do nil_call()
end
f()
]])
    assert.are.same(lines([[
stdin:1: boom
stdin:2: unexpected symbol near '*'
stdin:3: attempt to perform arithmetic on a nil value
error: { code = 1 }
5
stdin:11: attempt to call global 'nil_call' (a nil value)
stdin:8: in f]]), out)
    assert.are.equal(1, status)
  end)

  it("exits 0 when every line ran", function()
    local out, status = run("x = 1\nx + 1\n")
    assert.are.same({ "2" }, out)
    assert.are.equal(0, status)
  end)

  it("stops at end of input with the summary, even mid-statement", function()
    local out, status, summary = run("1\nfor i = 1, 2 do\n", VIRTUAL)
    assert.are.same({ "1", "stdin: incomplete statement at end of input" }, out)
    assert.are.equal(1, status)
    assert.are.equal("seed: 1", summary[1])
    assert.are.equal("clock: virtual", summary[2])
    assert.are.equal("session time: 0.000 s", summary[3])
  end)

  it("runs a last line that has no end-of-line", function()
    local out = run("1\n2 + 3", VIRTUAL)
    assert.are.same({ "1", "5" }, out)
  end)

  it("quit() stops the session; later lines do not run", function()
    local out, status, summary = run([[
step(2)
quit()
print("not reached")
]], VIRTUAL)
    assert.are.same({}, out)
    assert.are.equal(0, status)
    assert.are.equal("session time: 2.000 s", summary[3])
    assert.are.equal("trades: 2", summary[8])
  end)

  it("the session's duration ends the session, and the prompt with it: lines left are said not run, status 1",
    function()
    -- They were dropped unsaid, with status 0: a script's caller could not
    -- tell that its lines after the step never ran.
    local out, status, summary = run([[
step(4)
stats().time
step(10)
print("not reached")
]], "-d 5 " .. VIRTUAL)
    assert.are.same({ "4", "the session ended before the input did: lines from stdin:4 on were not run" }, out)
    assert.are.equal(1, status)
    assert.are.equal("session time: 5.000 s", summary[3])
    -- Blank lines left run nothing: nothing is said.
    out, status = run("step(10)\n\n\n", "-d 5 " .. VIRTUAL)
    assert.are.same({}, out)
    assert.are.equal(0, status)
  end)

  it("says nothing of comments left when the session ends, nor of a quit() and what follows it", function()
    -- They counted as lines not run, status 1.
    for _, case in ipairs({
      { "step(10)\n-- done\n  --[[ a long\ncomment ]]\n\n", {}, 0 },
      { "step(10)\nquit()\n", {}, 0 },
      { "step(10)\n-- the end\nquit() -- and out\nprint('never')\n", {}, 0 },
      { "step(10)\n-- then\nprint(1) -- not run\nquit()\n",
        { "the session ended before the input did: lines from stdin:2 on were not run" }, 1 },
      { "step(10)\n--[[ unclosed\nprint(1)\n",
        { "the session ended before the input did: lines from stdin:2 on were not run" }, 1 },
    }) do
      local out, status = run(case[1], "-d 5 " .. VIRTUAL)
      assert.are.same({ case[2], case[3] }, { out, status })
    end
    -- The same through a pipe, whose bytes left are those ready.
    for _, case in ipairs({ { "quit()", "", "0" },
      { "print(1)", "the session ended before the input did: lines from stdin:2 on were not run\n", "1" } }) do
      local r = helpers.sh(("printf 'step(10)\\n-- c\\n%s\\n' | \"$HOST\" -i -q -d 5 %s >/dev/null; echo $?")
        :format(case[1], VIRTUAL))
      assert.are.same({ case[2], case[3] .. "\n" }, { r.stderr, r.stdout })
    end
  end)

  it("a second step in one line is refused: the session steps once the line ends", function()
    -- It was dropped without a word: three steps of 1 s stepped 1 s.
    local out, status = run([[
for i = 1, 3 do step(1) end
stats().time
step(2) step(1)
stats().time
]], VIRTUAL)
    local refused = "stdin:%d: step: a step is under way (the session steps once the line ends, so a line "
      .. "steps once: step(a + b))"
    assert.are.same({ refused:format(1), "1", refused:format(3), "3" }, out)
    assert.are.equal(1, status)
  end)

  it("without a standard input it says so and exits 2", function()
    local p = io.popen(helpers.HOST .. " -i -q <&- 2>&1; echo \"status: $?\"")
    local out = p:read("*a")
    p:close()
    assert.are.equal("asx-host: -i needs a standard input to read (standard input is closed or of an "
      .. "unknown kind (bad file descriptor))\nstatus: 2\n", out)
  end)

  it("runs a class's cycle redefined before the first step in every agent that has not started", function()
    -- The agents had taken the fixture's cycle when they were added: the
    -- redefinition changed nothing they did.
    local out, status = run([[
Q = getmetatable(trader(1))
function Q:cycle() while true do self:sleep(1) self:sell(1, 150) end end
step(1)
function Q:cycle() error("not run") end
step(1)
orders()
]], VIRTUAL)
    assert.are.same(lines([[
id  trader  side  price  amount  filled
 1       1  sell    150       1       0
 2       2  sell    150       1       0
 3       1  sell    150       1       0
 4       2  sell    150       1       0]]), out)
    assert.are.equal(0, status)
  end)

  it("cuts an agent's error printed during a step as a line's error is, and keeps its traceback", function()
    -- It was printed whole: 10 MB for error(("x"):rep(1e7)).
    local out, status = run([[
T = require("asx").Trader:extend("boom")
function T:cycle() error(("x"):rep(10000)) end
t = spawn(T)[1]
step(1)
]], "--seed 1 --clock virtual")
    assert.are.same({
      ("boom#2: stdin:2: %s... (10017 bytes)"):format(("x"):rep(4000 - #"boom#2: stdin:2: ")),
      "stack traceback:",
      "\t[C]: in function 'error'",
      "\tstdin:2: in function <stdin:2>",
    }, out)
    assert.are.equal(0, status)
  end)

  it("help() lists every command on one line each", function()
    local out = run("help()\n")
    for _, name in ipairs({ "book", "trades", "traders", "trader", "orders", "stats", "pause",
      "resume", "step", "speed", "spawn", "kill", "me", "help", "quit" }) do
      local found = false
      for _, l in ipairs(out) do
        if l:match("^" .. name .. "[%( ]") then found = true end
      end
      assert.is_true(found, name)
    end
  end)

  describe("with the virtual clock", function()
    it("jumps over idle time in a step, as the clock does without -i", function()
      -- me woke every second of a step with nothing else to run: step(1e6)
      -- took some 17 s, 1,001 ticks for step(1000).
      local out, status = run([[
local s = require("asx.session").running(); n = 0; s.sched:on_tick(function() n = n + 1 end, 1)
step(1000)
n
stats().time
]], "--seed 1 --clock virtual")
      assert.are.same({ "2", "1000" }, out)
      assert.are.equal(0, status)
    end)

    it("steps past 2^53 s and up to the largest number end, with nothing else to run", function()
      -- Past 2^53 s me's wake-up a second later was at the same instant:
      -- step(1e16) after any line never ended (killed by the watchdog,
      -- status 124). A step past the largest number ended at inf, and me
      -- failed on sleep(inf), which ended the session with lines unrun.
      local out, status = run([[
local _ = 1
step(1e16)
stats().time == 1e16, stats().state
step(1e308)
step(1.7e308)
stats().time == 1.7976931348623157e308, stats().state
step(1)
stats().time == 1.7976931348623157e308, stats().state
]], "--seed 1 --clock virtual")
      assert.are.same({ 'true\t"paused"', 'true\t"paused"', 'true\t"paused"' }, out)
      assert.are.equal(0, status)
    end)

    it("a step cut short leaves no wake-up at its old end: resume() with nothing to run stays there", function()
      -- me slept to the step's end in one wake-up; cut at 50 s (here by a
      -- logger, as Ctrl-C or the live page's pause cut it), it still woke
      -- at 100, and resume() jumped the clock there. The two lines after
      -- resume() let the loop turn, so that me has run and paused again.
      local out, status = run([[
step(100)
stats().time
resume()
local _ = 1
local _ = 2
stats().state, stats().time
]], "--seed 1 --clock virtual spec/fixtures/host/late_pause.lua")
      assert.are.same({ "50", '"paused"\t50' }, out)
      assert.are.equal(0, status)
    end)

    it("starts paused and advances only on step", function()
      local out = run([[
stats().state
stats().time
stats().trades
step(3)
stats().time
stats().trades
stats().state
]], VIRTUAL)
      assert.are.same(lines([[
"paused"
0
0
3
3
"paused"]]), out)
    end)

    it("book() shows the ladder and returns its data", function()
      local out = run([[
book()
step(3)
book()
book().asks[1].price
book().asks[1].orders
book().bids[1].amount
book().spread, book().mid
book(1)
]], VIRTUAL)
      assert.are.same(lines([[
buy  price  sell
----------------
spread -, mid -
  buy  price  sell
         101  3 (2)  best ask
-----------------------------
3 (3)     99         best bid
spread 2, mid 100
101
2
3
2	100
  buy  price  sell
         101  3 (2)  best ask
-----------------------------
3 (3)     99         best bid
spread 2, mid 100]]), out)
    end)

    it("trades(n) gives the last trades, oldest first", function()
      local out = run([[
trades()
step(3)
trades()
trades(2)
#trades(10)
trades(1)[1].price, trades(1)[1].aggressor, trades(1)[1].time
]], VIRTUAL)
      assert.are.same(lines([[
no trades yet
 time  price  amount  buyer  seller  aggressor
1.000    101       1      2       1  buy
2.000    101       1      2       1  buy
3.000    101       1      2       1  buy
 time  price  amount  buyer  seller  aggressor
2.000    101       1      2       1  buy
3.000    101       1      2       1  buy
3
101	"buy"	3]]), out)
    end)

    it("traders() lists agents and me, filters and sorts", function()
      local out = run([[
step(3)
traders()
traders("quoter")
traders(function(r) return r.money > 1000 end)
traders():sort("-money")
traders():sort("strategy")[1].id
traders("waiting"):sort("stocks")[1].id
]], VIRTUAL)
      assert.are.same(lines([[
id  strategy  money  stocks  orders  value  state
 1  quoter     1303      97       2  11100  waiting
 2  quoter      697     103       3  11100  waiting
 3  me          300      10       0   1310  user
id  strategy  money  stocks  orders  value  state
 1  quoter     1303      97       2  11100  waiting
 2  quoter      697     103       3  11100  waiting
id  strategy  money  stocks  orders  value  state
 1  quoter     1303      97       2  11100  waiting
id  strategy  money  stocks  orders  value  state
 1  quoter     1303      97       2  11100  waiting
 2  quoter      697     103       3  11100  waiting
 3  me          300      10       0   1310  user
3
1]]), out)
    end)

    it("trader(id) is the live trader object", function()
      local out = run([[
step(3)
trader(1)
trader(1).money
trader(2):cancel_all()
trader(2).id
orders(2)
]], VIRTUAL)
      assert.are.same(lines([[
quoter#1 { money = 1303, stocks = 97 }
1303
true
2
no resting orders]]), out)
    end)

    it("trader, traders, stats and spawn go on when a line wrote the exchange's traders field", function()
      -- They read the exchange's own list, where trader(1) and spawn failed
      -- with an error inside asx (attempt to index field 'traders').
      local out = run([[
me.exchange.traders = nil
trader(1)
#traders()
stats().agents
spawn("spec/fixtures/quoter.lua", 1)
me.exchange.traders
]], VIRTUAL)
      assert.are.same(lines([[
quoter#1 { money = 1000, stocks = 100 }
3
2
{ quoter#4 { money = 1000, stocks = 100 } }
nil]]), out)
    end)

    it("orders() lists resting orders in book order, all or one trader's", function()
      local out = run([[
orders()
step(3)
orders()
orders(1)
orders(me)
orders(2)[1].price
]], VIRTUAL)
      assert.are.same(lines([[
no resting orders
id  trader  side  price  amount  filled
 3       2  buy      99       1       0
 6       2  buy      99       1       0
 9       2  buy      99       1       0
 4       1  sell    101       1       1
 7       1  sell    101       2       0
id  trader  side  price  amount  filled
 4       1  sell    101       1       1
 7       1  sell    101       2       0
no resting orders
99]]), out)
    end)

    it("stats() shows the figures so far", function()
      local out = run([[
step(3)
stats()
stats().volume
]], VIRTUAL)
      assert.are.same(lines([[
time        3.000
clock     virtual
state      paused
agents          2
orders          9
cancels         0
trades          3
volume          3
notional      303
open          101
high          101
low           101
last          101
best_bid       99
best_ask      101
resting         5
3]]), out)
    end)

    -- The report is the exchange's only logger once the prompt's trade
    -- history is detached: the book then hands the records over in batches,
    -- and each line must still see every record up to now. Three seconds of
    -- the quoters are 12 events (an offer, a bid that trades and a bid each
    -- second), after the session's start and three agents' starts.
    it("each line sees every event up to now, whichever loggers take them", function()
      local out = run([[
ex = me.exchange
for _, L in ipairs(ex.loggers) do if L.last then ex:remove_logger(L) end end
#ex.loggers
step(3)
ex.events
]], VIRTUAL)
      assert.are.same(lines([[
1
16]]), out)
    end)

    it("me trades by hand against the agents", function()
      local out = run([[
me
step(3)
o = me:buy(2, 101)
o.status, o.filled
me.money, me.stocks
book()
trades(2)
]], VIRTUAL .. " --money 500 --stocks 7")
      assert.are.same(lines([[
me#3 { money = 500, stocks = 7 }
"filled"	2
298	9
  buy  price  sell
         101  1 (1)  best ask
-----------------------------
3 (3)     99         best bid
spread 2, mid 100
 time  price  amount  buyer  seller  aggressor
3.000    101       1      3       1  buy
3.000    101       1      3       1  buy]]), out)
    end)

    it("pause, resume and step steer the clock", function()
      local out = run([[
resume()
stats().state
pause()
stats().state
t = stats().time
step(1.5)
stats().time - t
stats().state
]], VIRTUAL)
      assert.are.same(lines([[
"running"
"paused"
1.5
"paused"]]), out)
    end)

    it("spawn adds agents to the running session and kill stops one", function()
      local out = run([[
spawn("spec/fixtures/quoter.lua", 2)
Q = trader(1)
spawn(getmetatable(Q), 1, { money = 5, stocks = 0 })
#traders("quoter")
step(1)
kill(1)
kill(1)
traders("stopped")
trader(6).money
]], VIRTUAL)
      assert.are.same(lines([[
{
  quoter#4 { money = 1000, stocks = 100 },
  quoter#5 { money = 1000, stocks = 100 }
}
{ quoter#6 { money = 5, stocks = 0 } }
5
true
false
id  strategy  money  stocks  orders  value  state
 1  quoter     1202      98       0  11100  stopped
5]]), out)
    end)

    it("kill refuses the agent that runs it, which goes on, where it returned false", function()
      local out = run([[
asx = require("asx")
K = asx.Trader:extend("k")
function K:cycle() self:sleep(0.5) print(pcall(kill, self.id)) self:sleep(1) print("went on") end
spawn(K)
step(2)
traders("k")
]], VIRTUAL)
      assert.are.same(lines([[
{ k#4 { money = 300, stocks = 10 } }
false	kill: k#4 is running; it can stop itself by returning
went on
id  strategy  money  stocks  orders  value  state
 4  k           300      10       0   1310  finished]]), out)
    end)

    it("the summary counts a killed agent as stopped, not running", function()
      local _, status, summary = run([[
kill(1)
step(1)
]], VIRTUAL)
      assert.are.equal(0, status)
      assert.are.equal("agents quoter: 2 (1 running, 0 finished, 0 failed, 1 stopped)", summary[5])
      assert.are.equal("agents me: 1 (1 running, 0 finished, 0 failed)", summary[6])
    end)

    it("a killed agent's cancel and its agent event \"stopped\" reach the log", function()
      local base = os.tmpname()
      os.remove(base)
      local path = base .. ".jsonl"
      local _, status = run([[
step(1.5)
kill(1)
step(1)
]], "--log " .. path .. " " .. VIRTUAL)
      assert.are.equal(0, status)
      local f = assert(io.open(path))
      local log = f:read("*a")
      f:close()
      os.remove(path)
      local tail = {}
      for l in log:gmatch('[^\n]*"type":"cancel"[^\n]*\n[^\n]*\n') do tail[#tail + 1] = l end
      assert.are.same({
        '{"type":"cancel","time":1,"session":"1","id":1,"trader":1,"side":"sell","remaining":1,"instrument":"STOCK"}\n'
        .. '{"type":"agent","time":1,"session":"1","id":1,"name":"quoter#1","strategy":"quoter","state":"stopped"}\n',
      }, tail)
    end)

    it("spawn's agents start with --money and --stocks, as the command line's do", function()
      -- The fixture's class holds money 1000 and stocks 100: the command line
      -- wins over them, spawn's options over the command line; without the
      -- class's fields, the command line's still.
      local script = [[
Q = getmetatable(trader(1))
trader(1)
spawn(Q)
spawn(Q, 1, { money = 5 })
Q.money, Q.stocks = nil, nil
spawn(Q)
]]
      assert.are.same(lines([[
quoter#1 { money = 70, stocks = 4 }
{ quoter#4 { money = 70, stocks = 4 } }
{ quoter#5 { money = 5, stocks = 4 } }
{ quoter#6 { money = 70, stocks = 4 } }]]), run(script, "--money 70 --stocks 4 " .. VIRTUAL))
      assert.are.same(lines([[
quoter#1 { money = 1000, stocks = 100 }
{ quoter#4 { money = 1000, stocks = 100 } }
{ quoter#5 { money = 5, stocks = 100 } }
{ quoter#6 { money = 300, stocks = 10 } }]]), run(script, VIRTUAL))
    end)

    it("a long table shows its first 50 rows; the value keeps them all", function()
      local out = run([[
added = spawn(getmetatable(trader(1)), 60)
traders()
#traders()
traders()[63].id
]], VIRTUAL)
      assert.are.equal(1 + 50 + 1 + 2, #out)
      assert.are.equal("id  strategy  money  stocks  orders  value  state", out[1])
      assert.are.equal(" 1  quoter     1000     100       0   1000  waiting", out[2])
      assert.are.equal(" 3  me          300      10       0    300  user", out[4])
      assert.are.equal("50  quoter     1000     100       0   1000  waiting", out[51])
      assert.are.same({ "... 13 more rows", "63", "63" }, { out[52], out[53], out[54] })
    end)

    it("speed is for the real clock only", function()
      local out = run("speed(2)\n", VIRTUAL)
      assert.are.same({
        "stdin:1: speed: the virtual clock has no speed; it runs as fast as it can (use step or resume)",
      }, out)
    end)
  end)

  it("speed(x) changes the real clock's rate", function()
    local out = run([[
speed()
speed(4)
speed()
]], "--clock real")
    assert.are.same({ "1", "4" }, out)
  end)

  it("without FILE the exchange is empty but for me", function()
    local out, status, summary = run([[
stats().agents
traders()
me:sell(3, 12)
book()
]], "--seed 5")
    assert.are.same(lines([[
0
id  strategy  money  stocks  orders  value  state
 1  me          300      10       0    300  user
order#1(sell 3 @ 12, filled 0, open)
buy  price  sell
        12  3 (1)  best ask
---------------------------
spread -, mid -]]), out)
    assert.are.equal(0, status)
    assert.are.equal("seed: 5", summary[1])
  end)

  describe("bad arguments raise an error naming the command and the argument", function()
    local cases = {
      { "book(0)", "stdin:1: bad argument #1 to 'book' (positive integer depth up to 2^53 - 1 expected, got 0)" },
      { "book('x')", "stdin:1: bad argument #1 to 'book' (positive integer depth up to 2^53 - 1 expected, got string)" },
      { "trades(-1)", "stdin:1: bad argument #1 to 'trades' (positive integer count up to 2^53 - 1 expected, got -1)" },
      { "trades(1.5)", "stdin:1: bad argument #1 to 'trades' (positive integer count up to 2^53 - 1 expected, got 1.5)" },
      -- A count past the limit was refused as if it were no positive integer.
      { "trades(2^53)",
        "stdin:1: bad argument #1 to 'trades' (positive integer count up to 2^53 - 1 expected, got 9007199254740992)" },
      { "traders(5)",
        "stdin:1: bad argument #1 to 'traders' (strategy or state name, or function, expected, got 5)" },
      { "traders():sort('nope')", "stdin:1: bad argument #1 to 'traders:sort' (column name expected "
        .. "(id, strategy, money, stocks, orders, value, state), got string)" },
      { "trader(99)", "stdin:1: bad argument #1 to 'trader' (no trader with id 99)" },
      { "trader('x')", "stdin:1: bad argument #1 to 'trader' (trader id expected, got string)" },
      { "orders(0)", "stdin:1: bad argument #1 to 'orders' (trader id expected, got 0)" },
      { "step(0)", "stdin:1: bad argument #1 to 'step' (positive number of seconds expected, got 0)" },
      { "step(-1)", "stdin:1: bad argument #1 to 'step' (positive number of seconds expected, got -1)" },
      { "step(1/0)", "stdin:1: bad argument #1 to 'step' (positive number of seconds expected, got inf)" },
      { "step('1')", "stdin:1: bad argument #1 to 'step' (positive number of seconds expected, got string)" },
      { "spawn(42)", "stdin:1: bad argument #1 to 'spawn' (strategy file name or Trader class with cycle "
        .. "expected, got 42)" },
      { "spawn('missing.lua')",
        "stdin:1: bad argument #1 to 'spawn' (cannot read 'missing.lua': No such file or directory)" },
      { "spawn(getmetatable(trader(1)), 0)",
        "stdin:1: bad argument #2 to 'spawn' (positive integer count up to 2^53 - 1 expected, got 0)" },
      { "spawn(getmetatable(trader(1)), 2^53)",
        "stdin:1: bad argument #2 to 'spawn' (positive integer count up to 2^53 - 1 expected, got 9007199254740992)" },
      { "spawn(getmetatable(trader(1)), 1, 5)",
        "stdin:1: bad argument #3 to 'spawn' (table of options expected, got 5)" },
      { "kill(me)", "stdin:1: bad argument #1 to 'kill' (me is not an agent)" },
      { "kill(77)", "stdin:1: bad argument #1 to 'kill' (no trader with id 77)" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local out = run(c[1] .. "\n1\n", VIRTUAL)
        assert.are.same({ c[2], "1" }, out)
      end)
    end

    it("speed(x) on the real clock", function()
      local out = run("speed(0)\nspeed(-2)\nspeed(0/0)\n", "--clock real")
      assert.are.same({
        "stdin:1: bad argument #1 to 'speed' (positive factor expected, got 0)",
        "stdin:2: bad argument #1 to 'speed' (positive factor expected, got -2)",
        "stdin:3: bad argument #1 to 'speed' (positive factor expected, got nan)",
      }, out)
    end)
  end)

  it("writes the session's trades with --log, as without -i", function()
    local csv = os.tmpname() .. ".csv"
    local out, status, summary = run("me:sell(2, 10)\nme:buy(2, 10)\n", "--seed 3 --log " .. csv)
    assert.are.equal(0, status)
    assert.are.same({ "order#1(sell 2 @ 10, filled 0, open)", "order#2(buy 0 @ 10, filled 2, filled)" }, out)
    assert.are.equal(("csv: 1 rows written to %s"):format(csv), summary[#summary])
    local f = assert(io.open(csv))
    local text = f:read("*a")
    f:close()
    os.remove(csv)
    local header, row = text:match("^([^\n]*)\n([^\n]*)\n$")
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument", header)
    assert.matches("^[%d.e-]+,3,10,2,1,1,2,1,buy,STOCK$", row)
  end)

  it("refuses a bad --log before anything runs", function()
    local out, status = run("me:buy(1, 1)\n", "--log /tmp/asx-nowhere.txt")
    assert.are.equal(2, status)
    assert.are.same({
      "asx-host: --log: unknown extension in '/tmp/asx-nowhere.txt' (expected .csv or .jsonl)",
      "usage: asx-host [options] FILE.lua[:COUNT]...",
      "Try 'asx-host --help' for more.",
    }, out)
  end)
end)
