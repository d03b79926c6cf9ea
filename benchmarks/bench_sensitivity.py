"""Do the sensitivities predict what quantization really costs?  Rank correlation on the default task.

Quantizes the embedded model uniformly at all nine (w, a) choices, builds the sensitivity table
from those models with each measure (``kl``, the default, and ``loss``, the paper's task-loss
increase), then draws 20 random mixed configurations (seeded; each has its own aggressiveness
p ~ U(0, 1): a layer's weight bits and a tensor's activation bits are 2, 4 or 8 with
probabilities p^2, 2p(1-p), (1-p)^2; the precision policy and one activation bit-width per tensor
are obeyed), quantizes each by block reconstruction exactly as the pipeline does, and prints the
Spearman rank correlation between the predicted loss (sum of table entries plus significant pair
terms) and the measured top-1 drop.  Target: >= 0.8.
Usage: python benchmarks/bench_sensitivity.py [--iters N] [--seed S] [--configs K] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from hwsim.precision import PrecisionPolicy, label
from hwsim.quant.api import quantize
from hwsim.quant.qmodel import activation_groups, quant_layers, wrap
from hwsim.quant.sensitivity import measure_sensitivity
from hwsim.quant.sources import load_model_and_data

CHOICES = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]


def random_configs(names: list[str], groups: list[list[str]], pinned: dict, n: int, seed: int) -> list[dict]:
    """``n`` seeded assignments of varied aggressiveness that obey the policy and the activation groups."""
    rng = np.random.default_rng(seed)
    leader = {m: g[0] for g in groups for m in g}
    out = []
    for _ in range(n):
        p = rng.uniform()
        probs = [p * p, 2 * p * (1 - p), (1 - p) ** 2]
        cfg = {n_: (int(rng.choice([2, 4, 8], p=probs)), int(rng.choice([2, 4, 8], p=probs))) for n_ in names}
        cfg = {n_: (w, cfg[leader.get(n_, n_)][1]) for n_, (w, _) in cfg.items()}
        cfg.update({n_: bits for n_, (bits, _) in pinned.items()})
        out.append(cfg)
    return out


def predicted(table: dict, cfg: dict) -> float:
    """Sum of the table's entries for ``cfg`` plus the pair terms whose choices it takes."""
    total = sum(row[label(*cfg[n])] for n, row in table["layers"].items())
    return total + sum(p["sensitivity"] for p in table["pairs"]
                       if label(*cfg[p["a"]]) == p["choice_a"] and label(*cfg[p["b"]]) == p["choice_b"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="iterations per reconstruction unit (pipeline default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--out", help="also write the raw results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    model, data = load_model_and_data(seed=args.seed, progress=False)
    policy = PrecisionPolicy()
    t0 = time.perf_counter()
    uniform = {c: quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, c, iters=args.iters,
                           seed=args.seed, policy=policy, progress=False) for c in CHOICES}
    t_uniform = time.perf_counter() - t0
    tables, t_measure = {}, {}
    for metric in ("kl", "loss"):
        t0 = time.perf_counter()
        tables[metric] = measure_sensitivity(model, data.calib_x, data.calib_y, data.holdout_x, data.holdout_y,
                                             data.test_x, data.test_y, CHOICES, iters=args.iters, seed=args.seed,
                                             progress=False, policy=policy, uniform_results=uniform, metric=metric)
        t_measure[metric] = time.perf_counter() - t0
    fp_acc = uniform[CHOICES[0]].fp_accuracy
    _, q = wrap(model, data.calib_x[:2])
    layers = quant_layers(q, data.calib_x[:2])
    names = [n for n, _ in layers]
    configs = random_configs(names, activation_groups(layers), policy.pinned(names), args.configs, args.seed)
    rows = []
    for i, cfg in enumerate(configs):
        r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, cfg, iters=args.iters,
                     seed=args.seed, policy=policy, progress=False)
        assert not r.notes, r.notes  # the configurations already obey the policy and the groups
        rows.append({"config": i, "drop": 100 * (fp_acc - r.quant_accuracy),
                     **{f"pred_{m}": predicted(tables[m], cfg) for m in tables},
                     "bits": {n: label(*b) for n, b in cfg.items()}})
        print(f"  config {i:2d}: drop {rows[-1]['drop']:6.2f} points, predicted kl {rows[-1]['pred_kl']:.4f}, "
              f"loss {rows[-1]['pred_loss']:.4f}", file=sys.stderr, flush=True)
    drops = [r["drop"] for r in rows]
    print(f"digits-resnet on {data.name}: FP top-1 {100 * fp_acc:.2f}%, {len(data.holdout_y)} held-out images, "
          f"{args.configs} random mixed configurations, {args.iters} iterations per unit, seed {args.seed}\n")
    print("| measure | Spearman rho (predicted loss vs top-1 drop) | p-value | negative entries fixed | "
          "order violations fixed | pair terms kept / dropped | measuring time (s) |")
    print("|---|---|---|---|---|---|---|")
    for m, table in tables.items():
        rho, pval = spearmanr([r[f"pred_{m}"] for r in rows], drops)
        proj = table["projection"]
        print(f"| {m} | {rho:.3f} | {pval:.1e} | {proj['negative']} | {proj['order_violations']} | "
              f"{len(table['pairs'])} / {table['pairs_dropped']} | {t_measure[m]:.1f} |")
    print(f"\nuniform reconstructions (9 choices) {t_uniform:.0f} s; top-1 drops of the {args.configs} configurations "
          f"from {min(drops):.2f} to {max(drops):.2f} points")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"rows": rows, "tables": tables}, fh, indent=1)


if __name__ == "__main__":
    main()
