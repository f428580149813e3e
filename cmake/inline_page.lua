-- Makes a self-contained page: each line `<!-- inline: NAME -->` of the
-- template becomes the file given for NAME, as a <script> or <style> by its
-- extension, so the page loads nothing at run time.
--
--   luajit cmake/inline_page.lua TEMPLATE OUT NAME=FILE...
local template, out = arg[1], arg[2]
local files = {}
for i = 3, #arg do
  local name, path = arg[i]:match("^([^=]+)=(.+)$")
  assert(name, "NAME=FILE expected, got " .. arg[i])
  files[name] = path
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local page = read(template):gsub("([ \t]*)<!%-%- inline: ([%w._-]+) %-%->", function(_, name)
  local path = assert(files[name], "no file given for " .. name)
  local text = read(path)
  if path:match("%.css$") then return "<style>\n" .. text .. "\n</style>" end
  -- A script's text must not close its own element.
  assert(not text:find("</script", 1, true), path .. " contains </script")
  return "<script>\n" .. text .. "\n</script>"
end)
assert(page:find('<script type="application/json" id="asx-data">null</script>', 1, true),
  template .. ": the data placeholder is missing")
local tmp = out .. ".tmp"
local f = assert(io.open(tmp, "wb"))
f:write(page)
assert(f:close())
assert(os.rename(tmp, out))
