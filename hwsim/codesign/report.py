"""The pipeline's report: summary.md (the README's demo table), report.md, report.html (plots inline),
pareto.csv, the plots, and a one-line terminal summary."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hwsim.io import save_figure, write_atomic  # noqa: E402
from hwsim.precision import label  # noqa: E402
from hwsim.search.pareto import uniform_style  # noqa: E402



def _us(ms: float) -> str:
    return f"{1000 * ms:.2f}"


def pareto_plot(target: dict, fp_accuracy: float, out: Path) -> Path:
    """Accuracy against whole-network latency: every uniform configuration (legend) and the searched ones."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for u in target["uniform"]:
        ax.scatter(1000 * u["latency_ms"], u["accuracy"], **uniform_style(label(u["w_bits"], u["a_bits"])))
    cs = sorted(target["configs"], key=lambda c: c["simulated_ms"])
    ax.plot([1000 * c["simulated_ms"] for c in cs], [c["accuracy"] for c in cs], "o-", color="tab:blue", ms=8,
            zorder=4, label="mixed precision (searched)")

    ax.axhline(fp_accuracy, color="gray", ls="--", lw=1, label="full precision")
    ax.set_xlabel("latency, whole network re-simulated (µs)")
    ax.set_ylabel("test top-1 accuracy (%)")
    ax.set_title(f"{target['hardware']}: accuracy vs latency", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / f"pareto_{target['hardware']}")[0]


def bits_plot(results: dict, out: Path) -> Path:
    """Per-layer weight and activation bits of every chosen configuration."""
    layers = results["layers"]
    rows = [(f"{t['hardware']}, budget {_us(c['budget_ms'])} µs ({c['budget_label']})", c["assignment"])
            for t in results["targets"] for c in t["configs"]]
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(7, 0.45 * len(layers)), 1.4 * len(rows) + 1.2), sharex=True,
                             squeeze=False)
    x = range(len(layers))
    for ax, (title, assignment) in zip(axes[:, 0], rows):
        ax.bar([i - 0.2 for i in x], [assignment[n]["w"] for n in layers], width=0.4, color="tab:blue",
               label="weight bits")
        ax.bar([i + 0.2 for i in x], [assignment[n]["a"] for n in layers], width=0.4, color="tab:orange",
               label="activation bits")
        ax.set_ylim(0, 9)
        ax.set_yticks([2, 4, 8])
        ax.set_ylabel("bits")
        ax.set_title(title, fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=2)
    axes[-1, 0].set_xticks(list(x))
    axes[-1, 0].set_xticklabels(layers, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out / "bitwidths")[0]


def summary_line(results: dict) -> str:
    """One plain line for the terminal."""
    parts = []
    for t in results["targets"]:
        best = max(t["configs"], key=lambda c: c["accuracy"])
        fastest = min(t["configs"], key=lambda c: c["simulated_ms"])
        parts.append(f"{t['hardware']}: {fastest['accuracy']:.2f}% at {_us(fastest['simulated_ms'])} us "
                     f"(fastest mixed), {best['accuracy']:.2f}% at {_us(best['simulated_ms'])} us (best); "
                     f"mixed {'earns its place' if t['mixed_earns_place'] else 'does NOT earn its place'}")
    checks = [c["integer"]["passed"] for t in results["targets"] for c in t["configs"]]
    return (f"{results['model']}: FP {results['fp_accuracy']:.2f}% | " + " | ".join(parts)
            + f" | integer check {'passed' if all(checks) else 'FAILED'} ({sum(checks)}/{len(checks)})")


