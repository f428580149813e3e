-- An InfluxDB logger's flush inside core.http_listen's callback, with no
-- session: flush runs the libuv loop, and the callback runs inside it. It
-- ran the loop again from inside itself, where the server's answer to the
-- logger's own write could not come (the callback that would give it is
-- the one waiting): the flush waited its whole timeout and failed. It is
-- refused at once with the reason, as inside a session.
local run = require("helpers.run")

describe("an InfluxDB logger flushed inside core.http_listen's callback", function()
  it("refuses at once and says why; the flush outside it writes the points", function()
    local d = run.tmpdir()
    -- The logger writes to the server whose callback flushes it.
    run.write(d .. "/nest.lua", [[
local core = require("asx.core")
local L, srv
srv = assert(core.http_listen({ port = 0, post = "/api/v2/write", on_request = function()
  io.stdout:write("in the callback: ", tostring(core.http_in_callback()), " ", tostring(select(2, L:flush())), "\n")
  return 204, "text/plain", ""
end }))
L = assert(require("asx.loggers").influxdb({
  url = ("http://127.0.0.1:%d"):format(srv:port()), org = "o", bucket = "b", token = "t" }))
L:send_event("note", { time = 1, text = "x" })
print("outside:", core.http_in_callback(), L:flush(10))
print("close:", L:close())
srv:close()
print("written:", L.final.written, L.final.dropped)
]])
    local lua = run.LUA
    local r = run.sh(("'%s' \"$D/nest.lua\""):format(lua), d)
    os.execute("rm -rf '" .. d .. "'")
    assert.are.equal("", r.stderr)
    assert.are.same({
      "in the callback: true flush: cannot wait for InfluxDB inside core.http_listen's callback, which runs "
        .. "on the loop that sends the points: the logger sends them every flush_interval by itself, and "
        .. "stats() shows what is written",
      "outside:\tfalse\ttrue",
      "close:\ttrue",
      "written:\t1\t0",
    }, run.lines(r.stdout))
    assert.are.equal(0, r.status)
  end)
end)
