-- Hostile lines at the prompt of `asx-host -i`: values and errors whose
-- metamethods raise, cycles, deep and huge values, sabotaged globals. Each
-- case runs through a pipe and checks that the REPL printed what it should
-- (a placeholder where a value cannot be shown), read every later line, and
-- exited with the status a script's caller expects. Tab completion on
-- hostile objects is checked on M.complete directly; the terminal side of
-- it is in spec/repl_tty_spec.lua.
local helpers = require("helpers.run")
local lines = helpers.block

-- The REPL's lines and exit status for script, on a session of nothing.
local function run(script)
  local repl, status = helpers.repl(script, "--clock virtual --seed 1")
  return repl, status
end

describe("hostile lines at the prompt", function()
  it("a line that runs out of memory fails alone; the next lines run, the summary and log whole", function()
    -- Under a limit of the address space, without the sanitizers (spec/run.sh
    -- preloads their runtimes), whose allocator aborts the process at it.
    -- LuaJIT does not collect when an allocation fails: the error's message
    -- found the line's garbage still there, ran out of memory again outside
    -- the line, and asx-host ended with "asx-host: not enough memory",
    -- status 1 and no summary.
    local why = helpers.address_limit_pending()
    if why then pending(why) return end
    local d = helpers.tmpdir()
    local r = helpers.sh([[
ulimit -v 300000 && "$HOST" -i -q --clock virtual --seed 1 -d 30 --stuck-warning 0 --log "$D/t.csv" \
  strategies/random_trader.lua:50 <<'EOF'
step(1)
local kept = {} while true do kept[#kept + 1] = { #kept, tostring(#kept) } end
stats().trades
EOF
]], d)
    local trades = helpers.read(d .. "/t.csv")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, r.status)
    assert.are.equal("not enough memory\n", r.stderr)
    local out = helpers.lines(r.stdout)
    local n = tonumber(out[1])
    assert.are.equal("seed: 1", out[2])
    assert.are.equal(("trades: %d"):format(n), out[9])
    assert.are.equal(("csv: %d rows written to %s/t.csv"):format(n, d), out[#out])
    assert.are.equal(n + 1, #helpers.lines(trades))
  end)

  it("after a line that keeps nearly all memory in a global, lines fail alone and end of input ends the session", function()
    -- The global leaves no room even to hand the next line to Lua: the
    -- reader raised outside any protected call, through the loop, and
    -- asx-host ended with "asx-host: not enough memory" and no summary, or
    -- (on a terminal) the prompt never came back and waited for ever.
    local why = helpers.address_limit_pending()
    if why then pending(why) return end
    local r = helpers.sh([[
ulimit -v 300000 && "$HOST" -i -q --clock virtual --seed 1 -d 30 --stuck-warning 0 \
  strategies/random_trader.lua:50 <<'EOF'
step(1)
t = {} for i = 1, 1e9 do t[i] = {} end
for i = 1, 1e9 do t[#t + 1] = {} end
for i = 1, 1e9 do t[#t + 1] = {} end
print(#t > 0)
EOF
]])
    assert.are.equal(1, r.status)
    for _, line in ipairs(helpers.lines(r.stderr)) do
      assert.is_truthy(line == "not enough memory"
        or line == "asx repl: error in reading the line (it was not run): not enough memory", line)
    end
    assert.are.equal(4, #helpers.lines(r.stderr))
    local out = helpers.lines(r.stdout)
    assert.are.same({ "seed: 1", "clock: virtual", "session time: 1.000 s" }, { out[1], out[2], out[3] })
    assert.are.same({ "orders: 85", "trades: 57" }, { out[7], out[8] })
  end)

  it("a debug hook that raises, set at the prompt, is refused; the next lines run", function()
    -- Hooks are the whole Lua state's: it fired in the prompt's own code
    -- and in every agent, and asx-host hung.
    local out, status = run([[
debug.sethook(function() error("x") end, "", 1)
debug.sethook()
debug.gethook()
"after"
]])
    local refused = "stdin:%d: debug.sethook: hooks are not available in asx-host (a hook is the whole Lua "
      .. "state's, and asx's own stop stuck agents and serve Ctrl-C)"
    assert.are.same({ refused:format(1), refused:format(2), 'nil	""	0', '"after"' }, out)
    assert.are.equal(1, status)
  end)

  it("a line's error has its control characters escaped, as every error asx writes to stderr", function()
    -- They reached the terminal raw: an error could clear the screen or
    -- retitle the window, where an agent's error could not.
    local out, status = run([[
error("a\27[2Jb")
f = function() error("x\27]0;t\7y\0z", 0) end
f()
"after"
]])
    assert.are.same({ "stdin:1: a\\027[2Jb", "x\\027]0;t\\007y\\000z", '"after"' }, out)
    assert.are.equal(1, status)
  end)

  it("a value's __tostring text and a string's C1 controls print escaped", function()
    -- Both reached the terminal raw: a value could clear the screen.
    local out, status = run([[
setmetatable({}, { __tostring = function() return "t\27[2J" end })
"a\194\155" .. "2Jb"
{ x = setmetatable({}, { __tostring = function() return "\7" end }) }
]])
    assert.are.same({ "t\\027[2J", '"a\\194\\1552Jb"', "{ x = \\007 }" }, out)
    assert.are.equal(0, status)
  end)

  it("a value whose __tostring raises prints a placeholder; the next lines run", function()
    local out, status = run([[
bad = setmetatable({}, { __tostring = function() error("no text") end })
bad
{ bad, 2 }
{ [bad] = 1 }
"after"
]])
    assert.are.same(lines([[
<table: __tostring raised: stdin:1: no text>
{ <table: __tostring raised: stdin:1: no text>, 2 }
{ [<table: __tostring raised: stdin:1: no text>] = 1 }
"after"]]), out)
    assert.are.equal(0, status)
  end)

  it("an error value whose __tostring raises prints a placeholder, and the line counts as failed", function()
    local out, status = run([[
bad = setmetatable({}, { __tostring = function() error("no text") end })
error(bad)
error(setmetatable({}, { __tostring = function() return {} end }))
"after"
]])
    assert.are.same(lines([[
error: <table: __tostring raised: stdin:1: no text>
error: <table: __tostring returned a table>
"after"]]), out)
    assert.are.equal(1, status)
  end)

  it("a __tostring's error in a placeholder names the script's line it was raised on", function()
    -- Each line is compiled on its own, as chunk "stdin:<lines before it>";
    -- the error's position in a placeholder was left as Lua gave it,
    -- stdin:2:1 and stdin:3:1 below.
    local out, status = run([[
"before"
"padding"
bad = setmetatable({}, { __tostring = function() error("no text") end })
bad
error(bad)
]])
    assert.are.same(lines([[
"before"
"padding"
<table: __tostring raised: stdin:3: no text>
error: <table: __tostring raised: stdin:3: no text>]]), out)
    assert.are.equal(1, status)
  end)

  it("tables of rows line up after a strategy named in UTF-8 or with a control character", function()
    -- Cells were measured in bytes, before the escapes: "café€" (8 bytes,
    -- 5 columns) pushed its row's later columns 3 to the right, "a\027b"
    -- (3 bytes, shown as 6 columns) pulled them 3 to the left.
    local out, status = run([=[
C = require("asx").Trader:extend("café€") function C:cycle() self:sleep(1e9) end
D = require("asx").Trader:extend("a\027b") function D:cycle() self:sleep(1e9) end
spawn(C) spawn(D)
traders()
]=])
    assert.are.same(lines([=[
id  strategy  money  stocks  orders  value  state
 1  me          300      10       0    300  user
 2  café€       300      10       0    300  waiting
 3  a\027b      300      10       0    300  waiting]=]), out)
    assert.are.equal(0, status)
  end)

  it("__index, __len, __pairs and __eq that raise never run while printing", function()
    local out, status = run([[
mt = {}
for _, e in ipairs({ "__index", "__len", "__pairs", "__eq", "__lt", "__concat", "__call" }) do
  mt[e] = function() error(e .. " ran") end
end
t = setmetatable({ 1, 2, a = "x" }, mt)
t
{ t, [t] = t }
return setmetatable({}, mt)
error(setmetatable({ code = 7 }, mt))
]])
    assert.are.same(lines([[
{ 1, 2, a = "x" }
{ { 1, 2, a = "x" }, [{...}] = { 1, 2, a = "x" } }
{}
error: { code = 7 }]]), out)
    assert.are.equal(1, status)
  end)

  it("a fake trader whose fields raise prints as tostring shows it", function()
    local out = run([[
setmetatable({ _acct = 1, id = 2 }, { __index = function() error("no field") end,
  __tostring = function() return "fake#2" end })
]])
    assert.are.same({ "fake#2" }, out)
  end)

  it("keys whose __tostring changes on every call still print, in a stable order", function()
    local out, status = run([[
n = 0
mt = { __tostring = function() n = n + 1; return tostring(n % 3) end }
t = {}
for i = 1, 50 do t[setmetatable({}, mt)] = i end
s = tostring(#((require("asx.repl").format(t))))
#s > 0
]])
    assert.are.same({ "true" }, out)
    assert.are.equal(0, status)
  end)

  it("cycles print as <cycle>, and deep tables stop at the print depth", function()
    local out = run([[
t = {} t[1] = t t.a = { t, { t } }
t
deep = {} for _ = 1, 100000 do deep = { deep } end
deep
]])
    assert.are.same(lines([[
{ <cycle>, a = { <cycle>, { <cycle> } } }
{ { { {...} } } }]]), out)
  end)

  it("a huge string prints its first 4,000 bytes and its length", function()
    local out = run([[
s = ("ab"):rep(5e6)
s
#s
]])
    assert.are.equal(2, #out)
    assert.are.equal('"' .. ("ab"):rep(2000) .. '"... (10000000 bytes)', out[1])
    assert.are.equal("10000000", out[2])
  end)

  it("a huge string is not cut in the middle of a UTF-8 character", function()
    local out = run([[
("a"):rep(3999) .. "é" .. "z"
]])
    assert.are.equal('"' .. ("a"):rep(3999) .. '"... (4002 bytes)', out[1])
  end)

  it("a huge error message or __tostring text is cut as a huge string is", function()
    -- They printed whole: 10 MB on the terminal for one line.
    local out, status = run([[
error(("x"):rep(1e7))
setmetatable({}, { __tostring = function() return ("y"):rep(5000) end })
error(setmetatable({}, { __tostring = function() return ("z"):rep(4010) end }))
error(("a"):rep(3999) .. "é" .. "z", 0)
x = "]] .. ("w"):rep(5000) .. "\n\n1 + 1\n")
    assert.are.same({
      "stdin:1: " .. ("x"):rep(3991) .. "... (10000009 bytes)",
      ("y"):rep(4000) .. "... (5000 bytes)",
      "error: " .. ("z"):rep(4000) .. "... (4010 bytes)",
      ("a"):rep(3999) .. "... (4002 bytes)",
      "stdin:5: unfinished string near '\"" .. ("w"):rep(3966) .. "... (5035 bytes)",
      "2",
    }, out)
    assert.are.equal(1, status)
  end)

  it("control characters in strings are escaped, never sent to the terminal", function()
    local out = run([[
"a\27[2Jb\0c\td\r\n" .. string.char(127)
]])
    assert.are.same({ [["a\027[2Jb\000c\td\r\n\127"]] }, out)
  end)

  it("a table of a million entries prints at most 1,000 entries in all", function()
    -- Entries count at every level: 4 rows of 1 + 100 * 2 entries, then 97
    -- whole { j } of the fifth row, and the 98th is cut.
    local out = run([[
wide = {} for i = 1, 100 do local row = {} wide[i] = row for j = 1, 100 do row[j] = { j } end end
text = require("asx.repl").format(wide)
select(2, text:gsub("{ %d+ }", "")), text:match("[^\n]*\n}$"), #text < 100000
]])
    assert.are.same({ '497	"  ... (95 more)\\n}"	true' }, out)
  end)

  it("a table of 200,000 keys shows the first 100 in order and counts the rest", function()
    local out = run([=[
t = { "a", "b" } for i = 1, 200000 do t["k" .. i] = i end t[true] = 0 t[0.5] = 1
keys = {} for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
table.sort(keys)
want = { '"a"', '"b"', "[0.5] = 1" } for i = 1, 97 do want[#want + 1] = keys[i] .. " = " .. t[keys[i]] end
got = {} for l in require("asx.repl").format(t):gmatch("[^\n]+") do got[#got + 1] = l:match("^  (.-),?$") end
table.concat(got, ";", 1, 100) == table.concat(want, ";"), got[101], #got
]=])
    assert.are.same({ 'true	"... (199904 more)"	101' }, out)
  end)

  it("sabotaged globals and string methods do not break the prompt", function()
    local out, status = run([[
saved = { loadstring, setfenv, unpack, tostring, pcall, next, string.format, string.gsub }
loadstring, setfenv, unpack, tostring, pcall, next, string.format, string.gsub = nil
getmetatable("").__index = {}
1 + 1
{ "x", y = 2 }
error("still caught")
getmetatable("").__index = _G.string
loadstring, setfenv, unpack, tostring = saved[1], saved[2], saved[3], saved[4]
pcall, next, string.format, string.gsub = saved[5], saved[6], saved[7], saved[8]
]])
    -- The strings' metatable, which asx's code needs too, cannot be changed.
    assert.are.same(lines([[
stdin:3: strings' metatable: read-only in asx-host, whose own code calls strings' methods (setting __index)
2
{ "x", y = 2 }
stdin:6: still caught
stdin:7: strings' metatable: read-only in asx-host, whose own code calls strings' methods (setting __index)]]), out)
    assert.are.equal(1, status)
  end)
end)

describe("a line that assigns the standard library's globals", function()
  it("keeps them for the prompt's own lines, and the commands and the summary go on", function()
    local out, status = helpers.repl(table.concat({
      "table, ipairs, io, pcall, tonumber = 1, 2, 3, 4, 5", "table + io", "step(2)", "traders()", "quit()",
    }, "\n") .. "\n", "--clock virtual --seed 1 spec/fixtures/host/pair.lua")
    assert.are.same(lines([[
4
id  strategy  money  stocks  orders  value  state
 1  pair        300      10       0    400  finished
 2  pair        300      10       0    400  finished
 3  pair        300      10       0    400  finished
 4  pair        300      10       0    400  finished
 5  me          300      10       0    400  user]]), out)
    assert.are.equal(0, status)
  end)
end)

describe("a line that patches the standard library's tables", function()
  it("keeps the fields it replaces for the prompt's own lines, and the commands and the summary go on", function()
    local out, status, summary = helpers.repl(table.concat({
      "string.format, math.floor = nil, function() return 'mine' end", "math.floor(2.5)", "string.format",
      "string.shout = function(s) return s:upper() end", "('x'):shout()", "step(2)", "book(1)", "quit()",
    }, "\n") .. "\n", "--clock virtual --seed 1 spec/fixtures/host/pair.lua")
    assert.are.same(lines([[
"mine"
function: builtin#89
"X"
buy  price  sell
----------------
spread -, mid -]]), out)
    assert.are.equal(0, status)
    assert.are.same({ "seed: 1", "clock: virtual", "session time: 2.000 s" }, { summary[1], summary[2], summary[3] })
  end)
end)

describe("completion on hostile objects", function()
  local repl = require("asx.repl")

  it("follows no __index function and raises nothing", function()
    local raising = function() error("must not run") end
    local obj = setmetatable({ shown = 1 }, { __index = raising, __pairs = raising, __len = raising })
    local names = { obj = obj }
    assert.are.same({ "obj.shown" }, repl.complete(names, "obj."))
    assert.are.same({}, repl.complete(names, "obj.missing."))
    -- __metatable hides the real metatable behind any value at all.
    local hidden = setmetatable({ a = 1 }, { __metatable = setmetatable({}, { __index = raising }) })
    assert.are.same({ "h.a" }, repl.complete({ h = hidden }, "h."))
  end)
end)

describe("the prompt's commands on agents that left their class", function()
  it("traders() and orders() read each agent's account, under the strategy it was started as", function()
    local out, status = helpers.repl("step(3)\ntraders()\norders(1)\n", "--clock virtual --seed 1 "
      .. "spec/fixtures/hostile/own_class.lua spec/fixtures/host/pair.lua")
    assert.are.same(lines([[
id  strategy   money  stocks  orders  value  state
 1  own_class    310       9       0    400  finished
 2  own_class    310       9       0    400  finished
 3  pair         300      10       0    400  finished
 4  pair         300      10       0    400  finished
 5  pair         290      11       1    400  finished
 6  pair         290      11       1    400  finished
 7  me           300      10       0    400  user
no resting orders]]), out)
    assert.are.equal(0, status)
  end)
end)

describe("a line that overflows the stack while it trades", function()
  it("leaves the exchange taking orders, and no agent fails for it", function()
    local out, status = helpers.repl(table.concat({
      "function f(k) me:sell(1, 10); me:buy(1, 10); return f(k + 1) + 1 end",
      "f(1)", "me:buy(1, 5).status", "step(3)", "traders()",
    }, "\n") .. "\n", "--clock virtual --seed 1 spec/fixtures/host/pair.lua")
    assert.are.same(lines([[
stack overflow
"open"
id  strategy  money  stocks  orders  value  state
 1  pair        300      10       0    400  finished
 2  pair        300      10       0    400  finished
 3  pair        300      10       0    400  finished
 4  pair        290      11       1    400  finished
 5  me          310       9       1    400  user]]), out)
    assert.are.equal(1, status)
  end)
end)

describe("spawn() at the prompt", function()
  it("refuses more agents than the memory available can hold, as the command line does", function()
    local out, status = helpers.repl('spawn("spec/fixtures/host/pair.lua", 1e12)\n#spawn("spec/fixtures/host/pair.lua", 2)\n',
      "--clock virtual --seed 1 spec/fixtures/host/pair.lua")
    assert.matches("^stdin:1: bad argument #2 to 'spawn' %(1000000000000 agents need about 807000%.0 GB of "
      .. "memory %(807 bytes each%) and [%d.]+ GB are available%)$", out[1])
    assert.are.equal("2", out[2])
    assert.are.equal(1, status)
  end)
end)
