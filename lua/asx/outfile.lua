-- asx.outfile: the files asx-host writes whole at the end of a run
-- (--summary, --report). A path is checked before the run, so that a bad one
-- is a bad command line rather than a lost run; the file is written to
-- PATH.tmp and renamed, so a reader never sees half a file and a run that
-- stopped early leaves none. A device or a pipe at PATH (--summary
-- /dev/stdout) is written into instead: a rename would replace it, and
-- with root's rights, for every program on the machine.
local C = require("asx.ffi").C

local M = {}

local function cannot(path, err)
  return nil, ("cannot write '%s': %s"):format(path, err)
end

-- The system's calls read a name up to its first NUL: "a\0b.html" wrote
-- the file 'a'.
local NUL = "a file name cannot hold a NUL byte"

local function special(path)
  return C.asx_logfile_special(path) == 1
end

-- PATH.tmp opened for writing, or nil and the reason. For a path that
-- exists, the reason names PATH.tmp: the folder took no new file (/proc
-- for --summary /proc/version), and "No such file or directory" said of
-- the path itself named a cause that is not there.
local function open_tmp(path)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if f then return f end
  err = err:gsub("^[^:]*: ", "")
  local exists = io.open(path, "r")
  if not exists then return nil, err end
  exists:close()
  return nil, ("cannot create '%s': %s"):format(tmp, err)
end

-- Whether path can be written; true, or nil and the reason. A file an
-- earlier run left at path is removed, so that it cannot pass for this
-- run's. A device or a pipe is left as it is, and not opened (opening a
-- pipe waits for its reader).
-- The errno of reading a directory.
local EISDIR = 21

function M.check(path)
  if path:find("%z") then return cannot(path, NUL) end
  if special(path) then return true end
  -- A directory at path (--summary out/) was found only when the run had
  -- ended, its figures lost; an empty one was removed below.
  local d = io.open(path, "r")
  if d then
    local _, err, code = d:read(0)
    d:close()
    if code == EISDIR then return cannot(path, err) end
  end
  local f, err = open_tmp(path)
  if not f then return cannot(path, err) end
  f:close()
  os.remove(path .. ".tmp")
  os.remove(path)
  return true
end

-- Writes the strings ... to path; true, or nil and the reason.
function M.write(path, ...)
  if path:find("%z") then return cannot(path, NUL) end
  local tmp = special(path) and path or path .. ".tmp"
  local f, err
  if tmp == path then
    f, err = io.open(path, "wb")
    err = err and err:gsub("^[^:]*: ", "")
  else
    f, err = open_tmp(path)
  end
  if not f then return cannot(path, err) end
  local ok, werr = f:write(...)
  local closed, cerr = f:close()
  if not ok or not closed then
    if tmp ~= path then os.remove(tmp) end
    return cannot(path, werr or cerr)
  end
  if tmp == path then return true end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return cannot(path, (rerr:gsub("^[^:]*: ", "")))
  end
  return true
end

return M
