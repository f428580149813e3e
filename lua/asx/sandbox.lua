-- The corners of LuaJIT where plain Lua code can crash the process, and
-- how asx-host closes them in its Lua state before it loads any strategy,
-- logger or REPL line. Everything else of the standard library is unchanged.
--
-- Bytecode. LuaJIT does not verify the bytecode it loads, so a binary chunk
-- (string.dump's output, altered or not) can read and write any memory.
-- load, loadstring, loadfile, dofile and require take only source text;
-- string.dump still works.
--
-- Finalizers. LuaJIT runs a userdata's __gc at whatever allocation starts a
-- collection step, compiled traces included. An error raised there unwinds
-- through the trace, and LuaJIT 2.1 (Debian 12's) then crashes with a
-- segmentation fault instead of raising a Lua error; a finalizer that trades
-- would also run in the middle of another order's matching. Plain Lua
-- reaches __gc only through the metatables of userdata (tables have no __gc
-- in Lua 5.1, cdata finalizers need the ffi module): newproxy's, and the one
-- all file handles share (getmetatable(io.stdout)), whose __gc every handle
-- collected runs. Both refuse a new __gc, with an error where the code sets
-- it; their other fields work as before. (asx's own userdata hide theirs.)
--
-- Process memory. A file handle open for writing on /proc/self/mem can
-- seek to any address and write there (tostring gives the addresses of
-- tables and functions): io.open and io.output open no file of procfs nor
-- memory device for writing, whatever path leads to it (the C core checks:
-- core.process_memory). Programs that os.execute and io.popen start are
-- not Lua code; they are as free as the user who runs asx-host.
--
-- The C stack. string.gsub with a replacement function keeps a buffer of
-- 8 KB on the C stack for each call under way, and LuaJIT counts no C
-- calls: a replacement function that calls gsub again and again (a
-- recursion through gsub) overflows the C stack, a segmentation fault,
-- within a thousand levels, long before LuaJIT's own "stack overflow".
-- gsub with a function refuses to nest deeper than MAX_GSUB_NESTING, with
-- an error where it is called. (coroutine.resume and coroutine.wrap limit
-- their nesting likewise: lua/asx/guard.lua.)
--
-- Hooks. A debug hook is the whole Lua state's, not the coroutine's that
-- sets it: it fires in every agent and in asx's own code (the prompt's
-- loop, a session's end), where one that raised hung asx-host. asx sets
-- its own to stop a stuck agent and to serve Ctrl-C at the prompt, and
-- one would replace the other. debug.sethook refuses, whatever its
-- arguments; debug.gethook still says which hook is set.
--
-- Besides, the standard library's globals. asx's own code reads some of
-- them when it runs (pairs, table, io, ...), so a strategy that assigned
-- one (`type = "buy"`, `table = {}`: a local forgotten) took down the end
-- of the session, its summary and files. Strategy and logger files and REPL
-- lines run in an environment of their own in front of _G
-- (M.environment): an assignment to a name the standard library has stays
-- in that environment, and any other global is _G's, shared as before.
-- Likewise the fields of the standard library's tables, which asx's code
-- reads too (string.format = nil, math.floor = f took down the summary):
-- such an environment has its own copy of each table, so a field the code
-- replaces or removes stays replaced in its copy only; a new field
-- (string.trim = f) goes to the real table, shared; the global cleared
-- (string = nil) reads the copy again, and _G is the environment.
-- Strings' methods (("%d"):format) are the real table's. package is the
-- real one: a strategy sets package.path for require to read.
local M = {}

local real = {
  load = load, loadstring = loadstring, loadfile = loadfile, newproxy = newproxy,
  io_open = io.open, io_output = io.output, gsub = string.gsub,
}
local process_memory = require("asx.core").process_memory
local rawset, rawget, setmetatable, getmetatable, error, tostring = rawset, rawget, setmetatable, getmetatable, error,
  tostring
local select, type, pcall, pairs, ipairs = select, type, pcall, pairs, ipairs
-- Captured now: a REPL line may take string methods away and put them back.
local find, format = string.find, string.format
local package = package
local real_module, getinfo = module, debug.getinfo

local BINARY = "binary chunks are not loaded in asx-host (LuaJIT does not verify bytecode)"
local HOOKS = "debug.sethook: hooks are not available in asx-host (a hook is the whole Lua state's, "
  .. "and asx's own stop stuck agents and serve Ctrl-C)"

local function no_sethook() error(HOOKS, 2) end

-- A loader's results, with LuaJIT's "wrong mode" said in words a user can act on.
local function text_only(fname, f, err)
  if f == nil and type(err) == "string" and find(err, "wrong mode", 1, true) then
    err = format("%s: %s", fname, BINARY)
  end
  return f, err
end

-- This file's chunk name: frames of its functions are passed over when an
-- error is raised at the user's call.
local SELF = getinfo(1, "S").source

-- Raises a bad argument that a real function raised under this file's
-- pcall (where LuaJIT names it '?' and gives no position) as the user's
-- call of fname: named so, at the first frame outside this file, as plain
-- LuaJIT raises it (`bad argument #1 to 'getfenv' (invalid level)`, not
-- `sandbox.lua:244: bad argument #1 to 'real_getfenv' ...`). Any other
-- error (memory) is raised again as it was.
local function raise_as(fname, msg)
  if type(msg) ~= "string" then error(msg, 0) end
  local n, rest = msg:match("^bad argument #(%d+) to '[^']*' (.*)$")
  if not n then error(msg, 0) end
  local level = 2
  while true do
    local info = getinfo(level, "S")
    if info == nil or info.source ~= SELF then break end
    level = level + 1
  end
  error(format("bad argument #%s to '%s' %s", n, fname, rest), level)
end

-- The results of pcall(real function, ...), its error raised as fname's.
local function as_called(fname, ok, ...)
  if not ok then raise_as(fname, (...)) end
  return ...
end

local function safe_load(chunk, name)
  return text_only("load", as_called("load", pcall(real.load, chunk, name, "t")))
end

local function safe_loadstring(s, name)
  return text_only("loadstring", as_called("loadstring", pcall(real.loadstring, s, name, "t")))
end

local function load_file(fname, path)
  return text_only(fname, as_called(fname, pcall(real.loadfile, path, "t")))
end

local function safe_loadfile(path)
  return load_file("loadfile", path)
end

local function safe_dofile(path)
  local f, err = load_file("dofile", path)
  if not f then error(err, 2) end
  return f()
end

-- The directories of Lua modules that run against the real globals:
-- asx's own (where this file is) and those of installed libraries, the
-- directories of LuaJIT's default package.path but "./" (Debian's lua-*
-- packages, a system-wide luarocks, LuaJIT's jit.*). Such a library is
-- written for the real globals, as the standard library is (some set _G's
-- metatable, or read getfenv(0)), and runs as it would in plain LuaJIT. Any
-- other module a file requires (beside it, through LUA_PATH or a local
-- luarocks tree) is the user's, and runs in an environment of its own
-- (below); so is one reached through such a directory and out of it again
-- ("/usr/share/lua/5.1/../../../home/...").
local TRUSTED = {
  (debug.getinfo(1, "S").source:match("^@(.*/)") or "lua/asx/"),
  "/usr/share/lua/", "/usr/local/share/lua/", "/usr/share/luajit-", "/usr/local/share/luajit-",
}

local function trusted(path)
  for _, dir in ipairs(TRUSTED) do
    if path:sub(1, #dir) == dir and not ("/" .. path:sub(#dir + 1) .. "/"):find("/../", 1, true) then
      return true
    end
  end
  return false
end

-- require's loader for Lua files (package.loaders[2]), through safe_loadfile.
-- A user's module gets its own environment (M.environment), as a strategy
-- file does: it ran against the real globals, where string.format = nil or
-- pairs = nil in a helper module took down asx's own code.
local function lua_loader(name)
  local path, err = package.searchpath(name, package.path)
  if not path then return err end
  local f, lerr = safe_loadfile(path)
  if not f then
    error(format("error loading module '%s' from file '%s':\n\t%s", name, path, lerr), 2)
  end
  if not trusted(path) then setfenv(f, M.environment()) end
  return f
end

local REFUSED = {
  __gc = "finalizers (__gc) are not available in asx-host",
  -- The real metatable must stay hidden, or __gc could be set on it raw.
  __metatable = "this metatable cannot be replaced in asx-host",
}

-- getmetatable(u) returns this face instead of the real metatable: reads
-- go through to it, writes are checked (fname names the caller in the
-- error), and a rawset on the face changes only the face.
local function face_of(mt, fname)
  return setmetatable({}, {
    __index = mt,
    __newindex = function(_, k, v)
      local why = REFUSED[k]
      if why then error(format("%s: %s (setting %s)", fname, why, tostring(k)), 2) end
      rawset(mt, k, v)
    end,
  })
end

local function safe_newproxy(...)
  if select("#", ...) == 0 or select(1, ...) ~= true then return real.newproxy(...) end
  local u = real.newproxy(true)
  local mt = getmetatable(u)
  mt.__metatable = face_of(mt, "newproxy")
  return u
end

-- The file handles' metatable behind a face too. Its methods table is put
-- on the face itself, so that code reading the face raw (the REPL's
-- completion of io.stdout:) still finds them.
local function hide_file_metatable()
  local mt = getmetatable(io.stdout)
  if type(mt) ~= "table" or rawget(mt, "__metatable") ~= nil then return end
  local face = face_of(mt, "io")
  rawset(face, "__index", rawget(mt, "__index"))
  mt.__metatable = face
end

local G = _G
local STANDARD = {}
for k in pairs(G) do STANDARD[k] = true end

-- The __newindex of such an environment.
function M.assign_global(env, k, v)
  if STANDARD[k] then rawset(env, k, v) else G[k] = v end
end

-- The tables, and the fields each has of its own (asx's code may read them).
local LIBRARIES, OWN = {}, {}
for _, name in ipairs({ "string", "table", "math", "os", "io", "coroutine", "debug", "bit", "jit" }) do
  local lib = G[name]
  if type(lib) == "table" then
    LIBRARIES[name], OWN[name] = lib, {}
    for k in pairs(lib) do OWN[name][k] = true end
  end
end

-- A table of copies of the standard library's tables, by name, for an
-- environment to hold as its own globals.
function M.libraries()
  local libs = {}
  for name, lib in pairs(LIBRARIES) do
    local copy, own = {}, OWN[name]
    for k, v in pairs(lib) do copy[k] = v end
    libs[name] = setmetatable(copy, {
      __index = lib,
      -- A field of its own removed from the copy (nil) and assigned again.
      __newindex = function(t, k, v)
        if own[k] then rawset(t, k, v) else lib[k] = v end
      end,
      -- Its __index is the library itself.
      __metatable = false,
    })
  end
  return libs
end

-- The other ways from an environment to the real globals and libraries:
-- require("string"), getfenv(0) and getfenv(print) (the real globals), and
-- the chunks load and loadstring make, whose environment is the real
-- globals. In an environment they give its copies and itself, and the
-- chunks run in it. (package.loaded is shared: M.install puts faces there.)
-- And setfenv, which would change asx's own functions' globals.
local function reach(env, libs)
  local real_getfenv, real_setfenv = getfenv, setfenv
  local function own(e)
    if e == G then return env end
    return e
  end
  function env.require(name)
    local lib = type(name) == "string" and rawget(libs, name)
    if lib then return lib end
    return G.require(name)
  end
  function env.getfenv(f)
    if f == nil then f = 1 end
    -- Level 1 is the caller's, two above pcall, which counts as one.
    if type(f) == "number" and f > 0 then f = f + 2 end
    return own(as_called("getfenv", pcall(real_getfenv, f)))
  end
  -- A function whose environment is the real globals is asx's own or the
  -- standard library's (an environment's chunks run in it): setfenv there
  -- took the globals from asx's code (type, ipairs), and the session's end
  -- with them. So does the thread's (level 0), which C functions read.
  function env.setfenv(f, t)
    if type(f) == "number" then
      if f == 0 then error("setfenv: the thread's environment is asx-host's own (level 0)", 2) end
      -- Level 1 is the caller's, one above this function.
      if f > 0 then f = f + 1 end
    end
    if type(t) == "table"
      and as_called("setfenv", pcall(real_getfenv, type(f) == "number" and f > 0 and f + 1 or f)) == G then
      error("setfenv: the function's environment is asx-host's own (the real globals, which asx's code reads)", 2)
    end
    return real_setfenv(f, t)
  end
  local function loaded(f, err)
    if f then real_setfenv(f, env) end
    return f, err
  end
  function env.load(...) return loaded(G.load(...)) end
  function env.loadstring(...) return loaded(G.loadstring(...)) end
  function env.loadfile(...) return loaded(G.loadfile(...)) end
  function env.dofile(path)
    local f, err = loaded(load_file("dofile", path))
    if not f then error(err, 2) end
    return f()
  end
  -- Lua 5.1's module(name, package.seeall) gives its caller the module's
  -- table, which reads the real globals (seeall): string.format = nil
  -- there edited asx's table. Here the module's table reads the
  -- environment. The real module sets the environment of the function
  -- that calls it, this one, which hands it on to its own caller.
  function env.module(...)
    -- The real module raises here, as real_module, when its name is no
    -- string; it cannot run under pcall, which would be its caller.
    local name = ...
    if type(name) ~= "string" and type(name) ~= "number" then
      raise_as("module", format("bad argument #1 to 'module' (string expected, got %s)",
        select("#", ...) == 0 and "no value" or type(name)))
    end
    local mine = real_getfenv(1)
    real_module(...)
    local m = real_getfenv(1)
    real_setfenv(1, mine)
    local mt = getmetatable(m)
    if type(mt) == "table" and rawget(mt, "__index") == G then rawset(mt, "__index", env) end
    local caller = getinfo(2, "fS")
    if caller and caller.what ~= "C" then real_setfenv(caller.func, m) end
  end
end

-- A new environment for a file's chunk (setfenv). It holds its copies of
-- the libraries as globals of its own, and reads them again from libs
-- once the code clears such a global (string = nil: string.format = nil
-- then still edits the copy, where the look-up fell through to the real
-- table, asx's). Its _G is itself, so that _G.string is the copy too.
-- Other names are read from fallback (default: _G, the real globals).
function M.environment(fallback)
  local libs = M.libraries()
  local env = {}
  for name, lib in pairs(libs) do env[name] = lib end
  env._G = env
  reach(env, libs)
  -- Neither metatable is shown: their __index lead to the real globals.
  setmetatable(libs, { __index = fallback or G, __metatable = false })
  return setmetatable(env, { __index = libs, __newindex = M.assign_global, __metatable = false })
end

-- package.loaded holds the real libraries, and _G, for any code to find:
-- there they are faces that read them and refuse to have a field of the
-- library's own replaced or removed (a new field goes to the library, as
-- string.trim = f does), and _G's face a global of the standard library's.
local function loaded_face(name, lib, own, index)
  return setmetatable({}, {
    __index = index or lib,
    __newindex = function(_, k, v)
      if own[k] then
        error(format("package.loaded.%s: the %s field is read-only in asx-host (a file's %s.%s = v changes "
          .. "its own copy)", name, tostring(k), name, tostring(k)), 2)
      end
      lib[k] = v
    end,
    __metatable = false,
  })
end

local function face_loaded()
  local loaded = package.loaded
  if getmetatable(loaded._G) == false then return end
  local faces = {}
  for name, lib in pairs(LIBRARIES) do
    faces[name] = loaded_face(name, lib, OWN[name])
    if loaded[name] == lib then loaded[name] = faces[name] end
  end
  loaded._G = loaded_face("_G", G, STANDARD, function(_, k)
    local face = faces[k]
    if face ~= nil then return face end
    return G[k]
  end)
end

-- string.gsub, limited in the nesting of its replacement functions (see
-- the top). Each call with a function counts itself while its function
-- runs; a function's error is raised again as it was, after the count.
local MAX_GSUB_NESTING = 200
local GSUB_NESTING = format("gsub: replacement functions nested more than %d deep "
  .. "(a recursion through gsub would overflow the C stack)", MAX_GSUB_NESTING)
local gsub_depth = 0

local function left_gsub(ok, ...)
  gsub_depth = gsub_depth - 1
  if not ok then error((...), 0) end
  return ...
end

local function safe_gsub(s, pattern, repl, n)
  if type(repl) ~= "function" then return real.gsub(s, pattern, repl, n) end
  if gsub_depth >= MAX_GSUB_NESTING then error(GSUB_NESTING, 2) end
  return real.gsub(s, pattern, function(...)
    gsub_depth = gsub_depth + 1
    return left_gsub(pcall(repl, ...))
  end, n)
end

local MEMORY = "writing a process's memory is not available in asx-host"

local function writes(mode)
  return type(mode) == "string" and find(mode, "[wa+]") ~= nil
end

local function safe_io_open(path, mode)
  if type(path) == "string" and writes(mode) and process_memory(path) then
    return nil, format("%s: %s", path, MEMORY)
  end
  return real.io_open(path, mode)
end

local function safe_io_output(file)
  if type(file) == "string" and process_memory(file) then
    error(format("io.output: %s: %s", file, MEMORY), 2)
  end
  return real.io_output(file)
end

-- The strings' metatable is one for every string of the process, and
-- asx's own code calls strings' methods through it (("%d"):format) up to
-- the session's end, its summary and its loggers' close: a change there
-- (getmetatable("").__index = {}) ended the session with status 1. Rather
-- than every line of asx shunning s:method calls, getmetatable("") gives a
-- face that reads it and refuses every write, and the face's __index, the
-- string library, refuses to have a field of the library's own replaced
-- or removed: a new field goes to the library, shared, as string.trim = f
-- does, and a file's string.format = f changes its own copy.
local STRING_MT = "strings' metatable: read-only in asx-host, whose own code calls strings' methods"
local STRING_OWN = "getmetatable(\"\").__index: the string library's own fields are read-only there in "
  .. "asx-host (string.%s = f changes the file's own copy)"

local function hide_string_metatable()
  local mt = getmetatable("")
  if type(mt) ~= "table" or rawget(mt, "__metatable") ~= nil then return end
  local lib, own = mt.__index, OWN.string
  local methods = setmetatable({}, {
    __index = lib,
    __newindex = function(_, k, v)
      if own[k] then error(format(STRING_OWN, tostring(k)), 2) end
      lib[k] = v
    end,
  })
  mt.__metatable = setmetatable({}, {
    __index = function(_, k)
      if k == "__index" then return methods end
      return mt[k]
    end,
    __newindex = function(_, k)
      error(format("%s (setting %s)", STRING_MT, tostring(k)), 2)
    end,
  })
end

-- Closes the corners in the running Lua state; installing twice is harmless.
function M.install()
  load, loadstring, loadfile, dofile = safe_load, safe_loadstring, safe_loadfile, safe_dofile -- luacheck: ignore 121
  package.loaders[2] = lua_loader
  if real.newproxy then newproxy = safe_newproxy end -- luacheck: ignore 121
  hide_file_metatable()
  hide_string_metatable()
  face_loaded()
  io.open, io.output = safe_io_open, safe_io_output -- luacheck: ignore 122
  string.gsub = safe_gsub -- luacheck: ignore 122
  debug.sethook = no_sethook -- luacheck: ignore 122
end

return M
