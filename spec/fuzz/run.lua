-- `make fuzz SEED=... N=... RUNS=...`: RUNS differential runs of N calls
-- each, from SEED, SEED + 1, ... (SEED defaults to the time, printed first).
-- A failure prints its report and the line that replays it, and exits 1.
--   luajit spec/fuzz/run.lua SEED N RUNS   (with LUA_PATH/LUA_CPATH set)
local differential = require("fuzz.differential")

local seed = tonumber(arg[1]) or os.time()
local n = tonumber(arg[2]) or 100000
local runs = tonumber(arg[3]) or 1
if seed % 1 ~= 0 or n < 1 or n % 1 ~= 0 or runs < 1 or runs % 1 ~= 0 then
  io.stderr:write("usage: run.lua [SEED] [N] [RUNS]: integers, N and RUNS positive\n")
  os.exit(2)
end
io.write(("fuzz: seed %d, %d run(s) of %d calls\n"):format(seed, runs, n))
for s = seed, seed + runs - 1 do
  local ok, report = differential.run(s, n, { verbose = true })
  if not ok then
    io.write(report, "\n")
    os.exit(1)
  end
end
io.write("fuzz: the model and asx agreed on every call\n")
