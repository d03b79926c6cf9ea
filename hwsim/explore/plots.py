"""Sweep plots: metric against metric with each model's Pareto front, and a heat map over two axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.io import save_figure

from .frontier import pareto_mask

LABELS = {"latency_ms": "latency (ms)", "energy_uj": "energy (µJ)", "area_mm2": "area (mm²)",
          "utilization": "utilization"}


def _columns(table, *names):
    return [np.array(table.column(n).to_pylist(), dtype=float) for n in names]


def front_plot(table, x: str, y: str, stem: Path, title: str) -> list[Path] | None:
    """All points of each model faint, its Pareto front (min x, min y) drawn; None if a metric is missing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = _columns(table, x, y)
    if not np.isfinite(xs).any() or not np.isfinite(ys).any():
        return None
    models = table.column("model").to_pylist()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n, model in enumerate(dict.fromkeys(models)):
        sel = np.array([m == model for m in models])
        color = f"C{n % 10}"
        ax.scatter(xs[sel], ys[sel], s=8, alpha=0.25, color=color, linewidths=0)
        front = pareto_mask(xs[sel], ys[sel])
        order = np.argsort(xs[sel][front])
        ax.plot(xs[sel][front][order], ys[sel][front][order], "o-", ms=4, color=color,
                label=f"{model}: Pareto front ({int(front.sum())} of {int(sel.sum())} points)")
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    for values, set_scale in ((xs, ax.set_xscale), (ys, ax.set_yscale)):
        finite = values[np.isfinite(values) & (values > 0)]
        if finite.size and finite.max() / finite.min() > 20:  # log only where it spans decades
            set_scale("log")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title, parse_math=False)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, stem)


def heatmap(table, x: str, y: str, value: str, stem: Path, title: str, model: str | None = None) -> list[Path]:
    """The best (lowest) ``value`` for each (x, y) pair of axis values over every other axis, for ``model``
    (default: the table's first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = table.column("model").to_pylist()
    first = model if model in models else models[0]
    xs, ys, vs = (table.column(c).to_pylist() for c in (x, y, value))
    best: dict[tuple, float] = {}
    for m, a, b, v in zip(models, xs, ys, vs):
        if m == first and v is not None:
            best[(a, b)] = min(v, best.get((a, b), np.inf))
    xv, yv = sorted({a for a, _ in best}, key=_sort_key), sorted({b for _, b in best}, key=_sort_key)
    grid = np.full((len(yv), len(xv)), np.nan)
    for (a, b), v in best.items():
        grid[yv.index(b), xv.index(a)] = v
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(xv), 1.2 + 0.6 * len(yv)))
    im = ax.imshow(grid, origin="lower", cmap="viridis_r", aspect="auto")
    middle = np.nanmean(grid)
    for i in range(len(yv)):
        for j in range(len(xv)):
            if np.isfinite(grid[i, j]):  # dark text on the light (low) end of viridis_r, light on the dark end
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=7,
                        color="black" if grid[i, j] <= middle else "white")
    ax.set_xticks(range(len(xv)), [str(v) for v in xv])
    ax.set_yticks(range(len(yv)), [str(v) for v in yv])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=f"best {LABELS.get(value, value)}")
    ax.set_title(f"{title}: {first}", fontsize=9, parse_math=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
