"""Lookup-table build times for ResNet-50 (all 9 bit pairs), side by side.

Accelerator (bitfusion_16x32) and ARM (cortex_a53_rpi3b) tables, each built with one thread
(the baseline) and with every core, after a warm-up; then a cache hit.  The in-process memo of
searched schedules is cleared before each build, so every build pays for its search.  Targets: accelerator
under 10 s, ARM under 1 s on 2 cores.
Usage: python benchmarks/bench_lut.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from hwsim.config import load_config
from hwsim.lut import build_lut, cached_lut
from hwsim.systolic import clear_schedule_cache
from hwsim.workload import layers_from_model_name

REPO = Path(__file__).resolve().parent.parent


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    layers = layers_from_model_name("resnet50")
    cores = os.cpu_count() or 1
    print(f"ResNet-50: {len(layers)} layers x 9 (w, a) pairs, {cores} cores; each build includes the "
          f"5-config additivity check")
    print(f"{'target':<22}{'1 thread (s)':>14}{f'{cores} threads (s)':>16}{'speed-up':>10}{'target':>9}")
    for name, target_s in (("bitfusion_16x32", 10.0), ("cortex_a53_rpi3b", 1.0)):
        hw = load_config(REPO / "hwsim" / "hw_configs" / f"{name}.yaml")
        build_lut(layers[:2], hw, progress=False)  # warm-up (numba cache, imports)
        clear_schedule_cache()  # each build searches every layer's schedule afresh
        serial, t1 = timed(lambda hw=hw: build_lut(layers, hw, "resnet50", jobs=1, progress=False))
        clear_schedule_cache()
        parallel, tn = timed(lambda hw=hw: build_lut(layers, hw, "resnet50", jobs=cores, progress=False))
        assert serial == parallel
        print(f"{name:<22}{t1:>14.3f}{tn:>16.3f}{t1 / tn:>9.2f}x{'<' + format(target_s, 'g') + ' s':>9}"
              f"  {'ok' if tn < target_s else 'MISSED'}")
        worst = max(abs(a["error_pct"]) for a in parallel["additivity"])
        print(f"{'':<22}additivity: table sum vs whole network, worst error {worst:.3f}%")
    with tempfile.TemporaryDirectory() as cache:
        hw = load_config(REPO / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml")
        clear_schedule_cache()
        (_, first), t_first = timed(lambda: cached_lut(layers, hw, cache_dir=Path(cache), progress=False))
        (_, hit), t_hit = timed(lambda: cached_lut(layers, hw, cache_dir=Path(cache), progress=False))
        print(f"cache: build + write {t_first:.3f} s, verified hit {t_hit:.3f} s ({t_first / t_hit:.0f}x)")


if __name__ == "__main__":
    main()
