-- Log files under hostile conditions: a disk that fills up (a 1 MiB tmpfs,
-- mounted for the test) must leave whole lines and exact counts, and text
-- with NUL bytes, invalid UTF-8 and line breaks must leave valid JSON lines
-- and well-formed CSV that read back as exactly what was logged.
local asx = require("asx")
local loggers = require("asx.loggers")
local cjson = require("cjson")
local run = require("helpers.run")

local lines, sh, slurp, tmpdir = run.lines, run.sh, run.slurp, run.tmpdir

local FFFD = "\239\191\189"

-- Mounts a 1 MiB tmpfs on a new directory; nil when this machine does not
-- let us (mounting needs root).
local function mount_small_disk()
  local dir = tmpdir()
  if os.execute(("env -u LD_PRELOAD mount -t tmpfs -o size=1m tmpfs '%s' 2>/dev/null"):format(dir)) ~= 0 then
    os.execute(("rmdir '%s'"):format(dir))
    return nil
  end
  return dir
end

local function unmount(dir)
  os.execute(("env -u LD_PRELOAD umount '%s'; rmdir '%s'"):format(dir, dir))
end

local NO_MOUNT = "cannot mount a tmpfs here (needs root): the full-disk test did not run"

-- The number of lines of a text that must end with a newline (or be empty:
-- a file the disk had no room for at all).
local function count_lines(text)
  if text == "" then return 0 end
  assert.are.equal("\n", text:sub(-1), "the file ends in a torn line")
  local _, n = text:gsub("\n", "")
  return n
end

-- Whether a file is valid UTF-8, by iconv: a judge that is not our code.
local function valid_utf8(path)
  return os.execute(("env -u LD_PRELOAD iconv -f UTF-8 -t UTF-8 '%s' >/dev/null 2>&1"):format(path)) == 0
end

