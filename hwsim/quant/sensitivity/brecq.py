"""Per-layer sensitivities for the mixed-precision search (BRECQ Algorithm 1, last line, and B.4.4), with their noise.

After a uniform reconstruction at each bit choice, the sensitivity of layer l at choice c is what
quantizing only layer l costs (its weights and its own read of its input, with the parameters
reconstruction learned; everything else FP), measured on a **held-out split** that
reconstruction never saw, sample by sample, so every entry comes with a 95% confidence interval.
Two measures (``metric``):

- ``kl`` (default): the mean KL divergence from the FP model's output distribution to the
  quantized one.  Per sample it is never negative, it does not depend on whether the label is
  right, and for small independent perturbations it adds up over layers (to second order it is
  the Fisher quadratic form of BRECQ's Eq. 10), which is what a search summing entries assumes;
- ``loss``: the increase of the task (cross-entropy) loss against the FP loss of the same sample,
  the paper's literal definition; noisier, since its first-order term has either sign.

benchmarks/bench_sensitivity.py compares the two by rank correlation with measured accuracy drops.

Then, in one place:
- **never negative, monotone in bits**: per layer, the entries are projected onto the set of
  tables that are >= 0 and do not decrease when a weight or an activation bit-width drops
  (weighted least squares, weights 1 / variance); how many entries were negative, how many pairs
  of entries violated the order, and how many entries moved are reported;
- **pair terms only where they exceed their noise**: for every pair of layers inside one block,
  both at the lowest choice (the paper's 2-bit permutations), the joint cost minus the two
  singles is kept only when its 95% interval excludes zero;
- **predicted losses never negative**: a pair term (a gain when negative) is clipped at
  -(s_a + s_b) / (2 (k - 1)) for a block of k searched layers, so no assignment's sum of entries
  and pair terms can fall below zero (``pairs_clipped`` counts them).

JSON format ``hwsim-sensitivity/2``::

    {"format": "hwsim-sensitivity/2", "model": ..., "choices": ["w2a2", ..., "w8a8"],
     "policy": "first-last-8bit", "pinned": {"conv1": "w8a8", "fc": "w8a8"},
     "act_groups": [["layer2.0.conv1", "layer2.0.downsample.0"], ...],
     "metric": "kl", "holdout": 1436, "base_loss": ...,
     "layers": {"layer1.0.conv1": {"w2a2": 0.9, ...}, ...},       # projected values (the search uses these)
     "measured": {...}, "ci95": {...},                          # raw means and interval half-widths
     "projection": {"negative": 3, "order_violations": 2, "moved": 4},
     "blocks": {"layer1.0.conv1": "layer1.0", ...},
     "pairs": [{"a", "b", "choice_a", "choice_b", "sensitivity", "ci95"}, ...], "pairs_dropped": 7,
     "pairs_clipped": 1,
     "reconstruction": {..., "accuracy": {"w2a2": 0.91, ...}}}

Pinned layers (the precision policy) appear only in ``pinned``: their bits are not the search's.
"""

from __future__ import annotations

import contextlib
import itertools
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from torch import nn
from tqdm import tqdm

from hwsim.precision import PrecisionPolicy, label

from ..api import quantize
from ..qmodel import activation_groups, quant_layers, set_mode
from ..replay import PrefixReplay
from ..reproducible import pin_torch
from ..units import find_units

SENSITIVITY_FORMAT = "hwsim-sensitivity/2"
Z95 = 1.959964


METRICS = ("kl", "loss")


def per_sample_logits(model: nn.Module, x: torch.Tensor, batch: int = 256, replay: PrefixReplay | None = None,
                      target: set[str] = frozenset()) -> torch.Tensor:
    """Log-probabilities of every sample (float64); with ``replay`` (its batches replace ``batch``), the FP modules
    that finish before ``target``'s layers start return their recorded outputs (the same numbers, without running
    them)."""
    size = batch if replay is None else replay.batch
    out = []
    with torch.no_grad():
        for b, i in enumerate(range(0, len(x), size)):
            with contextlib.nullcontext() if replay is None else replay.replayed(model, target, b):
                out.append(F.log_softmax(model(x[i:i + size]).double(), dim=1))
    return torch.cat(out)


