"""BRECQ on the embedded digits model against its baselines, with the paper's ablations.

Prints a Markdown table of test top-1 for: FP, round-to-nearest, layer-wise AdaRound and BRECQ
(block, Fisher) at W4A8, W2A8, W4A4, W2A4; the four reconstruction granularities at W2A8
(paper Table 1); Fisher against MSE at W2A8 and W2A4.  First and last layers stay 8-bit.
Usage: python benchmarks/bench_brecq_digits.py [--iters N] [--seed S] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from quant.api import quantize
from quant.sources import load_model_and_data

BITS = [(4, 8), (2, 8), (4, 4), (2, 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500, help="iterations per reconstruction unit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the raw results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, data = load_model_and_data(seed=args.seed, progress=False)
    results = []

    def run(label, bits, **kw):
        t0 = time.perf_counter()
        r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, iters=args.iters,
                     seed=args.seed, progress=False, **kw)
        rec = {"run": label, "bits": f"W{bits[0]}A{bits[1]}", "top1": r.quant_accuracy, "fp": r.fp_accuracy,
               "seconds": time.perf_counter() - t0, **kw}
        results.append(rec)
        print(f"  {label:<28} W{bits[0]}A{bits[1]}  {100 * r.quant_accuracy:6.2f}%  ({rec['seconds']:.0f} s)",
              file=sys.stderr, flush=True)
        return r.quant_accuracy, r.fp_accuracy

    table = {}
    fp = None
    for bits in BITS:
        table[("round-to-nearest", bits)], fp = run("round-to-nearest", bits, method="rtn")
        table[("AdaRound (layer, MSE)", bits)], _ = run("AdaRound (layer, MSE)", bits, method="adaround")
        table[("BRECQ (block, Fisher)", bits)], _ = run("BRECQ (block, Fisher)", bits, method="brecq",
                                                        granularity="block", objective="fisher")
    gran = {g: (table[("BRECQ (block, Fisher)", (2, 8))] if g == "block" else
                run(f"BRECQ ({g}, Fisher)", (2, 8), method="brecq", granularity=g, objective="fisher")[0])
            for g in ("layer", "block", "stage", "net")}
    mse = {bits: run("BRECQ (block, MSE)", bits, method="brecq", granularity="block", objective="mse")[0]
           for bits in ((2, 8), (2, 4))}

    pct = lambda v: f"{100 * v:.2f}"
    print(f"digits-resnet, {len(data.calib_y)} calibration images, {len(data.test_y)} test images, "
          f"{args.iters} iterations per unit, seed {args.seed}; first/last layer 8-bit\n")
    print("| method | " + " | ".join(f"W{w}A{a}" for w, a in BITS) + " |")
    print("|---|" + "---|" * len(BITS))
    print("| full precision | " + " | ".join(pct(fp) for _ in BITS) + " |")
    for m in ("round-to-nearest", "AdaRound (layer, MSE)", "BRECQ (block, Fisher)"):
        print(f"| {m} | " + " | ".join(pct(table[(m, b)]) for b in BITS) + " |")
    print("\nGranularity at W2A8 (Fisher):\n")
    print("| layer | block | stage | net |\n|---|---|---|---|")
    print("| " + " | ".join(pct(gran[g]) for g in ("layer", "block", "stage", "net")) + " |")
    print("\nObjective (block):\n")
    print("| objective | W2A8 | W2A4 |\n|---|---|---|")
    print(f"| Fisher | {pct(table[('BRECQ (block, Fisher)', (2, 8))])} | {pct(table[('BRECQ (block, Fisher)', (2, 4))])} |")
    print(f"| MSE | {pct(mse[(2, 8)])} | {pct(mse[(2, 4)])} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
