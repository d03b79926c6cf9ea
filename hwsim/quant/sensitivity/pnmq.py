"""``pnmq``: the data-free sensitivity of PNMQ's mixed precision (Chikin and Antiukh): per layer and weight
bit-width, the squared weight error ||Q(W) - W||^2 that layer's tuned non-uniform grid leaves
(:mod:`hwsim.quant.pnmq`).  PNMQ quantizes weights only: the choices must share one activation bit-width, and
the search runs under a weight-size budget (``hwsim problem --metric size``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError
from hwsim.precision import PrecisionPolicy

from ..pnmq import tune
from .probes import prepare, table_document

if TYPE_CHECKING:
    import torch
    from torch import nn


def pnmq_sensitivity(model, calib_x, choices, policy: PrecisionPolicy | None = None, model_name: str = "",
                     progress: bool = False) -> dict:
    """The pnmq table (see the module docstring)."""
    policy = policy or PrecisionPolicy()
    choices = [tuple(c) for c in choices]
    if len({a for _, a in choices}) != 1:
        raise HwsimError("pnmq quantizes weights only: give choices with one activation bit-width, e.g. "
                         "--choices w2a8,w4a8,w8a8")
    start = time.perf_counter()
    entries, prep = pnmq_table(model, calib_x, choices, policy)
    return table_document(prep, "pnmq", model_name, choices, policy, entries,
                          {"data_free": True, "seconds": time.perf_counter() - start})


def pnmq_table(model: nn.Module, example: torch.Tensor, choices, policy=None) -> tuple[dict, object]:
    """Per free layer and choice, ||Q(W) - W||^2 on the tuned grid of the choice's weight bits (data-free);
    returns (entries, the prepared model) for the sensitivity table."""
    prep = prepare(model, example, policy or PrecisionPolicy())
    entries = {}
    cache: dict[tuple[str, int], float] = {}
    for name, layer in prep.layers:
        if name in prep.pinned:
            continue
        row = []
        for w, _ in choices:
            if (name, w) not in cache:
                g = tune(layer.weight, w)
                cache[(name, w)] = float(((g.apply(layer.weight) - layer.weight) ** 2).sum())
            row.append(cache[(name, w)])
        entries[name] = np.array(row)
    return entries, prep
