"""Whole-model integer execution of a quantized network: the arithmetic an integer accelerator does.

The quantized model is traced with torch.fx (QuantLayers are leaves) and run node by node on
integers.  Every value is an :class:`IntTensor`: integers and the real value of one unit (a
scalar, or one per channel).  What each operation does:

- the **network input** is quantized once, at the first layer's learned step and bit-width;
- a **QuantLayer** first requantizes its input to its own learned step and bit-width (a
  fixed-point multiply: ``multiplier_bits``-bit mantissa and a right shift, round half up), then
  multiplies integer activations by integer weights
  (``level - zero point``) into accumulators checked against a signed ``accumulator_bits`` range
  (overflows counted), and adds the bias in accumulator units; its output stays in the
  accumulator domain (one unit per output channel: weight scale x input step);
- **ReLU** is ``max(0, q)``, **ReLU6** clamps at the integer nearest to 6 in each channel's
  unit, **max pooling** works on the integers, **average pooling** sums integers and folds the
  1/window factor into the unit (the next requantization applies it);
- a **residual add** requantizes both operands to one grid of ``residual_bits`` (default 24)
  signed integers whose range is twice the largest sum seen on calibration data, then adds
  (saturations counted);
- the **logits** are the last accumulators times their unit.

Integers are held in float64 tensors for the convolutions (exact below 2^53; the accumulators
are checked far below that) and in int64 for fixed-point products.  The result is compared with
the fake-quantized PyTorch model: top-1 agreement and the largest logit difference.
"""

from __future__ import annotations

import dataclasses
import math
import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from hwsim.errors import HwsimError

from .qmodel import QuantLayer


@dataclasses.dataclass
class IntTensor:
    """Integer values ``q`` (float64 holding integers) whose real value is ``q * unit``."""

    q: torch.Tensor
    unit: torch.Tensor  # float64, broadcastable to q: a scalar or one value per channel (dim 1)


@dataclasses.dataclass
class LayerStats:
    """Accumulator statistics of one quantized layer over the integer run."""

    name: str
    acc_max: int = 0  # largest |accumulator|
    overflows: int = 0  # accumulators outside the signed accumulator range

    @property
    def bits_needed(self) -> int:
        """Smallest signed width that held every accumulator."""
        return 1 + math.ceil(math.log2(self.acc_max + 1))


@dataclasses.dataclass
class IntegerReport:
    """Integer execution against fake quantization on one data set."""

    samples: int
    top1_agreement: float  # fraction of samples whose integer and fake-quant top-1 classes agree
    max_logit_error: float  # largest |integer logit - fake-quant logit|
    logit_range: float  # largest |fake-quant logit| (scale of the error)
    integer_top1: float | None  # accuracy of the integer model when labels are given
    accumulator_bits: int
    accumulator_bits_needed: int
    overflows: int
    residual_bits: int
    residual_saturations: int
    layers: list[LayerStats]

    @property
    def passed(self) -> bool:
        """At least 99.5% top-1 agreement and no accumulator overflow."""
        return self.top1_agreement >= 0.995 and self.overflows == 0

    def to_json(self) -> dict:
        """The record written into summary.json and results.json."""
        d = dataclasses.asdict(self)
        d["layers"] = [{**dataclasses.asdict(s), "bits_needed": s.bits_needed} for s in self.layers]
        d["passed"] = self.passed
        return d


RESIDUAL_HEADROOM = 2.0  # residual grids span twice the largest calibration value
MAX_SHIFT = 62  # keeps 1 << shift and |q| x mantissa (|q| < 2^32) inside int64


