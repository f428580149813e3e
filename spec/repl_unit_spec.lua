-- The REPL's pure parts, without a session or a reader: compiling a chunk
-- typed at the prompt, completing a word, printing a value, and help().
local repl = require("asx.repl")

describe("repl.compile", function()
  it("compiles an expression so that its values reach the function it is given", function()
    local f = assert(repl.compile("1 + 2, 'x'"))
    local got
    f(function(...) got = { n = select("#", ...), ... } end)
    assert.are.same({ n = 2, 3, "x" }, got)
  end)

  it("compiles a statement when the line is no expression", function()
    local f = assert(repl.compile("local a = 2; return a * 5"))
    assert.are.equal(10, f())
  end)

  it("keeps the position of an error raised in a call", function()
    local f = assert(repl.compile("error('boom')"))
    local ok, err = pcall(f, function() end)
    assert.is_false(ok)
    assert.are.equal("stdin:1: boom", err)
  end)

  it("a trailing comment does not swallow the expression's end", function()
    local f = assert(repl.compile("40 + 2 -- the answer"))
    local got
    f(function(v) got = v end)
    assert.are.equal(42, got)
  end)

  it("says 'incomplete' for a chunk that needs more lines", function()
    assert.are.same({ nil, "incomplete" }, { repl.compile("for i = 1, 2 do") })
    assert.are.same({ nil, "incomplete" }, { repl.compile("x = {") })
  end)

  it("reports the expression's error where the statement's would say less", function()
    local f, err = repl.compile("1 +* 2")
    assert.is_nil(f)
    assert.are.equal("stdin:1: unexpected symbol near '*'", err)
    f, err = repl.compile("x = = 1")
    assert.is_nil(f)
    assert.are.equal("stdin:1: unexpected symbol near '='", err)
  end)

  it("numbers the lines of a chunk from further down a script as the script's", function()
    local f = assert(repl.compile("\nerror('deep')", 7))
    local _, err = pcall(f, function() end)
    assert.are.equal("stdin:6:2: deep", err)
    assert.are.equal("stdin:8: deep", repl.script_lines(err))
  end)
end)

describe("repl.complete", function()
  local names = { book = function() end, me = { cash = 1, sub = { deep = true } } }

  it("completes a bare word from the prompt's names, the globals and the keywords", function()
    assert.are.same({ "book" }, repl.complete(names, "bo"))
    assert.are.same({ "break" }, repl.complete(names, "bre"))
    assert.are.same({ "ipairs" }, repl.complete(names, "ipa"))
  end)

  it("completes fields after '.' and methods after ':', as whole replacements", function()
    assert.are.same({ "me.cash" }, repl.complete(names, "me.c"))
    assert.are.same({ "me.sub.deep" }, repl.complete(names, "me.sub."))
    assert.are.same({ "string:rep", "string:reverse" }, repl.complete(names, "string:re"))
  end)

  it("completes a trader's balances and its class's methods, not its private fields", function()
    local asx = require("asx")
    local T = asx.Trader:extend("t")
    function T.cycle() end
    function T._hidden() end
    local list = repl.complete({ t = T:new({}) }, "t:")
    local set = {}
    for _, w in ipairs(list) do set[w] = true end
    for _, w in ipairs({ "t:buy", "t:sell", "t:cycle", "t:money", "t:stocks", "t:id" }) do
      assert.is_true(set[w], w)
    end
    assert.is_nil(set["t:_hidden"])
  end)

  it("completes an exchange's methods", function()
    local ex = require("asx").exchange()
    assert.are.same({ "ex:best_ask", "ex:best_bid" }, repl.complete({ ex = ex }, "ex:best_"))
  end)

  it("offers nothing for an unknown base or a word that is no name", function()
    assert.are.same({}, repl.complete(names, "nosuch."))
    assert.are.same({}, repl.complete(names, "1x"))
    assert.are.same({}, repl.complete(names, "me.cash.x"))
  end)
end)

