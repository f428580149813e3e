-- Bad command lines, for asx-host and asx-sweep alike: a parser raises
-- usage.fail("..."), and main hands its protected call's results to
-- usage.exit, which prints the reason with the usage and returns 2, lets a
-- run's own status through, and re-raises anything else (a bug).
local M = {}

-- Raises a bad command line, the message formatted as string.format does.
function M.fail(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

-- The exit status for what pcall(run, ...) returned.
function M.exit(prog, usage, ok, res)
  if ok then return res end
  if type(res) == "table" and res.usage then
    io.stderr:write(("%s: %s\n%s\nTry '%s --help' for more.\n"):format(prog, res.usage, usage, prog))
    return 2
  end
  error(res, 0)
end

return M