def fixed_point(m: torch.Tensor, bits: int = 31) -> tuple[torch.Tensor, torch.Tensor]:
    """(mantissa, shift) int64 tensors with m ~= mantissa / 2^shift, mantissa < 2^bits and shift <= 62.

    The mantissa has ``bits`` significant bits (at least 2^(bits-1)) unless m is so small that
    the shift would pass 62; then it has fewer (the product rounds to 0 or +-1 anyway).
    """
    m = m.to(torch.float64)
    if (m <= 0).any() or (m >= 2.0 ** (bits - 2)).any():
        raise HwsimError(f"requantization multiplier out of range (0, 2^{bits - 2}): {float(m.min()):.3g}..{float(m.max()):.3g}")
    exp = torch.floor(torch.log2(m)).to(torch.int64)
    shift = ((bits - 1) - exp).clamp(max=MAX_SHIFT)
    mant = torch.round(m * torch.exp2(shift.to(torch.float64))).to(torch.int64)
    return mant, shift


def requantize(t: IntTensor, unit: torch.Tensor, lo: int, hi: int, bits: int) -> tuple[torch.Tensor, int]:
    """(integers of ``t`` on the grid of step ``unit``, clamped to [lo, hi]; how many were clamped)."""
    mant, shift = fixed_point(t.unit / unit, bits)
    q = t.q.to(torch.int64)
    if int(q.abs().max()) >= 2 ** 32:
        raise HwsimError("integer execution: a value needs more than 32 bits before requantization")
    y = (q * mant + (torch.ones_like(shift) << (shift - 1))) >> shift  # round half up
    clamped = int(((y < lo) | (y > hi)).sum())
    return y.clamp(lo, hi).to(torch.float64), clamped


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QuantLayer) or super().is_leaf_module(m, qualname)


def trace(qmodel: nn.Module) -> fx.GraphModule:
    """The quantized model as an fx graph whose QuantLayers are single nodes."""
    try:
        graph = _Tracer().trace(qmodel)
    except Exception as exc:  # data-dependent control flow and the like
        raise HwsimError(f"integer execution needs a torch.fx-traceable model: {type(exc).__name__}: {exc}") from None
    return fx.GraphModule(qmodel, graph)


