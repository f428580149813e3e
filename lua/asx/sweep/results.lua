-- A study's results from its runs' summary files: results.csv (one row per
-- run), summary.csv (one row per parameter point, each metric's mean,
-- standard deviation and 95% confidence interval over the seeds), a short
-- table for the terminal, and the report of the runs that failed.
--
-- A run failed when it left no summary (or a file that is no JSON object
-- with a numeric exit status: M.decode), when its summary says a non-zero
-- exit status (3 when a log lost rows or a logger missed events) or a signal that stopped it (a Slurm time limit's SIGTERM, a
-- Ctrl-C: asx-host then ends the session early and exits 0), or when the
-- study's metrics function raised on it, or when --timeout stopped it. Failed
-- runs keep their row in results.csv (status "failed", no metrics) and
-- count in neither the means nor the intervals.
local cjson = require("cjson").new()
local stats = require("asx.sweep.stats")
local study = require("asx.sweep.study")
local sys = require("asx.sweep.sys")
local clean_utf8 = require("asx.event").clean_utf8
local terminal = require("asx.terminal")
local signal_name = require("asx.signals").name

local M = {}

local fmt = study.format

-- JSON null as Lua nil, so metrics functions can test fields plainly.
local function denull(v)
  if v == cjson.null then return nil end
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = denull(x) end
  end
  return v
end

local summary_json = require("asx.summary_json")
local field_keys, FIELDS = summary_json.field_keys, summary_json.FIELDS

local function field(summary, path)
  local v = summary
  for _, part in ipairs(field_keys(path)) do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

