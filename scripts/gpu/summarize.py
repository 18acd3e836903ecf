#!/usr/bin/env python3
"""Writes summary.md of a GPU kit run (scripts/gpu/check.sh, step 5).

usage: summarize.py OUT_DIR STEPS_FILE DRY(0|1) TOTAL_SECONDS
STEPS_FILE has one line per step, name|status|seconds|detail. Reads what the steps left in OUT_DIR (env.txt,
ctest-gpu.xml, sanitizer.log, build.log, bench.json) and writes OUT_DIR/summary.md: pass/fail per step, every
failure's first lines, the benchmark table. Tested by tests/support/gpu_summary_check.sh.
"""
import json, os, re, sys
import xml.etree.ElementTree as ET
out, steps_file, dry, total = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
rows = [l.rstrip("\n").split("|", 3) for l in open(steps_file) if l.strip()]
env = open(os.path.join(out, "env.txt")).read() if os.path.exists(os.path.join(out, "env.txt")) else ""
md = ["# leseg GPU check" + (" (dry run)" if dry else ""), "", "```", env.strip(), "```", "",
      f"Total {total} s.", "", "| step | status | s | detail |", "|---|---|---|---|"]
for name, status, secs, detail in rows:
    md.append(f"| {name} | {status} | {secs} | {detail.replace('|', '/')} |")
names = [r[0] for r in rows]
for want in ["build", "tests", "sanitizer", "benchmarks", "profile"]:
    if want not in names:
        md.append(f"| {want} | NOT RUN | 0 | the script stopped before this step |")
# failures: first lines of each failed test (JUnit), sanitizer findings, build errors
fails = []
junit = os.path.join(out, "ctest-gpu.xml")
if os.path.exists(junit):
    try:
        root = ET.parse(junit).getroot()
        for tc in root.iter("testcase"):
            st = tc.get("status", "")
            f = tc.find("failure")
            if f is not None or st == "fail":
                text = (f.get("message", "") if f is not None else "") + "\n" + (tc.findtext("system-out") or "")
                lines = [l for l in text.splitlines() if re.search(r"Failure|error|Error|expected|Expected|LESEG", l)][:4]
                fails.append(f"- test `{tc.get('name')}`: " + " / ".join(l.strip()[:200] for l in lines))
    except ET.ParseError as e:
        fails.append(f"- ctest-gpu.xml unreadable: {e}")
san = os.path.join(out, "sanitizer.log")
if os.path.exists(san):
    cur = None
    for l in open(san, errors="replace"):
        if l.startswith("== "):
            cur = l[3:].strip()
        elif l.startswith("!! FAILED"):
            fails.append(f"- sanitizer `{cur}`")
        elif "========= " in l and ("Invalid" in l or "Race" in l or "Barrier" in l or "Uninitialized" in l) and cur:
            fails.append(f"  - {l.strip()[:200]}")
bl = os.path.join(out, "build.log")
if os.path.exists(bl) and any(r[0] == "build" and r[1] == "FAIL" for r in rows):
    errs = [l.strip() for l in open(bl, errors="replace") if re.search(r"error|FAILED|CMake Error", l)][:8]
    fails += [f"- build: {e[:200]}" for e in errs]
md += ["", "## Failures", ""] + (fails[:60] if fails else ["none"])
bj = os.path.join(out, "bench.json")
if os.path.exists(bj):
    d = json.load(open(bj))
    md += ["", "## Benchmarks (CUDA rows)", "", "| benchmark | time | unit | rate |", "|---|---|---|---|"]
    for b in d.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        rate = ""
        for k in ("voxels/s", "items_per_second", "bytes_per_second", "FLOP/s", "GFLOP/s", "TFLOP/s"):
            if k in b:
                rate = f"{k} {b[k]:.4g}"
                break
        md.append(f"| {b['name']} | {b.get('real_time', 0):.4g} | {b.get('time_unit', '')} | {rate} |")
md += ["", "Files: " + ", ".join(sorted(f for f in os.listdir(out) if not f.startswith(".")))]
open(os.path.join(out, "summary.md"), "w").write("\n".join(md) + "\n")
