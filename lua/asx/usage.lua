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
    -- The reason may quote a strategy's own error or file name.
    require("asx.terminal").write(("%s: %s\n%s\nTry '%s --help' for more.\n"):format(prog, res.usage, usage, prog))
    return 2
  end
  error(res, 0)
end

-- Walks a command line. An option is --name=value, --name value, -x value,
-- or (for the short names in o.glued) -xVALUE; o.valued[flag] marks one that
-- takes a value and o.flags[flag] one that does not. o.on_value(flag, value),
-- o.on_flag(flag) and o.on_word(word) receive them in order; with
-- o.dashdash, every word after "--" is a word. A missing, extra or unknown
-- value or option raises a usage error naming the option.
function M.each_option(argv, o)
  local i, only_words = 1, false
  while i <= #argv do
    local a = argv[i]
    if o.dashdash and not only_words and a == "--" then
      only_words = true
    elseif not only_words and a:sub(1, 1) == "-" and a ~= "-" then
      local flag, value = a:match("^(%-%-[^=]+)=(.*)$")
      if not flag then
        flag = a
        if o.glued and o.glued[a:sub(1, 2)] and #a > 2 then flag, value = a:sub(1, 2), a:sub(3) end
      end
      if o.valued[flag] then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then M.fail("option '%s' needs a value", flag) end
        end
        o.on_value(flag, value)
      elseif o.flags[flag] then
        if value ~= nil then M.fail("option '%s' takes no value", flag) end
        o.on_flag(flag)
      else
        M.fail("unknown option '%s'", flag)
      end
    else
      o.on_word(a)
    end
    i = i + 1
  end
end

return M