def _is_add(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in (operator.add, torch.add, operator.iadd)


class _Recorder(fx.Interpreter):
    """Runs the fake-quant graph and records the largest |value| of every residual add."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.absmax: dict[str, float] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if _is_add(n):
            self.absmax[n.name] = max(self.absmax.get(n.name, 0.0), float(out.detach().abs().max()))
        return out


def _per_channel(unit: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-channel unit vector (C,) shaped to broadcast over dim 1 of an ``ndim`` tensor."""
    return unit.reshape(1, -1, *([1] * (ndim - 2)))


class IntegerModel:
    """The integer interpreter of one quantized model (see the module docstring)."""

    def __init__(self, qmodel: nn.Module, calib_x: torch.Tensor, accumulator_bits: int = 32,
                 residual_bits: int = 24, multiplier_bits: int = 31, batch: int = 256):
        self.gm = trace(qmodel)
        self.modules = dict(self.gm.named_modules())
        self.acc_bits, self.res_bits, self.mult_bits = accumulator_bits, residual_bits, multiplier_bits
        self.stats = {n.target: LayerStats(n.target) for n in self.gm.graph.nodes
                      if n.op == "call_module" and isinstance(self.modules[n.target], QuantLayer)}
        self.saturations = 0
        rec = _Recorder(self.gm)
        with torch.no_grad():
            for i in range(0, len(calib_x), batch):
                rec.run(calib_x[i:i + batch])
        qmax = 2 ** (residual_bits - 1) - 1
        self.residual_unit = {k: torch.tensor(RESIDUAL_HEADROOM * max(v, 1e-12) / qmax, dtype=torch.float64)
                              for k, v in rec.absmax.items()}

    # -- operations -------------------------------------------------------------------------------------------
    def _quant_layer(self, name: str, layer: QuantLayer, x) -> IntTensor:
        if not layer.act_quant or layer.wq.mode not in ("hard", "nearest"):
            raise HwsimError(f"integer execution needs layer {name} quantized (hard or nearest weights, "
                             f"quantized input); it is in mode {layer.wq.mode!r}, input quantized: {layer.act_quant}")
        aq = layer.aq
        step = aq.step.detach().abs().clamp(min=1e-8).to(torch.float64)
        lo, hi = aq.levels()
        if isinstance(x, torch.Tensor):  # the network input: quantized once, on this layer's grid
            xq = torch.round(x.to(torch.float64) / step).clamp(lo, hi)
        else:
            xq, _ = requantize(x, step, lo, hi, self.mult_bits)
        w = (layer.wq.integer(layer.weight) - layer.wq.zero_point).to(torch.float64)
        acc = layer.linear_op(xq, w, None)
        wscale = layer.wq.scale.detach().reshape(-1).to(torch.float64).expand(w.shape[0])
        unit = wscale * step
        if layer.bias is not None:
            bias = torch.round(layer.bias.detach().to(torch.float64) / unit)
            acc = acc + (_per_channel(bias, acc.dim()) if acc.dim() > 2 else bias)
        s = self.stats[name]
        s.acc_max = max(s.acc_max, int(acc.abs().max()))
        limit = 2 ** (self.acc_bits - 1)
        s.overflows += int(((acc >= limit) | (acc < -limit)).sum())
        return IntTensor(acc, _per_channel(unit, acc.dim()) if acc.dim() > 2 else unit.reshape(1, -1))

    def _add(self, node: fx.Node, a: IntTensor, b: IntTensor) -> IntTensor:
        unit = self.residual_unit[node.name]
        lo, hi = -(2 ** (self.res_bits - 1)), 2 ** (self.res_bits - 1) - 1
        qa, ca = requantize(a, unit, lo, hi, self.mult_bits)
        qb, cb = requantize(b, unit, lo, hi, self.mult_bits)
        total = qa + qb
        self.saturations += ca + cb + int(((total < lo) | (total > hi)).sum())
        return IntTensor(total.clamp(lo, hi), unit)

    @staticmethod
    def _relu6(t: IntTensor) -> IntTensor:
        top = torch.floor(6.0 / t.unit + 0.5)
        return IntTensor(torch.minimum(t.q.clamp(min=0), top), t.unit)

    @staticmethod
    def _sum_pool(t: IntTensor, kernel, stride, padding, output_size=None) -> IntTensor:
        if output_size is not None:  # adaptive: only whole-map (or evenly dividing) windows
            h, w = t.q.shape[-2:]
            oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
            oh, ow = oh or h, ow or w
            if h % oh or w % ow:
                raise HwsimError(f"integer execution: adaptive pooling {h}x{w} -> {oh}x{ow} has uneven windows")
            kernel = stride = (h // oh, w // ow)
            padding = 0
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        total = torch.round(F.avg_pool2d(t.q, kernel, stride, padding, count_include_pad=True) * (kh * kw))
        return IntTensor(total, t.unit / (kh * kw))

    def _shape_op(self, fn, t: IntTensor, *args, **kwargs) -> IntTensor:
        unit = t.unit
        if unit.numel() > 1:
            unit = fn(unit.expand(t.q.shape), *args, **kwargs)
        return IntTensor(fn(t.q, *args, **kwargs), unit)

    def _call(self, node: fx.Node, args, kwargs):
        """One graph node on integer values."""
        if node.op == "call_module":
            mod = self.modules[node.target]
            x = args[0]
            if isinstance(mod, QuantLayer):
                return self._quant_layer(node.target, mod, x)
            if isinstance(mod, (nn.Identity, nn.Dropout)):
                return x
            if isinstance(mod, nn.ReLU):
                return IntTensor(x.q.clamp(min=0), x.unit)
            if isinstance(mod, nn.ReLU6):
                return self._relu6(x)
            if isinstance(mod, nn.MaxPool2d):
                return IntTensor(F.max_pool2d(x.q, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                                              ceil_mode=mod.ceil_mode), x.unit)
            if isinstance(mod, nn.AvgPool2d):
                return self._sum_pool(x, mod.kernel_size, mod.stride or mod.kernel_size, mod.padding)
            if isinstance(mod, nn.AdaptiveAvgPool2d):
                return self._sum_pool(x, None, None, 0, mod.output_size)
            if isinstance(mod, nn.Flatten):
                return self._shape_op(torch.flatten, x, mod.start_dim, mod.end_dim)
            raise HwsimError(f"integer execution: module {node.target} ({type(mod).__name__}) is not supported; "
                             f"supported: QuantLayer, ReLU, ReLU6, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, "
                             f"Flatten, Identity, Dropout")
        target = node.target
        if node.op == "call_function":
            if _is_add(node) and all(isinstance(a, IntTensor) for a in args[:2]):
                return self._add(node, args[0], args[1])
            if target in (F.relu, torch.relu):
                return IntTensor(args[0].q.clamp(min=0), args[0].unit)
            if target is F.relu6:
                return self._relu6(args[0])
            if target is torch.flatten:
                return self._shape_op(torch.flatten, *args, **kwargs)
            if target is F.adaptive_avg_pool2d:
                return self._sum_pool(args[0], None, None, 0, args[1] if len(args) > 1 else kwargs["output_size"])
            if target is getattr and not isinstance(args[0], IntTensor):
                return getattr(*args)
        if node.op == "call_method":
            obj = args[0]
            if isinstance(obj, IntTensor):
                if target in ("flatten", "view", "reshape"):
                    return self._shape_op(lambda t, *a: getattr(t, target)(*a), obj, *args[1:])
                if target == "size":
                    return obj.q.size(*args[1:])
                if target == "relu":
                    return IntTensor(obj.q.clamp(min=0), obj.unit)
                if target == "contiguous":
                    return obj
        raise HwsimError(f"integer execution: operation {node.op} {getattr(target, '__name__', target)!r} "
                         f"(node {node.name}) is not supported")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the integer model on ``x`` (float64)."""
        env: dict[str, object] = {}
        for node in self.gm.graph.nodes:
            load = lambda a: env[a.name]
            args = fx.node.map_arg(node.args, load)
            kwargs = fx.node.map_arg(node.kwargs, load)
            if node.op == "placeholder":
                env[node.name] = x
            elif node.op == "output":
                out = args[0]
                if not isinstance(out, IntTensor):
                    raise HwsimError("integer execution: the model's output is not produced by a quantized layer")
                return out.q * out.unit
            else:
                env[node.name] = self._call(node, args, kwargs)
        raise HwsimError("integer execution: the graph has no output")


def integer_execution(qmodel: nn.Module, calib_x: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None,
                      accumulator_bits: int = 32, residual_bits: int = 24, multiplier_bits: int = 31,
                      batch: int = 256) -> IntegerReport:
    """Run ``qmodel`` end to end in integers on ``x`` and compare with its fake-quantized output.

    ``calib_x`` sets the residual grids; ``y`` (optional) gives the integer model's accuracy.
    """
    engine = IntegerModel(qmodel, calib_x, accumulator_bits, residual_bits, multiplier_bits, batch)
    agree, correct, max_err, logit_range = 0, 0, 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            fake = qmodel(xb).to(torch.float64)
            integer = engine(xb)
            agree += int((fake.argmax(1) == integer.argmax(1)).sum())
            if y is not None:
                correct += int((integer.argmax(1) == y[i:i + batch]).sum())
            max_err = max(max_err, float((fake - integer).abs().max()))
            logit_range = max(logit_range, float(fake.abs().max()))
    layers = list(engine.stats.values())
    return IntegerReport(len(x), agree / len(x), max_err, logit_range, None if y is None else correct / len(x),
                         accumulator_bits, max(s.bits_needed for s in layers), sum(s.overflows for s in layers),
                         residual_bits, engine.saturations, layers)
