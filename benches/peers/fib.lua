-- FIB: naive recursive fib(32)
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local N = tonumber(arg[1]) or 32
local t0 = os.clock()
local r = fib(N)
print(string.format("fib=%d time_ms=%.1f", r, (os.clock() - t0) * 1000))
