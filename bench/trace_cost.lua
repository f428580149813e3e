-- Where the instructions of a callgrind run of bench/book_bench.lua go, by
-- trace of LuaJIT's compiled code and by function, per order:
--
--   ASX_BENCH_ONCE=1 valgrind --tool=callgrind --dump-instr=yes \
--     --dump-before='*clock_gettime*' --callgrind-out-file=cg.out \
--     luajit -jdump=+m,jit.dump bench/book_bench.lua
--   luajit bench/trace_cost.lua jit.dump cg.out.3 200000
--
-- (cg.out.3 is the timed window, see bench/book_bench.lua; 200,000 its
-- orders.) Callgrind names compiled code only by the address it entered it
-- at, and differently in each run; the machine code that -jdump=+m prints
-- in the same run gives each trace's addresses. The window then also holds
-- the dump's own work (the replay's traces are made in it), among the
-- functions: a run without -jdump gives the other figures. LuaJIT's own
-- functions are named only by a LuaJIT built with symbols (Debian's luajit
-- is stripped): the upstream commit Debian packages, built with
-- `make CCDEBUG=-g`, run in place of luajit above.
local dump_file, cg_file, orders = arg[1], arg[2], tonumber(arg[3])
if not (dump_file and cg_file and orders) then
  io.stderr:write("usage: luajit bench/trace_cost.lua JIT_DUMP CALLGRIND_OUT ORDERS\n")
  os.exit(2)
end

-- Each trace's first and last address (the last instruction's start, plus
-- the longest x86 instruction).
local ranges = {}
do
  local trace, lo, hi
  local function close()
    if trace and lo then ranges[#ranges + 1] = { lo = lo, hi = hi + 15, trace = trace } end
    trace, lo, hi = nil, nil, nil
  end
  for line in io.lines(dump_file) do
    local n = line:match("^%-%-%-%- TRACE (%d+) mcode")
    if n then
      close()
      trace = tonumber(n)
    elseif line:match("^%-%-%-%- TRACE") then
      close()
    elseif trace then
      local addr = line:match("^(%x%x%x%x%x%x%x%x+)%s")
      if addr then
        addr = tonumber(addr, 16)
        lo = lo and math.min(lo, addr) or addr
        hi = hi and math.max(hi, addr) or addr
      end
    end
  end
  close()
end
local function trace_at(addr)
  for _, r in ipairs(ranges) do
    if addr >= r.lo and addr <= r.hi then return r.trace end
  end
end

-- Self costs (a cost line right after calls= is the call's inclusive cost,
-- left out), by function name and by trace.
local names, by_fn, by_trace, total = {}, {}, {}, 0
local fn, pos, after_call = "?", 0, false
local function name_of(s)
  local id, name = s:match("^%((%d+)%)%s*(.*)$")
  if not id then return s end
  if name ~= "" then names[id] = name end
  return names[id] or s
end
for line in io.lines(cg_file) do
  local key, value = line:match("^(%a+)=(.*)$")
  if key == "fn" then
    fn = name_of(value):gsub("'%d+$", "")
  elseif key == "cfn" then
    name_of(value)
  elseif key == "calls" then
    after_call = true
  elseif not key then
    local p, cost = line:match("^(%S+)%s+%S+%s+(%d+)$")
    if p then
      if p:sub(1, 2) == "0x" then
        pos = tonumber(p:sub(3), 16)
      elseif p:sub(1, 1) == "+" or p:sub(1, 1) == "-" then
        local d = p:sub(2)
        d = d:sub(1, 2) == "0x" and tonumber(d:sub(3), 16) or tonumber(d)
        pos = p:sub(1, 1) == "+" and pos + d or pos - d
      end
      if after_call then
        after_call = false
      else
        cost = tonumber(cost)
        total = total + cost
        local trace = trace_at(pos)
        if trace then
          by_trace[trace] = (by_trace[trace] or 0) + cost
        else
          by_fn[fn] = (by_fn[fn] or 0) + cost
        end
      end
    end
  end
end

local function show(t, label)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return t[a] > t[b] end)
  for _, k in ipairs(keys) do
    local per = t[k] / orders
    if per >= 0.5 then print(("%8.1f  %s%s"):format(per, label, tostring(k))) end
  end
end
print(("%8.1f  instructions an order in all"):format(total / orders))
show(by_trace, "trace ")
show(by_fn, "")
