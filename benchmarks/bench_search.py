"""The genetic search against the exact optimum on problems like the paper's, with run times.

For 20-60-layer problems (3 choices, intra-block 2-bit pairs, budgets at 30/50/70% of the cost
range) and several seeds: the GA of Algorithm 2 alone, the GA with its polish, and the exact MILP.
Prints how often each GA lands within 1% of the optimum, the mean and worst gap, and the times.
Usage: python benchmarks/bench_search.py [--seeds N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from search.exact import solve_exact
from search.ga import GAConfig, solve_ga
from search.random_problems import paper_like


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    solve_ga(paper_like(20, 0), 0)  # warm-up (imports)
    solve_exact(paper_like(20, 0))
    print(f"{'layers':>6} {'budget':>6} | {'GA (paper) within 1%':>20} {'mean gap':>9} {'worst':>7} {'s':>6} | "
          f"{'GA+polish within 1%':>19} {'mean gap':>9} {'worst':>7} {'s':>6} | {'exact s':>7}")
    totals = {"plain": [], "polish": []}
    for n in (20, 40, 60):
        for frac in (0.3, 0.5, 0.7):
            gaps = {"plain": [], "polish": []}
            times = {"plain": [], "polish": [], "exact": []}
            for seed in range(args.seeds):
                p = paper_like(n, seed, frac)
                t0 = time.perf_counter()
                opt = solve_exact(p)
                times["exact"].append(time.perf_counter() - t0)
                for kind, cfg in (("plain", GAConfig(polish=False)), ("polish", GAConfig())):
                    sol = solve_ga(p, seed, cfg)
                    assert sol.feasible
                    times[kind].append(sol.seconds)
                    gaps[kind].append((sol.objective - opt.objective) / abs(opt.objective))
            cells = []
            for kind in ("plain", "polish"):
                g = np.array(gaps[kind])
                totals[kind] += list(g)
                cells.append(f"{int((g <= 0.01).sum()):>14}/{len(g):<5} {100 * g.mean():>8.2f}% {100 * g.max():>6.2f}% "
                             f"{np.mean(times[kind]):>6.3f}")
            print(f"{n:>6} {frac:>6.1f} | {cells[0]} | {cells[1]} | {np.mean(times['exact']):>7.3f}")
    for kind, label in (("plain", "GA as in the paper"), ("polish", "GA + polish (default)")):
        g = np.array(totals[kind])
        print(f"{label}: within 1% of the optimum on {int((g <= 0.01).sum())}/{len(g)} problems "
              f"({100 * (g <= 0.01).mean():.0f}%), mean gap {100 * g.mean():.2f}%, worst {100 * g.max():.2f}%")


if __name__ == "__main__":
    main()
