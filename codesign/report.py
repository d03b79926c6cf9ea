"""The pipeline's report: plots, report.md, report.html (plots inline) and a one-line terminal summary."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hwsim.io import save_figure, write_atomic  # noqa: E402
from hwsim.precision import parse_label  # noqa: E402


def pareto_plot(target: dict, fp_accuracy: float, out: Path) -> Path:
    """Accuracy against whole-network latency: uniform-precision points and the mixed configs."""
    fig, ax = plt.subplots(figsize=(6, 4))
    u = target["uniform"]
    ax.scatter([p["latency_ms"] for p in u], [100 * p["accuracy"] for p in u], marker="*", s=170, color="tab:red",
               zorder=3, label="uniform precision")
    for p in u:
        ax.annotate(p["choice"], (p["latency_ms"], 100 * p["accuracy"]), textcoords="offset points", xytext=(6, -12))
    cs = sorted(target["configs"], key=lambda c: c["simulated_ms"])
    ax.plot([c["simulated_ms"] for c in cs], [100 * c["accuracy"] for c in cs], "o-", color="tab:blue",
            label="mixed precision (searched)")
    ax.axhline(100 * fp_accuracy, color="gray", ls="--", lw=1, label="full precision")
    ax.set_xlabel("latency, whole network re-simulated (ms)")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(f"{target['hardware']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out / f"pareto_{target['hardware']}")[0]


def bits_plot(results: dict, out: Path) -> Path:
    """Per-layer weight bits of every chosen config (like the paper's bit-width figures)."""
    layers = results["layers"]
    rows = [(f"{t['hardware']} @ {c['budget_fraction']:.2f}", c["assignment"]) for t in results["targets"]
            for c in t["configs"]]
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6, 0.35 * len(layers)), 1.3 * len(rows) + 1), sharex=True,
                             squeeze=False)
    for ax, (label, assignment) in zip(axes[:, 0], rows):
        wbits = [parse_label(assignment[n])[0] for n in layers]
        ax.bar(range(len(layers)), wbits, color=["tab:red" if b == 2 else "tab:orange" if b == 4 else "tab:green"
                                                for b in wbits])
        ax.set_ylim(0, 9)
        ax.set_yticks([2, 4, 8])
        ax.set_ylabel("w bits")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xticks(range(len(layers)))
    axes[-1, 0].set_xticklabels(layers, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "bitwidths")[0]


def summary_line(results: dict) -> str:
    """One plain line for the terminal."""
    parts = []
    for t in results["targets"]:
        best = max(t["configs"], key=lambda c: c["accuracy"])
        fastest = min(t["configs"], key=lambda c: c["simulated_ms"])
        parts.append(f"{t['hardware']}: {100 * fastest['accuracy']:.2f}% at {fastest['simulated_ms']:.3f} ms "
                     f"(fastest mixed), {100 * best['accuracy']:.2f}% at {best['simulated_ms']:.3f} ms (best)")
    checks = [c["integer"]["passed"] for t in results["targets"] for c in t["configs"]]
    return (f"{results['model']}: FP {100 * results['fp_accuracy']:.2f}% | " + " | ".join(parts)
            + f" | integer check {'passed' if all(checks) else 'FAILED'} ({sum(checks)}/{len(checks)})")


def _markdown(results: dict, images: list[Path]) -> str:
    lines = [f"# Co-design report: {results['model']}", "",
             f"Data: {results['data']}; FP test top-1 {100 * results['fp_accuracy']:.2f}%; "
             f"{results['iters']} reconstruction iterations per unit; seed {results['seed']}; "
             f"{results['seconds']:.0f} s.", "", "**" + summary_line(results) + "**", ""]
    for t in results["targets"]:
        lines += [f"## {t['hardware']} ({t['kind']})", "",
                  "| config | budget (ms) | predicted (ms) | re-simulated (ms) | error | top-1 | GA gap to exact | "
                  "integer check |", "|---|---|---|---|---|---|---|---|"]
        for u in t["uniform"]:
            lines.append(f"| uniform {u['choice']} | | {u['latency_ms']:.4f} | | | {100 * u['accuracy']:.2f}% | | |")
        for c in t["configs"]:
            ic = c["integer"]
            lines.append(f"| mixed @ {c['budget_fraction']:.2f} | {c['budget_ms']:.4f} | {c['predicted_ms']:.4f} | "
                         f"{c['simulated_ms']:.4f} | {c['latency_error_pct']:+.2f}% | {100 * c['accuracy']:.2f}% | "
                         f"{c['ga_gap_pct']:.2f}% | {'pass' if ic['passed'] else 'FAIL'} "
                         f"({100 * ic['top1_agreement']:.2f}% agree, {ic['accumulator_bits_needed']}-bit acc.) |")
        lines.append("")
    lines += ["Predicted latency is the lookup-table sum the search optimises; re-simulated latency runs the whole "
              "network with each layer's outputs requantized to the next layer's bits. The integer check runs the whole "
              "quantized network in integers on the test set (integer inputs and weights, accumulators checked "
              "against the accumulator width, fixed-point requantization to each layer's learned step, residual "
              "adds on a 16-bit grid, ReLU and pooling in integers) and compares its top-1 with the fake-quantized "
              "model: it passes at 99.5% agreement or more without overflow.", ""]
    lines += [f"![{p.stem}]({p.name})" for p in images]
    return "\n".join(lines) + "\n"


def _html(markdown: str, images: list[Path]) -> str:
    body = []
    for line in markdown.splitlines():
        if line.startswith("!["):
            name = line[line.index("(") + 1:-1]
            path = next(p for p in images if p.name == name)
            data = base64.b64encode(path.read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></p>')
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            tag = "th" if body and not body[-1].startswith("<tr") and not body[-1].startswith("<table") else "td"
            if not body or not (body[-1].startswith("<tr") or body[-1].startswith("<table")):
                body.append("<table>")
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
        else:
            if body and body[-1].startswith("<tr"):
                body.append("</table>")
            if line.strip():
                text = html.escape(line.strip("*"))
                body.append(f"<p><b>{text}</b></p>" if line.startswith("**") else f"<p>{text}</p>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}")
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>" + \
        "\n".join(body) + "</body></html>\n"


def write_report(results: dict, out: Path) -> list[Path]:
    """Write the plots, report.md and report.html into ``out``; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = [pareto_plot(t, results["fp_accuracy"], out) for t in results["targets"]] + [bits_plot(results, out)]
    md = _markdown(results, images)
    write_atomic(out / "report.md", md)
    write_atomic(out / "report.html", _html(md, images))
    return images + [out / "report.md", out / "report.html"]
