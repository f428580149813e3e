-- The FFI view of the C core: declarations come from the core itself
-- (require("asx.core").cdef), so Lua and C never disagree on a layout.
-- Declaring the types twice would fail, so a second load (a test runner that
-- clears package.loaded) gets the first one's result.
local registry = debug.getregistry()
if registry["asx.ffi"] then return registry["asx.ffi"] end

local ffi = require("ffi")
local core = require("asx.core")

-- The order's public fields are renamed with a trailing underscore in the
-- Lua view, with the same layout. Then o.amount misses the struct and goes
-- through the order's __index, which returns plain Lua numbers and strings
-- rather than boxed 64-bit integers.
local cdef = core.cdef:gsub("typedef struct asx_order {(.-)} asx_order;", function(body)
  return "typedef struct asx_order {" .. body:gsub("(%w+);", "%1_;") .. "} asx_order;"
end)
ffi.cdef(cdef)

-- asx.core is already loaded, so this finds the same library, by the same
-- path, and gives its symbols to the FFI.
local path = assert(package.searchpath("asx.core", package.cpath), "asx.core not found on package.cpath")

registry["asx.ffi"] = { ffi = ffi, C = ffi.load(path), core = core }
return registry["asx.ffi"]