describe("repl.format", function()
  it("prints numbers, strings and nil as Lua source would", function()
    assert.are.equal("42", repl.format(42))
    assert.are.equal("0.5", repl.format(0.5))
    assert.are.equal("inf", repl.format(math.huge))
    assert.are.equal("nan", repl.format(0 / 0))
    -- Every integral number in full below 1e21, as the JSON lines write it
    -- (2^54 was 1.8014398509482e+16); from 1e21 on, as they and JavaScript do.
    assert.are.equal("9007199254740991", repl.format(2 ^ 53 - 1))
    assert.are.equal("-9007199254740992", repl.format(-2 ^ 53))
    assert.are.equal("18014398509481984", repl.format(2 ^ 54))
    assert.are.equal("-1152921504606846976", repl.format(-2 ^ 60))
    assert.are.equal("999999999999999868928", repl.format(1e21 - 2 ^ 17))
    assert.are.equal("1e+21", repl.format(1e21))
    assert.are.equal(require("asx.event").json({ x = 2 ^ 54 }), '{"x":' .. repl.format(2 ^ 54) .. "}")
    -- Fractions as Lua prints them.
    assert.are.equal("0.3", repl.format(0.1 + 0.2))
    assert.are.equal('"a\\nb\\027[2J"', repl.format("a\nb\27[2J"))
    assert.are.equal("nil", repl.format(nil))
  end)

  it("prints a table's array part, then its keys in a stable order", function()
    assert.are.equal('{ 1, 2, "x", [10] = true, a = 1, b = { c = 2 }, [false] = 0 }',
      repl.format({ 1, 2, "x", b = { c = 2 }, a = 1, [10] = true, [false] = 0 }))
    assert.are.equal('{ ["end"] = 2, ["not ident"] = 1 }', repl.format({ ["not ident"] = 1, ["end"] = 2 }))
  end)

  it("cuts nesting at the depth it is given, and cycles", function()
    assert.are.equal("{ a = {...} }", repl.format({ a = { b = 1 } }, 1))
    local t = {}
    t.self = t
    assert.are.equal("{ self = <cycle> }", repl.format(t))
  end)

  it("never raises: a failing __tostring prints as a placeholder", function()
    local v = setmetatable({}, { __tostring = function() error("no", 0) end })
    assert.are.equal("<table: __tostring raised: no>", repl.format(v))
    -- An error value that is no string reads as everywhere else in asx.
    local raw = setmetatable({}, { __tostring = function() error({}) end })
    assert.are.equal("<table: __tostring raised: (error object is a table value)>", repl.format(raw))
  end)
end)

describe("help()", function()
  it("lists every command, each with its help beside it", function()
    assert.are.equal(table.concat({
      "book(depth, name)  the order book as a ladder (default depth 10); .asks/.bids, best first;",
      "                   name: an instrument (default the first)",
      "trades(n, name)    the last n trades (default 10), oldest first; name: of one instrument",
      "traders(filter)    agents with balances and state; filter: strategy or state name, or a",
      "                   function(row); sort with :sort(\"value\") or :sort(\"-value\")",
      "trader(id)         the live trader object with that id",
      "orders(id)         resting orders in book order, all or one trader's",
      "stats(name)        the session's figures so far; name: of one instrument",
      "pause()            stop the session's clock",
      "resume()           start it again",
      "step(seconds)      advance the session that much, then pause",
      "speed(x)           run the real clock x times faster; speed() tells the current factor",
      "spawn(file_or_class, count, opts)  add count agents (default 1) to the running session",
      "kill(id)           stop one agent and cancel its orders",
      "me                 your trader: me:buy(5, 101), me:sell(2), me:cancel_all()",
      "chart(seconds)     the recent candles in the terminal (default: 1-second candles)",
      "report(file)       write the report page of the session so far (open it in a browser)",
      "help()             this list",
      "quit()             end the session (also Ctrl-D, or Ctrl-C twice)",
    }, "\n"), require("asx.repl.commands").help_text)
  end)
end)
