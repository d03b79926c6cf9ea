"""Co-design outer loops side by side: every chip of the space against NSGA-II over its axes.

  python benchmarks/bench_codesign.py [--space hwsim/examples/codesign_space.yaml] [--area-mm2 2.14]
                                      [--latency-ms 0.0065] [--seeds 3] [--population 24] [--generations 10]

The baseline is ``--outer all``: the inner exact bit search on every chip within the area budget, whose
best is the optimum of the space.  Each NSGA-II run (one per seed) reports the chips it searched, its time
and its best predicted loss as a ratio to the optimum (1.000 = found it; never below 1).  The model is
the embedded digits network; its sensitivities are measured once (block reconstructions, cached in
``--out``/all/cache) and shared by every run, so a seed changes the outer loop only.  No validation (quantization) step: the outer loops differ
only in which chips they search.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(ROOT / "hwsim" / "examples" / "codesign_space.yaml"))
    parser.add_argument("--area-mm2", type=float, default=2.14)
    parser.add_argument("--latency-ms", type=float, default=0.0065)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--population", type=int, default=24)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench_codesign"))
    args = parser.parse_args()

    from hwsim.codesign.joint import JointConfig, run_joint

    out = Path(args.out)
    common = dict(space=args.space, latency_ms=args.latency_ms, area_mm2=args.area_mm2, jobs=args.jobs,
                  validate=False)
    print(f"space {Path(args.space).name}, area <= {args.area_mm2} mm2, latency <= {args.latency_ms} ms, "
          f"{args.jobs} processes; sensitivities measured once (first run) and shared")
    # the first run measures the sensitivities (not timed against the others): a warm-up of the cache
    run_joint(JointConfig(**common, outer="nsga2", population=4, generations=1, out=str(out / "all")),
              progress=False)
    # every NSGA-II seed reads the same table (a seed must change the outer loop only, not the sensitivities)
    cached = sorted((out / "all" / "cache").glob("sensitivity-*.json"), key=lambda f: f.stat().st_mtime)[-1]
    sens_file = out / "sensitivity.json"
    sens_file.write_text(json.dumps(json.loads(cached.read_text())["value"]))
    rows = []
    start = time.perf_counter()
    every = run_joint(JointConfig(**common, outer="all", out=str(out / "all")), progress=False)
    rows.append(("all (baseline)", every, time.perf_counter() - start))
    for seed in range(args.seeds):
        folder = out / f"nsga2_{seed}"
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        doc = run_joint(JointConfig(**common, outer="nsga2", population=args.population, generations=args.generations,
                                    seed=seed, sensitivity=str(sens_file), out=str(folder)), progress=False)
        rows.append((f"nsga2 seed {seed} ({args.population} x {args.generations})", doc, time.perf_counter() - start))
    optimum = every["best"]["predicted_loss"]
    print(f"{'outer loop':<30}{'chips':>7}{'searched':>10}{'seconds':>9}{'x time':>8}{'best loss':>11}"
          f"{'x optimum':>11}  best chip")
    base_s = rows[0][2]
    for label, doc, seconds in rows:
        best = doc["best"]
        chip = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in best["values"].items())
        print(f"{label:<30}{doc['points']:>7}{doc['searched']:>10}{seconds:>9.1f}{seconds / base_s:>8.2f}"
              f"{best['predicted_loss']:>11.5g}{best['predicted_loss'] / optimum:>11.3f}  {chip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
