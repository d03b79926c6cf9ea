"""``gmpq``: attribution rank preservation (Wang et al., generalizable mixed-precision quantization).

GMPQ searches a policy on a small proxy set under a BOPs budget, scoring candidates by accuracy together
with how well the quantized network keeps the *rank* of the full-precision network's attributions (which
input regions matter for the decision), the property the paper shows transfers from small datasets to
large ones.  GMPQ itself searches differentiably; here the same score is taken per layer and choice, so
the exact search (under a BOPs budget, ``hwsim problem --metric bops``, or our latency budget) picks the
policy, as for every other method.  For layer l at choice (w, a), on ``proxy`` calibration images, with
only layer l quantized (round to nearest on the project's grids, activation steps from calibration):

    entry = mean(CE_q - CE_fp) + lam * mean(1 - spearman(A_fp(x), A_q(x)))

``A`` is a Grad-CAM-style attribution at input resolution: gradient x input of the true class's logit,
summed over channels (the network's own evidence map, one value per pixel); ``spearman`` is the rank
correlation of the two maps of one image.  ``lam`` (default 1.0) weighs rank preservation against the
loss, as GMPQ's objective adds its attribution-rank term to the task loss.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.precision import PrecisionPolicy

from ..fingerprint import model_fingerprint
from ..memo import data_fingerprint
from ..qmodel import calibrate_activations, set_mode
from .probes import prepare, table_document

DEFAULT_LAMBDA = 1.0


def attribution(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-pixel gradient x input of each image's true-class logit, summed over channels; per-sample CE)."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    ce = F.cross_entropy(logits, y, reduction="none")
    (grad,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x)
    return (grad * x).sum(1).flatten(1).detach(), ce.detach()


def _ranks(a: torch.Tensor) -> torch.Tensor:
    return a.argsort(dim=1, stable=True).argsort(dim=1, stable=True).double()


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Spearman rank correlation of two (N x P) tensors (ties broken by position)."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp(min=1e-12)


def gmpq_sensitivity(model, calib_x: torch.Tensor, calib_y: torch.Tensor, choices, policy: PrecisionPolicy | None = None,
                     model_name: str = "", seed: int = 0, proxy: int = 256, lam: float = DEFAULT_LAMBDA,
                     progress: bool = False) -> dict:
    """The gmpq table (see the module docstring) on ``proxy`` calibration images."""
    policy = policy or PrecisionPolicy()
    start = time.perf_counter()
    choices = [tuple(c) for c in choices]
    prep = prepare(model, calib_x, policy)
    x, y = calib_x[:proxy], calib_y[:proxy]
    a_fp, ce_fp = attribution(prep.qmodel, x, y)
    layers = dict(prep.layers)
    entries = {n: np.zeros(len(choices)) for n in prep.free}
    parts = {n: {} for n in prep.free}
    calib_key = model_fingerprint(prep.fp) + data_fingerprint(calib_x)  # every layer is FP when it calibrates
    for k, (w, a) in enumerate(choices):
        for _, layer in prep.layers:
            layer.aq.bits = a
        calibrate_activations(prep.qmodel, prep.layers, calib_x, memo_key=calib_key)
        for name in prep.free:
            layer = layers[name]
            layer.wq.set_bits(layer.weight, w)
            set_mode([(name, layer)], "nearest", True)
            a_q, ce_q = attribution(prep.qmodel, x, y)
            set_mode([(name, layer)], "fp", False)
            loss = float((ce_q - ce_fp).mean())
            rank = float((1 - spearman(a_fp, a_q)).mean())
            entries[name][k] = loss + lam * rank
            parts[name][f"w{w}a{a}"] = {"loss": loss, "rank": rank}
    details = {"proxy": len(x), "lambda": lam, "terms": parts, "seconds": time.perf_counter() - start}
    return table_document(prep, "gmpq", model_name, choices, policy, entries, details)
