-- A study file, checked, and expanded into its runs.
--
-- The file returns a table (see studies/spread.lua for a commented one):
--   strategies  { "path.lua:COUNT", ... }, paths relative to the study file
--   duration    session seconds of each run
--   clock       "virtual" (default) or "real"
--   parameters  { ["CLASS.FIELD"] = { values } }: every combination, or
--   points      { { ["CLASS.FIELD"] = value, ... }, ... }: these points only
--   seeds       a count (derived from `seed`) or a list of seeds
--   seed        the study's seed (default 1)
--   report      { "field", "value.CLASS.mean", ... }: summary fields to report
--   metrics     optional function(summary) -> { name = number }
--   args        optional list of more asx-host options
--   name        optional; default: the file's name without .lua
--
-- Points are numbered in a fixed order: parameter names sorted, the first
-- name varying slowest, values in the order given. Every point runs with the
-- same seeds (common random numbers: two points differ by their parameters,
-- not by their luck), and run r is point ceil(r / #seeds), seed
-- (r - 1) % #seeds + 1.
local sys = require("asx.sweep.sys")
local event = require("asx.event")
local check = require("asx.check")
local clean_utf8, format_number = event.clean_utf8, event.format_number

local M = {}

local function fail(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

-- Why a report field names nothing that a run's summary can hold, or nil:
-- its first part must be a field of the summary (asx.summary_json.FIELDS),
-- and the third of agents.STRATEGY.x and value.STRATEGY.x one of a
-- strategy's there. The strategies' names are their classes', known once
-- the runs ran (lua/asx/sweep/results.lua checks those).
local summary_json = require("asx.summary_json")
local FIELDS, field_keys = summary_json.FIELDS, summary_json.field_keys
local split_key = require("asx.params").split
local function bad_field(f)
  local parts = field_keys(f)
  local kind = FIELDS[parts[1]]
  if kind == nil then
    local names = {}
    for k in pairs(FIELDS) do names[#names + 1] = k end
    table.sort(names)
    return "a summary's fields are " .. table.concat(names, ", ")
  elseif kind == true and #parts > 1 then
    return ("'%s' is a figure, with no fields"):format(parts[1])
  elseif type(kind) == "table" and kind.list then
    -- loggers.logger.lost, loggers.0.lost: the column was empty in every run.
    local form = ("%s is a list: %s.N.FIELD, N from 1, FIELD one of %s"):format(parts[1], parts[1],
      table.concat(kind.list, ", "))
    if #parts > 1 and type(parts[2]) ~= "number" then return form end
    if #parts > 3 then return form end
    if #parts == 3 then
      local known = false
      for _, k in ipairs(kind.list) do known = known or k == parts[3] end
      if not known then return form end
    end
  elseif type(kind) == "table" and #parts > 2 then
    local known = false
    for _, k in ipairs(#parts == 3 and kind or {}) do known = known or k == parts[3] end
    if not known then return ("%s.STRATEGY's fields are %s"):format(parts[1], table.concat(kind, ", ")) end
  end
  return nil
end

-- Values as the command line and the CSV files show them: a number as
-- asx's files write it (event.format_number: integers in full, others in the
-- fewest digits that read back as the same number, 0.30000000000000004 for
-- 0.1 + 0.2, 0.1 for 0.1), so that a parameter reaches its runs, and the
-- files, exactly; anything else by tostring. Every number of 2^53 or more
-- is an integer, written here in all its digits (glibc's %.0f is exact):
-- the fewest digits wrote 2^60 as 1.152921504606847e+18, an integer in
-- exponent form, which asx-host's options do not read as one.
function M.format(v)
  if type(v) == "number" then
    if v % 1 == 0 and math.abs(v) >= 2 ^ 53 then return ("%.0f"):format(v) end
    return format_number(v)
  end
  return tostring(v)
end

-- The runs' seeds: the first n numbers of the minimal standard generator
-- (Park and Miller's, multiplier 48271) started from the study's seed, so
-- that a study is repeated exactly by its file alone.
-- The most runs a study makes (points times seeds). A million runs, each a
-- process, is days of a cluster's time; a count past it is a slip (seeds =
-- 1e9), which made asx-sweep build a table of that size until it ran out
-- of memory, before any check could say so.
M.MAX_RUNS = 1000000
local MAX_RUNS_TEXT = "1,000,000"

local function derive_seeds(seed, n)
  local m = 2147483647
  local x = seed % (m - 1) + 1
  local out = {}
  for i = 1, n do
    x = x * 48271 % m
    out[i] = x
  end
  return out
end

local function check_value(key, v)
  local t = type(v)
  if t ~= "number" and t ~= "string" and t ~= "boolean" then
    fail("parameter %s: number, string or boolean values expected, got a %s", key, t)
  end
  if t == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    fail("parameter %s: finite numbers expected", key)
  end
  -- A run is one line of the commands file and of parallel's jobs.
  if t == "string" and v:find("[%c]") then
    fail("parameter %s: text without control characters (a line break, a tab) expected", key)
  end
  -- The CSV files hold the value as the runs got it, in valid UTF-8.
  if t == "string" and clean_utf8(v) ~= v then fail("parameter %s: text of valid UTF-8 expected", key) end
end

-- A parameter's name is --set's CLASS.FIELD (asx.params.split): a class
-- named with dots is reached by the last one, and one named with "=" cannot
-- be, which is said here, before anything runs, where its runs all failed
-- on a --set that named another class.
local function check_key(key)
  if type(key) ~= "string" or not key:find("[^.]%.[%a_][%w_]*$") then
    fail("parameter names are CLASS.FIELD strings, got %s", tostring(key))
  end
  if not split_key(key) then
    fail("parameter %s: a class named with '=' cannot be set (--set CLASS.FIELD=VALUE ends CLASS.FIELD at the "
      .. "first '=')", key)
  end
  -- Each run is a line of commands, and results.csv names its columns so.
  if key:find("%c") or clean_utf8(key) ~= key then
    fail("parameter %s: a name of valid UTF-8 without control characters (a line break, a tab) expected",
      (clean_utf8(key):gsub("%c", "?")))
  end
end

-- The points of a study: a list of { [key] = value }, and the sorted keys.
local function expand_points(st)
  if st.parameters ~= nil and st.points ~= nil then fail("give parameters or points, not both") end
  local keys, seen = {}, {}
  local points
  if st.points ~= nil then
    if type(st.points) ~= "table" or #st.points == 0 then fail("points: a non-empty list of tables expected") end
    points = {}
    for i, p in ipairs(st.points) do
      if type(p) ~= "table" then fail("points[%d]: a table expected", i) end
      local copy = {}
      for k, v in pairs(p) do
        check_key(k)
        check_value(k, v)
        copy[k] = v
        if not seen[k] then seen[k], keys[#keys + 1] = true, k end
      end
      points[i] = copy
    end
    table.sort(keys)
  else
    local params = st.parameters or {}
    if type(params) ~= "table" then fail("parameters: a table of lists expected") end
    for k, vs in pairs(params) do
      check_key(k)
      if type(vs) ~= "table" or #vs == 0 then fail("parameter %s: a non-empty list of values expected", k) end
      for _, v in ipairs(vs) do check_value(k, v) end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    -- Counted before the points are made: ten parameters of ten values
    -- are 10^10 points.
    local count = 1
    for _, k in ipairs(keys) do count = count * #params[k] end
    if count > M.MAX_RUNS then
      fail("parameters: a study makes at most %s runs, got %s points", MAX_RUNS_TEXT, format_number(count))
    end
    points = { {} }
    for _, k in ipairs(keys) do
      local next_points = {}
      for _, p in ipairs(points) do
        for _, v in ipairs(params[k]) do
          local q = {}
          for pk, pv in pairs(p) do q[pk] = pv end
          q[k] = v
          next_points[#next_points + 1] = q
        end
      end
      points = next_points
    end
  end
  return points, keys
end

-- Loads and checks the study file at path; raises { usage = reason }.
-- The asx-host options that asx-sweep gives each run itself, or that no run
-- may have, and why. asx-host takes the last of an option given twice: with
-- args = { "--seed", "5" } every run had seed 5, while results.csv gave each
-- its own seed, and the study's intervals were of one run repeated (sd 0).
local OWN_ARGS = {
  ["--seed"] = "the study's seeds",
  ["-d"] = "the study's duration", ["--duration"] = "the study's duration",
  ["--clock"] = "the study's clock",
  ["--summary"] = "the run's summary, which asx-sweep reads",
  ["-i"] = "a run has no prompt", ["--interactive"] = "a run has no prompt",
}

-- The fields a study file's table may have (see the top): any other is a
-- misspelt one (seed for seeds, paramaters), which ran the study without
-- it, with no word, as --set refuses a field a class does not have.
local STUDY_FIELDS = { "args", "clock", "duration", "metrics", "name", "parameters", "points", "report", "seed",
  "seeds", "strategies" }
local is_study_field = {}
for _, k in ipairs(STUDY_FIELDS) do is_study_field[k] = true end

local function refuse_unknown_fields(st)
  local k = next(st)
  while k ~= nil do
    if not is_study_field[k] then
      local shown = type(k) == "string" and ("'%s'"):format(clean_utf8(k):gsub("%c", "?"))
        or type(k) == "number" and format_number(k) or type(k)
      fail("%s: no such study field (a study's fields are %s)", shown, table.concat(STUDY_FIELDS, ", "))
    end
    k = next(st, k)
  end
end

function M.load(path)
  local chunk, err = loadfile(path)
  if not chunk then fail("%s", err) end
  local ok, st = pcall(chunk)
  if not ok then fail("%s", tostring(st)) end
  if type(st) ~= "table" then fail("%s: does not return a table (got %s)", path, type(st)) end
  refuse_unknown_fields(st)
  local dir = sys.dirname(sys.absolute(path))

  local s = { path = sys.absolute(path), metrics = st.metrics }
  s.name = st.name or path:match("([^/]+)%.lua$") or path:match("([^/]+)$")
  if type(s.name) ~= "string" or not s.name:match("^[%w_.%-]+$") then
    fail("name: letters, digits, '_', '-' and '.' expected")
  end
  if type(st.strategies) ~= "table" or #st.strategies == 0 then
    fail("strategies: a non-empty list of \"FILE.lua[:COUNT]\" expected")
  end
  s.strategies = {}
  for i, spec in ipairs(st.strategies) do
    if type(spec) ~= "string" then fail("strategies[%d]: \"FILE.lua[:COUNT]\" expected", i) end
    -- Each run is one line of the commands file and of parallel's jobs.
    if sys.absolute(spec, dir):find("%c") then
      fail("strategies[%d]: a path without control characters (a line break, a tab) expected", i)
    end
    local file = spec:match("^(.-):%d+$") or spec
    if not sys.exists(sys.absolute(file, dir)) then fail("strategies[%d]: no file '%s'", i, file) end
    s.strategies[i] = sys.absolute(spec, dir)
  end
  if type(st.duration) ~= "number" or st.duration ~= st.duration or st.duration <= 0 or st.duration == math.huge then
    fail("duration: a positive number of seconds expected")
  end
  s.duration = st.duration
  s.clock = st.clock or "virtual"
  if s.clock ~= "virtual" and s.clock ~= "real" then fail("clock: 'virtual' or 'real' expected") end
  s.seed = st.seed or 1
  -- Seeds as asx-host's --seed takes them, and said in check's words, the
  -- limit with them: 2^53 passed here, unlike in a list of seeds.
  if not check.is_balance(s.seed) then fail("seed: %s", check.BALANCE_EXPECTED) end
  local seeds = st.seeds or 1
  if type(seeds) == "number" then
    if seeds < 1 or seeds % 1 ~= 0 then fail("seeds: a positive count or a list of seeds expected") end
    if seeds > M.MAX_RUNS then
      fail("seeds: a study makes at most %s runs, got %s seeds", MAX_RUNS_TEXT, format_number(seeds))
    end
    s.seeds = derive_seeds(s.seed, seeds)
  elseif type(seeds) == "table" and #seeds > 0 then
    s.seeds = {}
    for i, v in ipairs(seeds) do
      -- asx-host takes seeds up to 2^53 - 1, written as integers.
      if not check.is_balance(v) then fail("seeds[%d]: %s", i, check.BALANCE_EXPECTED) end
      s.seeds[i] = v
    end
  else
    fail("seeds: a positive count or a list of seeds expected")
  end
  s.report = st.report or { "trades", "volatility", "mean_spread" }
  if type(s.report) ~= "table" then fail("report: a list of summary field names expected") end
  for i, f in ipairs(s.report) do
    if type(f) ~= "string" or not f:match("^[%w_]+[%w_.]*$") then
      fail("report[%d]: a summary field name such as \"trades\" or \"value.CLASS.mean\" expected", i)
    end
    local why = bad_field(f)
    if why then fail("report[%d]: no summary field '%s' (%s)", i, f, why) end
  end
  if s.metrics ~= nil and type(s.metrics) ~= "function" then fail("metrics: a function expected") end
  s.args = st.args or {}
  if type(s.args) ~= "table" then fail("args: a list of asx-host options expected") end
  for i, a in ipairs(s.args) do
    if type(a) ~= "string" and type(a) ~= "number" then fail("args[%d]: a string expected", i) end
    -- A line break split a run's command over two lines, each run as a command of its own.
    if type(a) == "string" and a:find("%c") then
      fail("args[%d]: text without control characters (a line break, a tab) expected", i)
    end
    -- asx-host also takes a long option's value after '=' (--seed=5), and -d's joined (-d30).
    local why = type(a) == "string" and (OWN_ARGS[a] or OWN_ARGS[a:match("^(%-%-[^=]*)=") or ""]
      or (a:match("^%-d.") and OWN_ARGS["-d"]))
    if why then fail("args[%d]: %s is asx-sweep's to give each run (%s)", i, a, why) end
  end
  s.points, s.keys = expand_points(st)
  if #s.points * #s.seeds > M.MAX_RUNS then
    fail("a study makes at most %s runs, got %s points times %s seeds", MAX_RUNS_TEXT,
      format_number(#s.points), format_number(#s.seeds))
  end
  return s
end

-- Seconds between the SIGTERM that --timeout sends a run and the SIGKILL:
-- asx-host ends a session on SIGTERM and writes its summary, unless an agent
-- does not yield (the hang the limit is for).
M.KILL_AFTER = 5

-- The runs of a study whose output goes to out, each with the asx-host
-- command line that makes it (host: asx-host's path). With timeout
-- (seconds), coreutils' timeout runs it: it makes the run a process group
-- of its own and signals the whole group, whatever the run started, and
-- exits 124 (after the SIGTERM) or 137 (after the SIGKILL). A run that
-- something else killed (the kernel, out of memory) exits 137 too: the
-- flag that the timer fired is timeout's -v line, which goes to the run's
-- ID.timeout file (and asx-host's stderr, by sh's exec, to ID.err), so it
-- is told apart whatever the run printed.
local TIMED = "'exec \"$@\" 2>\"$0\"'"
function M.runs(s, host, out, timeout)
  local runs = {}
  local total = #s.points * #s.seeds
  local width = math.max(4, #tostring(total))
  for p, point in ipairs(s.points) do
    for k, seed in ipairs(s.seeds) do
      local r = #runs + 1
      local id = ("%0" .. width .. "d"):format(r)
      local base = out .. "/runs/" .. id
      local words = {}
      if timeout then
        words = { "timeout", "-v", "-k", M.format(M.KILL_AFTER), M.format(timeout), "sh", "-c", TIMED,
          sys.quote(base .. ".err") }
      end
      for _, w in ipairs({ sys.quote(host), "-q", "--clock", s.clock, "-d", M.format(s.duration), "--seed",
        M.format(seed) }) do
        words[#words + 1] = w
      end
      for _, a in ipairs(s.args) do words[#words + 1] = sys.quote(a) end
      for _, key in ipairs(s.keys) do
        if point[key] ~= nil then
          words[#words + 1] = "--set"
          words[#words + 1] = sys.quote(key .. "=" .. M.format(point[key]))
        end
      end
      words[#words + 1] = "--summary"
      words[#words + 1] = sys.quote(base .. ".json")
      for _, f in ipairs(s.strategies) do words[#words + 1] = sys.quote(f) end
      words[#words + 1] = ">" .. sys.quote(base .. ".out")
      words[#words + 1] = "2>" .. sys.quote(base .. (timeout and ".timeout" or ".err"))
      runs[r] = { run = r, id = id, point = p, seed_index = k, seed = seed, params = point, timeout = timeout,
        summary = base .. ".json", stderr = base .. ".err", timer = timeout and base .. ".timeout",
        command = table.concat(words, " ") }
    end
  end
  return runs
end

return M
