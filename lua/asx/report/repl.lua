-- asx.report.repl: the REPL's chart() and report(), over the report that
-- `asx-host -i` attaches to its session (asx.report.of(exchange));
-- lua/asx/repl/commands.lua lists them among its own.
--
--   chart()            the recent candles in the terminal, as wide as it is
--   chart(60)          ... of 60-second candles
--   report("x.html")   the report page of the session so far
local ffi = require("ffi")
local report = require("asx.report")
local term = require("asx.report.term")

local M = {}


pcall(ffi.cdef, [[
struct asx_winsize { unsigned short row, col, xpixel, ypixel; };
int ioctl(int fd, unsigned long request, ...);
]])
local TIOCGWINSZ = 0x5413 -- Linux

-- The terminal's width on stdout, else $COLUMNS, else 80.
function M.width()
  local ws = ffi.new("struct asx_winsize")
  local ok, rc = pcall(function() return ffi.C.ioctl(1, TIOCGWINSZ, ws) end)
  if ok and rc == 0 and ws.col > 0 then return ws.col end
  return tonumber(os.getenv("COLUMNS") or "") or 80
end

local Chart = {}
Chart.__tostring = function(c) return c.text end

local function need(ctx, fname)
  local R = report.of(ctx.exchange)
  if not R then error(("%s: this session keeps no report"):format(fname), 3) end
  return R
end

-- The REPL's commands, as lua/asx/repl/commands.lua defines its own:
-- { name, usage, help, make(ctx) -> function }.
M.commands = {
  { name = "chart", usage = "chart(seconds)",
    help = "the recent candles in the terminal (default: 1-second candles)",
    make = function(ctx)
      return function(seconds)
        local R = need(ctx, "chart")
        local iv = R.candles:interval()
        if seconds ~= nil and (type(seconds) ~= "number" or seconds < iv or seconds % iv ~= 0
            or seconds == math.huge) then
          require("asx.check").argerror(1, "chart", ("positive multiple of %s seconds expected"):format(iv), seconds)
        end
        seconds = seconds or iv
        -- The finest candles merged into intervals of `seconds`.
        local out = {}
        for _, c in ipairs(R.candles:candles()) do
          local b = math.floor(c[1] / seconds) * seconds
          local last = out[#out]
          if last and last[1] == b then
            last[3], last[4] = math.max(last[3], c[3]), math.min(last[4], c[4])
            last[5], last[6] = c[5], last[6] + c[6]
          else
            out[#out + 1] = { b, c[2], c[3], c[4], c[5], c[6] }
          end
        end
        local tty = require("asx.core").isatty(1)
        return setmetatable({ text = term.draw(out, { width = M.width(), color = tty }) }, Chart)
      end
    end },
  { name = "report", usage = "report(file)",
    help = "write the report page of the session so far (open it in a browser)",
    make = function(ctx)
      return function(path)
        if type(path) ~= "string" or path == "" then
          error(("bad argument #1 to 'report' (file name expected, got %s)"):format(
            type(path) == "string" and "''" or require("asx.check").show(path)), 2)
        end
        -- The system's calls read a name up to its first NUL: report("a\0b.html")
        -- wrote the page to 'a' and returned the name it was given.
        if path:find("%z") then
          error("bad argument #1 to 'report' (file name without NUL bytes expected, got string)", 2)
        end
        local R = need(ctx, "report")
        -- The page replaced the file by a rename: a strategy's code, or a
        -- log whose writer went on into the file it had unlinked, its rows
        -- lost while the summary counted them written.
        local C = require("asx.ffi").C
        if C.asx_logfile_special(path) ~= 1 then
          local holder = C.asx_logfile_holder(path)
          if holder ~= nil then
            error(("report: '%s' is the file of the log '%s'"):format(path, ffi.string(holder)), 2)
          end
          local same_file = require("asx.loggers.file").same_file
          for _, input in ipairs(ctx.inputs and ctx.inputs() or {}) do
            if same_file(input[2], path) then
              error(("report: '%s' is %s '%s'"):format(path, input[1], input[2]), 2)
            end
          end
        end
        local ok, err = R:write(path)
        if not ok then error("report: " .. err, 2) end
        return path
      end
    end },
}

return M
