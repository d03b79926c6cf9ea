"""Integer execution of a quantized model's convs and linears: the arithmetic the accelerator does.

For every QuantLayer, on a calibration batch: the layer's quantized input becomes integers
(``x / step``), its weights integers minus their zero point; products are summed in an int64
accumulator that is checked against a ``accumulator_bits`` signed range (overflow detection);
the bias is added in accumulator units; then each output channel is requantized with a
fixed-point multiplier (``multiplier_bits``-bit mantissa and a right shift, round half up) to
``out_bits`` (default 8) signed integers at a per-tensor output step.  The result is compared with the
PyTorch fake-quantized layer output: it must agree within one output step.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F

from .hooks import observing
from .qmodel import QuantLayer, quant_layers


@dataclasses.dataclass
class LayerCheck:
    """Integer-versus-fake-quant agreement of one layer on one batch."""

    name: str
    max_error_steps: float  # largest |integer - fake-quant| output, in output steps
    overflows: int  # accumulator values outside the signed accumulator range
    acc_max: int  # largest |accumulator| seen

    @property
    def passed(self) -> bool:
        """True when within one output step and free of overflow."""
        return self.max_error_steps <= 1.0 and self.overflows == 0


def fixed_point(m: np.ndarray, bits: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mantissa, shift) with m ~= mantissa / 2^shift, mantissa < 2^bits."""
    m = np.asarray(m, dtype=np.float64)
    exp = np.floor(np.log2(np.maximum(m, 1e-300))).astype(np.int64)
    shift = (bits - 1) - exp
    mant = np.round(m * np.exp2(shift.astype(np.float64))).astype(np.int64)
    return mant, shift


def _integer_layer(layer: QuantLayer, x_q: torch.Tensor, out_step: float, out_bits: int, acc_bits: int,
                   mult_bits: int) -> tuple[np.ndarray, int, int]:
    """(requantized integer outputs, overflow count, max |acc|) of one layer."""
    step = float(layer.aq.step.abs()) if layer.aq.enabled else None
    if step is None:
        raise ValueError("integer execution needs quantized activations (aq.enabled)")
    x_int = torch.round(x_q / step)
    w_int = (layer.wq.integer(layer.weight) - layer.wq.zero_point)  # signed integer weights
    if layer.kind == "conv":
        args = layer.conv_args
        cols = F.unfold(x_int, layer.weight.shape[2:], dilation=args["dilation"], padding=args["padding"],
                        stride=args["stride"])  # (N, Cin*kh*kw, P)
        groups, n = args["groups"], x_int.shape[0]
        cout = layer.weight.shape[0]
        cols = cols.numpy().astype(np.int64).reshape(n, groups, -1, cols.shape[-1])
        w = w_int.numpy().astype(np.int64).reshape(groups, cout // groups, -1)
        acc = np.einsum("gok,ngkp->ngop", w, cols).reshape(n, cout, -1)
        oh = (x_int.shape[2] + 2 * args["padding"][0] - args["dilation"][0] * (layer.weight.shape[2] - 1) - 1) \
            // args["stride"][0] + 1
        acc = acc.reshape(n, cout, oh, -1)
        chan_axis = 1
    else:
        acc = x_int.numpy().astype(np.int64) @ w_int.numpy().astype(np.int64).T
        chan_axis = acc.ndim - 1
    scale_w = layer.wq.scale.detach().numpy().reshape(-1).astype(np.float64)
    scale_w = np.broadcast_to(scale_w, (layer.weight.shape[0],))
    shape = [1] * acc.ndim
    shape[chan_axis] = -1
    if layer.bias is not None:  # bias in accumulator units
        acc = acc + np.round(layer.bias.detach().numpy().astype(np.float64) / (scale_w * step)).astype(np.int64).reshape(shape)
    limit = 2 ** (acc_bits - 1)
    overflows = int(((acc >= limit) | (acc < -limit)).sum())
    acc_max = int(np.abs(acc).max())
    mant, shift = fixed_point(scale_w * step / out_step, mult_bits)
    prod = acc * mant.reshape(shape)  # int64: |acc| < 2^31 and mant < 2^31 keep this exact
    sh = shift.reshape(shape)
    y = (prod + (np.int64(1) << (sh - 1))) >> sh  # round half up
    lo, hi = -(2 ** (out_bits - 1)), 2 ** (out_bits - 1) - 1
    return np.clip(y, lo, hi), overflows, acc_max


def integer_check(qmodel: torch.nn.Module, x: torch.Tensor, accumulator_bits: int = 32, out_bits: int = 8,
                  multiplier_bits: int = 31) -> list[LayerCheck]:
    """Run every quantized layer of ``qmodel`` in integers on batch ``x``; compare with fake quantization."""
    layers = quant_layers(qmodel, x[:1])
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    record = [(m, lambda i, o, n=n, m=m: seen.setdefault(n, (m.aq(i[0]).detach(), o.detach()))) for n, m in layers]
    with observing(record), torch.no_grad():
        qmodel(x)
    checks = []
    for name, layer in layers:
        x_q, y_fake = seen[name]
        out_step = float(y_fake.abs().max()) / (2 ** (out_bits - 1) - 1) or 1.0
        y_int, overflows, acc_max = _integer_layer(layer, x_q, out_step, out_bits, accumulator_bits, multiplier_bits)
        err = np.abs(y_int * out_step - y_fake.numpy().astype(np.float64)).max() / out_step
        checks.append(LayerCheck(name, float(err), overflows, acc_max))
    return checks


def accumulator_bits_needed(checks: list[LayerCheck]) -> int:
    """Smallest signed accumulator width that held every accumulator seen."""
    return max(1 + math.ceil(math.log2(c.acc_max + 1)) for c in checks)
