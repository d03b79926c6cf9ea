"""``hawq``: Hessian-trace sensitivity (HAWQ-V2/V3), the common reference of the mixed-precision literature.

Per layer l, the average Hessian trace of the task loss (cross-entropy on calibration data) with respect
to its weights, tr(H_W) / n_W, and with respect to its input, per sample, tr(H_x) / n_x, each estimated by
Hutchinson's method: tr(H) = E_v[v^T H v] for Rademacher v, with H v by a second backward pass, each
block probed on its own as in PyHessian's per-layer use.  A choice (w, a) then predicts the second-order
loss increase

    0.5 * (tr(H_W) / n_W * ||Q_w(W) - W||^2 + tr(H_x) / n_x * E ||Q_a(x) - x||^2)

(HAWQ-V3's Omega for weights; the same form for the layer's input).  Post-training, no reconstruction.
A block's estimate stops early when the standard error of its mean falls below ``tol`` (5%) of it; at
most ``draws`` Rademacher vectors per block and batch.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.precision import PrecisionPolicy

from .probes import InputProbes, batches, prepare, quantization_errors, table_document, weights_requiring_grad


def hutchinson_traces(prep, x: torch.Tensor, y: torch.Tensor, draws: int = 64, batch: int = 256, seed: int = 0,
                      tol: float = 0.05, min_draws: int = 8) -> tuple[np.ndarray, np.ndarray, int]:
    """(trace of the weight Hessian per layer, mean per-sample trace of the input Hessian per layer, draws used).

    Each block is probed on its own (v non-zero on that block only): one draw over every block at once is
    unbiased too, but the cross terms between layers make its variance several times the trace on a
    small network.  A block stops once the standard error of its mean is below ``tol`` of it (after
    ``min_draws``), or after ``draws``.
    """
    gen = torch.Generator().manual_seed(seed)
    weights = weights_requiring_grad(prep)
    probes = InputProbes(prep.layers)
    n_l = len(prep.layers)
    sums, used = np.zeros(2 * n_l), 0
    try:
        for xb, yb in batches(x, y, batch):
            with probes.attached():
                loss = F.cross_entropy(prep.qmodel(xb), yb)
                leaves = list(probes.leaves)
            variables = weights + leaves
            grads = torch.autograd.grad(loss, variables, create_graph=True)
            for j, (g, var) in enumerate(zip(grads, variables)):
                values: list[float] = []
                while len(values) < draws:  # ``min_draws`` vectors at a time, vectorised by autograd
                    k = min(min_draws, draws - len(values))
                    v = (torch.randint(0, 2, (k,) + tuple(var.shape), generator=gen) * 2 - 1).to(var.dtype)
                    hv = torch.autograd.grad(g, var, grad_outputs=v, retain_graph=True, is_grads_batched=True)[0]
                    values += (v * hv).flatten(1).sum(1).tolist()
                    mean, sem = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
                    if sem <= tol * abs(mean):
                        break
                used += len(values)
                # of the mean loss over the batch; for an input block that is the mean of the per-sample traces
                sums[j] += np.mean(values) * len(xb)
    finally:
        for w in weights:
            w.requires_grad_(False)
    return sums[:n_l] / len(x), sums[n_l:] / len(x), used


def hawq_sensitivity(model, calib_x: torch.Tensor, calib_y: torch.Tensor, choices, policy: PrecisionPolicy | None = None,
                     model_name: str = "", seed: int = 0, draws: int = 64, batch: int = 256, samples: int = 512,
                     progress: bool = False) -> dict:
    """The hawq table (see the module docstring) over ``samples`` calibration samples."""
    policy = policy or PrecisionPolicy()
    start = time.perf_counter()
    choices = [tuple(c) for c in choices]
    prep = prepare(model, calib_x, policy)
    x, y = calib_x[:samples], calib_y[:samples]
    tw, tx, used = hutchinson_traces(prep, x, y, draws=draws, batch=batch, seed=seed)
    dw2, dx2, n_w, n_x = quantization_errors(prep, calib_x, sorted({w for w, _ in choices}),
                                             sorted({a for _, a in choices}))
    names = [n for n, _ in prep.layers]
    entries = {}
    for k, n in enumerate(names):
        hw, hx = max(tw[k], 0.0) / n_w[n], max(tx[k], 0.0) / n_x[n]  # a negative estimate is noise at zero
        entries[n] = np.array([0.5 * (hw * dw2[n][w] + hx * dx2[n][a]) for w, a in choices])
    details = {"traces": {n: {"weight": float(tw[k]), "input": float(tx[k])} for k, n in enumerate(names)},
               "draws": used, "samples": len(x), "seconds": time.perf_counter() - start}
    return table_document(prep, "hawq", model_name, choices, policy, entries, details)
