#!/usr/bin/env bash
# Runs the reference's sum-loop workload (N = 10^7) through FinVM and the same
# loop in Lua 5.4, in one go, and prints both. Needs lua5.4 (apt-get install lua5.4).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p finvm-cli
best() { sort -n | head -1; }
echo "FinVM (finvm run benches/programs/sum_loop.json, best of 5):"
for _ in 1 2 3 4 5; do
  s=$(date +%s%N); ./target/release/finvm run benches/programs/sum_loop.json >/dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000000 ))
done | best | sed 's/$/ ms (whole process, incl. load)/'
if command -v lua5.4 >/dev/null; then
  echo "Lua 5.4 (benches/peers/sum_loop.lua, best of 5):"
  for _ in 1 2 3 4 5; do lua5.4 benches/peers/sum_loop.lua | sed 's/.*time_ms=//'; done | sort -n | head -1 | sed 's/$/ ms (loop only)/'
else
  echo "lua5.4 not installed"
fi
