-- asx.report.html: fills the report page template with a session's data.
--
-- The template is web/report.html with the charting library, the style and
-- the script inlined by the build (cmake/inline_page.lua), installed as
-- asx/report.html beside the native module asx/core.so, where this finds it.
-- It holds one line
--   <script type="application/json" id="asx-data">null</script>
-- whose null becomes the data; the page reads it from there, so a page
-- needs no server and fetches nothing.
local outfile = require("asx.outfile")

local M = {}

local PLACEHOLDER = '<script type="application/json" id="asx-data">null</script>'

-- The template's path, or nil and the reason.
local function template_path()
  local so = package.searchpath("asx.core", package.cpath)
  if not so then return nil, "the native module asx.core is not on package.cpath" end
  local path = so:gsub("[^/]*$", "") .. "report.html"
  local f = io.open(path, "r")
  if not f then return nil, ("the report page template is missing (%s): rebuild asx"):format(path) end
  f:close()
  return path
end

local cached

-- The page with json in place of the placeholder; nil, err without a template.
function M.page(json)
  if not cached then
    local path, err = template_path()
    if not path then return nil, err end
    local f = assert(io.open(path, "rb"))
    cached = f:read("*a")
    f:close()
    if not cached:find(PLACEHOLDER, 1, true) then
      cached = nil
      return nil, ("the report page template %s has no data placeholder"):format(path)
    end
  end
  -- A browser reads a script block up to "</script>", and after "<!--<script>"
  -- (in a strategy's name, say) up to the second one, swallowing the page.
  -- "<" only occurs in the JSON's strings, where "\u003c" reads the same.
  local at = cached:find(PLACEHOLDER, 1, true)
  local head = at - 1 + #PLACEHOLDER - #"null</script>"
  return cached:sub(1, head) .. json:gsub("<", "\\u003c") .. cached:sub(head + 5)
end

-- Whether a page can be written to path: the template is there and the
-- file can be made. Checked before a session runs, so that a bad path is a
-- bad command line rather than a lost run.
function M.check(path)
  local _, err = template_path()
  if err then return nil, err end
  return outfile.check(path)
end

-- Writes the page to path (asx.outfile); true, or nil and the reason.
function M.write(path, json)
  local page, err = M.page(json)
  if not page then return nil, err end
  return outfile.write(path, page)
end

return M
