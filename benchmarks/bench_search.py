"""The best-schedule search's speed (issue 29, item 2): `timing: hwsim` beside `timing: scalesim`, in one process.

  python benchmarks/bench_search.py [--points 60] [--repeats 3]

1. Whole ResNet-50 (54 layers, as deployed: ``simulate_network(whole_network=True)``) on each shipped systolic
   config at w8a8, w4a4 and w2a2, warm (kernels compiled, each timing's first run discarded), the schedule memo
   cleared before every run: the seconds of `timing: scalesim` (SCALE-Sim's fixed schedule) and of `timing: hwsim`
   (every layer's best schedule searched) side by side, and their ratio (the issue's target: within 3x).
2. The first ``--points`` points of benchmarks/bench_sweep.py's sweep (random accelerators, ResNet-50, one
   precision each) in `timing: hwsim`, one process, one core: points per second, beside the baseline of the
   Python search this replaced, and what the searches did (pairs ranked and visited, plans priced, kernel runs).

Baseline: the Python search this replaced (commit 1df8982), on the same 60 points, one process, timed the same
way at that commit: 641.9 s (0.093 points/s).  (bench_sweep's hwsim row then ran 0.5 points/s on two processes.)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
BASELINE_POINTS = 60
BASELINE_POINTS_PER_S = 60 / 641.9  # part 2 at commit 1df8982 (the Python search), the first 60 points, one core


def whole_network(repeats: int) -> None:
    from hwsim.config import SystolicConfig, load_config
    from hwsim.explore.workload import model_layers
    from hwsim.shipped import config_names
    from hwsim.systolic.simulate import clear_schedule_cache
    from hwsim.targets import simulate_network

    layers = model_layers("resnet50", None)
    print("1. whole ResNet-50 as deployed, warm, seconds per run (best of", repeats, "runs)")
    print(f"{'config':<28}{'bits':>6}{'scalesim s':>12}{'hwsim s':>10}{'hwsim / scalesim':>18}")
    worst = 0.0
    for name in config_names():
        base = load_config(name)
        if not isinstance(base, SystolicConfig):
            continue
        for bits in ((8, 8), (4, 4), (2, 2)):
            seconds = {}
            for timing in ("scalesim", "hwsim"):
                hw = dataclasses.replace(base, timing=timing)
                runs = []
                for _ in range(repeats + 1):
                    clear_schedule_cache()
                    t = time.perf_counter()
                    simulate_network(layers, hw, bits, whole_network=True)
                    runs.append(time.perf_counter() - t)
                seconds[timing] = min(runs[1:])
            ratio = seconds["hwsim"] / seconds["scalesim"]
            worst = max(worst, ratio)
            print(f"{name:<28}{f'w{bits[0]}a{bits[1]}':>6}{seconds['scalesim']:>12.3f}{seconds['hwsim']:>10.3f}"
                  f"{ratio:>17.1f}x", flush=True)
    print(f"worst ratio: {worst:.1f}x (target: within 3x)\n")


def sweep_points(n: int) -> None:
    import tempfile

    import numpy as np
    from bench_sweep import SPEC

    from hwsim.explore.run import run_point
    from hwsim.explore.spec import load_spec
    from hwsim.systolic import simulate as SM

    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.yaml"
        spec_path.write_text(SPEC.format(base=ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml", timing="hwsim",
                                         samples=max(n, 60)))
        points = list(load_spec(spec_path).points())[:n]
    run_point(points[0])  # compile
    SM.clear_schedule_cache()
    SM.SEARCH_WORK[:] = 0
    t = time.perf_counter()
    per_point = []
    for p in points:
        s = time.perf_counter()
        run_point(p)
        per_point.append(time.perf_counter() - s)
    seconds = time.perf_counter() - t
    rate = n / seconds
    work = SM.SEARCH_WORK.tolist()
    print(f"2. bench_sweep's first {n} points (random accelerators, ResNet-50, timing hwsim), one process, one core")
    print(f"{'':<42}{'points/s':>10}{'x baseline':>12}")
    print(f"{f'Python search (1df8982), {BASELINE_POINTS} pts':<42}{BASELINE_POINTS_PER_S:>10.3f}{1.0:>11.1f}x")
    print(f"{f'compiled search (this checkout), {n} pts':<42}{rate:>10.3f}{rate / BASELINE_POINTS_PER_S:>11.1f}x")
    q = np.percentile(per_point, [50, 90, 100])
    print(f"per point: median {q[0]:.3f} s, 90th percentile {q[1]:.3f} s, slowest {q[2]:.3f} s")
    print(f"searches {work[0]:,}: pairs ranked {work[1]:,}, visited {work[2]:,}, folds priced {work[3]:,}, "
          f"plans listed {work[4]:,}, plans priced {work[5]:,}, kernel runs {work[6]:,}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    whole_network(args.repeats)
    sweep_points(args.points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
