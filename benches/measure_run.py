#!/usr/bin/env python3
"""Run one `alsflow ... run --json` and report each stage's wall time and the peak RSS.

usage: measure_run.py NAME OUT.json -- alsflow --store S --config C run --json ...

Per stage: the wall time `run --json` reports (reading inputs, the stage body, storing
outputs), the CPU time (user + system, from /proc) the process spent meanwhile, and the
largest resident set sampled (every 50 ms) while that stage was the one running. For
the whole process: wall time, CPU time and the kernel's peak RSS (getrusage of the
child, which counts heap and mapped file pages). CPU time is what to compare between
runs on a shared machine: wall time stretches with the load, CPU time much less. The
stage logs pass through to stderr. Prints a Markdown table and writes OUT.json.
"""
import json
import os
import resource
import subprocess
import sys
import threading
import time


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a live process (its threads included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    name, out_path, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lock = threading.Lock()
    window_peak = [0]

    def sample():
        while proc.poll() is None:
            r = rss_bytes(proc.pid)
            with lock:
                window_peak[0] = max(window_peak[0], r)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stages = []
    cpu_before = 0.0
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        with lock:
            peak, window_peak[0] = window_peak[0], rss_bytes(proc.pid)
        cpu_now = cpu_seconds(proc.pid)
        cpu, cpu_before = max(0.0, cpu_now - cpu_before), cpu_now
        stages.append({
            "cpu_seconds": cpu,
            "stage": rec["stage"],
            "status": rec["status"],
            "seconds": rec["seconds"],
            "sampled_peak_rss_bytes": peak,
            "error": rec.get("error"),
        })
    code = proc.wait()
    wall = time.perf_counter() - t0
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss * 1024
    cpu = usage.ru_utime + usage.ru_stime
    load = os.getloadavg()[0]
    result = {"name": name, "command": cmd, "exit_code": code, "wall_seconds": wall,
              "cpu_seconds": cpu, "peak_rss_bytes": peak, "load_average_1min": load,
              "stages": stages}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n## {name}\n")
    print("| stage | status | wall s | CPU s | peak RSS while running (sampled) |")
    print("|---|---|---:|---:|---:|")
    for s in stages:
        print(f"| {s['stage']} | {s['status']} | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | "
              f"{s['sampled_peak_rss_bytes'] / 1e9:.2f} GB |")
    print(f"| **whole run** | exit {code} | {wall:.1f} | {cpu:.1f} | "
          f"{peak / 1e9:.2f} GB (kernel peak) |")
    print(f"\nload average at the end: {load:.1f} ({os.cpu_count()} cores)")
    for s in stages:
        if s["error"]:
            print(f"{s['stage']}: {s['error']}")
    print(f"\nraw figures: {out_path}")
    sys.exit(code)


if __name__ == "__main__":
    main()
