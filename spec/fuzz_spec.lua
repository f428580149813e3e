-- A short pass of the differential fuzzer (spec/fuzz/differential.lua): the
-- exchange against an independent model of README.md's rules, compared after
-- every call. `make fuzz SEED=... N=...` runs long ones.
local differential = require("fuzz.differential")

describe("the differential fuzzer", function()
  for _, seed in ipairs({ 1, 2, 3, 4 }) do
    it(("agrees with the model over 8,000 calls from seed %d"):format(seed), function()
      local ok, report = differential.run(seed, 8000)
      assert(ok, report)
    end)
  end
end)
