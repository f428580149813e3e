-- The REPL's chart() and report(), through a pipe: the candles of the
-- session so far drawn in text, and the report page of the session so far.
local cjson = require("cjson")
local run = require("helpers.run")
local term = require("asx.report.term")

local F = "spec/fixtures/report/"

describe("asx.report.term", function()
  it("draws candles in block characters, prices on the right, times below", function()
    -- Five rows of one price each, 14 at the top: row r holds 13 - r to 14 - r.
    local cs = { { 0, 10, 14, 9, 13, 5 }, { 1, 13, 13, 10, 11, 2 }, { 2, 11, 12, 11, 12, 1 } }
    assert.are.equal(table.concat({
      "│   14",
      "█░  ",
      "█░█ 11.5",
      "█░█ ",
      "█│  9",
      "0:02",
    }, "\n"), term.draw(cs, { width = 80, height = 5 }))
  end)

  it("keeps the newest candles that fit the width", function()
    local cs = {}
    for i = 0, 9 do cs[#cs + 1] = { i, 10 + i, 10 + i, 10 + i, 10 + i, 1 } end
    local lines = run.lines(term.draw(cs, { width = 8, height = 2 }) .. "\n")
    -- Labels take 3 columns and a space: 4 candles, seconds 6 to 9.
    assert.are.same({ "  ██ 19", "██   16", "0:09" }, lines)
  end)
end)

describe("chart() and report() at the prompt", function()
  it("draw the session's one trade and write its report page", function()
    local d = run.tmpdir()
    run.write(d .. "/in",
      ('step(3)\nchart()\nreport("%s/r.html")\nchart(0.5)\nreport(1)\nreport({})\nreport("%s")\nchart("soon")\n'
        .. 'report("%s/a\\0b.html")\n'):format(d, d, d))
    local out = run.output(("%s -i -q --clock virtual --seed 5 %s < %s/in 2>&1"):format(run.HOST,
      F .. "one_trade.lua", d))
    local page = run.slurp(d .. "/r.html")
    local left = run.read(d .. ".tmp")
    local cut = run.read(d .. "/a")
    os.execute("rm -rf '" .. d .. "' '" .. d .. ".tmp'")
    local lines = run.lines(out)
    -- A flat candle sits in the middle row, with its price.
    local chart = {}
    for i = 1, 13 do chart[i] = lines[i] end
    assert.are.same({ "  ", "  ", "  ", "  ", "  ", "  ", "█ 10", "  ", "  ", "  ", "  ", "  ", "0:01" },
      chart)
    assert.are.equal(('"%s/r.html"'):format(d), lines[14])
    assert.are.equal("stdin:4: bad argument #1 to 'chart' (positive multiple of 1 seconds expected, got 0.5)",
      lines[15])
    assert.are.equal("stdin:5: bad argument #1 to 'report' (file name expected, got 1)", lines[16])
    -- A value shown by its type; a path it cannot rename to leaves no file beside it.
    assert.are.equal("stdin:6: bad argument #1 to 'report' (file name expected, got table)", lines[17])
    assert.are.equal(("stdin:7: report: cannot write '%s': Is a directory"):format(d), lines[18])
    -- A word is shown by its type, as every bad value is.
    assert.are.equal("stdin:8: bad argument #1 to 'chart' (positive multiple of 1 seconds expected, got string)",
      lines[19])
    -- The name up to its NUL was written, and the whole name returned.
    assert.are.equal("stdin:9: bad argument #1 to 'report' (file name without NUL bytes expected, got string)",
      lines[20])
    assert.is_nil(cut)
    assert.is_nil(left)
    local data = cjson.decode(page:match('<script type="application/json" id="asx%-data">(.-)</script>'))
    assert.are.same({ { 1, 10, 10, 10, 10, 1 } }, data.candles)
    assert.are.equal(3, data.session.session_time)
    -- The wall time so far, and the orders a wall second over it: a page
    -- written while the session runs said 0 s and 0 orders a second.
    assert.is_true(data.session.wall_time > 0, data.session.wall_time)
    assert.are.equal(3, data.summary.orders)
    assert.are.equal(3 / data.session.wall_time, data.summary.orders_per_sec)
  end)
  it("report() refuses a strategy's file, a --logger's file and a log's file, and leaves each as it was", function()
    local d = run.tmpdir()
    os.execute(("cp %sone_trade.lua %s/one.lua && cp %sone_trade.lua %s/two.lua"):format(F, d, F, d))
    local lg = assert(io.open(d .. "/logger.lua", "w"))
    lg:write("return { send_event = function() end }\n")
    lg:close()
    run.write(d .. "/in", ('step(3)\nreport("%s/t.csv")\nreport("%s/one.lua")\nreport("%s/./one.lua")\n'
      .. 'spawn("%s/two.lua")\nreport("%s/two.lua")\nreport("%s/logger.lua")\nreport("%s/r.html")\n')
      :format(d, d, d, d, d, d, d))
    local code = run.sh(("cd %s && %s -i -q --clock virtual --seed 5 --log t.csv --logger logger.lua one.lua < in"):format(
      d, run.HOST))
    local one, two, csv = run.slurp(d .. "/one.lua"), run.slurp(d .. "/two.lua"), run.slurp(d .. "/t.csv")
    local page = run.read(d .. "/r.html")
    local want = run.slurp(F .. "one_trade.lua")
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal(1, code.status)
    assert.are.same({
      ("stdin:2: report: '%s/t.csv' is the file of the log 't.csv'"):format(d),
      ("stdin:3: report: '%s/one.lua' is the strategy file 'one.lua'"):format(d),
      ("stdin:4: report: '%s/./one.lua' is the strategy file 'one.lua'"):format(d),
      ("stdin:6: report: '%s/two.lua' is the strategy file '%s/two.lua'"):format(d, d),
      ("stdin:7: report: '%s/logger.lua' is the --logger file 'logger.lua'"):format(d),
    }, run.lines(code.stderr))
    assert.are.equal(want, one)
    assert.are.equal(want, two)
    assert.are.equal("time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n"
      .. "1.5,5,10,1,2,1,3,2,buy,STOCK\n", csv)
    assert.truthy(page and page:find("asx-data", 1, true))
  end)
end)
