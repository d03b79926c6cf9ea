"""The genetic search against the exact optimum on seeded random problems, beside the paper's GA.

Draws ``--instances`` (default 120) problems shaped like the ones ``hwsim pipeline`` builds
(``hwsim.search.random_problems.quality_instances``: 20-120 layers, 3 or 9 choices, tight and loose
budgets, hardware-table costs, weight and activation losses, 2-bit pair terms, activation groups)
and solves each with the exact MILP, with the GA as the paper describes it (the baseline:
Gaussian start, rejection of over-budget children, no local search) and with our GA (the default).
Prints, per kind of instance and overall, how often each GA lands within 1% of the optimum, its
worst gap and its median time; then the median time of our GA in a fresh process (imports included,
interpreter start excluded) on ``--fresh`` instances.  Last, ``--pareto`` instances with no budget
limit: NSGA-II's front of loss against latency (``hwsim.search.multi.pareto_nsga2``) against the exact
front from the MILP at 50 budgets, as a hypervolume ratio (1.0: as good).  Then hardware in the loop:
on ``digits-resnet`` (16x16, small tensors stay on chip) and ResNet-18 (224x224) on ``bitfusion_16x32``,
the real lookup table with seeded synthetic losses (latency is what is being tested here), at three
budgets: the table's exact optimum and its re-simulated latency, against the GA pricing every candidate
by a whole-network re-simulation (seeded with that optimum).

Usage: python benchmarks/search_quality.py [--instances N] [--fresh N] [--pareto N] [--skip-hil]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from hwsim.search.exact import solve_exact
from hwsim.search.ga import GAConfig, solve_ga
from hwsim.search.multi import exact_front, hypervolume_ratio, pareto_nsga2
from hwsim.search.random_problems import pipeline_like, quality_instances

REPO = Path(__file__).resolve().parent.parent

_FRESH = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    from hwsim.search.ga import solve_ga
    from hwsim.search.random_problems import quality_instances
    seed = int(sys.argv[1])
    _, problem = next(iter(quality_instances(1, seed)))
    t1 = time.perf_counter()
    solve_ga(problem, seed)
    print(time.perf_counter() - t0, time.perf_counter() - t1)
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=120)
    parser.add_argument("--fresh", type=int, default=15, help="instances timed in a fresh process each")
    parser.add_argument("--pareto", type=int, default=12, help="instances for the multi-objective comparison")
    parser.add_argument("--skip-hil", action="store_true", help="leave out the hardware-in-the-loop section")
    args = parser.parse_args()
    first = next(iter(quality_instances(1)))[1]
    solve_ga(first, 0), solve_ga(first, 0, GAConfig(paper=True)), solve_exact(first)  # warm-up (imports)
    rows = defaultdict(lambda: defaultdict(list))
    print(f"{'instance':<44} {'optimum':>9} | {'paper GA gap':>12} {'s':>6} | {'our GA gap':>10} {'s':>6} | "
          f"{'exact s':>7}", flush=True)
    for seed, (desc, p) in enumerate(quality_instances(args.instances)):
        opt = solve_exact(p)
        kind = desc.split(" (")[0].split(", ", 1)[1]
        cells = []
        for name, cfg in (("paper", GAConfig(paper=True)), ("ours", GAConfig())):
            sol = solve_ga(p, seed, cfg)
            assert sol.feasible, desc
            gap = (sol.objective - opt.objective) / abs(opt.objective)
            rows[kind][name].append((gap, sol.seconds))
            rows["all"][name].append((gap, sol.seconds))
            cells.append(f"{100 * gap:>11.2f}% {sol.seconds:>6.2f}")
        rows[kind]["exact"].append((0.0, opt.seconds))
        rows["all"]["exact"].append((0.0, opt.seconds))
        print(f"{desc:<44} {opt.objective:>9.4g} | {cells[0]} | {cells[1]} | {opt.seconds:>7.3f}", flush=True)

    print(f"\n{'kind':<28} {'n':>4} | {'paper GA within 1%':>18} {'worst':>8} {'median s':>8} | "
          f"{'our GA within 1%':>16} {'worst':>7} {'median s':>8} | {'exact median s':>14}")
    for kind in sorted(k for k in rows if k != "all") + ["all"]:
        cells = []
        for name in ("paper", "ours"):
            g = np.array([x[0] for x in rows[kind][name]])
            t = np.array([x[1] for x in rows[kind][name]])
            cells.append(f"{int((g <= 0.01).sum()):>10}/{len(g):<3} ({100 * (g <= 0.01).mean():3.0f}%) "
                         f"{100 * g.max():>6.2f}% {np.median(t):>8.3f}")
        ex = np.median([x[1] for x in rows[kind]["exact"]])
        print(f"{kind:<28} {len(rows[kind]['ours']):>4} | {cells[0]} | {cells[1]} | {ex:>14.3f}")

    fresh_process(args.fresh)
    pareto(args.pareto)
    if not args.skip_hil:
        hardware_in_the_loop()


def fresh_process(count: int) -> None:
    """Our GA on ``count`` instances, each in a new interpreter (imports included, its start excluded)."""
    fresh = []
    for seed in range(count):
        out = subprocess.run([sys.executable, "-c", _FRESH, str(seed)], check=True, capture_output=True, text=True,
                             cwd=REPO).stdout.split()
        fresh.append((float(out[0]), float(out[1])))
    f = np.array(fresh)
    print(f"\nour GA in a fresh process, {count} instances: median {np.median(f[:, 0]):.2f} s with imports "
          f"(the solve alone {np.median(f[:, 1]):.2f} s), slowest {f[:, 0].max():.2f} s")


def pareto(count: int) -> None:
    """NSGA-II's loss-latency front against the MILP's, on ``count`` seeded problems without a budget limit."""
    print(f"\n{'instance':<28} {'exact points':>12} {'exact s':>8} | {'NSGA-II points':>14} {'s':>6} "
          f"{'hypervolume ratio':>17}")
    ratios = []
    for seed in range(count):
        rng = np.random.default_rng(20_000 + seed)
        n, k = int(rng.integers(20, 121)), (3, 9)[seed % 2]
        p = pipeline_like(n, k, 1.0, 20_000 + seed)
        ref = exact_front(p, "cost", points=50)
        front = pareto_nsga2(p, ["loss", "cost"], seed)
        ratios.append(hypervolume_ratio(front.points, ref.points))
        print(f"{f'{n} layers, {k} choices':<28} {len(ref.points):>12} {ref.seconds:>8.2f} | {len(front.points):>14} "
              f"{front.seconds:>6.2f} {ratios[-1]:>17.4f}", flush=True)
    print(f"hypervolume ratio NSGA-II / exact: min {min(ratios):.4f}, median {np.median(ratios):.4f} "
          f"over {count} problems")


if __name__ == "__main__":
    main()


def hardware_in_the_loop() -> None:
    """The table's optimum against the GA with whole-network re-simulation as its cost."""
    from hwsim.codesign.resimulate import network_oracle, surrogate_gap
    from hwsim.config import load_config
    from hwsim.lut import build_lut
    from hwsim.workload import layers_from_model_name, layers_from_module
    from hwsim.quant.digits_model import default_digits_model
    from hwsim.search.build import problem_from_tables

    hw = load_config(REPO / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml")
    print(f"\n{'model':<14} {'budget ms':>9} | {'table optimum: loss':>19} {'table ms':>9} {'network ms':>10} | "
          f"{'re-simulated GA: loss':>21} {'network ms':>10} {'simulations':>11} {'s':>6}")
    for model in ("digits-resnet", "resnet18"):
        layers = (layers_from_module(default_digits_model(), (1, 1, 16, 16)) if model == "digits-resnet"
                  else layers_from_model_name(model))
        lut = build_lut(layers, hw, model, progress=False)
        names = [r["name"] for r in lut["layers"]]
        rng = np.random.default_rng(0)
        sens = {"format": "hwsim-sensitivity/2", "choices": lut["choices"], "policy": "first-last-8bit",
                "pinned": {names[0]: "w8a8", names[-1]: "w8a8"},
                "layers": {n: {c: float(rng.lognormal(-1, 1) * (8 / int(c[1]) - 1 + 0.5 * (8 / int(c[3]) - 1)))
                               for c in lut["choices"]} for n in names[1:-1]}}
        for frac in (0.1, 0.3, 0.6):
            p = problem_from_tables(lut, sens, frac)
            oracle = network_oracle(layers, hw, p)
            opt = solve_exact(p)
            sol = solve_ga(p, 0, oracle=oracle, seeds=[opt.assignment])
            g_opt = surrogate_gap(p, oracle, opt.assignment)
            print(f"{model:<14} {p.budget:>9.4f} | {opt.objective:>19.4f} {g_opt['table_ms']:>9.4f} "
                  f"{g_opt['network_ms']:>10.4f} | {sol.objective:>21.4f} {sol.cost:>10.4f} "
                  f"{sol.details['oracle_calls']:>11} {sol.seconds:>6.1f}", flush=True)
