"""Workloads: a torch model or a SCALE-Sim topology file turned into a list of :class:`Layer`.

Shapes come from propagating a real input through the model: with ``torch.fx`` when the
model traces, with forward hooks otherwise (models with data-dependent control flow).
Conv2d (plain, grouped, depthwise) and Linear modules become layers, in execution order.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

from .errors import HwsimError
from .layers import Layer


def _layer_from_module(name: str, module, in_shape: Sequence[int], out_shape: Sequence[int]) -> Layer | None:
    """The Layer for a Conv2d/Linear call seen with these input/output shapes, else None."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        if module.dilation not in ((1, 1), 1):
            raise HwsimError(f"layer {name}: dilated convolutions are not supported (dilation={module.dilation})")
        if module.stride[0] != module.stride[1]:
            raise HwsimError(f"layer {name}: only equal strides are supported (stride={module.stride})")
        b, c, h, w = in_shape
        _, oc, oh, ow = out_shape
        return Layer(name, "conv", h, w, c, oh, ow, oc, module.kernel_size[0], module.kernel_size[1],
                     module.stride[0], module.groups, b)
    if isinstance(module, nn.Linear):
        rows = math.prod(in_shape[:-1])  # batch (and any leading dims) are GEMM rows
        return Layer(name, "linear", 1, 1, module.in_features, 1, 1, module.out_features, batch=rows)
    return None


def _layers_by_fx(model, example) -> list[Layer]:
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    gm = fx.symbolic_trace(model)
    ShapeProp(gm).propagate(example)
    modules = dict(gm.named_modules())
    layers = []
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        arg = node.args[0]
        in_meta = getattr(arg, "meta", {}).get("tensor_meta")
        out_meta = node.meta.get("tensor_meta")
        if in_meta is None or out_meta is None:
            continue
        layer = _layer_from_module(str(node.target), modules[node.target], tuple(in_meta.shape), tuple(out_meta.shape))
        if layer is not None:
            layers.append(layer)
    return layers


def _layers_by_hooks(model, example) -> list[Layer]:
    import torch

    layers: list[Layer] = []
    seen: dict[str, int] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            n = seen.get(name, 0)
            seen[name] = n + 1
            label = name if n == 0 else f"{name}#{n}"  # a module called twice is two layers
            layer = _layer_from_module(label, module, tuple(inputs[0].shape), tuple(output.shape))
            if layer is not None:
                layers.append(layer)
        return record

    for name, module in model.named_modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return layers


def layers_from_module(model, input_shape: Sequence[int] = (1, 3, 224, 224), method: str = "auto") -> list[Layer]:
    """Conv/linear layers of ``model`` for an input of ``input_shape`` (N, C, H, W), in execution order.

    ``method``: ``"fx"``, ``"hooks"`` or ``"auto"`` (fx, falling back to hooks if tracing fails).
    """
    import torch

    example = torch.zeros(*input_shape)
    was_training = model.training
    model.eval()
    try:
        if method in ("auto", "fx"):
            try:
                return _layers_by_fx(model, example)
            except Exception as exc:  # tracing fails on data-dependent control flow
                if method == "fx":
                    raise HwsimError(f"torch.fx could not trace the model: {exc}") from None
        return _layers_by_hooks(model, example)
    finally:
        model.train(was_training)


def model_names() -> list[str]:
    """Names accepted by :func:`layers_from_model_name`."""
    from .models import MODEL_BUILDERS

    return sorted(MODEL_BUILDERS)


def build_named_model(name: str, num_classes: int = 1000):
    """A torch model by name: our torchvision-identical builders, else torchvision if installed."""
    from .models import MODEL_BUILDERS

    if name in MODEL_BUILDERS:
        return MODEL_BUILDERS[name](num_classes=num_classes)
    try:
        import torchvision  # optional
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    except Exception:
        raise HwsimError(f"unknown model {name!r}; allowed: {', '.join(model_names())}") from None


def layers_from_model_name(name: str, input_shape: Sequence[int] = (1, 3, 224, 224)) -> list[Layer]:
    """Layers of a named architecture at ``input_shape`` (no weights needed)."""
    return layers_from_module(build_named_model(name), input_shape)


# ----------------------------------------------------------------------------------------------
# SCALE-Sim topology CSVs
# ----------------------------------------------------------------------------------------------


def _scalesim_out(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size: no padding, a partial last window rounds up."""
    return math.ceil((size - kernel + stride) / stride)


def layers_from_topology(path: str | Path) -> list[Layer]:
    """Read a SCALE-Sim topology CSV (conv rows, or GEMM rows ``name, M, N, K,``).

    Conv rows: ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,``.
    A name containing ``DP`` is depthwise, as in SCALE-Sim: ``Channels`` groups of one
    channel, each with ``Num Filter`` filters.  GEMM rows map, as SCALE-Sim does, to an
    M x K input times a K x N filter (M output pixels, N output channels).
    """
    p = Path(path)
    if not p.is_file():
        raise HwsimError(f"{p}: topology file not found")
    with open(p, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise HwsimError(f"{p}: expected a header line and at least one layer row")
    layers = []
    for lineno, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row if c.strip() != ""]
        name, values = cells[0], cells[1:]
        try:
            nums = [int(v) for v in values[:7]]
        except ValueError:
            raise HwsimError(f"{p}:{lineno}: expected integers after the layer name, got {values}") from None
        if any(v <= 0 for v in nums):
            raise HwsimError(f"{p}:{lineno}: sizes must be positive, got {nums}")
        if len(nums) == 3:  # GEMM: M, N, K
            m, n, k = nums
            layers.append(Layer(name, "gemm", m, k, 1, m, 1, n, 1, k, 1, 1))
        elif len(nums) >= 7:
            h, w, fh, fw, c, nf, s = nums[:7]
            if fh > h or fw > w:
                raise HwsimError(f"{p}:{lineno}: filter {fh}x{fw} is larger than the input {h}x{w}")
            oh, ow = _scalesim_out(h, fh, s), _scalesim_out(w, fw, s)
            if "DP" in name:
                layers.append(Layer(name, "conv", h, w, c, oh, ow, c * nf, fh, fw, s, c))
            else:
                layers.append(Layer(name, "conv", h, w, c, oh, ow, nf, fh, fw, s, 1))
        else:
            raise HwsimError(
                f"{p}:{lineno}: expected 7 numbers (IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, "
                f"Stride) or 3 (M, N, K), got {len(nums)}"
            )
    return layers
