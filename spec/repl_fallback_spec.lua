-- The line reader's own next prompt (src/asx_lua_repl.c), for a callback
-- that failed before it asked for one (in asx-host: a line that ran out of
-- memory, which leaves even the REPL's own code no room), driven through
-- core.repl_open in a luajit of its own with lines on a pipe.
local run = require("helpers.run")

-- Runs the script on the lines given on standard input, in a session on
-- the virtual clock whose one agent keeps the loop turning: the script's
-- ready() says "busy" until it has been asked three times after the line
-- "fail", which raises before r:prompt.
local function reader(on_line_tail, ready_tail, input)
  return run.sh(("cat >\"$D/reader.lua\" <<'EOF'\n%s\nEOF\n"
    .. "printf '%s' | LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit \"$D/reader.lua\""):format([[
local asx, core = require("asx"), require("asx.core")
local s = asx.session({ clock = "virtual", seed = 1 })
local Idle = asx.Trader:extend("idle")
function Idle:cycle() while true do self:sleep(1) end end
s:add(Idle:new({}))
local busy, asks, r = false, 0, nil
local function ready()
  if busy then asks = asks + 1; busy = asks < 3 end
  ]] .. ready_tail .. [[

  return not busy
end
r = core.repl_open({ on_line = function(line)
  if line == nil then r:close(); s:stop(); return end
  io.stdout:write(line, " busy=", tostring(busy), "\n")
  ]] .. on_line_tail .. [[

  r:prompt("", ready)
end })
r:prompt("", ready)
s:run()]], input, run.BUILD))
end

describe("the line reader's next prompt after a failed on_line", function()
  it("waits for ready() as r:prompt would have: the next piped line does not run while busy", function()
    local r = reader([[if line == "fail" then busy = true; error("failed before r:prompt", 0) end]], "",
      "one\\nfail\\nthree\\n")
    assert.are.same({ status = 0, stdout = "one busy=false\nfail busy=false\nthree busy=false\n",
      stderr = "asx repl: error in on_line: failed before r:prompt\n" }, r)
  end)

  it("takes ready() running out of memory as ready, and says nothing of it", function()
    -- The memory a line kept is the line's error, said once; ready() is
    -- asked after every turn of the loop, and said it at each.
    local r = reader([[if line == "fail" then busy = true end]],
      [[if busy then error("not enough memory", 0) end]], "one\\nfail\\nthree\\n")
    assert.are.same({ status = 0, stdout = "one busy=false\nfail busy=false\nthree busy=true\n", stderr = "" }, r)
  end)
end)
