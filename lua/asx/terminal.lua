-- Text that user code chose (an agent's error, a class name, a logger's
-- error), as asx writes it to stderr: its control characters but a tab and
-- a line break are written as Lua writes them in a string ("\027[2J"), by
-- the one function asx's C code writes through too (asx_fmt_terminal,
-- src/asx_fmt.c), so that a strategy cannot move the cursor, clear the
-- screen or retitle the window of the user's terminal.
--
--   terminal.text(s)       s escaped (a string)
--   terminal.columns(s)    the columns s takes, one per UTF-8 character
--   terminal.write(...)    each string escaped, to stderr
--
-- stderr is the one asx found when it was loaded, whatever user code makes
-- of io.stderr or of the file handles' methods later.
local F = require("asx.ffi")
local ffi, C = F.ffi, F.C

local stderr = io.stderr
local write = stderr.write
local concat = table.concat
local gsub = string.gsub

local M = {}

function M.text(s)
  if s == "" then return s end
  local buf = ffi.new("char[?]", 4 * #s)
  return ffi.string(buf, C.asx_fmt_terminal(buf, s, #s))
end

-- The columns text takes on the terminal, for tables that line up after a
-- name that is not ASCII ("café", "€", "±"): one per character of UTF-8,
-- whose bytes 0x80 to 0xBF continue a character. Wide characters (CJK,
-- emoji) take two on most terminals; asx counts them as one.
function M.columns(s)
  return #s - select(2, gsub(s, "[\128-\191]", ""))
end

-- In one write, as a message is read whole (a signal that quits at once
-- then finds whole lines before its own).
function M.write(...)
  write(stderr, M.text(concat({ ... })))
end

return M
