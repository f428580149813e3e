-- asx-host with several instruments (--instruments): what the agents start
-- with, the summary's price line per instrument, the instrument column of
-- the log files, the REPL's book() and trades() of one instrument, the
-- pairs trader, and the bad command lines.
local run = require("helpers.run")
local HOST, lines = run.HOST, run.lines

-- Runs asx-host -i on a script, as a user types it; returns the REPL's
-- lines and the summary's.
local function repl(script, args)
  local path = run.tmpname(".lua")
  run.write(path, script)
  local out = run.output(("%s -i -q %s < %s 2>&1"):format(HOST, args, path))
  os.remove(path)
  local got, summary = {}, {}
  local into = got
  for _, l in ipairs(lines(out)) do
    if l:match("^seed: %d+$") then into = summary end
    into[#into + 1] = l
  end
  return got, summary
end

describe("asx-host --instruments", function()
  it("runs the pairs trader among random traders, a price line per instrument", function()
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 4 -d 120 --instruments ACME,BOLT '
      .. 'strategies/random_trader.lua:60 strategies/pairs_trader.lua:3 --log "$D/t.csv" --stocks 20', d)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\nopen/high/low/close ACME: %d+/%d+/%d+/%d+\nopen/high/low/close BOLT: %d+/%d+/%d+/%d+\n",
      r.stdout)
    assert.is_nil(r.stdout:find("\nopen/high/low/close: ", 1, true))
    -- Both instruments traded, and the file names each trade's.
    local csv = run.slurp(d .. "/t.csv")
    os.execute("rm -rf '" .. d .. "'")
    local rows = lines(csv)
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument", rows[1])
    local by = {}
    for i = 2, #rows do
      local inst = rows[i]:match(",([%u]+)$")
      by[inst] = (by[inst] or 0) + 1
    end
    assert.is_true((by.ACME or 0) > 100 and (by.BOLT or 0) > 100)
    assert.are.equal(#rows - 1, tonumber(r.stdout:match("\ntrades: (%d+)\n")))
    -- Each agent started with 20 of each: the start value counts both.
    assert.matches("\nvalue pairs_trader: mean [%d.]+, best %d+, start [%d.]+\n", r.stdout)
  end)

  it("gives --summary and --report the default instrument's VWAP, a price as open ... close are", function()
    -- It was the whole exchange's, (10 + 1000) / 2: prices of two instruments mixed.
    local d = run.tmpdir()
    local r = run.sh('"$HOST" -q --clock virtual --seed 1 -d 1 --instruments ACME,BOLT --money 5000 '
      .. '--summary "$D/s.json" --report "$D/r.html" spec/fixtures/host/two_prices.lua', d)
    assert.are.equal(0, r.status, r.stderr)
    local cjson = require("cjson")
    local summary = cjson.decode(run.slurp(d .. "/s.json"))
    local page = run.slurp(d .. "/r.html")
    os.execute("rm -rf '" .. d .. "'")
    local data = cjson.decode(page:match('<script type="application/json" id="asx%-data">(.-)</script>'))
    assert.are.same({ 2, 10, 10 }, { summary.trades, summary.open, summary.vwap })
    assert.are.same({ 2, 10, 10 }, { data.summary.trades, data.summary.open, data.summary.vwap })
  end)

  it("gives the REPL's book() and trades() an instrument, and me a position in each", function()
    local out = repl([[
me:sell(2, 50, "BOLT")
me:buy(1, 50, "BOLT")
me:positions()
book(3, "BOLT")
trades(5, "BOLT")
#trades(5, "ACME")
]], "--clock virtual --seed 1 --instruments ACME,BOLT --stocks 5 --money 100")
    assert.are.same(lines([[
order#1(sell 2 BOLT @ 50, filled 0, open)
order#2(buy 0 BOLT @ 50, filled 1, filled)
{ ACME = 5, BOLT = 5 }
BOLT
buy  price  sell
        50  1 (1)  best ask
---------------------------
spread -, mid -
 time  price  amount  buyer  seller  aggressor
0.000     50       1      1       1  buy
0
]]), out)
    out = repl('book(1, "NOPE")\ntrades(1, 7)\n', "--clock virtual --seed 1 --instruments ACME,BOLT")
    assert.are.same({ [[stdin:1: bad argument #2 to 'book' (unknown instrument "NOPE")]],
      "stdin:2: bad argument #2 to 'trades' (instrument name expected, got 7)" }, out)
  end)

  it("names each row's instrument in trades() and orders() when they list several", function()
    -- They listed ACME's and BOLT's rows alike, and orders() the default
    -- instrument's only; stats() gave the default instrument's best prices
    -- beside every instrument's counts.
    local out = repl([[
me:sell(2, 50, "BOLT")
me:buy(1, 50, "BOLT")
me:sell(1, 60, "ACME")
me:buy(1, 40, "ACME")
trades(5)
trades(5, "BOLT")
orders()
orders(me.id)
stats().trades, stats().last, stats().best_bid, stats().best_ask
stats("BOLT").trades, stats("BOLT").last, stats("BOLT").best_bid, stats("BOLT").best_ask
stats("ACME").trades, stats("ACME").last, stats("ACME").best_bid, stats("ACME").best_ask
stats("NOPE")
stats(5)
]], "--clock virtual --seed 1 --instruments ACME,BOLT --stocks 5 --money 100")
    assert.are.same(lines([[
order#1(sell 2 BOLT @ 50, filled 0, open)
order#2(buy 0 BOLT @ 50, filled 1, filled)
order#3(sell 1 @ 60, filled 0, open)
order#4(buy 1 @ 40, filled 0, open)
 time  price  amount  buyer  seller  aggressor  instrument
0.000     50       1      1       1  buy        BOLT
 time  price  amount  buyer  seller  aggressor
0.000     50       1      1       1  buy
id  trader  side  price  amount  filled  instrument
 4       1  buy      40       1       0  ACME
 3       1  sell     60       1       0  ACME
 1       1  sell     50       1       1  BOLT
id  trader  side  price  amount  filled  instrument
 4       1  buy      40       1       0  ACME
 1       1  sell     50       1       1  BOLT
 3       1  sell     60       1       0  ACME
1	nil	nil	nil
1	50	nil	50
0	nil	40	60
stdin:12: bad argument #1 to 'stats' (unknown instrument "NOPE")
stdin:13: bad argument #1 to 'stats' (instrument name expected, got 5)
]]), out)
  end)

  it("shows each instrument's stocks in traders(), a column headed by its name, which sorts", function()
    -- It showed the default instrument's stocks only, under "stocks".
    local out = repl([[
me:sell(2, 50, "BOLT")
T = require("asx").Trader:extend("holder")
function T:cycle() self:buy(2, 50, "BOLT") end
h = spawn(T, 1, { stocks = { ACME = 3, BOLT = 1 }, money = 500 })[1]
step(1)
traders()
traders():sort("-BOLT")[1].id
traders()[2].positions
]], "--clock virtual --seed 1 --instruments ACME,BOLT --stocks 5 --money 100")
    assert.are.same(lines([[
order#1(sell 2 BOLT @ 50, filled 0, open)
id  strategy  money  ACME  BOLT  orders  value  state
 1  me          200     5     3       0    350  user
 2  holder      400     3     3       0    550  finished
1
{ ACME = 3, BOLT = 3 }
]]), out)
  end)

  it("gives spawn()'s agents a number of stocks in each instrument, as the command line does", function()
    -- --stocks first, else the class's field, else the host's default (10),
    -- as for an agent of the command line.
    local script = [[
asx = require("asx"); Still = asx.Trader:extend("still"); Still.stocks = 7; function Still:cycle() self:sleep(1e9) end
spawn(Still)[1]:positions()
spawn(Still, 1, { stocks = 3 })[1]:positions()
spawn(Still, 1, { stocks = { BOLT = 2 } })[1]:positions()
Still.stocks = nil
spawn(Still)[1]:positions()
]]
    assert.are.same(lines([[
{ ACME = 5, BOLT = 5 }
{ ACME = 3, BOLT = 3 }
{ ACME = 0, BOLT = 2 }
{ ACME = 5, BOLT = 5 }
]]), repl(script, "--clock virtual --seed 1 --instruments ACME,BOLT --stocks 5"))
    assert.are.same(lines([[
{ ACME = 7, BOLT = 7 }
{ ACME = 3, BOLT = 3 }
{ ACME = 0, BOLT = 2 }
{ ACME = 10, BOLT = 10 }
]]), repl(script, "--clock virtual --seed 1 --instruments ACME,BOLT"))
  end)

  it("refuses a bad list before anything runs", function()
    for _, case in ipairs({
      { "A,,B", "asx-host: --instruments: names of 1 to 32 letters, digits, '_', '.' or '-', comma-separated "
        .. "expected, got 'A,,B'" },
      { "A,A", "asx-host: --instruments: 'A' is named twice" },
    }) do
      local r = run.sh('"$HOST" --instruments ' .. case[1] .. " strategies/random_trader.lua")
      assert.are.equal(2, r.status)
      assert.are.equal(case[2], lines(r.stderr)[1])
    end
  end)

  it("refuses a class whose stocks name an instrument not traded, before anything runs", function()
    -- It ended with a traceback from inside asx-host, exit status 1.
    for _, case in ipairs({ { "--instruments BOLT,CASH ", "BOLT,CASH" }, { "", "STOCK" } }) do
      local r = run.sh('"$HOST" --clock virtual -d 1 ' .. case[1] .. "spec/fixtures/host/acme_stocks.lua:1")
      assert.are.equal(2, r.status)
      assert.are.equal("asx-host: spec/fixtures/host/acme_stocks.lua: the class's stocks field names an instrument "
        .. 'that is not traded ("ACME"; --instruments: ' .. case[2] .. ")", lines(r.stderr)[1])
      assert.are.equal("", r.stdout)
    end
  end)

  it("keeps a run of one instrument what it was: one unnamed price line", function()
    local r = run.sh('"$HOST" -q --clock virtual --seed 9 -d 30 strategies/random_trader.lua:50')
    assert.are.equal(0, r.status)
    assert.matches("\nopen/high/low/close: %d+/%d+/%d+/%d+\n", r.stdout)
  end)
end)