def summary_markdown(results: dict) -> str:
    """The demo table the README quotes verbatim (no wall-clock numbers: it is identical across runs)."""
    lines = [f"Model `{results['model']}` on `{results['data']}`, seed {results['seed']}, {results['iters']} "
             f"reconstruction iterations per unit, policy `{results['policy']}`. FP top-1: "
             f"**{results['fp_accuracy']:.2f}%**.", "",
             "| target | configuration | latency (µs) | top-1 (%) | vs FP (points) | earns its place |",
             "|---|---|---|---|---|---|"]
    for t in results["targets"]:
        for u in sorted(t["uniform"], key=lambda u: u["latency_ms"]):
            lines.append(f"| {t['hardware']} | uniform {label(u['w_bits'], u['a_bits'])} | {_us(u['latency_ms'])} | "
                         f"{u['accuracy']:.2f} | {u['accuracy'] - results['fp_accuracy']:+.2f} | |")
        for c in t["configs"]:
            rival = c["best_uniform_no_slower"]
            verdict = ("yes" if c["earns_place"] else "no") + (
                f" (best no-slower uniform: {rival['choice']}, {rival['accuracy']:.2f}%)" if rival else
                " (no uniform configuration is this fast)")
            lines.append(f"| {t['hardware']} | mixed, budget {_us(c['budget_ms'])} µs ({c['budget_label']}) | "
                         f"{_us(c['simulated_ms'])} | "
                         f"{c['accuracy']:.2f} | {c['accuracy'] - results['fp_accuracy']:+.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def pareto_csv(results: dict) -> str:
    """Every uniform and chosen configuration per target, with its latency, accuracy and assignment (JSON)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["target", "kind", "label", "budget_ms", "predicted_ms", "simulated_ms", "accuracy_pct",
                "predicted_loss", "assignment"])
    layers = results["layers"]
    for t in results["targets"]:
        for u in t["uniform"]:
            lab = label(u["w_bits"], u["a_bits"])
            w.writerow([t["hardware"], "uniform", lab, "", f"{u['predicted_ms']:.6g}", f"{u['latency_ms']:.6g}",
                        f"{u['accuracy']:.2f}", "", ""])
        for c in t["configs"]:
            assignment = json.dumps({n: label(c["assignment"][n]["w"], c["assignment"][n]["a"]) for n in layers})
            w.writerow([t["hardware"], "mixed", c["budget_label"], f"{c['budget_ms']:.6g}",
                        f"{c['predicted_ms']:.6g}", f"{c['simulated_ms']:.6g}", f"{c['accuracy']:.2f}",
                        f"{c['predicted_loss']:.6g}", assignment])
    return buf.getvalue()


def _markdown(results: dict, images: list[Path]) -> str:
    lines = [f"# Co-design report: {results['model']}", "",
             f"Data: {results['data']}; FP test top-1 {results['fp_accuracy']:.2f}%; {results['iters']} "
             f"reconstruction iterations per unit; seed {results['seed']}; {results['seconds']:.0f} s.", "",
             "**" + summary_line(results) + "**", ""]
    if results["pinned"]:
        lines += ["Precision policy `" + results["policy"] + "` pins: " + "; ".join(
            f"`{n}` ({reason})" for n, reason in results["pinned"].items()) + ". The search, the lookup tables "
                  "and the quantizer all obey it.", ""]
    lines += ["## Summary", "", summary_markdown(results)]
    for t in results["targets"]:
        lines += [f"## {t['hardware']} ({t['kind']})", ""]
        earned = [c for c in t["configs"] if c["earns_place"]]
        if earned:
            lines += [f"Mixed precision earns its place here: {len(earned)} of {len(t['configs'])} searched "
                      f"configurations are at least 0.5 points more accurate than every uniform configuration that "
                      f"is no slower.", ""]
        else:
            lines += ["**Mixed precision does not earn its place on this target**: every searched configuration is "
                      "within 0.5 points of (or below) a uniform configuration that is no slower, so use that "
                      "uniform configuration.", ""]
        if t.get("area_mm2") is not None:
            lines += [f"Area of {t['hardware']}: {t['area_mm2']:.3f} mm2 (PE array and buffers, 45 nm figures).", ""]
        lines += ["| config | budget (µs) | predicted (µs) | re-simulated (µs) | error | energy (µJ) | top-1 | "
                  "GA gap to exact | integer check |", "|---|---|---|---|---|---|---|---|---|"]
        for c in t["configs"]:
            ic = c["integer"]
            energy = "-" if c.get("energy_uj") is None else f"{c['energy_uj']:.3f}"
            lines.append(f"| mixed ({c['budget_label']}) | {_us(c['budget_ms'])} | {_us(c['predicted_ms'])} | "
                         f"{_us(c['simulated_ms'])} | {c['latency_error_pct']:+.2f}% | {energy} | {c['accuracy']:.2f}% | "
                         f"{c['ga_gap_pct']:.2f}% | {'pass' if ic['passed'] else 'FAIL'} "
                         f"({100 * ic['top1_agreement']:.2f}% agree, {ic['accumulator_bits_needed']}-bit acc.) |")
        lines.append("")
        lines += ["Per-layer bits (w/a) of each searched configuration (bits files in `configs/`):", "",
                  "| layer | " + " | ".join(f"{_us(c['budget_ms'])} µs" for c in t["configs"]) + " |",
                  "|---|" + "---|" * len(t["configs"])]
        for n in results["layers"]:
            lines.append(f"| {n} | " + " | ".join(f"{c['assignment'][n]['w']}/{c['assignment'][n]['a']}"
                                                   for c in t["configs"]) + " |")
        lines.append("")
    lines += ["Predicted latency is the lookup-table sum the search optimises; re-simulated latency runs the whole "
              "network with each layer's outputs requantized to the next layer's bits. The integer check runs the "
              "whole quantized network in integers on the test set (integer inputs and weights, accumulators "
              "checked against the accumulator width, fixed-point requantization to each layer's learned step, "
              "residual adds on a 24-bit grid, ReLU and pooling in integers) and compares its top-1 with the "
              "fake-quantized model: it passes at 99.5% agreement or more without overflow.", ""]
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
    """Write the plots, summary.md, report.md, report.html and pareto.csv into ``out``; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = [pareto_plot(t, results["fp_accuracy"], out) for t in results["targets"]] + [bits_plot(results, out)]
    md = _markdown(results, images)
    write_atomic(out / "summary.md", summary_markdown(results))
    write_atomic(out / "report.md", md)
    write_atomic(out / "report.html", _html(md, images))
    write_atomic(out / "pareto.csv", pareto_csv(results))
    return images + [out / "summary.md", out / "report.md", out / "report.html", out / "pareto.csv"]
