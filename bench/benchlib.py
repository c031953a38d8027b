"""Stdlib helpers for bench_mrcnn.py: timing with a machine-contention probe,
peak RSS, the seeded image, JSON output.

The contention probe follows the peers' definition (shared/peers/bench_common.py)
so the numbers compare: for every timed run,

    foreign_cpu_frac = (machine busy CPU-s from /proc/stat - this process's CPU-s)
                       / (nproc * wall-s)

i.e. the share of all cores that *other* processes (other tenants of the VM
included) used while the run was timed; a run is "quiet" when it is < 0.05
(BENCH_QUIET_FRAC). Host-level contention (other VMs) is invisible there; the
start-up speed probe (768^2 fp32 numpy matmul GFLOP/s, ~200 when quiet) hints at it.
"""
import json
import os
import platform
import resource
import statistics
import sys
import time

SEED = 1234
QUIET_FRAC = float(os.environ.get("BENCH_QUIET_FRAC", "0.05"))
NCPU = os.cpu_count() or 1


def seeded_image(h, w, seed=SEED):
    """np.random.RandomState(seed).randint(0, 256, (h, w, 3), uint8): the peers' image."""
    import numpy as np
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, 3), dtype=np.uint8)


def peak_rss_mb():
    """Peak resident set of this process so far (getrusage ru_maxrss, KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def machine_busy_s():
    """Busy CPU-seconds of the whole machine (all processes, all tenants) and
    steal seconds, from the first line of /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    fields = (fields + [0] * 8)[:8]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


def own_cpu_s():
    """user + sys CPU-seconds of this process (all its threads)."""
    t = os.times()
    return t.user + t.system


_TOTALS = {"wall_s": 0.0, "own_cpu_s": 0.0, "busy_s": 0.0, "steal_s": 0.0}
_PROBE = []


def speed_probe(seconds=0.5, n=768):
    """fp32 n x n numpy matmul GFLOP/s right now (host-level slowness shows here)."""
    import numpy as np
    a = np.random.RandomState(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ a
        k += 1
    return round(2.0 * n ** 3 * k / (time.perf_counter() - t0) / 1e9, 1)


def probe_at_start():
    """Call before the framework starts its thread pools."""
    if os.environ.get("BENCH_SPEED_PROBE", "1") == "1":
        try:
            _PROBE.append(speed_probe())
        except Exception:  # numpy missing
            pass


def wait_quiet(max_wait_s, window_s=1.0, frac=0.10):
    """Wait until the machine is < frac busy over window_s (max max_wait_s)."""
    t0 = time.time()
    while True:
        b0, _ = machine_busy_s()
        time.sleep(window_s)
        b1, _ = machine_busy_s()
        if (b1 - b0) / (window_s * NCPU) < frac or time.time() - t0 >= max_wait_s:
            return round(time.time() - t0, 1)


def stats(ts):
    return {"min": round(min(ts), 4), "median": round(statistics.median(ts), 4),
            "max": round(max(ts), 4), "all": [round(t, 4) for t in ts]}


def time_it(fn, warmup, runs, per_run_wait_s=None):
    """Time `runs` calls of fn() after `warmup` untimed calls.

    Returns min/median/max/all (seconds), per-run foreign_cpu_frac and own CPU-s,
    quiet_runs and quiet_min/quiet_median (runs with foreign_cpu_frac < QUIET_FRAC),
    and `values`: what fn returned each timed run (when not None)."""
    if per_run_wait_s is None:
        per_run_wait_s = float(os.environ.get("BENCH_RUN_QUIET_WAIT", "0"))
    for _ in range(warmup):
        fn()
    ts, foreign, cpu, values = [], [], [], []
    for _ in range(runs):
        if per_run_wait_s > 0:
            wait_quiet(per_run_wait_s, frac=QUIET_FRAC * 2)
        b0, s0 = machine_busy_s()
        c0 = own_cpu_s()
        t0 = time.perf_counter()
        v = fn()
        dt = time.perf_counter() - t0
        dc = own_cpu_s() - c0
        b1, s1 = machine_busy_s()
        ts.append(dt)
        cpu.append(dc)
        foreign.append(max(0.0, (b1 - b0) - dc) / (dt * NCPU))
        if v is not None:
            values.append(v)
        _TOTALS["wall_s"] += dt
        _TOTALS["own_cpu_s"] += dc
        _TOTALS["busy_s"] += b1 - b0
        _TOTALS["steal_s"] += s1 - s0
    r = stats(ts)
    r["foreign_cpu_frac"] = [round(f, 3) for f in foreign]
    r["own_cpu_s"] = [round(c, 3) for c in cpu]
    quiet = [t for t, f in zip(ts, foreign) if f < QUIET_FRAC]
    r["quiet_runs"] = len(quiet)
    if quiet:
        r["quiet_min"] = round(min(quiet), 4)
        r["quiet_median"] = round(statistics.median(quiet), 4)
    if values:
        r["values"] = values
    return r


def contention():
    """Totals over every timed run of this process."""
    c = _TOTALS
    if c["wall_s"] <= 0:
        return None
    cap = c["wall_s"] * NCPU
    return {"foreign_cpu_frac": round(max(0.0, c["busy_s"] - c["own_cpu_s"]) / cap, 3),
            "own_cpu_frac": round(c["own_cpu_s"] / cap, 3),
            "steal_frac": round(c["steal_s"] / cap, 3)}


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": NCPU, "cpu": cpu, "python": platform.python_version()}


def emit(rec):
    """Print one self-describing JSON line on stdout."""
    rec.setdefault("contention", contention())
    if _PROBE:
        rec["speed_probe_gflops_at_start"] = _PROBE[0]
    rec["peak_rss_mb"] = peak_rss_mb()
    rec.setdefault("machine", machine())
    rec.setdefault("date_utc", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    for k in ("BENCH_PASS", "BENCH_WAITED_S"):
        if os.environ.get(k):
            rec[k.lower()[6:]] = os.environ[k]
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()
