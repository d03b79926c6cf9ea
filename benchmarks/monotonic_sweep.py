"""More hardware, or fewer bits, is never slower: sweep the shipped models and count inversions.

Every shipped model (each distinct layer shape once) on the shipped ``bitfusion_16x32`` in
``hwsim`` timing, one resource varied at a time:

* the array, rows x cols over {8, 16, 32, 64, 128} in both dimensions (25 arrays);
* the SRAM, all three buffers at 32 KiB .. 2 MiB each;
* the SRAM ports, all three at 1 .. 64 B/cycle;
* the DRAM, 1 .. 64 B/cycle;

each at all nine weight x activation precisions.  An inversion is a layer that takes more cycles
when a resource grows (the others fixed) or when its weight or activation bits drop.  Prints the
count per model and axis, and exits 1 if there is any.

    python benchmarks/monotonic_sweep.py            # everything (about 15 minutes on 2 cores)
    python benchmarks/monotonic_sweep.py --quick    # arrays {8, 32, 128}, three sizes per axis
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.config import Buffers, load_config  # noqa: E402
from hwsim.systolic import simulate_layer  # noqa: E402
from hwsim.workload import layers_from_model_name, layers_from_module, model_names  # noqa: E402

BITS = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
SIZES = [8, 16, 32, 64, 128]
SRAM_KB = [32, 64, 128, 256, 512, 1024, 2048]
BANDWIDTH = [1, 2, 4, 8, 16, 32, 64]
BASE = ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml"


def model_layers(model: str) -> list:
    """Layers of a shipped model at its default input (the embedded digits network at 16 x 16, one channel)."""
    if model == "digits-resnet":
        from hwsim.quant.digits_model import default_digits_model

        return layers_from_module(default_digits_model(), (1, 1, 16, 16))
    return layers_from_model_name(model)


def distinct_layers(model: str) -> list:
    """The model's layers with names dropped, each shape once."""
    seen = {}
    for layer in model_layers(model):
        seen.setdefault(dataclasses.replace(layer, name="", consumers=()), None)
    return list(seen)


def variants(base, sizes, sram_kb, bandwidth):
    """(axis, value, config) for every point of the one-at-a-time sweep."""
    for r, c in itertools.product(sizes, sizes):
        yield "array", (r, c), dataclasses.replace(base, rows=r, cols=c)
    for kib in sram_kb:
        yield "sram", kib, dataclasses.replace(base, sram_kib=Buffers(kib, kib, kib))
    for b in bandwidth:
        yield "sram_bw", b, dataclasses.replace(base, sram_bytes_per_cycle=Buffers(b, b, b))
    for b in bandwidth:
        yield "dram_bw", b, dataclasses.replace(base, dram_gb_per_s=b * base.clock_mhz / 1000)


def run_point(job):
    """Cycles [precision, layer] of one model on one config."""
    model, axis, value, hw, layers = job
    cycles = np.array([[simulate_layer(layer, hw, w, a).total_cycles for layer in layers] for w, a in BITS])
    return model, axis, value, cycles


def precision_inversions(cycles: np.ndarray) -> int:
    """Layers slower at fewer weight or activation bits (all else equal)."""
    n = 0
    for i, (w, a) in enumerate(BITS):
        for j, (w2, a2) in enumerate(BITS):
            if (w, a) != (w2, a2) and w <= w2 and a <= a2:
                n += int(np.sum(cycles[i] > cycles[j]))
    return n


def axis_inversions(series: list[np.ndarray]) -> int:
    """Layers slower at a larger value of a resource, over an increasing series of results."""
    return sum(int(np.sum(later > earlier)) for earlier, later in zip(series, series[1:]))


def count(results: dict, models: list[str], sizes, scalar_axes) -> dict:
    """Inversions per (model, axis): precision at every point, then along every resource axis."""
    out = {}
    for model in models:
        mine = {(axis, value): c for (m, axis, value), c in results.items() if m == model}
        out[model, "precision"] = sum(precision_inversions(c) for c in mine.values())
        rows = sum(axis_inversions([mine["array", (r, c)] for r in sizes]) for c in sizes)
        cols = sum(axis_inversions([mine["array", (r, c)] for c in sizes]) for r in sizes)
        out[model, "array rows"], out[model, "array cols"] = rows, cols
        for axis, values in scalar_axes.items():
            out[model, axis] = axis_inversions([mine[axis, v] for v in values])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller grid (a minute or two)")
    ap.add_argument("--models", nargs="*", default=None, help="models (default: every shipped one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = ap.parse_args(argv)
    sizes = [8, 32, 128] if args.quick else SIZES
    sram_kb = [32, 256, 2048] if args.quick else SRAM_KB
    bandwidth = [1, 8, 64] if args.quick else BANDWIDTH
    models = args.models or [*model_names(), "digits-resnet"]
    base = load_config(BASE)
    shapes = {m: distinct_layers(m) for m in models}  # here: the workers never touch torch
    jobs = [(m, axis, value, hw, shapes[m]) for m in models for axis, value, hw in variants(base, sizes, sram_kb,
                                                                                              bandwidth)]
    layers = {m: len(shapes[m]) for m in models}
    start = time.perf_counter()
    results = {}
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done, (model, axis, value, cycles) in enumerate(pool.map(run_point, jobs), 1):
            results[model, axis, value] = cycles
            print(f"\r{done}/{len(jobs)} points", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    seconds = time.perf_counter() - start
    sims = sum(layers[m] for m, *_ in jobs) * len(BITS)
    inv = count(results, models, sizes, {"sram": sram_kb, "sram_bw": bandwidth, "dram_bw": bandwidth})
    axes = ["precision", "array rows", "array cols", "sram", "sram_bw", "dram_bw"]
    print(f"Monotonicity sweep on {BASE.name} (timing hwsim): arrays {sizes} x {sizes}, SRAM {sram_kb} KiB each, "
          f"SRAM ports and DRAM {bandwidth} B/cycle, {len(BITS)} precisions")
    print(f"{sims:,} layer simulations in {seconds:.0f} s with {args.jobs} processes\n")
    print("| model | distinct layers | " + " | ".join(axes) + " |")
    print("|---|---:|" + "---:|" * len(axes))
    for m in models:
        print(f"| {m} | {layers[m]} | " + " | ".join(str(inv[m, a]) for a in axes) + " |")
    total = sum(inv.values())
    print(f"\ninversions: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
