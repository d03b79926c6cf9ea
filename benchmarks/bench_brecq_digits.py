"""BRECQ on the embedded model against its baselines, with the paper's ablations and AdaRound's convergence.

Prints Markdown tables of test top-1 (and what AdaRound converged to) on the noisy-digits task:
1. round-to-nearest, layer-wise AdaRound and BRECQ (block, Fisher) at W2A2, W2A4, W4A4, W4A8;
2. BRECQ at W2A4 and W4A4 per reconstruction unit: soft and hard reconstruction loss, the fraction of
   rounding variables still undecided, accuracy, and the whole-model integer execution's agreement;
3. the objective: Fisher with per-sample weights (ours), Fisher as in the paper (one global scale), MSE;
4. the four reconstruction granularities (paper Table 1) at W2A4.
First and last layers stay w8a8 (policy first-last-8bit).
Usage: python benchmarks/bench_brecq_digits.py [--iters N] [--seed S] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from hwsim.quant.api import quantize
from hwsim.quant.integer import integer_execution
from hwsim.quant.reconstruct import ReconConfig
from hwsim.quant.sources import load_model_and_data

BITS = [(2, 2), (2, 4), (4, 4), (4, 8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="iterations per reconstruction unit (pipeline default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the raw results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, data = load_model_and_data(seed=args.seed, progress=False)
    records = []

    def run(name, bits, **kw):
        t0 = time.perf_counter()
        r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, iters=args.iters,
                     seed=args.seed, progress=False, **kw)
        rec = {"run": name, "bits": f"W{bits[0]}A{bits[1]}", "top1": 100 * r.quant_accuracy,
               "fp": 100 * r.fp_accuracy, "seconds": time.perf_counter() - t0, "units": r.units, "result": r}
        records.append(rec)
        print(f"  {name:<34} W{bits[0]}A{bits[1]}  {rec['top1']:6.2f}%  ({rec['seconds']:.0f} s)", file=sys.stderr,
              flush=True)
        return rec

    methods = {"round-to-nearest": {"method": "rtn"}, "AdaRound (layer, MSE)": {"method": "adaround"},
               "BRECQ (block, Fisher)": {"method": "brecq"}}
    table = {(m, b): run(m, b, **kw) for m, kw in methods.items() for b in BITS}
    fp = table[("BRECQ (block, Fisher)", BITS[0])]["fp"]
    print(f"digits-resnet on {data.name}: {len(data.calib_y)} calibration images, {len(data.test_y)} test images, "
          f"{args.iters} iterations per unit, seed {args.seed}; first/last layer w8a8\n")
    print("| method | " + " | ".join(f"W{w}A{a}" for w, a in BITS) + " |")
    print("|---|" + "---|" * len(BITS))
    print("| full precision | " + " | ".join(f"{fp:.2f}" for _ in BITS) + " |")
    for m in methods:
        print(f"| {m} | " + " | ".join(f"{table[(m, b)]['top1']:.2f}" for b in BITS) + " |")

    print("\nAdaRound convergence and integer execution, BRECQ (block, Fisher):\n")
    print("| bits | unit | soft loss | hard loss | hard / soft | undecided |")
    print("|---|---|---|---|---|---|")
    summary = []
    for b in ((2, 4), (4, 4)):
        rec = table[("BRECQ (block, Fisher)", b)]
        for u in rec["units"]:
            print(f"| W{b[0]}A{b[1]} | {u['unit']} | {u['soft_loss']:.4f} | {u['hard_loss']:.4f} | "
                  f"{u['hard_loss'] / max(u['soft_loss'], 1e-12):.3f} | {100 * u['undecided_fraction']:.2f}% |")
        report = integer_execution(rec["result"].qmodel, data.calib_x, data.test_x, data.test_y)
        summary.append((b, rec, report))
    print("\n| bits | top-1 (%) | worst hard / soft | most undecided | integer top-1 (%) | integer agreement | "
          "max logit error |")
    print("|---|---|---|---|---|---|---|")
    for b, rec, report in summary:
        worst = max(u["hard_loss"] / max(u["soft_loss"], 1e-12) for u in rec["units"])
        most = max(u["undecided_fraction"] for u in rec["units"])
        print(f"| W{b[0]}A{b[1]} | {rec['top1']:.2f} | {worst:.3f} | {100 * most:.2f}% | {100 * report.integer_top1:.2f} "
              f"| {100 * report.top1_agreement:.2f}% | {report.max_logit_error:.3f} (logits up to "
              f"{report.logit_range:.1f}) |")

    print("\nObjective (block reconstruction):\n")
    objectives = {"Fisher, per-sample weights (default)": None,
                  "Fisher, one global scale (paper)": ReconConfig(iters=args.iters, fisher_norm="global"),
                  "MSE": ReconConfig(iters=args.iters, objective="mse")}
    abl_bits = [(2, 2), (2, 4)]
    print("| objective | " + " | ".join(f"W{w}A{a}" for w, a in abl_bits) + " |")
    print("|---|" + "---|" * len(abl_bits))
    for name, recon in objectives.items():
        vals = [table[("BRECQ (block, Fisher)", b)]["top1"] if recon is None else run(name, b, recon=recon)["top1"]
                for b in abl_bits]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")

    print("\nGranularity at W2A4 (Fisher):\n")
    gran = {g: (table[("BRECQ (block, Fisher)", (2, 4))] if g == "block" else
                run(f"BRECQ ({g}, Fisher)", (2, 4), granularity=g))["top1"] for g in ("layer", "block", "stage", "net")}
    print("| layer | block | stage | net |\n|---|---|---|---|")
    print("| " + " | ".join(f"{gran[g]:.2f}" for g in ("layer", "block", "stage", "net")) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump([{k: v for k, v in r.items() if k != "result"} for r in records], fh, indent=1)


if __name__ == "__main__":
    main()
