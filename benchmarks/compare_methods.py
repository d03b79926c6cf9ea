"""The sensitivity methods side by side on one model, one search and the same hardware.

  python benchmarks/compare_methods.py [--iters 200] [--out out/compare] [--update]

On the embedded digits task, each method of ``hwsim.quant.sensitivity`` (brecq, first_order, hawq, limpq,
gmpq) builds its table (timed; cached in OUT/cache).  For each target (the paper's 16x32 Bit Fusion array
and the Raspberry Pi 3B) and three latency budgets (fractions 0.1, 0.25, 0.5 of the way from the
all-cheapest to the all-dearest assignment), the exact solver picks each method's configuration from its
own table; every pick is quantized by the same BRECQ block reconstruction (``--iters`` per unit, seed 0)
and validated: test top-1 and the whole network re-simulated.  PNMQ, a data-free weight quantizer, gets
three weight-size budgets (fractions 0.2, 0.5, 0.8) and its own quantizer (weights only; activations
float; priced by size, see quant/pnmq.py).

Then how well each method's predicted loss ranks what quantization really costs: 20 random configurations
(seeded; activation groups share bits as deployed) are quantized by BRECQ, and the Spearman rank
correlation between each method's predicted loss (its table's sum for the configuration) and the measured
top-1 drop is reported.

Writes OUT/compare.json and docs/compare_methods.png; ``--update`` pastes the tables into
docs/guide/quantize.md between its markers.  Minutes on two cores once the tables are cached (about 20 without).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: the page that quotes the tables (its section on the sensitivity methods)
PAGE = ROOT / "docs" / "guide" / "quantize.md"
BEGIN = ("<!-- compare-methods:begin (written into docs/guide/quantize.md by "
         "`python benchmarks/compare_methods.py --update`) -->")
END = "<!-- compare-methods:end -->"
METHODS = ("brecq", "first_order", "hawq", "limpq", "gmpq")
TARGETS = ("bitfusion_16x32", "cortex_a53_rpi3b")
LATENCY_BUDGETS = (0.1, 0.25, 0.5)
SIZE_BUDGETS = (0.2, 0.5, 0.8)
ALL = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
RANDOM_CONFIGS = 20


def _label(c):
    return f"w{c[0]}a{c[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "out" / "compare"))
    parser.add_argument("--update", action="store_true")
    args = parser.parse_args(argv)

    from scipy.stats import spearmanr

    from hwsim.codesign.pipeline import _Cache, seed_everything
    from hwsim.config import load_config
    from hwsim.lut import build_lut
    from hwsim.precision import PrecisionPolicy, parse_label
    from hwsim.targets import simulate_network
    from hwsim.workload import layers_from_module
    from hwsim.quant.api import quantize
    from hwsim.quant.pnmq import quantize_pnmq
    from hwsim.quant.sensitivity import measure
    from hwsim.quant.sources import load_model_and_data
    from hwsim.search.build import problem_from_tables
    from hwsim.search.exact import solve_exact

    out = Path(args.out)
    cache = _Cache(out / "cache")
    policy = PrecisionPolicy("first-last-8bit")
    seed_everything(0, 2)
    model, data = load_model_and_data("digits-resnet", None, None, seed=0, progress=False)
    layers = layers_from_module(model, data.input_shape)
    names = [layer.name for layer in layers]
    pinned = policy.pinned(names)
    from hwsim.quant.fingerprint import model_fingerprint

    # everything the cached numbers depend on besides what each key adds
    base = {"model": model_fingerprint(model), "data": data.name, "policy": policy.name, "seed": 0}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    tables, seconds = {}, {}
    for m in METHODS + ("pnmq",):
        choices = [(w, 8) for w in (2, 4, 8)] if m == "pnmq" else ALL
        opts = {"iters": args.iters} if m == "brecq" else {}

        def make(m=m, choices=choices, opts=opts):
            start = time.perf_counter()
            doc = measure(m, model, data, choices, policy, "digits-resnet", 0, progress=False, **opts)
            return {"table": doc, "seconds": time.perf_counter() - start}

        log(f"sensitivity: {m}")
        got = cache.get("sensitivity", {**base, "method": m, "choices": [_label(c) for c in choices],
                                        "iters": args.iters if m == "brecq" else None}, make)
        tables[m], seconds[m] = got["table"], got["seconds"]

    def quantized(bits: dict) -> float:
        full = {n: pinned[n][0] if n in pinned else bits[n] for n in names}

        def run():
            r = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, full, iters=args.iters, seed=0,
                         policy=policy, progress=False)
            return {"accuracy": 100 * r.quant_accuracy, "fp": 100 * r.fp_accuracy, "applied": r.notes}

        return cache.get("quantize", {**base, "iters": args.iters,
                                      "bits": sorted((n, list(b)) for n, b in full.items())}, run)

    fp = None
    rows = []
    for target in TARGETS:
        hw = load_config(ROOT / "hwsim" / "hw_configs" / f"{target}.yaml")
        lut = build_lut(layers, hw, "digits-resnet", tuple(data.input_shape), progress=False, policy=policy)
        for m in METHODS:
            for frac in LATENCY_BUDGETS:
                problem = problem_from_tables(lut, tables[m], frac, "fraction", "latency")
                sol = solve_exact(problem)
                bits = {n: parse_label(c) for n, c in sol.assignment.items()}
                log(f"{target} {m} {frac}: quantize")
                q = quantized(bits)
                fp = q["fp"]
                net = simulate_network(layers, hw, {n: pinned[n][0] if n in pinned else bits[n] for n in names},
                                       whole_network=True)
                rows.append({"target": target, "method": m, "budget": frac, "budget_ms": problem.budget,
                             "predicted_ms": sol.cost, "simulated_ms": net.latency_ms, "accuracy": q["accuracy"],
                             "assignment": sol.assignment})
    size_rows = []
    lut = build_lut(layers, load_config(ROOT / "hwsim" / "hw_configs" / f"{TARGETS[0]}.yaml"), "digits-resnet",
                    tuple(data.input_shape), progress=False, policy=policy)
    for frac in SIZE_BUDGETS:
        problem = problem_from_tables(lut, tables["pnmq"], frac, "fraction", "size")
        sol = solve_exact(problem)
        wbits = {n: pinned[n][0][0] if n in pinned else parse_label(c)[0] for n, c in sol.assignment.items()}
        wbits.update({n: pinned[n][0][0] for n in names if n not in wbits})
        r = cache.get("pnmq", {**base, "bits": sorted(wbits.items())}, lambda wbits=wbits: (
            lambda res: {"accuracy": 100 * res.quant_accuracy, "size": res.size_bytes})(
            quantize_pnmq(model, data, wbits, policy)))
        size_rows.append({"budget": frac, "budget_bytes": problem.budget, "table_bytes": sol.cost,
                          "pnmq_bytes": r["size"], "accuracy": r["accuracy"], "assignment": sol.assignment})

    # rank agreement over random configurations
    rng = np.random.default_rng(0)
    groups = tables["brecq"]["act_groups"]
    free = [n for n in names if n not in pinned]
    configs = []
    for _ in range(RANDOM_CONFIGS):
        bits = {n: ALL[rng.integers(len(ALL))] for n in free}
        for g in groups:  # one activation bit-width per tensor, as deployed
            a = max(bits[n][1] for n in g)
            for n in g:
                bits[n] = (bits[n][0], a)
        configs.append(bits)
    drops = []
    for i, bits in enumerate(configs):
        log(f"random configuration {i + 1}/{RANDOM_CONFIGS}: quantize")
        drops.append(fp - quantized(bits)["accuracy"])
    rho = {}
    for m in METHODS:
        t = tables[m]
        pred = []
        for bits in configs:
            total = sum(t["layers"][n][_label(b)] for n, b in bits.items())
            total += sum(p["sensitivity"] for p in t.get("pairs", [])
                         if _label(bits[p["a"]]) == p["choice_a"] and _label(bits[p["b"]]) == p["choice_b"])
            pred.append(total)
        rho[m] = float(spearmanr(pred, drops).statistic)

    doc = {"fp_accuracy": fp, "iters": args.iters, "rows": rows, "size_rows": size_rows, "spearman": rho,
           "drops": drops, "sensitivity_seconds": seconds}
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(doc, indent=1) + "\n")
    text = _markdown(doc)
    print(text)
    _plot(doc, ROOT / "docs" / "compare_methods.png")
    if args.update:
        readme = PAGE
        s = readme.read_text()
        a, b = s.index(BEGIN), s.index(END)
        readme.write_text(s[:a] + BEGIN + "\n" + text + END + s[b + len(END):])
    return 0


def _markdown(doc: dict) -> str:
    fp = doc["fp_accuracy"]
    lines = [f"FP top-1 {fp:.2f}%; every configuration quantized by BRECQ ({doc['iters']} iterations per unit).", "",
             "| target | method | budget | predicted (us) | simulated (us) | top-1 (%) | vs FP | sensitivity (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['target']} | {r['method']} | {r['budget']:.2f} | {1000 * r['predicted_ms']:.2f} | "
                     f"{1000 * r['simulated_ms']:.2f} | {r['accuracy']:.2f} | {r['accuracy'] - fp:+.2f} | "
                     f"{doc['sensitivity_seconds'][r['method']]:.0f} |")
    lines += ["", "PNMQ (its own quantizer, weights only, data-free), weight-size budgets:", "",
              "| budget | budget (bytes) | table bytes | PNMQ bytes (with codebooks) | top-1 (%) | vs FP |",
              "|---|---|---|---|---|---|"]
    for r in doc["size_rows"]:
        lines.append(f"| {r['budget']:.2f} | {r['budget_bytes']:,.0f} | {r['table_bytes']:,.0f} | {r['pnmq_bytes']:,} | "
                     f"{r['accuracy']:.2f} | {r['accuracy'] - fp:+.2f} |")
    lines += ["", f"Spearman rank correlation of predicted loss with the measured top-1 drop over "
                  f"{len(doc['drops'])} random configurations (drops {min(doc['drops']):.2f} to "
                  f"{max(doc['drops']):.2f} points):", "", "| method | Spearman | sensitivity (s) |", "|---|---|---|"]
    for m, r in doc["spearman"].items():
        lines.append(f"| {m} | {r:+.3f} | {doc['sensitivity_seconds'][m]:.0f} |")
    lines.append(f"| pnmq (size only, not ranked) | - | {doc['sensitivity_seconds']['pnmq']:.0f} |")
    return "\n".join(lines) + "\n"


def _plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, target in zip(axes, TARGETS):
        for m in METHODS:
            pts = sorted((r["simulated_ms"] * 1000, r["accuracy"]) for r in doc["rows"]
                         if r["target"] == target and r["method"] == m)
            ax.plot(*zip(*pts), marker="o", label=m)
        ax.axhline(doc["fp_accuracy"], color="gray", ls="--", lw=1, label="FP")
        ax.set_title(f"{target}: three latency budgets")
        ax.set_xlabel("simulated latency (us)")
        ax.set_ylabel("test top-1 (%)")
        ax.legend(fontsize=8)
    pts = sorted((r["pnmq_bytes"] / 1000, r["accuracy"]) for r in doc["size_rows"])
    axes[2].plot(*zip(*pts), marker="s", color="black", label="pnmq (weights only)")
    axes[2].axhline(doc["fp_accuracy"], color="gray", ls="--", lw=1, label="FP")
    axes[2].set_title("PNMQ: three weight-size budgets")
    axes[2].set_xlabel("weights (kB, codebooks included)")
    axes[2].set_ylabel("test top-1 (%)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
