"""Reconstruction units: the model cut into layers, blocks, stages or one whole net (BRECQ Table 1).

Found from the module structure, not from a model zoo: a *block* is a module of a known residual
block class (ResNet BasicBlock/Bottleneck, MobileNetV2 InvertedResidual, RegNet ResBottleneckBlock,
the digits model's BasicBlock) or any class a user adds; a *stage* is a run of consecutive blocks
in one ``nn.Sequential`` with the same output shape (channels and resolution).  Layers outside blocks (stem, head)
stay single-layer units at every granularity but ``net``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .hooks import observing
from .qmodel import QuantLayer

GRANULARITIES = ("layer", "block", "stage", "net")
BLOCK_CLASSES = {"BasicBlock", "Bottleneck", "InvertedResidual", "ResBottleneckBlock"}


@dataclasses.dataclass
class Unit:
    """A piece of the network reconstructed as one: run ``module`` on the input of ``entry``."""

    name: str
    module: nn.Module  # runs the unit (a block, a layer, a Sequential of blocks, or the model)
    entry: str  # module whose input is the unit's input ("" = the model)
    exit: str  # module whose output is the unit's output
    layers: list[tuple[str, QuantLayer]]


def _blocks(qmodel: nn.Module, block_classes: set[str]) -> list[str]:
    names = []
    for name, m in qmodel.named_modules():
        if type(m).__name__ in block_classes and not any(name.startswith(b + ".") for b in names):
            names.append(name)
    return names


def _output_sizes(qmodel: nn.Module, names: list[str], example: torch.Tensor) -> dict[str, tuple]:
    sizes: dict[str, tuple] = {}
    record = [(qmodel.get_submodule(n), lambda i, o, n=n: sizes.setdefault(n, tuple(o.shape[1:]))) for n in names]
    with observing(record), torch.no_grad():  # output shape: channels x H x W
        qmodel(example)
    return sizes


def find_units(qmodel: nn.Module, layers: list[tuple[str, QuantLayer]], granularity: str, example: torch.Tensor,
               block_classes: set[str] | None = None) -> list[Unit]:
    """The reconstruction units of ``qmodel`` in execution order; ``layers`` in execution order."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")
    if granularity == "net":
        return [Unit("net", qmodel, "", "", list(layers))]
    if granularity == "layer":
        return [Unit(n, m, n, n, [(n, m)]) for n, m in layers]
    blocks = _blocks(qmodel, block_classes or BLOCK_CLASSES)
    groups: list[list[str]] = [[b] for b in blocks]
    if granularity == "stage" and blocks:
        sizes = _output_sizes(qmodel, blocks, example)
        groups = []
        for b in blocks:
            prev = groups[-1][-1] if groups else None
            same_parent = prev is not None and prev.rpartition(".")[0] == b.rpartition(".")[0]
            if same_parent and sizes.get(prev) == sizes.get(b):
                groups[-1].append(b)
            else:
                groups.append([b])
    owner = {}
    for gi, group in enumerate(groups):
        for b in group:
            for n, _ in layers:
                if n.startswith(b + "."):
                    owner[n] = gi
    units, emitted = [], set()
    for n, m in layers:
        if n not in owner:
            units.append(Unit(n, m, n, n, [(n, m)]))
        elif owner[n] not in emitted:
            group = groups[owner[n]]
            emitted.add(owner[n])
            module = qmodel.get_submodule(group[0]) if len(group) == 1 else \
                nn.Sequential(*[qmodel.get_submodule(b) for b in group])
            members = [(ln, lm) for ln, lm in layers if any(ln.startswith(b + ".") for b in group)]
            name = group[0] if len(group) == 1 else f"{group[0]}..{group[-1].rpartition('.')[2]}"
            units.append(Unit(name, module, group[0], group[-1], members))
    return units