-- Parses CSV strictly by RFC 4180 (with LF line ends): a field is quoted,
-- with "" for a quote, or holds no comma, quote, CR or LF. Returns the
-- records, arrays of fields; raises at the first byte off the grammar.
local function parse_csv(text)
  local records, fields, i, n = {}, {}, 1, #text
  while i <= n do
    if text:sub(i, i) == '"' then
      local parts, j = {}, i + 1
      while true do
        local q = assert(text:find('"', j, true), "an unterminated quoted field")
        parts[#parts + 1] = text:sub(j, q - 1)
        if text:sub(q + 1, q + 1) ~= '"' then
          i = q + 1
          break
        end
        parts[#parts + 1] = '"'
        j = q + 2
      end
      fields[#fields + 1] = table.concat(parts)
    else
      local j = text:find('[,"\r\n]', i) or n + 1
      fields[#fields + 1] = text:sub(i, j - 1)
      i = j
    end
    local c = text:sub(i, i)
    if c == "," then
      i = i + 1
      if i > n then error("a record ends in a comma with no line end") end
    elseif c == "\n" then
      records[#records + 1] = fields
      fields = {}
      i = i + 1
    else
      error(("byte %d: %q where a comma or a line end must be"):format(i, c))
    end
  end
  assert(#fields == 0, "the last record has no line end")
  return records
end

-- A logger that counts what it is sent, by event type: what the file
-- loggers beside it were given.
local function counter()
  local L = { n = {} }
  function L:send_event(event_type) self.n[event_type] = (self.n[event_type] or 0) + 1 end
  return L
end

describe("a full disk", function()
  -- "csv: 373 rows written to PATH, 3586 lost" -> 373, 3586
  local function reported(stdout, kind, path)
    local line = stdout:match("\n(" .. kind .. ": [^\n]*)")
    assert(line, "no " .. kind .. " line in the summary")
    local written, at, lost = line:match("^%a+: (%d+) %a+ written to (.-), (%d+) lost$")
    if not written then
      written, at = line:match("^%a+: (%d+) %a+ written to (.-)$")
      lost = 0
    end
    assert.are.equal(path, at)
    return tonumber(written), tonumber(lost)
  end

  it("leaves whole lines in asx-host's files, and the summary counts them exactly", function()
    local dir = tmpdir()
    local disk = mount_small_disk()
    if not disk then
      os.execute("rm -rf '" .. dir .. "'")
      return pending(NO_MOUNT)
    end
    finally(function()
      unmount(disk)
      os.execute("rm -rf '" .. dir .. "'")
    end)
    -- About 1.4 MB of logs: the same run once on a roomy disk, for what a
    -- whole file holds, and once on the small one.
    local cmd = '"$HOST" -q --clock virtual --seed 1 -d 30 strategies/random_trader.lua:100 '
      .. '--log "$F/t.csv" --log "$F/e.jsonl"'
    local ref = sh('F="$D/ref"; mkdir "$F"; ' .. cmd, dir)
    assert.are.equal(0, ref.status)
    local r = sh("F='" .. disk .. "'; " .. cmd, dir)
    -- The status of a run whose logs lost rows.
    assert.are.equal(3, r.status)

    local lost_any, failed = 0, {}
    for _, f in ipairs({ { "csv", "t.csv", 1 }, { "jsonl", "e.jsonl", 0 } }) do
      local kind, name, headers = f[1], f[2], f[3]
      local whole = slurp(dir .. "/ref/" .. name)
      local text = slurp(disk .. "/" .. name)
      local written, lost = reported(r.stdout, kind, disk .. "/" .. name)
      -- Even the header is lost when the other file filled the disk first.
      local kept_headers = text == "" and 0 or headers
      -- The file is the start of the whole log, cut at a line end.
      assert.are.equal(whole:sub(1, #text), text)
      assert.are.equal(written, count_lines(text) - kept_headers)
      assert.are.equal(count_lines(whole) - headers, written + lost)
      if lost > 0 then
        failed[#failed + 1] = ("cannot write '%s/%s': No space left on device"):format(disk, name)
      end
      lost_any = lost_any + lost
    end
    assert.is_true(lost_any > 0)
    -- Every file that failed is named at the end, on one line; one seen
    -- failing while the session ran is also named then.
    local err_lines = lines(r.stderr)
    assert.are.equal("asx-host: " .. table.concat(failed, "; "), table.remove(err_lines))
    for _, l in ipairs(err_lines) do
      local named = false
      for _, f in ipairs(failed) do named = named or l == "asx: log: " .. f end
      assert(named, "unexpected stderr line: " .. l)
    end
  end)

  it("leaves whole lines in every per-type CSV file, and stats() counts them exactly", function()
    local disk = mount_small_disk()
    if not disk then return pending(NO_MOUNT) end
    finally(function() unmount(disk) end)
    local L = assert(loggers.csv(disk .. "/run.csv", { events = "all" }))
    local count = counter()
    local Random = dofile("strategies/random_trader.lua")
    local traders = {}
    for i = 1, 200 do traders[i] = Random:new({ money = 300, stocks = 10 }) end
    local s = asx.session({ traders = traders, loggers = { L, count }, clock = "virtual", seed = 5,
      duration = 60 })
    s:run()
    local ok, err = L:close()
    assert.is_nil(ok)
    assert.is_truthy(err:find("No space left on device", 1, true))
    local rows, logged = 0, 0
    for _, t in ipairs({ "exchange", "order", "cancel", "trim", "agent", "session" }) do
      local text = slurp(disk .. "/run-" .. t .. ".csv")
      if #text > 0 then rows = rows + count_lines(text) - 1 end
      logged = logged + (count.n[t] or 0)
    end
    local st = L:stats()
    assert.are.equal(rows, st.written)
    assert.are.equal(logged, st.written + st.dropped)
    assert.is_true(st.dropped > 0)
  end)
end)

describe("hostile text in log files", function()
  -- Each value is logged as the key says, and reads back as want.
  local cases = {
    { "nul", "a\0b", "a\0b" },
    { "invalid", "x\255\254y", "x" .. FFFD .. FFFD .. "y" },
    { "truncated", "\226\130", FFFD },
    { "surrogate", "\237\160\128", FFFD .. FFFD .. FFFD },
    { "overlong", "\192\175", FFFD .. FFFD },
    { "lines", "l1\nl2\r\nl3", "l1\nl2\r\nl3" },
    { "quotes", 'say "hi", \\ ok', 'say "hi", \\ ok' },
    { "controls", "\1\27\127\t", "\1\27\127\t" },
    { "unicode", "caf\195\169 \226\130\172 \226\128\168", "caf\195\169 \226\130\172 \226\128\168" },
  }
  local message, want = {}, {}
  for _, c in ipairs(cases) do
    message[c[1]], want[c[1]] = c[2], c[3]
  end

  -- An agent that fails with a NUL and invalid UTF-8 in its error.
  local Failing = asx.Trader:extend("failing")
  function Failing:cycle()
    self:sleep(1)
    error("boom \0 after nul \255 end", 0)
  end

  -- A session that logs the hostile texts through every path: an event of
  -- the user's own (generic), book events under a hostile session id
  -- (native rows), and an agent's error.
  local function hostile_session(L)
    local ex = asx.exchange({ logger = L })
    ex.session_id = "s\0\255"
    local a = asx.trader({ exchange = ex, money = 100, stocks = 1 })
    a:sell(1, 5)
    local note = { time = 0, session = "s\0\255", ["k\255"] = "v" }
    for k, v in pairs(message) do note[k] = v end
    ex:emit("note", note)
    local s = asx.session({ exchange = ex, traders = { Failing:new({ money = 0, stocks = 0 }) },
      clock = "virtual", seed = 1, session_id = "s\0\255", on_error = function() end })
    s:run()
  end

  it("gives valid JSON lines that decode to exactly what was logged", function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local path = dir .. "/e.jsonl"
    local L = assert(loggers.jsonl(path))
    hostile_session(L)
    assert.is_true(L:close())
    assert.is_true(valid_utf8(path))
    local text = slurp(path)
    local events = {}
    for _, l in ipairs(lines(text)) do events[#events + 1] = cjson.decode(l) end
    assert.are.equal(#events, count_lines(text))
    local by_type = {}
    for _, e in ipairs(events) do
      assert.are.equal("s\0" .. FFFD, e.session)
      by_type[e.type] = by_type[e.type] or e
      if e.type == "agent" and e.state == "failed" then by_type.failed = e end
    end
    assert.are.equal(5, by_type.order.price) -- a native row
    for k, v in pairs(want) do assert.are.equal(v, by_type.note[k]) end
    assert.are.equal("v", by_type.note["k" .. FFFD])
    local m = by_type.failed.message
    local head = "failing#" .. by_type.failed.id .. ": boom \0 after nul " .. FFFD .. " end\nstack traceback:\n"
    assert.are.equal(head, m:sub(1, #head))
  end)

  it("gives well-formed CSV that reads back as exactly what was logged", function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local names = {}
    for _, c in ipairs(cases) do names[#names + 1] = c[1] end
    local notes = assert(loggers.csv(dir .. "/note.csv", { events = "note", columns = names }))
    local book = assert(loggers.csv(dir .. "/run.csv", { events = { "order", "agent" } }))
    hostile_session({ send_event = function(_, t, m)
      notes:send_event(t, m)
      book:send_event(t, m)
    end })
    -- The native rows, from the same book events.
    local native = assert(loggers.csv(dir .. "/native.csv", { events = "order" }))
    local ex = asx.exchange({ logger = native })
    ex.session_id = "s\0\255"
    asx.trader({ exchange = ex, money = 100, stocks = 1 }):sell(1, 5)
    for _, L in ipairs({ notes, book, native }) do assert.is_true(L:close()) end

    for _, f in ipairs({ "note.csv", "run-order.csv", "run-agent.csv", "native.csv" }) do
      assert.is_true(valid_utf8(dir .. "/" .. f), f .. " is not valid UTF-8")
    end
    local note = parse_csv(slurp(dir .. "/note.csv"))
    assert.are.equal(2, #note)
    assert.are.same({ "time", "session", unpack(names) }, note[1])
    local row = { "0", "s\0" .. FFFD }
    for _, n in ipairs(names) do row[#row + 1] = want[n] end
    assert.are.same(row, note[2])

    local generic, fast = parse_csv(slurp(dir .. "/run-order.csv")), parse_csv(slurp(dir .. "/native.csv"))
    assert.are.equal(2, #generic)
    assert.are.equal("s\0" .. FFFD, generic[2][2])
    assert.are.same(generic[2][2], fast[2][2])

    local agent = parse_csv(slurp(dir .. "/run-agent.csv"))
    local failed = agent[#agent]
    assert.are.equal("failed", failed[6])
    local head = failed[4] .. ": boom \0 after nul " .. FFFD .. " end\nstack traceback:\n"
    assert.are.equal(head, failed[7]:sub(1, #head))
  end)

  it("writes a field whose __tostring raises or gives no string as its type, and the loggers go on", function()
    -- Either failed asx's own logger, which a session then detached: a
    -- strategy's message lost the rest of the log.
    local dir = tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local raising = newproxy(true)
    getmetatable(raising).__tostring = function() error("no text") end
    local silent = setmetatable({}, { __tostring = function() return nil end })
    local J = assert(loggers.jsonl(dir .. "/e.jsonl"))
    local L = assert(loggers.csv(dir .. "/n.csv", { events = "note", columns = { "a", "b" } }))
    local ex = asx.exchange({ loggers = { J, L } })
    ex:emit("note", { a = raising, b = silent })
    assert.is_true(J:close())
    assert.is_true(L:close())
    assert.are.equal('{"type":"note","time":0,"session":null,"a":"userdata","b":{}}\n', slurp(dir .. "/e.jsonl"))
    assert.are.equal("time,session,a,b\n0,,userdata,table\n", slurp(dir .. "/n.csv"))
  end)

  it("gives a CSV header that reads back as the columns given, whatever their text", function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local path = dir .. "/note.csv"
    local columns = { "a,b", 'q"', "x\255", "l\nm", "c\r" }
    local L = assert(loggers.csv(path, { events = "note", columns = columns }))
    asx.exchange({ logger = L }):emit("note", { ["a,b"] = 1, ["l\nm"] = "v,w" })
    assert.is_true(L:close())
    assert.is_true(valid_utf8(path))
    assert.are.same({ { "time", "session", "a,b", 'q"', "x" .. FFFD, "l\nm", "c\r" }, { "0", "", "1", "", "", "v,w", "" } },
      parse_csv(slurp(path)))
    -- A column that is no name is a bad argument, where concat raised.
    local ok, err = pcall(loggers.csv, dir .. "/bad.csv", { events = "note", columns = { "a", 2 } })
    assert.is_false(ok)
    assert.are.equal("bad argument #2 to 'csv' (columns[2]: field name string expected, got 2)",
      (err:gsub("^[^:]*:%d+: ", "")))
    assert.is_nil(io.open(dir .. "/bad.csv"))
  end)

  it("gives a --summary and a --report of valid UTF-8 JSON whatever bytes a strategy's name holds", function()
    local dir = tmpdir()
    finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local r = sh('"$HOST" -q --clock virtual --seed 1 -d 1 --set \'tape.label=v\255\' '
      .. '--summary "$D/s.json" --report "$D/r.html" spec/fixtures/report/bytes_name.lua '
      .. 'spec/fixtures/host/tape.lua', dir)
    assert.are.equal(0, r.status, r.stderr)
    local name = 'x' .. FFFD .. FFFD .. '"\ny'
    assert.is_true(valid_utf8(dir .. "/s.json"))
    local summary = cjson.decode(slurp(dir .. "/s.json"))
    assert.are.same({ agents = 1, running = 1, finished = 0, failed = 0 }, summary.agents[name])
    assert.are.equal("v" .. FFFD, summary.parameters["tape.label"])
    assert.is_true(valid_utf8(dir .. "/r.html"))
    local data = cjson.decode(slurp(dir .. "/r.html"):match('<script type="application/json" id="asx%-data">(.-)</script>'))
    assert.are.equal(name, data.strategies[1].name)
    assert.are.equal("v" .. FFFD, data.session.parameters["tape.label"])
  end)
end)
