"""Does simulation time grow as a port gets slower?  (Issue 29, item 4: it must not.)

The issue's layer (13x13x320 -> 640, 1x1, w2a2) on the paper's accelerator, with the requantizer and DRAM slowed
step by step.  Each row times one simulation in a warm process, on SCALE-Sim's schedule (one kernel call: the
stalled cycles are counted in closed form) and with the best-schedule search (``timing: hwsim``, every candidate
schedule), and prints the ratio to the shipped rates' time side by side.

  python benchmarks/bench_rates.py [--search-limit SECONDS]

``--search-limit`` (default 120) stops a search row after that many seconds and prints "> N s" (each search runs
in a forked child process, terminated at the limit).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import time

import hwsim
from hwsim.layers import Layer
from hwsim.systolic import simulate as S
from hwsim.systolic.simulate import clear_schedule_cache, simulate_layer

LAYER = Layer("pw", "conv", 13, 13, 320, 13, 13, 640, 1, 1, 1, 1)
# (requantizer outputs per cycle, DRAM bytes per cycle); the first row is the shipped config
RATES = [(32, 24.0), (4, 24.0), (1, 24.0), (0.25, 24.0), (0.1, 24.0), (0.01, 24.0), (32, 0.1), (0.01, 0.1)]


def _time(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _search_child(hw, queue) -> None:
    clear_schedule_cache()  # time the search, not the process's memo of its answer
    S.SEARCH_WORK[:] = 0
    start = time.perf_counter()
    simulate_layer(LAYER, hw, 2, 2)
    queue.put((time.perf_counter() - start, int(S.SEARCH_WORK[6])))


def _search(hw, limit: float) -> tuple[float | None, int | None]:
    """(seconds one search takes or None past ``limit``, its kernel calls): it runs in a forked child (warm: the
    kernel is already loaded), which is terminated at the limit."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_search_child, args=(hw, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.terminate()
        child.join()
        return None, None
    return queue.get(timeout=5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--search-limit", type=float, default=120.0)
    args = ap.parse_args()
    base = hwsim.load_config("bitfusion_16x32")
    simulate_layer(LAYER, base, 2, 2, search=False)  # compile / load the kernel
    simulate_layer(LAYER, base, 2, 2)
    print(f"layer {LAYER.name}: 13x13x320 -> 640, 1x1, w2a2 on {base.name} ({base.clock_mhz:.0f} MHz)")
    print(f"{'requant/cycle':>13} {'DRAM B/cycle':>12} {'cycles':>12} {'fixed schedule':>15} {'x shipped':>9} "
          f"{'search':>10} {'x shipped':>9} {'kernel calls':>12}")
    ref_fixed = ref_search = None
    for rq, dram in RATES:
        hw = dataclasses.replace(base, requant_outputs_per_cycle=rq, dram_gb_per_s=dram * base.clock_mhz / 1e3)
        t_fixed, r = _time(lambda hw=hw: simulate_layer(LAYER, hw, 2, 2, search=False))
        ref_fixed = ref_fixed or t_fixed
        t_search, calls = _search(hw, args.search_limit)
        ref_search = ref_search or t_search
        search = f"> {args.search_limit:.0f} s" if t_search is None else f"{t_search:8.3f} s"
        ratio = "" if t_search is None or ref_search is None else f"{t_search / ref_search:8.1f}x"
        counted = "?" if calls is None else f"{calls:,}"  # the compiled search reports its work when it ends
        print(f"{rq:>13} {dram:>12} {r.total_cycles:>12,} {t_fixed * 1e3:>12.2f} ms {t_fixed / ref_fixed:8.1f}x "
              f"{search:>10} {ratio:>9} {counted:>12}", flush=True)


if __name__ == "__main__":
    main()
