// The performance issue's workloads in Node, in the same `while` shape as the
// FinVM programs (see BENCHMARKS.md); BigInt only where the workload needs
// big integers (A-big).
// usage: node workloads.js WORKLOAD RUNS
// prints one JSON line: {"workload":..., "times_s":[...], "cpu_s":[...], "result":"..."}
'use strict';

function aSmall() {
  const N = 10000000;
  let s = 0, i = 0;
  while (i < N) { s += i; i += 1; }
  return s;
}

function aBig() {
  let s = 0n, i = 1n << 100n;
  const lim = i + 10000000n;
  while (i < lim) { s += i; i += 1n; }
  return s;
}

function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

function listW(n = 1000000) {
  const t = [];
  let i = 0;
  while (i < n) { t.push(i); i += 1; }
  let s = 0;
  i = 0;
  while (i < n) { s += t[i]; i += 1; }
  return s;
}

function mapW(n = 1000000) {
  const m = new Map();
  let i = 0;
  while (i < n) { m.set('k' + String(i), i); i += 1; }
  let s = 0;
  i = 0;
  while (i < n) { s += m.get('k' + String(i)); i += 1; }
  return s;
}

function statistics(n = 10000) {
  const s = listW(n);
  Math.floor(s / n);
  return s;
}

function graph(n = 10000) {
  const g = new Map();
  let i = 0;
  while (i !== n) { g.set(i, i + 1); i += 1; }
  let cur = 0;
  while (cur !== n) cur = g.get(cur);
  return cur;
}

const WORKLOADS = {
  'A-small': aSmall,
  'A-big': aBig,
  FIB: () => fib(32),
  LIST: () => listW(),
  MAP: () => mapW(),
  Statistics: () => statistics(),
  Graph: () => graph(),
};

const [name, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const f = WORKLOADS[name];
if (!f) {
  console.log(JSON.stringify({ workload: name, error: 'not implemented in Node' }));
} else {
  const times = [], cpu = [];
  let result;
  for (let r = 0; r < runs; r++) {
    if (global.gc) global.gc();
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    result = f();
    const w1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);
    times.push(Number(w1 - w0) / 1e9);
    cpu.push((c1.user + c1.system) / 1e6);
  }
  console.log(JSON.stringify({ workload: name, times_s: times, cpu_s: cpu, result: String(result) }));
}