class _Measure:
    """Per-sample cost of a partly quantized model against the FP one, under ``metric``.

    ``targets`` (the layer sets to be measured) lets every pass skip the FP modules before its layers
    (:class:`..replay.PrefixReplay`, recorded at the first call).
    """

    def __init__(self, metric: str, fp: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 targets: list[set[str]] | None = None):
        if metric not in METRICS:
            raise ValueError(f"sensitivity metric {metric!r}; allowed: {', '.join(METRICS)}")
        self.metric, self.x, self.y, self.targets = metric, x, y, targets
        self.replay: PrefixReplay | None = None
        self.fp_logp = per_sample_logits(fp, x)
        self.fp_loss = F.nll_loss(self.fp_logp, y, reduction="none")

    def __call__(self, qmodel, layers, only: set[str]) -> torch.Tensor:
        if self.replay is None and self.targets is not None:
            set_mode(layers, "fp", False)
            self.replay = PrefixReplay(qmodel, self.x, self.targets)
        set_mode([(n, m) for n, m in layers if n not in only], "fp", False)
        set_mode([(n, m) for n, m in layers if n in only], "hard", True)
        logp = per_sample_logits(qmodel, self.x, replay=self.replay, target=only)
        if self.metric == "kl":
            return (self.fp_logp.exp() * (self.fp_logp - logp)).sum(1)
        return F.nll_loss(logp, self.y, reduction="none") - self.fp_loss


def _mean_ci(d: torch.Tensor) -> tuple[float, float]:
    """Mean of paired differences and the half-width of its 95% interval."""
    n = len(d)
    return float(d.mean()), float(Z95 * d.std(unbiased=True) / np.sqrt(n)) if n > 1 else float("inf")


