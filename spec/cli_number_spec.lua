-- asx.cli_number's numbers of seconds: asx-host's -d and asx-sweep's
-- --timeout take different ranges on purpose (-d 0 runs the first turns
-- only; a 0 timeout would be no limit), in one wording from one function.
local cli_number = require("asx.cli_number")

describe("cli_number.seconds", function()
  it("takes 0 as non-negative, not as positive, and says so in one wording", function()
    assert.are.equal(0, cli_number.seconds("-d", "0", "non-negative"))
    assert.are.same({ nil, "--timeout: positive number of seconds expected, got '0'" },
      { cli_number.seconds("--timeout", "0", "positive") })
    assert.are.same({ nil, "-d: non-negative number of seconds expected, got '-1'" },
      { cli_number.seconds("-d", "-1", "non-negative") })
  end)

  it("reads its text as every option of the command line is read", function()
    assert.are.equal(1000, cli_number.seconds("--timeout", "1e3", "positive"))
    assert.are.equal(0.125, cli_number.seconds("--latency", "0x1p-3", "non-negative"))
    assert.are.same({ nil, "--timeout 1e-400: too small for a number (it would read as 0)" },
      { cli_number.seconds("--timeout", "1e-400", "positive") })
    assert.are.same({ nil, "-d inf: not a finite number" }, { cli_number.seconds("-d", "inf", "non-negative") })
  end)

  it("refuses a sign it has no range for, naming it", function()
    assert.has_error(function() cli_number.seconds("-d", "1", "negative") end,
      "cli_number.seconds: no sign 'negative'")
  end)
end)
