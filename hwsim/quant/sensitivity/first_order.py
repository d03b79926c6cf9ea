"""``first_order``: the expected average gradient norm of each layer under a small weight perturbation
(Chauhan et al., post-training mixed precision from first-order information; appendix section 1).

The trained network sits near a stationary point, where the plain gradient says little; perturbing every
weight by ``k`` (``W + k * eps``, ``eps`` standard normal, a fresh draw per batch and repeat) and averaging
the gradient norm over calibration batches and draws measures how steep the loss is around it.  The paper
uses k = 0.001 and shows k changes the ranking (its Table 1: k = 10 costs 0.84 points on ResNet-18);
``k`` is a parameter here and ``k = 0`` gives the plain expected gradient norm.

Per layer: s_W = E ||grad_W L||  (the batch-mean loss: a weight error is shared by every sample), and for
the layer's input, per sample, s_x = E ||grad_x l(x)||.  A choice (w, a) then predicts the first-order
bound on the loss increase

    s_W * ||Q_w(W) - W|| + s_x * sqrt(E ||Q_a(x) - x||^2)

(Cauchy-Schwarz on the first-order Taylor term).  The paper orders layers by s_W to give bits; this
per-choice form lets the same exact search as every other method use it.  Post-training, no
reconstruction.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.errors import HwsimError
from hwsim.precision import PrecisionPolicy

from .probes import InputProbes, batches, prepare, quantization_errors, table_document, weights_requiring_grad

DEFAULT_K = 0.001


def gradient_norms(prep, x: torch.Tensor, y: torch.Tensor, k: float = DEFAULT_K, repeats: int = 4, batch: int = 64,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(E ||grad_W L|| per layer over batches and perturbed draws, E ||grad_x l|| per layer over samples)."""
    gen = torch.Generator().manual_seed(seed)
    weights = weights_requiring_grad(prep)
    originals = [w.detach().clone() for w in weights]
    probes = InputProbes(prep.layers)
    n_l = len(prep.layers)
    gw, gx, n_batches, n_samples = np.zeros(n_l), np.zeros(n_l), 0, 0
    try:
        for _ in range(repeats if k > 0 else 1):  # with k = 0 every repeat is the same
            for xb, yb in batches(x, y, batch):
                with torch.no_grad():
                    for w, w0 in zip(weights, originals):
                        w.copy_(w0 + k * torch.randn(w0.shape, generator=gen) if k > 0 else w0)
                with probes.attached():
                    per_sample = F.cross_entropy(prep.qmodel(xb), yb, reduction="none")
                    leaves = list(probes.leaves)
                # sum of per-sample losses: the gradient at a sample's input is that sample's own
                grads = torch.autograd.grad(per_sample.sum(), weights + leaves)
                gw += np.array([float(g.norm()) / len(xb) for g in grads[:n_l]])  # the batch-mean loss's gradient
                gx += np.array([float(g.flatten(1).norm(dim=1).sum()) for g in grads[n_l:]])
                n_batches += 1
                n_samples += len(xb)
    finally:
        with torch.no_grad():
            for w, w0 in zip(weights, originals):
                w.copy_(w0)
                w.requires_grad_(False)
    return gw / n_batches, gx / n_samples


def first_order_sensitivity(model, calib_x: torch.Tensor, calib_y: torch.Tensor, choices,
                            policy: PrecisionPolicy | None = None, model_name: str = "", seed: int = 0,
                            k: float = DEFAULT_K, repeats: int = 4, batch: int = 64, samples: int = 512,
                            progress: bool = False) -> dict:
    """The first_order table (see the module docstring) over ``samples`` calibration samples."""
    if not k >= 0:
        raise HwsimError(f"first_order perturbation k {k}: allowed: a number >= 0")
    policy = policy or PrecisionPolicy()
    start = time.perf_counter()
    choices = [tuple(c) for c in choices]
    prep = prepare(model, calib_x, policy)
    sw, sx = gradient_norms(prep, calib_x[:samples], calib_y[:samples], k=k, repeats=repeats, batch=batch, seed=seed)
    dw2, dx2, _, _ = quantization_errors(prep, calib_x, sorted({w for w, _ in choices}), sorted({a for _, a in choices}))
    names = [n for n, _ in prep.layers]
    entries = {n: np.array([sw[i] * np.sqrt(dw2[n][w]) + sx[i] * np.sqrt(dx2[n][a]) for w, a in choices])
               for i, n in enumerate(names)}
    details = {"k": k, "repeats": repeats if k > 0 else 1, "samples": min(samples, len(calib_x)),
               "gradient_norms": {n: {"weight": float(sw[i]), "input": float(sx[i])} for i, n in enumerate(names)},
               "seconds": time.perf_counter() - start}
    return table_document(prep, "first_order", model_name, choices, policy, entries, details)