-- What a summary's loggers did not write, or nil: the rows they lost, as
-- "csv logger(t.csv) lost 4 of 4; ...", and the events that those detached
-- after an error missed, as the printed summary says it ("logger x.lua:
-- detached after an error, 12 events missed"). Either makes asx-host exit 3.
local function not_written(summary)
  local lost, missed = {}, {}
  if type(summary.loggers) ~= "table" then return nil end
  for _, c in ipairs(summary.loggers) do
    if type(c) == "table" and type(c.lost) == "number" and c.lost > 0 then
      local written = type(c.written) == "number" and c.written or 0
      lost[#lost + 1] = ("%s lost %s of %s"):format(tostring(c.logger), fmt(c.lost), fmt(c.lost + written))
    end
    if type(c) == "table" and type(c.missed) == "number" and c.missed > 0 then
      missed[#missed + 1] = ("%s: detached after an error, %s events missed"):format(tostring(c.logger),
        fmt(c.missed))
    end
  end
  local said = {}
  if lost[1] then said[#said + 1] = ", its logs lost rows: " .. table.concat(lost, "; ") end
  if missed[1] then said[#said + 1] = ", its loggers missed events: " .. table.concat(missed, "; ") end
  return said[1] and table.concat(said) or nil
end

-- What a summary file holds when it is no JSON object, by its first byte.
local HOLDS = { ["["] = "a JSON array", ['"'] = "a JSON string", t = "true", f = "false", n = "null" }

-- A run's summary, decoded from text, the content of its file at path:
-- the summary, or nil and what is wrong with the file (nil and nil when
-- there is no file). A summary is a JSON object with a numeric exit status,
-- as asx-host writes it; anything else (a file that a user or a broken
-- disk changed) is named as it is, where it read as "exit status nil".
function M.decode(text, path)
  if text == nil then return nil end
  if text:find("^[ \t\n\r]*$") then return nil, ("its summary %s is empty"):format(path) end
  local ok, summary = pcall(cjson.decode, text)
  if not ok then return nil, ("its summary %s is not JSON"):format(path) end
  local first = text:match("^[ \t\n\r]*(.)")
  if first ~= "{" then
    return nil, ("its summary %s holds %s, not a JSON object"):format(path, HOLDS[first] or "a JSON number")
  end
  if type(summary.status) ~= "number" then
    return nil, ("its summary %s has no exit status (\"status\": a number expected, got %s)"):format(path,
      summary.status == cjson.null and "null" or type(summary.status))
  end
  return summary
end

-- Why a run's decoded summary is no result: nil when it is one, else the
-- reason (a non-zero exit status, with the rows its loggers lost and the
-- events those detached after an error missed when they did, asx-host's
-- status 3; or a signal that cut the session short, whose
-- figures are then those of a shorter run than the study's).
function M.unfinished(summary)
  if summary.status ~= 0 then
    return ("exit status %s%s"):format(tostring(summary.status), not_written(summary) or "")
  end
  local by = summary.stopped_by
  if type(by) == "string" and (by:match("^SIG") or by:match("^signal ")) then
    return ("stopped by %s at %s s of its %s s: run it again (--resume)"):format(by,
      fmt(tonumber(summary.session_time) or 0), fmt(tonumber(summary.duration) or 0))
  end
end

-- Why a run stopped by --timeout failed, or nil: coreutils' timeout exits
-- 124 after its SIGTERM, 137 after its SIGKILL, when its timer fired, which
-- its -v line in the run's timer file says (study.runs). A run that exited
-- so by itself, or that another SIGKILL ended (the kernel's, out of
-- memory), did not time out.
local function timed_out(r)
  if not r.timer or (r.exit ~= 124 and r.exit ~= 137) then return nil end
  -- The file also takes the shell's "Killed" for a run that a signal
  -- killed: the flag is timeout's own line, "timeout: sending signal ...".
  local said = sys.read(r.timer) or ""
  if not (said:find("^timeout: ") or said:find("\ntimeout: ")) then return nil end
  return ("timed out: still running after %s s (--timeout), %s"):format(fmt(r.timeout),
    r.exit == 124 and "stopped by SIGTERM" or ("killed by SIGKILL %s s later"):format(fmt(study.KILL_AFTER)))
end

-- Why a run that left no summary failed: its exit status, and the signal
-- that killed it when the shell's status says one did (128 + N).
local function no_summary(r)
  if not r.exit then return "no summary" end
  if r.exit > 128 and r.exit < 256 then
    return ("killed by %s (exit status %d), no summary"):format(signal_name(r.exit - 128), r.exit)
  end
  return ("exit status %d, no summary"):format(r.exit)
end

-- Reads every run's summary and computes its metrics. Returns the metric
-- names in column order (the report fields, then the metrics function's
-- names sorted), and what is wrong with the study's report fields: one
-- line for each that no run's summary has (a strategy's name misspelt,
-- value.random_trder.mean), whose column is then empty, when any run left
-- a summary. Each run gets .ok, .values and, when it failed, .reason.
function M.read(s, runs, exits)
  local extra, seen = {}, {}
  -- results.csv's columns besides the metrics: a metric by one of these
  -- names made a second column of it (a reader keyed by name took the
  -- metric's "run" for the run's number), or replaced a report field's
  -- figure with its own.
  local taken = { run = "a column of results.csv", point = "a column of results.csv",
    seed = "a column of results.csv", status = "a column of results.csv" }
  for _, k in ipairs(s.keys) do taken[k] = "a parameter of the study" end
  for _, f in ipairs(s.report) do taken[f] = "a report field of the study" end
  -- The most entries any run's summary has in each list (loggers), to say
  -- so of a field whose entry none of them has.
  local present, strategies, summaries, longest = {}, {}, 0, {}
  for _, r in ipairs(runs) do
    r.values, r.ok, r.reason = {}, false, nil
    r.exit = exits and exits[r.run] or r.exit
    local text = sys.read(r.summary)
    local summary, bad = M.decode(text, r.summary)
    if summary then
      -- Before denull: a null figure (no trade, no close) is there.
      summaries = summaries + 1
      for _, f in ipairs(s.report) do
        if field(summary, f) ~= nil then present[f] = true end
      end
      if type(summary.value) == "table" then
        for name in pairs(summary.value) do strategies[tostring(name)] = true end
      end
      for name, kind in pairs(FIELDS) do
        if type(kind) == "table" and kind.list and type(summary[name]) == "table" then
          longest[name] = math.max(longest[name] or 0, #summary[name])
        end
      end
    end
    if timed_out(r) then
      r.reason = timed_out(r)
    elseif not text then
      r.reason = no_summary(r)
    elseif bad then
      r.reason = bad
    elseif M.unfinished(summary) then
      r.reason = M.unfinished(summary)
    else
      summary = denull(summary)
      r.ok = true
      for _, f in ipairs(s.report) do
        local v = field(summary, f)
        local t = type(v)
        -- A table's address in the CSV file (report = { "value" }) changed
        -- from run to run, as a metric's would.
        if v ~= nil and t ~= "number" and t ~= "string" and t ~= "boolean" then
          r.ok, r.reason = false, ("the study's report field '%s' is a %s in the summary (numbers expected)")
            :format(f, t)
          break
        end
        r.values[f] = v
      end
      if r.ok and s.metrics then
        local okm, m = pcall(s.metrics, summary)
        if not okm then
          r.ok, r.reason = false, "the study's metrics function failed: " .. tostring(m)
        elseif type(m) ~= "table" then
          r.ok, r.reason = false, "the study's metrics function returned a " .. type(m) .. ", not a table"
        else
          for k, v in pairs(m) do
            k = tostring(k)
            local t = type(v)
            -- A table's or a function's address in the CSV file would be
            -- noise that changes from run to run (a forgotten .mean).
            if t ~= "number" and t ~= "string" and t ~= "boolean" then
              r.ok, r.reason = false, ("the study's metrics function returned a %s for '%s' (numbers expected)")
                :format(t, k)
              break
            end
            if taken[k] then
              r.ok, r.reason = false, ("the study's metrics function returned '%s', %s (a metric needs a name "
                .. "of its own)"):format(k, taken[k])
              break
            end
            -- NaN (0 / 0) is a figure that does not exist, as null is.
            if v ~= v then v = nil end
            r.values[k] = v
            if not seen[k] then seen[k], extra[#extra + 1] = true, k end
          end
        end
      end
    end
    if not r.ok then r.values = {} end
  end
  table.sort(extra)
  local names, reported = {}, {}
  for _, f in ipairs(s.report) do
    if not reported[f] then names[#names + 1], reported[f] = f, true end
  end
  for _, k in ipairs(extra) do
    if not reported[k] then names[#names + 1] = k end
  end
  local problems, named = {}, {}
  for name in pairs(strategies) do named[#named + 1] = name end
  table.sort(named)
  for _, f in ipairs(summaries > 0 and names or {}) do
    if reported[f] and not present[f] then
      -- A strategy's name is the likely slip where one is named.
      local hint = (f:match("^agents%.") or f:match("^value%.")) and
        (" (its strategies: %s)"):format(table.concat(named, ", ")) or ""
      local keys = field_keys(f)
      if type(keys[2]) == "number" then
        local n = longest[keys[1]] or 0
        hint = (" (index %d is out of range: no run's summary has more than %d %s)"):format(keys[2], n, keys[1])
      end
      problems[#problems + 1] = ("the study's report field '%s' is in no run's summary%s; its column is empty")
        :format(f, hint)
      reported[f] = false
    end
  end
  return names, problems
end

-- A cell of RFC 4180 CSV in valid UTF-8: the metrics function names its
-- metrics and may return text, any bytes. NaN (the sd of infinite values)
-- is a figure that does not exist, an empty cell.
local function csv_cell(v)
  if v == nil or v ~= v then return "" end
  local t = clean_utf8(fmt(v))
  if t:find('[,"\r\n]') then t = '"' .. t:gsub('"', '""') .. '"' end
  return t
end

local function csv_line(cells, n)
  local out = {}
  for i = 1, n do out[i] = csv_cell(cells[i]) end
  return table.concat(out, ",") .. "\n"
end

local function results_csv(s, runs, names)
  local head = { "run", "point", "seed", "status" }
  for _, k in ipairs(s.keys) do head[#head + 1] = k end
  for _, k in ipairs(names) do head[#head + 1] = k end
  local lines = { csv_line(head, #head) }
  -- Cells by column number: a figure that does not exist is nil, and
  -- row[#row + 1] put the next one in its place, every later column's
  -- value one column to the left.
  for _, r in ipairs(runs) do
    local row, n = { r.run, r.point, r.seed, r.ok and "ok" or "failed" }, 4
    for _, k in ipairs(s.keys) do n = n + 1; row[n] = r.params[k] end
    for _, k in ipairs(names) do n = n + 1; row[n] = r.values[k] end
    lines[#lines + 1] = csv_line(row, #head)
  end
  return table.concat(lines)
end

-- Per point: its runs' counts and, per metric, stats.describe of the
-- numeric values of its successful runs.
local function by_point(s, runs, names)
  local points = {}
  for p, params in ipairs(s.points) do
    points[p] = { point = p, params = params, runs = 0, failed = 0, xs = {} }
    for _, k in ipairs(names) do points[p].xs[k] = {} end
  end
  for _, r in ipairs(runs) do
    local pt = points[r.point]
    if r.ok then
      pt.runs = pt.runs + 1
      for _, k in ipairs(names) do
        local v = r.values[k]
        if type(v) == "number" then pt.xs[k][#pt.xs[k] + 1] = v end
      end
    else
      pt.failed = pt.failed + 1
    end
  end
  for _, pt in ipairs(points) do
    pt.stats = {}
    for _, k in ipairs(names) do pt.stats[k] = stats.describe(pt.xs[k]) end
  end
  return points
end

local function summary_csv(s, points, names)
  local head = { "point" }
  for _, k in ipairs(s.keys) do head[#head + 1] = k end
  head[#head + 1] = "runs"
  head[#head + 1] = "failed"
  for _, k in ipairs(names) do
    for _, suffix in ipairs({ "mean", "sd", "ci95_low", "ci95_high" }) do head[#head + 1] = k .. "_" .. suffix end
  end
  local lines = { csv_line(head, #head) }
  for _, pt in ipairs(points) do
    local row, n = { pt.point }, 1
    for _, k in ipairs(s.keys) do n = n + 1; row[n] = pt.params[k] end
    row[n + 1], row[n + 2], n = pt.runs, pt.failed, n + 2
    for _, k in ipairs(names) do
      local d = pt.stats[k]
      row[n + 1], row[n + 2], row[n + 3], row[n + 4], n = d.mean, d.sd, d.low, d.high, n + 4
    end
    lines[#lines + 1] = csv_line(row, #head)
  end
  return table.concat(lines)
end

-- A number in a few significant digits, without an exponent below 1e15.
local function short(v, digits)
  if math.abs(v) >= 10 ^ digits and math.abs(v) < 1e15 then return ("%.0f"):format(v) end
  return ("%." .. digits .. "g"):format(v)
end

local columns = terminal.columns

-- The table at the end of a study: per point, each metric as
-- "mean ± half the 95% interval".
function M.table(s, points, names)
  local head = { "point" }
  for _, k in ipairs(s.keys) do head[#head + 1] = k end
  head[#head + 1] = "runs"
  for _, k in ipairs(names) do head[#head + 1] = k end
  local rows = { head }
  for _, pt in ipairs(points) do
    local row = { tostring(pt.point) }
    for _, k in ipairs(s.keys) do row[#row + 1] = fmt(pt.params[k]) end
    row[#row + 1] = tostring(pt.runs)
    for _, k in ipairs(names) do
      local d = pt.stats[k]
      if d.mean == nil then
        row[#row + 1] = "-"
      elseif d.high then
        row[#row + 1] = short(d.mean, 4) .. " ± " .. short(d.high - d.mean, 3)
      else
        row[#row + 1] = short(d.mean, 4)
      end
    end
    rows[#rows + 1] = row
  end
  local widths = {}
  for _, row in ipairs(rows) do
    -- Names and text values are the study's: a control character in them
    -- (a metric "a\rb") is shown escaped, never sent to the terminal.
    for i, c in ipairs(row) do row[i] = terminal.text(c) end
    for i, c in ipairs(row) do
      local w = columns(c)
      if not widths[i] or w > widths[i] then widths[i] = w end
    end
  end
  local out = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(row) do
      cells[i] = c .. (" "):rep(widths[i] - columns(c))
    end
    out[#out + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

-- What went wrong with one failed run: its number, point and seed, why, its
-- command and the last lines of its standard error.
function M.failure(r)
  local lines = {
    ("run %d (point %d, seed %d) failed: %s"):format(r.run, r.point, r.seed, r.reason),
    "  command: " .. r.command,
  }
  local tail = sys.tail(r.stderr, 5)
  if tail then
    lines[#lines + 1] = "  its stderr ends:"
    for _, l in ipairs(tail) do lines[#lines + 1] = "    " .. l end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Reads the runs, writes results.csv and summary.csv into out, and returns
-- the points and metric names (for the table), the failed runs and what is
-- wrong with the report fields (M.read).
function M.collect(s, runs, out, exits)
  local names, problems = M.read(s, runs, exits)
  local points = by_point(s, runs, names)
  sys.write(out .. "/results.csv", results_csv(s, runs, names))
  sys.write(out .. "/summary.csv", summary_csv(s, points, names))
  local failed = {}
  for _, r in ipairs(runs) do
    if not r.ok then failed[#failed + 1] = r end
  end
  return points, names, failed, problems
end

return M
