-- The FFI view of the C core: declarations come from the core itself
-- (require("asx.core").cdef), so Lua and C never disagree on a layout.
-- Declaring the types twice would fail, so a second load (a test runner that
-- clears package.loaded) gets the first one's result.
local registry = debug.getregistry()
if registry["asx.ffi"] then return registry["asx.ffi"] end

local ffi = require("ffi")
local core = require("asx.core")

-- Lua code gets orders, so their Lua view must not let it change memory the
-- book relies on or follow a pointer out of them: every field is const, the
-- links are plain integers, and the public fields get a trailing underscore
-- (same layout). Then o.amount misses the struct and goes through the
-- order's __index, which returns plain Lua numbers and strings rather than
-- boxed 64-bit integers. The slot and the instrument, small numbers that
-- index Lua tables, are read as signed: compiled code uses an int32_t as an
-- index as it is, where a uint32_t goes through a double and back.
local SIGNED = { ["uint32_t slot"] = "int32_t slot", ["uint32_t instrument"] = "int32_t instrument" }

-- A struct body's fields made const, each pointer a plain integer, each
-- other declaration passed through rename (the Lua view's field names).
local function const_fields(body, rename)
  local fields = {}
  for decl in body:gmatch("[^;]+") do
    decl = decl:match("^%s*(.-)%s*$")
    if decl:find("*", 1, true) then
      local names = {}
      for name in decl:gmatch("%*%s*([%w_]+)") do names[#names + 1] = name end
      fields[#fields + 1] = "const uintptr_t " .. table.concat(names, ", ") .. ";"
    elseif decl ~= "" then
      fields[#fields + 1] = "const " .. rename(decl) .. ";"
    end
  end
  return table.concat(fields, "\n  ")
end

local function order_view(body)
  body = body:gsub("/%*.-%*/", "")
  local fields = const_fields(body, function(decl) return (SIGNED[decl] or decl) .. "_" end)
  return "typedef struct asx_order {\n  " .. fields .. "\n} asx_order;"
end
local cdef = core.cdef:gsub("typedef struct asx_order {(.-)} asx_order;", order_view)

-- A trader's account is kept in the trader's own table (lua/asx/private.lua),
-- where pairs(t) shows it: Lua's view of it is read-only too, with the same
-- field names (the balances are written through asx_account_set, which
-- checks them), and its pointers are plain integers. asx's own code writes
-- the fields the core leaves to its owner (tag, positions) through the
-- writable struct asx_account_rw, of the same layout.
local function account_view(body)
  body = body:gsub("/%*.-%*/", "")
  local fields = const_fields(body, function(decl) return decl end)
  return "typedef struct asx_account_rw {" .. body .. "} asx_account_rw;\n"
    .. "typedef struct asx_account {\n  " .. fields .. "\n} asx_account;"
end
cdef = cdef:gsub("typedef struct asx_account {(.-)} asx_account;", account_view)
ffi.cdef(cdef)

-- asx.core is already loaded, so this finds the same library, by the same
-- path, and gives its symbols to the FFI.
local path = assert(package.searchpath("asx.core", package.cpath), "asx.core not found on package.cpath")

local C = ffi.load(path)

-- Every function and constant is looked up now rather than at its first
-- use: the JIT compiles C.name only once the name is in C's cache, and a
-- trace recorded before (in an agent's first order, say) would be abandoned,
-- which can leave the agent's loop in the interpreter for good.
for name in cdef:gmatch("[%s%*](asx_[%w_]+)%s*%(") do
  local _ = C[name]
end
for name in cdef:gmatch("[%s,{](ASX_[%w_]+)%s*=") do
  local _ = C[name]
end

registry["asx.ffi"] = { ffi = ffi, C = C, core = core }
return registry["asx.ffi"]
