"""The performance issue's workloads in CPython 3, in the same `while` shape
as the FinVM programs (see BENCHMARKS.md).

usage: python3 workloads.py WORKLOAD RUNS
prints one JSON line: {"workload":..., "times_s":[...], "cpu_s":[...], "result":"..."}
"""
import gc
import json
import sys
import time


def a_small(start=0):
    n = 10_000_000
    s, i, lim = 0, start, start + n
    while i < lim:
        s += i
        i += 1
    return s


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def list_w(n=1_000_000):
    t = []
    i = 0
    while i < n:
        t.append(i)
        i += 1
    s = 0
    i = 0
    while i < n:
        s += t[i]
        i += 1
    return s


def map_w(n=1_000_000):
    m = {}
    i = 0
    while i < n:
        m["k" + str(i)] = i
        i += 1
    s = 0
    i = 0
    while i < n:
        s += m["k" + str(i)]
        i += 1
    return s


def statistics(n=10_000):
    s = list_w(n)
    _avg = s // n
    return s


def graph(n=10_000):
    g = {}
    i = 0
    while i != n:
        g[i] = i + 1
        i += 1
    cur = 0
    while cur != n:
        cur = g[cur]
    return cur


WORKLOADS = {
    "A-small": a_small,
    "A-big": lambda: a_small(1 << 100),
    "FIB": lambda: fib(32),
    "LIST": list_w,
    "MAP": map_w,
    "Statistics": statistics,
    "Graph": graph,
}


def main():
    name, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    f = WORKLOADS.get(name)
    if f is None:
        print(json.dumps({"workload": name, "error": "not implemented in Python"}))
        return
    sys.setrecursionlimit(10_000)
    times, cpu, result = [], [], None
    for _ in range(runs):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        result = f()
        times.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"workload": name, "times_s": times, "cpu_s": cpu, "result": str(result)}))


if __name__ == "__main__":
    main()
