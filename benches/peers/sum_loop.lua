-- The A-small workload: s = 0; i = 0; while i < N do s = s + i; i = i + 1 end
local N = tonumber(arg[1]) or 10000000
local t0 = os.clock()
local s, i = 0, 0
while i < N do
  s = s + i
  i = i + 1
end
local t1 = os.clock()
print(string.format("sum=%d time_ms=%.1f", s, (t1 - t0) * 1000))
