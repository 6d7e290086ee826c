-- The performance issue's workloads in Lua 5.4, written in the same `while`
-- shape as the FinVM programs (see BENCHMARKS.md).
-- usage: lua5.4 workloads.lua WORKLOAD RUNS
-- prints one JSON line: {"workload":..., "cpu_s":[...], "result":"..."}
-- (plain Lua has no sub-second wall clock, so only CPU time via os.clock).

local W = {}

W["A-small"] = function()
  local N = 10000000
  local s, i = 0, 0
  while i < N do
    s = s + i
    i = i + 1
  end
  return s
end

W["FIB"] = function()
  local fib
  fib = function(n)
    if n < 2 then return n end
    return fib(n - 1) + fib(n - 2)
  end
  return fib(32)
end

W["LIST"] = function()
  local n = 1000000
  local t = {}
  local i = 0
  while i < n do
    t[#t + 1] = i
    i = i + 1
  end
  local s = 0
  i = 0
  while i < n do
    s = s + t[i + 1]
    i = i + 1
  end
  return s
end

W["MAP"] = function()
  local n = 1000000
  local m = {}
  local i = 0
  while i < n do
    m["k" .. tostring(i)] = i
    i = i + 1
  end
  local s = 0
  i = 0
  while i < n do
    s = s + m["k" .. tostring(i)]
    i = i + 1
  end
  return s
end

W["Statistics"] = function()
  local n = 10000
  local t = {}
  local i = 0
  while i ~= n do
    t[#t + 1] = i
    i = i + 1
  end
  local s, j = 0, 0
  while j ~= n do
    s = s + t[j + 1]
    j = j + 1
  end
  local avg = s // n
  return s
end

W["Graph"] = function()
  local n = 10000
  local g = {}
  local i = 0
  while i ~= n do
    g[i] = i + 1
    i = i + 1
  end
  local cur = 0
  while cur ~= n do
    cur = g[cur]
  end
  return cur
end

local name, runs = arg[1], tonumber(arg[2]) or 3
local f = W[name]
if not f then
  print(string.format('{"workload":"%s","error":"not implemented in Lua"}', name))
  return
end
local cpu, result = {}, nil
for _ = 1, runs do
  collectgarbage("collect")
  local t0 = os.clock()
  result = f()
  cpu[#cpu + 1] = string.format("%.6f", os.clock() - t0)
end
print(string.format('{"workload":"%s","cpu_s":[%s],"result":"%s"}',
  name, table.concat(cpu, ","), string.format("%d", result)))
