"""Per-layer sensitivity tables for the mixed-precision search, one module per method, one interface.

Every method takes a model, calibration data and the bit choices and returns the same
``hwsim-sensitivity/2`` document (per layer, per choice, a predicted loss increase; optional block pair
terms), which ``hwsim problem``, ``hwsim search``, the pipeline and the co-design read unchanged:

- ``brecq`` (:mod:`.brecq`): quantize uniformly at each choice by block reconstruction, then measure on
  held-out data what quantizing each layer alone costs (with 95% intervals and block pair terms);
- ``first_order`` (:mod:`.first_order`): the expected gradient norm under a weight perturbation k
  (Chauhan et al.) times each choice's quantization error;
- ``hawq`` (:mod:`.hawq`): Hutchinson estimates of the Hessian traces (HAWQ-V2/V3) times each choice's
  squared quantization error;
- ``limpq`` (:mod:`.limpq`): the learned per-bit quantizer step sizes of a one-time quantization-aware
  training over the bit list (Tang et al.), weights and activations balanced by ``alpha``;
- ``gmpq`` (:mod:`.gmpq`): loss increase plus the loss of attribution rank (Spearman of gradient x input
  maps, FP against quantized) when quantizing one layer, on a small proxy set (Wang et al.);
- ``pnmq`` (:mod:`.pnmq`): data-free, the squared weight error of each layer's tuned parametric
  non-uniform grid (Chikin and Antiukh); weights only, for a weight-size budget.

:func:`measure` picks a method by name; :data:`METHODS` lists them.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from hwsim.errors import HwsimError
from hwsim.precision import PrecisionPolicy

from ..reproducible import pin_torch
from .brecq import _covering_pairs, measure_sensitivity, project_monotone  # noqa: F401  (public names)
from .first_order import first_order_sensitivity
from .gmpq import gmpq_sensitivity
from .hawq import hawq_sensitivity
from .limpq import limpq_sensitivity
from .pnmq import pnmq_sensitivity

METHODS = ("brecq", "first_order", "hawq", "limpq", "gmpq", "pnmq")


class Sensitivity(Protocol):
    """A sensitivity method: model, calibration data, choices -> the ``hwsim-sensitivity/2`` document."""

    def __call__(self, model: nn.Module, data, choices: list[tuple[int, int]], policy: PrecisionPolicy,
                 model_name: str, seed: int, progress: bool, **options) -> dict: ...


def _brecq(model, data, choices, policy, model_name, seed, progress, iters=500, recon_method="brecq",
           granularity="block", objective="fisher", metric="kl", **_):
    return measure_sensitivity(model, data.calib_x, data.calib_y, data.holdout_x, data.holdout_y, data.test_x,
                               data.test_y, choices, recon_method, granularity, objective, iters, seed, model_name,
                               progress, policy, metric=metric)


def _first_order(model, data, choices, policy, model_name, seed, progress, k=0.001, **_):
    return first_order_sensitivity(model, data.calib_x, data.calib_y, choices, policy, model_name, seed, k=k,
                                   progress=progress)


def _hawq(model, data, choices, policy, model_name, seed, progress, samples=512, draws=64, **_):
    return hawq_sensitivity(model, data.calib_x, data.calib_y, choices, policy, model_name, seed, draws=draws,
                            samples=samples, progress=progress)


def _limpq(model, data, choices, policy, model_name, seed, progress, epochs=10, lr=0.01, alpha=3.0, **_):
    return limpq_sensitivity(model, data, choices, policy, model_name, seed, epochs=epochs, lr=lr, alpha=alpha,
                             progress=progress)


def _gmpq(model, data, choices, policy, model_name, seed, progress, proxy=256, lam=1.0, **_):
    return gmpq_sensitivity(model, data.calib_x, data.calib_y, choices, policy, model_name, seed, proxy=proxy, lam=lam,
                            progress=progress)


def _pnmq(model, data, choices, policy, model_name, seed, progress, **_):
    return pnmq_sensitivity(model, data.calib_x, choices, policy, model_name, progress=progress)


_REGISTRY: dict[str, Sensitivity] = {"brecq": _brecq, "first_order": _first_order, "hawq": _hawq, "limpq": _limpq,
                                     "gmpq": _gmpq, "pnmq": _pnmq}


def measure(method: str, model: nn.Module, data, choices, policy: PrecisionPolicy | None = None, model_name: str = "",
            seed: int = 0, progress: bool = False, **options) -> dict:
    """The sensitivity table of ``method`` (one of :data:`METHODS`); ``options`` are the method's own
    (brecq: iters, recon_method, granularity, objective, metric; first_order: k; hawq: samples, draws; limpq: epochs, lr, alpha; gmpq: proxy, lam)."""
    if method not in _REGISTRY:
        raise HwsimError(f"sensitivity method {method!r}; allowed: {', '.join(METHODS)}")
    pin_torch()
    torch.manual_seed(seed)
    table = _REGISTRY[method](model, data, [tuple(c) for c in choices], policy or PrecisionPolicy(), model_name, seed,
                              progress, **options)
    table.setdefault("method", method)
    return table
