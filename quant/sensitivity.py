"""Per-layer sensitivities for the mixed-precision search (BRECQ Algorithm 1, last line, and B.4.4).

After a uniform reconstruction at each bit choice, the sensitivity of layer l at choice c is the
increase of the calibration task loss when only layer l is quantized (with the parameters that
reconstruction learned) and everything else stays FP.  For every pair of layers inside one
block, both at the lowest weight choice (2 bits in the paper), the pair term is the joint
increase minus the two singles: the off-diagonal, intra-block interaction.

JSON format ``hwsim-sensitivity/1``::

    {"format": "hwsim-sensitivity/1", "model": ..., "choices": ["w2a8", "w4a8", "w8a8"],
     "base_loss": ..., "layers": {"layer1.0.conv1": {"w2a8": 0.9, ...}, ...},
     "blocks": {"layer1.0.conv1": "layer1.0", ...},
     "pairs": [{"a": ..., "b": ..., "choice_a": "w2a8", "choice_b": "w2a8", "sensitivity": ...}, ...]}
"""

from __future__ import annotations

import itertools
import sys

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from hwsim.precision import label

from .api import quantize
from .qmodel import quant_layers, set_mode
from .units import find_units

SENSITIVITY_FORMAT = "hwsim-sensitivity/1"


def task_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """Mean cross-entropy on (x, y)."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            total += F.cross_entropy(model(x[i:i + batch]), y[i:i + batch], reduction="sum").item()
    return total / len(y)


def _loss_with(qmodel, layers, only: set[str], x, y) -> float:
    set_mode([(n, m) for n, m in layers if n not in only], "fp", False)
    set_mode([(n, m) for n, m in layers if n in only], "hard", True)
    return task_loss(qmodel, x, y)


def measure_sensitivity(model: nn.Module, calib_x: torch.Tensor, calib_y: torch.Tensor, test_x: torch.Tensor,
                        test_y: torch.Tensor, choices=((2, 8), (4, 8), (8, 8)), method: str = "brecq",
                        granularity: str = "block", objective: str = "fisher", iters: int = 500, seed: int = 0,
                        model_name: str = "", progress: bool = True) -> dict:
    """The sensitivity table (see the module docstring); every layer is measured, first and last included."""
    choices = [tuple(c) for c in choices]
    results = {}
    for c in choices:
        results[c] = quantize(model, calib_x, calib_y, test_x, test_y, c, method, granularity, objective, iters,
                              seed, first_last_8bit=False, progress=progress)
    any_result = results[choices[0]]
    base = task_loss(any_result.fp_model, calib_x, calib_y)
    layers_by_choice = {c: quant_layers(r.qmodel, calib_x[:2]) for c, r in results.items()}
    names = [n for n, _ in layers_by_choice[choices[0]]]
    table = {n: {} for n in names}
    bar = tqdm(total=len(names) * len(choices), desc="sensitivity", unit="eval", disable=not progress, file=sys.stderr)
    for c in choices:
        qmodel, layers = results[c].qmodel, layers_by_choice[c]
        for n in names:
            table[n][label(*c)] = _loss_with(qmodel, layers, {n}, calib_x, calib_y) - base
            bar.update()
    bar.close()
    low = min(choices)  # lowest weight bits (then activation bits): the paper's 2-bit pairs
    qmodel, layers = results[low].qmodel, layers_by_choice[low]
    blocks = {}
    for unit in find_units(qmodel, layers, "block", calib_x[:2]):
        if len(unit.layers) > 1:
            for n, _ in unit.layers:
                blocks[n] = unit.name
    pairs = []
    for block in sorted(set(blocks.values())):
        members = [n for n in names if blocks.get(n) == block]
        for a, b in itertools.combinations(members, 2):
            joint = _loss_with(qmodel, layers, {a, b}, calib_x, calib_y) - base
            pairs.append({"a": a, "b": b, "choice_a": label(*low), "choice_b": label(*low),
                          "sensitivity": joint - table[a][label(*low)] - table[b][label(*low)]})
    for r in results.values():
        set_mode(quant_layers(r.qmodel), "hard", True)
    return {"format": SENSITIVITY_FORMAT, "model": model_name, "choices": [label(*c) for c in choices],
            "base_loss": base, "layers": table, "blocks": blocks, "pairs": pairs,
            "reconstruction": {"method": method, "granularity": granularity, "objective": objective, "iters": iters,
                               "seed": seed,
                               "accuracy": {label(*c): r.quant_accuracy for c, r in results.items()}}}
