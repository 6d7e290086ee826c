#!/usr/bin/env python3
"""FinVM against Lua 5.4, CPython 3, Node, Erlang/OTP and SQLite, in one run.

Runs `finvm bench --json` and the same workloads written for each peer under
benches/peers/, prints each ratio FinVM/peer, counts instructions with
`valgrind --tool=callgrind` for A-small and FIB (smaller sizes), and writes
BENCHMARKS.md and benches/chart.svg (a hand-written SVG, no plotting library).

    python3 scripts/bench_compare.py [--install] [--quick] [--runs K] [--per-round R]
                                     [--filter SUBSTR] [--metric cpu|wall]
                                     [--no-build] [--no-callgrind] [--no-write]

--runs      paired rounds (default 3): workload by workload, each round runs
            FinVM and then each peer, --per-round times each (default 3), so
            a burst of load lands on one round of both sides; medians are
            taken over all runs.
--install   apt-get installs what is missing (lua5.4, erlang-base, sqlite3,
            valgrind); python3 and node are expected to be there.
--metric    which median the ratios use: `cpu` (default: CPU time of the
            measured thread/process, robust on a shared, noisy machine) or
            `wall` (elapsed time). Both are always recorded.

Only the standard library is used. Ratios are FinVM time / peer time for the
same workload, so below 1.0 means FinVM is faster (for RING, msgs/s ratio
>= 1.0 is the same thing as time ratio <= 1.0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benches" / "peers"
PROGRAMS = ROOT / "benches" / "programs"
NOTES_BEGIN = "<!-- notes:begin (kept by scripts/bench_compare.py) -->"
NOTES_END = "<!-- notes:end -->"

# Peer runtimes: name -> (command prefix, workloads it implements).
# Every workload script prints one JSON line with times_s / cpu_s / result.
PEER_RUNTIMES = {
    "Lua 5.4": (["lua5.4", str(PEERS / "workloads.lua")],
                ["A-small", "FIB", "LIST", "MAP", "Statistics", "Graph"]),
    "CPython": ([sys.executable, str(PEERS / "workloads.py")],
                ["A-small", "A-big", "FIB", "LIST", "MAP", "Statistics", "Graph"]),
    "Node": (["node", str(PEERS / "workloads.js")],
             ["A-small", "A-big", "FIB", "LIST", "MAP", "Statistics", "Graph"]),
    "Erlang/OTP": (["escript", str(PEERS / "workloads.erl")],
                   ["A-small", "A-big", "FIB", "LIST", "MAP", "RING-1000x1000",
                    "RING-100000x10", "SPAWN"]),
}
# The DB workload's peers (written with benches/programs/db_store.json; they
# print `admins=N hash=H time_ms=T`; the hash must equal FinVM's db.hash).
DB_PEERS = {
    "Node Map+index": ["node", str(PEERS / "db_store.js")],
    "SQLite :memory:": ["sh", str(PEERS / "db_store_sqlite.sh")],
}

EXPECTED = {
    "A-small": str(10**7 * (10**7 - 1) // 2),
    "A-big": str(10**7 * 2**100 + 10**7 * (10**7 - 1) // 2),
    "FIB": "2178309",
    "LIST": str(10**6 * (10**6 - 1) // 2),
    "MAP": str(10**6 * (10**6 - 1) // 2),
    "Statistics": "49995000",
    "Graph": "10000",
    "RING-1000x1000": "1000",
    "RING-100000x10": "10",
    "SPAWN": "100000",
}

# The targets: (FinVM row, peer, max ratio FinVM/peer, wording).
TARGETS = [
    ("A-small", "Lua 5.4", 1.0, "A-small <= 1.0 x Lua 5.4"),
    ("A-big", "Erlang/OTP", 1.0, "A-big <= 1.0 x Erlang/OTP"),
    ("FIB", "Lua 5.4", 1.0, "FIB(32) <= 1.0 x Lua 5.4"),
    ("LIST", "Lua 5.4", 1.0, "LIST <= 1.0 x Lua 5.4"),
    ("MAP", "CPython", 1.0, "MAP <= 1.0 x CPython dict"),
    ("RING-1000x1000", "Erlang/OTP", 1.0, "RING 1000x1000 msgs/s >= 1.0 x BEAM"),
    ("RING-100000x10", "Erlang/OTP", 1.0, "RING 100000x10 msgs/s >= 1.0 x BEAM"),
    ("SPAWN", "Erlang/OTP", 1.0, "spawn+exit <= 1.0 x BEAM"),
    ("DB", "Node Map+index", 1.0, "DB <= 1.0 x Node Map+index"),
    ("DB", "SQLite :memory:", 0.2, "DB <= 0.2 x SQLite in memory"),
    ("TRACE", "FinVM A-small", 1.5, "TRACE <= 1.5 x A-small"),
]
IDLE_RSS_TARGET_MIB = 400
CONSTANT_MEMORY_MIB = 16  # A-small: constant memory, i.e. no growth with N


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd, timeout=900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# --------------------------------------------------------------------------
# tools


def install_missing() -> None:
    wanted = {"lua5.4": "lua5.4", "escript": "erlang-base", "sqlite3": "sqlite3",
              "valgrind": "valgrind"}
    missing = sorted({pkg for tool, pkg in wanted.items() if shutil.which(tool) is None})
    if not missing:
        log("all peer tools present")
        return
    log(f"installing: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def tool_version(cmd) -> str:
    try:
        p = run(cmd, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    erl = tool_version(["erl", "-noshell", "-eval",
                        'io:format("OTP ~s, erts ~s", [erlang:system_info(otp_release), '
                        'erlang:system_info(version)]), halt().'])
    git = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).stdout
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem": mem,
        "kernel": platform.release(),
        "load": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else [],
        "git": git + (" (with uncommitted changes)" if dirty.strip() else ""),
        "versions": {
            "rustc": tool_version(["rustc", "--version"]),
            "Lua 5.4": tool_version(["lua5.4", "-v"]).split("  Copyright")[0],
            "CPython": tool_version([sys.executable, "--version"]),
            "Node": tool_version(["node", "--version"]),
            "Erlang/OTP": erl,
            "SQLite": tool_version(["sqlite3", "--version"]).split(" 20")[0],
            "valgrind": tool_version(["valgrind", "--version"]),
        },
    }


# --------------------------------------------------------------------------
# measuring


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run_finvm(finvm: str, runs: int, flt: str | None, timeout: int) -> list[dict]:
    cmd = [finvm, "bench", "--json", "--runs", str(runs), "--timeout", str(timeout)]
    if flt:
        cmd += ["--filter", flt]
    log(f"$ {' '.join(cmd)}")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return json.loads(p.stdout)


def merge_finvm(rounds: list[list[dict]]) -> list[dict]:
    """One row per workload from rows of several rounds: every time of every
    round, medians over them, the highest peak RSS; failed if any round
    failed."""
    out = []
    for first in rounds[0]:
        rows = [r for rnd in rounds for r in rnd if r["name"] == first["name"]]
        row = dict(first)
        bad = next((r for r in rows if r.get("status") != "ok"), None)
        if bad is not None:
            row.update(status=bad.get("status"), detail=bad.get("detail", ""))
        times = [t for r in rows for t in r.get("times_s", [])]
        cpus = [t for r in rows for t in r.get("cpu_s", [])]
        row.update(runs=len(times), times_s=times, cpu_s=cpus,
                   median_s=median(times), cpu_median_s=median(cpus),
                   min_s=min(times) if times else None,
                   peak_rss_kib=max((r.get("peak_rss_kib") or 0) for r in rows))
        med = row["median_s"]
        if med:
            if row.get("steps"):
                row["instructions_per_s"] = row["steps"] / med
            if row.get("ops"):
                row["ops_per_s"] = row["ops"] / med
        out.append(row)
    return out


def merge_peer(rounds: list[dict]) -> dict:
    """One peer result from the same peer and workload in several rounds."""
    out = dict(rounds[0])
    bad = next((r for r in rounds if r["status"] != "ok"), None)
    if bad is not None:
        return bad
    out["wall"] = median([r["wall"] for r in rounds])
    out["cpu"] = median([r["cpu"] for r in rounds])
    return out


def run_peer(name: str, cmd: list[str], workload: str, runs: int, timeout: int) -> dict:
    out = {"peer": name, "workload": workload, "status": "error", "wall": None, "cpu": None,
           "result": None, "detail": ""}
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():
        out["status"], out["detail"] = "missing", f"{cmd[0]} not installed (run with --install)"
        return out
    try:
        p = run([*cmd, workload, str(runs)], timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        out["status"], out["detail"] = "timeout", f"over {timeout} s"
        return out
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        out["detail"] = (p.stderr or p.stdout).strip()[-300:]
        return out
    doc = json.loads(line)
    if "error" in doc:
        out["detail"] = doc["error"]
        return out
    out["wall"] = median(doc.get("times_s", []))
    out["cpu"] = median(doc.get("cpu_s", []))
    out["result"] = doc.get("result")
    want = EXPECTED.get(workload)
    out["status"] = "ok" if want is None or out["result"] == want else "FAILED"
    if out["status"] == "FAILED":
        out["detail"] = f"result {out['result']}, expected {want}"
    return out


def run_db_peer(name: str, cmd: list[str], runs: int, finvm_result: str, timeout: int) -> dict:
    out = {"peer": name, "workload": "DB", "status": "error", "wall": None, "cpu": None,
           "result": None, "detail": ""}
    if not Path(cmd[1]).exists():
        out["status"], out["detail"] = "missing", f"{cmd[1]} not found"
        return out
    if shutil.which(cmd[0]) is None or (name.startswith("SQLite") and shutil.which("sqlite3") is None):
        out["status"], out["detail"] = "missing", "runtime not installed (run with --install)"
        return out
    times = []
    for _ in range(runs):
        try:
            p = run(cmd, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            out["status"], out["detail"] = "timeout", f"over {timeout} s"
            return out
        m = re.search(r"admins=(\d+) hash=([0-9a-f]+) time_ms=([\d.]+)", p.stdout)
        if not m:
            out["detail"] = (p.stderr or p.stdout).strip()[-300:]
            return out
        times.append(float(m.group(3)) / 1e3)
        out["result"] = f"{m.group(1)} {m.group(2)}"
    out["wall"] = median(times)
    out["cpu"] = None  # these scripts time themselves in wall-clock only
    hexes = re.findall(r"[0-9a-f]{64}", finvm_result or "")
    ok = hexes and out["result"] == f"2000 {hexes[0]}"
    out["status"] = "ok" if ok else "FAILED"
    if not ok:
        out["detail"] = f"result {out['result']} differs from FinVM's {finvm_result}"
    return out


def finvm_time(row: dict, metric: str):
    if row is None or row.get("status") != "ok":
        return None
    return row.get("cpu_median_s") if metric == "cpu" else row.get("median_s")


def peer_time(peer: dict, metric: str):
    if peer is None or peer["status"] != "ok":
        return None
    # Lua has only CPU time; the DB scripts only wall time.
    if metric == "cpu":
        return peer["cpu"] if peer["cpu"] is not None else peer["wall"]
    return peer["wall"] if peer["wall"] is not None else peer["cpu"]


# --------------------------------------------------------------------------
# callgrind


CALLGRIND_CASES = [
    # (label, FinVM program maker, Lua peer args, unit, count)
    ("A-small, N=10^6", "sum_loop", ["sum_loop.lua", "1000000"], "iteration", 10**6),
    ("FIB, fib(25)", "fib", ["fib.lua", "25"], "call", 242785),
]


def callgrind_ir(cmd: list[str]) -> int | None:
    try:
        p = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                timeout=1800, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    return int(m.group(1)) if m else None


def callgrind(finvm: str) -> list[dict]:
    if shutil.which("valgrind") is None:
        log("valgrind not installed: no instruction counts")
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        progs = {}
        doc = json.loads((PROGRAMS / "sum_loop.json").read_text())
        doc["constants"][2] = {"int": str(10**6)}
        doc["limits"]["maxSteps"] = 6 * 10**6 + 100
        progs["sum_loop"] = Path(tmp) / "sum_loop_1e6.json"
        progs["sum_loop"].write_text(json.dumps(doc))
        doc = json.loads((PROGRAMS / "fib.json").read_text())
        doc["constants"][0] = {"int": "25"}
        progs["fib"] = Path(tmp) / "fib25.json"
        progs["fib"].write_text(json.dumps(doc))
        empty = Path(tmp) / "empty.json"
        empty.write_text('{"instructions":[["RETURN",0]]}')
        base_finvm = callgrind_ir([finvm, "run", str(empty)])
        base_lua = callgrind_ir(["lua5.4", "-e", ""]) if shutil.which("lua5.4") else None
        for label, prog, lua_args, unit, count in CALLGRIND_CASES:
            log(f"callgrind: {label}")
            f_ir = callgrind_ir([finvm, "run", str(progs[prog])])
            l_ir = (callgrind_ir(["lua5.4", str(PEERS / lua_args[0]), lua_args[1]])
                    if shutil.which("lua5.4") else None)
            rows.append({
                "case": label, "unit": unit, "count": count,
                "finvm_ir": f_ir, "finvm_base": base_finvm,
                "lua_ir": l_ir, "lua_base": base_lua,
            })
    return rows


def per_unit(ir, base, count):
    if ir is None or base is None:
        return None
    return (ir - base) / count


# --------------------------------------------------------------------------
# output


def fmt_s(t):
    if t is None:
        return "—"
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.0f} µs"


def fmt_rate(r):
    if r is None:
        return "—"
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if r >= div:
            return f"{r / div:.2f}{suffix}"
    return f"{r:.1f}"


def fmt_ratio(r):
    if r is None:
        return "—"
    return f"{r:.2f}" if r < 100 else f"{r:.0f}"


def base_name(row_name: str) -> str:
    return row_name.split("/")[0]


def build_comparisons(finvm_rows, peers, metric):
    """Every (FinVM row, peer) pair with a ratio."""
    by_name = {r["name"]: r for r in finvm_rows}
    comps = []
    for r in finvm_rows:
        # Statistics/Graph: compare the performance-mode row only.
        if r["name"].endswith("/trace"):
            continue
        for p in peers:
            if p["workload"] != base_name(r["name"]):
                continue
            # A peer that only has wall time (the DB scripts) is compared on wall time.
            m = "wall" if metric == "cpu" and p["cpu"] is None and p["wall"] is not None else metric
            ft, pt = finvm_time(r, m), peer_time(p, m)
            comps.append({"workload": r["name"], "peer": p["peer"], "finvm": ft, "peer_t": pt,
                          "ratio": ft / pt if ft and pt else None, "peer_status": p["status"],
                          "detail": p["detail"], "metric": m})
    small, trace = by_name.get("A-small"), by_name.get("TRACE")
    if small and trace:
        ft, pt = finvm_time(trace, metric), finvm_time(small, metric)
        comps.append({"workload": "TRACE", "peer": "FinVM A-small", "finvm": ft, "peer_t": pt,
                      "ratio": ft / pt if ft and pt else None, "peer_status": small["status"],
                      "detail": "", "metric": metric})
    return comps


def target_rows(comps, finvm_rows):
    out = []
    for workload, peer, limit, text in TARGETS:
        c = next((c for c in comps if c["workload"] == workload and c["peer"] == peer), None)
        ratio = c["ratio"] if c else None
        out.append({"target": text + (" (wall time)" if c and c["metric"] != "cpu" else ""),
                    "workload": workload, "peer": peer, "limit": limit,
                    "ratio": ratio, "met": None if ratio is None else ratio <= limit,
                    "finvm": c["finvm"] if c else None, "peer_t": c["peer_t"] if c else None})
    by_name = {r["name"]: r for r in finvm_rows}
    idle = by_name.get("IDLE-100k")
    if idle and idle.get("peak_rss_kib"):
        mib = idle["peak_rss_kib"] / 1024
        out.append({"target": f"100,000 idle processes <= {IDLE_RSS_TARGET_MIB} MiB peak RSS",
                    "workload": "IDLE-100k", "peer": "—", "limit": IDLE_RSS_TARGET_MIB,
                    "ratio": None, "value": f"{mib:.1f} MiB", "met": mib <= IDLE_RSS_TARGET_MIB})
    small = by_name.get("A-small")
    if small and small.get("peak_rss_kib"):
        mib = small["peak_rss_kib"] / 1024
        out.append({"target": "A-small runs in constant memory (peak RSS of the whole process)",
                    "workload": "A-small", "peer": "—", "limit": CONSTANT_MEMORY_MIB,
                    "ratio": None, "value": f"{mib:.1f} MiB", "met": mib <= CONSTANT_MEMORY_MIB})
    return out


def print_summary(targets, comps):
    print("\nTargets (ratio = FinVM time / peer time; <= limit meets the target):")
    for t in targets:
        val = t.get("value") or fmt_ratio(t["ratio"])
        mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        print(f"  {t['target']:<58} {val:>10}  {mark}")
    print("\nAll ratios FinVM/peer:")
    for c in comps:
        print(f"  {c['workload']:<16} vs {c['peer']:<16} {fmt_ratio(c['ratio']):>8}"
              f"   (FinVM {fmt_s(c['finvm'])}, peer {fmt_s(c['peer_t'])})")


def chart_svg(targets, info, metric) -> str:
    rows = [t for t in targets if t.get("ratio") is not None]
    W, left, right, top, bar_h, gap = 900, 300, 80, 70, 22, 10
    H = top + len(rows) * (bar_h + gap) + 60
    lo, hi = 0.1, 10.0
    for t in rows:
        while t["ratio"] > hi / 1.5:
            hi *= 10
        while t["ratio"] < lo * 1.5:
            lo /= 10
    span = math.log10(hi) - math.log10(lo)
    plot_w = W - left - right

    def x(v):
        v = min(max(v, lo), hi)
        return left + (math.log10(v) - math.log10(lo)) / span * plot_w

    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="#ffffff"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
           f'FinVM time / peer time ({e(metric)} time, median; log scale; lower is better)</text>',
           f'<text x="{W / 2}" y="44" text-anchor="middle" fill="#555">'
           f'{e(info["date"])} · {info["nproc"]} × {e(info["cpu"])} · FinVM {e(info["git"])} · '
           f'black tick = target; green = target met</text>']
    decade = lo
    while decade <= hi * 1.0001:
        gx = x(decade)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{H - 50}" '
                   f'stroke="{"#888" if abs(decade - 1) < 1e-9 else "#ddd"}" '
                   f'stroke-width="{2 if abs(decade - 1) < 1e-9 else 1}"/>')
        label = f"{decade:g}×"
        out.append(f'<text x="{gx:.1f}" y="{H - 32}" text-anchor="middle" fill="#555">{label}</text>')
        decade *= 10
    for minor in (0.2, 0.5, 2, 5):
        m = lo * minor
        while m < hi:
            out.append(f'<line x1="{x(m):.1f}" y1="{top - 8}" x2="{x(m):.1f}" y2="{H - 50}" '
                       f'stroke="#f0f0f0" stroke-width="1"/>')
            m *= 10
    out.append(f'<text x="{left + plot_w / 2}" y="{H - 12}" text-anchor="middle" fill="#555">'
               f'← FinVM faster · FinVM slower →</text>')
    for i, t in enumerate(rows):
        y = top + i * (bar_h + gap)
        color = "#2e7d32" if t["met"] else "#c62828"
        # Bars grow from 1× (equal speed): leftwards FinVM is faster.
        x0, x1 = sorted((x(1.0), x(t["ratio"])))
        out.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
                   f'{e(t["workload"])} vs {e(t["peer"])}'
                   f'{" (wall)" if "(wall time)" in t["target"] else ""}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" '
                   f'fill="{color}" opacity="0.85"/>')
        tx = x(t["limit"])
        out.append(f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + bar_h + 3}" '
                   f'stroke="#000" stroke-width="2.5"/>')
        out.append(f'<text x="{x1 + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{fmt_ratio(t["ratio"])}×</text>')
        out.append(f'<text x="{W - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" fill="#555">'
                   f'{"met" if t["met"] else "not met"}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(info, finvm_rows, peers, comps, targets, cg, metric, runs, per_round,
             old_notes) -> str:
    L = []
    L.append("# FinVM benchmarks\n")
    L.append("Generated by `python3 scripts/bench_compare.py` (do not edit the tables by hand;"
             " the notes section between the markers is kept on re-runs).\n")
    L.append("## Machine\n")
    L.append(f"- Date: {info['date']}")
    L.append(f"- CPU: {info['cpu']}, `nproc` = {info['nproc']}, memory {info['mem']}, "
             f"Linux {info['kernel']}")
    L.append(f"- Load average at start: {' '.join(info['load'])}; at end: "
             f"{' '.join(info.get('load_end', []))} (a shared build machine: see *Method*)")
    L.append(f"- FinVM: commit {info['git']}, `target/release/finvm` (release profile, fat LTO)")
    L.append("- Peers: " + "; ".join(f"{k}: {v}" for k, v in info["versions"].items()))
    L.append(f"- Runs per workload: {runs} paired rounds of {per_round} (median of all; "
             f"workload by workload, each round runs FinVM, then the peers); ratios use "
             f"**{metric} time**\n")
    L.append("![FinVM/peer ratios](benches/chart.svg)\n")

    L.append("## Targets of the performance issue\n")
    L.append("| target | FinVM | peer | ratio FinVM/peer | limit | met |")
    L.append("|---|---|---|---|---|---|")
    for t in targets:
        if "value" in t:
            L.append(f"| {t['target']} | {t['value']} | — | — | ≤ {t['limit']} MiB | "
                     f"{'yes' if t['met'] else '**no**'} |")
            continue
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        L.append(f"| {t['target']} | {fmt_s(t['finvm'])} | {fmt_s(t['peer_t'])} | "
                 f"{fmt_ratio(t['ratio'])} | ≤ {t['limit']} | {met} |")
    L.append("")

    L.append("## FinVM (`finvm bench`)\n")
    L.append("| workload | status | wall (median) | CPU (median) | steps | instructions/s | "
             "operations/s | peak RSS |")
    L.append("|---|---|---|---|---|---|---|---|")
    for r in finvm_rows:
        ops = (f"{fmt_rate(r['ops_per_s'])} {r['ops_unit']}/s"
               if r.get("ops_per_s") else "—")
        rss = f"{r['peak_rss_kib'] / 1024:.1f} MiB" if r.get("peak_rss_kib") else "—"
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}** {r['detail']}"
        L.append(f"| {r['name']} | {status} | {fmt_s(r.get('median_s'))} | "
                 f"{fmt_s(r.get('cpu_median_s'))} | {r.get('steps') or '—'} | "
                 f"{fmt_rate(r.get('instructions_per_s'))} | {ops} | {rss} |")
    L.append("")
    L.append("Workloads:\n")
    for r in finvm_rows:
        L.append(f"- **{r['name']}**: {r['about']}")
    L.append("")

    L.append("## Every ratio FinVM/peer\n")
    peer_names = list(PEER_RUNTIMES) + list(DB_PEERS) + ["FinVM A-small"]
    workloads = []
    for c in comps:
        if c["workload"] not in workloads:
            workloads.append(c["workload"])
    L.append("| workload | FinVM | " + " | ".join(peer_names) + " |")
    L.append("|---|---|" + "---|" * len(peer_names))
    for w in workloads:
        cells = []
        ft = next((c["finvm"] for c in comps if c["workload"] == w), None)
        for pn in peer_names:
            c = next((c for c in comps if c["workload"] == w and c["peer"] == pn), None)
            if c is None:
                cells.append("")
            elif c["ratio"] is None:
                cells.append(c["peer_status"])
            else:
                cells.append(f"{fmt_ratio(c['ratio'])} ({fmt_s(c['peer_t'])})")
        L.append(f"| {w} | {fmt_s(ft)} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Each cell: ratio FinVM/peer (peer's median time). Empty: the peer has no such "
             "workload (Lua, CPython and Node have no processes; Lua has no big integers). "
             "The DB peers time themselves in wall-clock only, so the DB ratios use wall time "
             "on both sides.")
    bad = [p for p in peers if p["status"] not in ("ok",)]
    if bad:
        L.append("")
        L.append("Peer runs that did not produce a time:")
        for p in bad:
            L.append(f"- {p['peer']} {p['workload']}: {p['status']} {p['detail']}")
    L.append("")

    L.append("## Instruction counts (valgrind --tool=callgrind)\n")
    if cg:
        L.append("Smaller sizes than the timed runs (callgrind is ~50× slower): A-small with "
                 "N = 10^6 and fib(25) (242,785 calls). Whole-process counts of `finvm run "
                 "FILE` and `lua5.4 FILE N`; per-unit figures subtract the count of an empty "
                 "run (`finvm run` of a one-instruction program, `lua5.4 -e ''`).\n")
        L.append("| case | FinVM Ir | FinVM Ir per unit | Lua 5.4 Ir | Lua Ir per unit | ratio |")
        L.append("|---|---|---|---|---|---|")
        for c in cg:
            fu = per_unit(c["finvm_ir"], c["finvm_base"], c["count"])
            lu = per_unit(c["lua_ir"], c["lua_base"], c["count"])
            f_ir = f"{c['finvm_ir']:,}" if c["finvm_ir"] else "—"
            l_ir = f"{c['lua_ir']:,}" if c["lua_ir"] else "—"
            f_pu = f"{fu:.1f} / {c['unit']}" if fu else "—"
            l_pu = f"{lu:.1f} / {c['unit']}" if lu else "—"
            ratio = fmt_ratio(fu / lu) if fu and lu else "—"
            L.append(f"| {c['case']} | {f_ir} | {f_pu} | {l_ir} | {l_pu} | {ratio} |")
    else:
        L.append("Not measured (valgrind missing or `--no-callgrind`).")
    L.append("")

    L.append("## Method\n")
    L.append("- FinVM: `finvm bench --json` runs every workload in its own child process "
             "(peak RSS per workload), times `run_program` only (decoding and validation "
             "excluded), verifies the result (and the exact step count where it is simple), "
             "and reports wall and thread-CPU medians. Programs: `benches/programs/*.json` "
             "and `crates/finvm-cli/src/bench.rs` (`finvm bench --export DIR` writes them all).")
    L.append("- Peers: `benches/peers/workloads.{lua,py,js,erl}` (same loop shapes; each "
             "prints its own in-process timings, interpreter start-up excluded) and the DB "
             "peers `benches/peers/db_store.js` / `db_store_sqlite.sh` (wall time, the SQLite "
             "one includes starting the sqlite3 shell). Erlang runs compiled "
             "(`-mode(compile)`, JIT) with one scheduler (`+S 1`). Every peer result is "
             "checked against the expected value (DB: the same SHA-256 as FinVM's `db.hash`).")
    L.append("- Ratio = FinVM median / peer median for the same workload, measured in the "
             "same run, in paired rounds: workload by workload, each round runs FinVM and then "
             "each peer (three warm runs each by default), and the medians are over all "
             "rounds, so that a burst of load on this shared machine hits one round of both "
             "sides instead of every run of one side. With `--metric cpu` (default) both sides use CPU time (Lua's `os.clock`"
             " is CPU time only), which stays meaningful when other jobs share the 2 cores; "
             "wall time is in the FinVM table. The SPAWN peer waits for one monitor `DOWN` "
             "per process, which the FinVM program does not need.")
    L.append("- Statistics and Graph are the reference's `finvm bench` programs (HOST.md §11.1)"
             " with its limits, except `maxSteps` raised to 20·n so that Statistics completes "
             "(the reference stops it at 10·n, mid-sum). Their trace rows keep the reference's "
             "`maxTraceEvents` = 100; the TRACE row records every step.")
    L.append("- Re-run: `python3 scripts/bench_compare.py --install` (add `--quick` for one run "
             "per workload).\n")

    L.append("## Notes\n")
    L.append(NOTES_BEGIN)
    L.append(old_notes.strip("\n") if old_notes else
             "(Per target not reached: measured ratio, what the profile shows, next step.)")
    L.append(NOTES_END)
    return "\n".join(L) + "\n"


def old_notes(path: Path) -> str | None:
    if not path.exists():
        return None
    text = path.read_text()
    if NOTES_BEGIN in text and NOTES_END in text:
        return text.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0]
    return None


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--install", action="store_true", help="apt-get install missing peers")
    ap.add_argument("--quick", action="store_true", help="one run per workload")
    ap.add_argument("--runs", type=int, help="paired rounds (default 3, 1 with --quick)")
    ap.add_argument("--per-round", type=int, default=3,
                    help="runs of each workload per round (default 3, 1 with --quick)")
    ap.add_argument("--filter", help="only FinVM workloads whose name contains this")
    ap.add_argument("--metric", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--finvm", default=str(ROOT / "target" / "release" / "finvm"))
    ap.add_argument("--no-build", action="store_true", help="use the existing binary")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md / chart")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per workload and peer")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    per_round = 1 if args.quick else args.per_round

    if args.install:
        install_missing()
    if not args.no_build:
        log("$ cargo build --release -p finvm-cli")
        subprocess.run(["cargo", "build", "--release", "-p", "finvm-cli"], check=True, cwd=ROOT)
    info = machine_info()

    # Paired rounds, workload by workload: each round runs the FinVM
    # workload and then its peers, `per_round` times each (warm runs: the
    # first run of an allocating workload also pays for faulting its memory
    # in), so that a burst of load on this shared machine lands on one round
    # of both sides rather than on all the runs of one side; the medians
    # are over every run.
    listing = subprocess.run([args.finvm, "bench", "--list"], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT, check=True).stdout
    groups = []
    for line in listing.splitlines():
        name = line.split()[0] if line.strip() else ""
        g = base_name(name)
        if g and g not in groups and (not args.filter or args.filter.lower() in name.lower()):
            groups.append(g)
    finvm_rounds, peer_rounds = [[] for _ in range(runs)], [[] for _ in range(runs)]
    for g in groups:
        for rnd in range(runs):
            rows = [r for r in run_finvm(args.finvm, per_round, g, args.timeout)
                    if base_name(r["name"]) == g]
            finvm_rounds[rnd].extend(rows)
            for r in rows:
                log(f"FinVM {r['name']:<18} {r['status']:<8} {fmt_s(r.get('median_s'))} "
                    f"(cpu {fmt_s(r.get('cpu_median_s'))})  round {rnd + 1}/{runs}")
            for peer, (cmd, supported) in PEER_RUNTIMES.items():
                if g in supported:
                    log(f"{peer}: {g}")
                    peer_rounds[rnd].append(run_peer(peer, cmd, g, per_round, args.timeout))
            db_row = next((r for r in rows if r["name"] == "DB"), None)
            if db_row:
                for peer, cmd in DB_PEERS.items():
                    log(f"{peer}: DB")
                    peer_rounds[rnd].append(run_db_peer(peer, cmd, per_round,
                                                        db_row.get("result", ""), args.timeout))
    finvm_rows = merge_finvm(finvm_rounds)
    peers = [merge_peer([rnd[i] for rnd in peer_rounds]) for i in range(len(peer_rounds[0]))]
    for p in peers:
        if p["status"] != "ok":
            log(f"  {p['peer']} {p['workload']}: {p['status']} {p['detail']}")

    cg = [] if args.no_callgrind else callgrind(args.finvm)
    info["load_end"] = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []

    comps = build_comparisons(finvm_rows, peers, args.metric)
    targets = target_rows(comps, finvm_rows)
    print_summary(targets, comps)
    if cg:
        print("\nInstruction counts (callgrind, whole process minus an empty run):")
        for c in cg:
            fu = per_unit(c["finvm_ir"], c["finvm_base"], c["count"])
            lu = per_unit(c["lua_ir"], c["lua_base"], c["count"])
            print(f"  {c['case']:<18} FinVM {c['finvm_ir']} Ir ({fu and round(fu, 1)} per "
                  f"{c['unit']}), Lua {c['lua_ir']} Ir ({lu and round(lu, 1)} per {c['unit']})")

    if not args.no_write:
        md_path = ROOT / "BENCHMARKS.md"
        md = markdown(info, finvm_rows, peers, comps, targets, cg, args.metric, runs, per_round,
                      old_notes(md_path))
        md_path.write_text(md)
        (ROOT / "benches" / "chart.svg").write_text(chart_svg(targets, info, args.metric))
        log(f"wrote {md_path.relative_to(ROOT)} and benches/chart.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