def _covering_pairs(choices: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(i, j) with choice i <= choice j in both bit-widths (i != j): entry i must be >= entry j."""
    return [(i, j) for i, a in enumerate(choices) for j, b in enumerate(choices)
            if i != j and a[0] <= b[0] and a[1] <= b[1]]


def project_monotone(values: np.ndarray, ci: np.ndarray, order: list[tuple[int, int]]) -> np.ndarray:
    """Weighted least-squares projection of ``values`` onto {v >= 0, v[i] >= v[j] for (i, j) in order}."""
    v0 = np.maximum(values, 0.0)
    if all(v0[i] >= v0[j] for i, j in order) and (values >= 0).all():
        return values.copy()
    se = np.maximum(ci / Z95, 1e-3 * max(float(np.max(ci)), 1e-12) / Z95 + 1e-15)
    w = 1.0 / se ** 2
    w = w / w.max()
    cons = [{"type": "ineq", "fun": lambda v, i=i, j=j: v[i] - v[j],
             "jac": lambda v, i=i, j=j: np.eye(len(v))[i] - np.eye(len(v))[j]} for i, j in order]
    res = minimize(lambda v: float(np.sum(w * (v - values) ** 2)), v0, jac=lambda v: 2 * w * (v - values),
                   bounds=[(0, None)] * len(values), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    v = np.maximum(res.x, 0.0)
    for _ in range(len(v)):  # remove solver round-off: enforce the order exactly
        for i, j in order:
            if v[i] < v[j]:
                v[i] = v[j]
    return v


def measure_sensitivity(model: nn.Module, calib_x: torch.Tensor, calib_y: torch.Tensor, holdout_x: torch.Tensor,
                        holdout_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                        choices=((2, 8), (4, 8), (8, 8)), method: str = "brecq", granularity: str = "block",
                        objective: str = "fisher", iters: int = 500, seed: int = 0, model_name: str = "",
                        progress: bool = True, policy: PrecisionPolicy | None = None,
                        uniform_results: dict | None = None, metric: str = "kl") -> dict:
    """The sensitivity table (see the module docstring).

    ``uniform_results`` may hold already quantized uniform models (choice -> QuantResult) to reuse.
    """
    if metric not in METRICS:
        raise ValueError(f"sensitivity metric {metric!r}; allowed: {', '.join(METRICS)}")
    policy = policy or PrecisionPolicy()
    choices = [tuple(c) for c in choices]
    results = uniform_results_at(model, calib_x, calib_y, test_x, test_y, choices, method, granularity, objective,
                                 iters, seed, policy, progress, uniform_results)
    first = results[choices[0]]
    layers_by_choice = {c: quant_layers(results[c].qmodel, calib_x[:2]) for c in choices}
    names = [n for n, _ in layers_by_choice[choices[0]]]
    pinned = {n: label(*bits) for n, (bits, _) in policy.pinned(names).items()}
    free = [n for n in names if n not in pinned]
    low = min(choices)  # lowest weight bits, then activation bits: the paper's 2-bit permutations
    blocks = {}
    for unit in find_units(results[low].qmodel, layers_by_choice[low], "block", calib_x[:2]):
        members = [n for n, _ in unit.layers if n in free]
        if len(members) > 1:
            for n in members:
                blocks[n] = unit.name
    block_pairs = [(a, b) for block in sorted(set(blocks.values()))
                   for a, b in itertools.combinations([n for n in free if blocks.get(n) == block], 2)]
    measure = _Measure(metric, first.fp_model, holdout_x, holdout_y,
                       targets=[{n} for n in free] + [{a, b} for a, b in block_pairs])
    measured = {n: {} for n in free}
    ci95 = {n: {} for n in free}
    diffs: dict[tuple[str, tuple[int, int]], torch.Tensor] = {}
    bar = tqdm(total=len(free) * len(choices), desc="sensitivity", unit="eval", disable=not progress, file=sys.stderr)
    for c in choices:
        qmodel, layers = results[c].qmodel, layers_by_choice[c]
        for n in free:
            d = measure(qmodel, layers, {n})
            diffs[(n, c)] = d
            measured[n][label(*c)], ci95[n][label(*c)] = _mean_ci(d)
            bar.update()
    bar.close()

    order = _covering_pairs(choices)
    table, negative, violations, moved = {}, 0, 0, 0
    for n in free:
        raw = np.array([measured[n][label(*c)] for c in choices])
        ci = np.array([ci95[n][label(*c)] for c in choices])
        negative += int((raw < 0).sum())
        violations += sum(1 for i, j in order if raw[i] < raw[j])
        proj = project_monotone(raw, ci, order)
        moved += int((np.abs(proj - raw) > 1e-12).sum())
        table[n] = {label(*c): float(v) for c, v in zip(choices, proj)}

    qmodel, layers = results[low].qmodel, layers_by_choice[low]
    pairs, dropped, clipped = [], 0, 0
    for block in sorted(set(blocks.values())):
        members = [n for n in free if blocks.get(n) == block]
        for a, b in itertools.combinations(members, 2):
            joint = measure(qmodel, layers, {a, b})
            mean, ci = _mean_ci(joint - diffs[(a, low)] - diffs[(b, low)])
            if abs(mean) <= ci:
                dropped += 1
                continue
            # a gain larger than this could make a predicted loss negative: each member is in at most
            # len(members) - 1 pairs, so the block's total stays >= half the sum of its singles
            floor = -(table[a][label(*low)] + table[b][label(*low)]) / (2 * (len(members) - 1))
            if mean < floor:
                mean, clipped = floor, clipped + 1
            pairs.append({"a": a, "b": b, "choice_a": label(*low), "choice_b": label(*low), "sensitivity": mean,
                          "ci95": ci})
    for r in results.values():
        set_mode(quant_layers(r.qmodel), "hard", True)
    return {"format": SENSITIVITY_FORMAT, "model": model_name, "choices": [label(*c) for c in choices],
            "policy": policy.name, "pinned": pinned, "act_groups": activation_groups(layers),
            "metric": metric, "holdout": len(holdout_y), "base_loss": float(measure.fp_loss.mean()), "layers": table,
            "measured": measured,
            "ci95": ci95, "projection": {"negative": negative, "order_violations": violations, "moved": moved},
            "blocks": blocks, "pairs": pairs, "pairs_dropped": dropped, "pairs_clipped": clipped,
            "reconstruction": _reconstruction(results, method, granularity, objective, iters, seed)}


def uniform_results_at(model: nn.Module, calib_x: torch.Tensor, calib_y: torch.Tensor, test_x: torch.Tensor,
                       test_y: torch.Tensor, choices, method: str = "brecq", granularity: str = "block",
                       objective: str = "fisher", iters: int = 500, seed: int = 0,
                       policy: PrecisionPolicy | None = None, progress: bool = True, done: dict | None = None) -> dict:
    """The model reconstructed uniformly at each choice (choice -> QuantResult); ``done`` may hold some already."""
    results = dict(done or {})
    for c in choices:
        c = tuple(c)
        if c not in results:
            results[c] = quantize(model, calib_x, calib_y, test_x, test_y, c, method, granularity, objective, iters,
                                  seed, policy=policy or PrecisionPolicy(), progress=progress)
    return results


def _reconstruction(results: dict, method: str, granularity: str, objective: str, iters: int, seed: int) -> dict:
    first = next(iter(results.values()))
    return {"method": method, "granularity": granularity, "objective": objective, "iters": iters, "seed": seed,
            "fp_accuracy": first.fp_accuracy, "accuracy": {label(*c): r.quant_accuracy for c, r in results.items()}}


def uniform_reconstruction(model: nn.Module, data, choices, policy: PrecisionPolicy | None = None, seed: int = 0,
                           progress: bool = False, iters: int = 500, recon_method: str = "brecq",
                           granularity: str = "block", objective: str = "fisher") -> dict:
    """The ``reconstruction`` part of :func:`measure_sensitivity`'s table alone (FP and uniform accuracies at each
    choice), with the same quantizations, for a caller that takes its sensitivities from another method."""
    pin_torch()
    torch.manual_seed(seed)
    results = uniform_results_at(model, data.calib_x, data.calib_y, data.test_x, data.test_y, choices, recon_method,
                                 granularity, objective, iters, seed, policy, progress)
    return _reconstruction(results, recon_method, granularity, objective, iters, seed)
