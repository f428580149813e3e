-- What the built-in loggers share: the closed check
-- and the registry of open loggers, which os.exit closes (asx.session).
local M = {}

function M.check_open(self, fname)
  if self.closed then error(fname .. ": this logger is closed", 3) end
end

-- Every logger still open; weak, so an abandoned logger is still collected.
M.open = setmetatable({}, { __mode = "k" })

-- Closes every open logger (at the host's exit). Returns true, or nil and
-- the first error.
function M.close_all()
  local first
  for L in pairs(M.open) do
    local ok, err = L:close()
    if not ok and not first then first = err end
  end
  if first then return nil, first end
  return true
end

return M
