"""An ONNX model turned into a list of :class:`~hwsim.layers.Layer` (needs the ``onnx`` package: ``hwsim[onnx]``).

Shapes come from the file's value info after ONNX shape inference, with the first graph input set to
``input_shape`` when one is given.  In graph order:

* ``Conv`` (plain, grouped, depthwise) becomes a ``conv`` layer;
* ``Gemm`` and ``MatMul`` with a weight (an initializer) become ``linear`` layers, every leading dimension a row;
  with two activation operands (attention's Q x K^T and P x V) a ``matmul`` layer, the leading (batch, head)
  dimensions its groups;
* ``Softmax``, ``LayerNormalization``, ``RMSNormalization`` / ``SimplifiedLayerNormalization``, ``Gelu``, the
  unary functions ``Sigmoid``, ``Tanh``, ``Erf``, ``Exp``, ``Sqrt``, ``Reciprocal``, and ``Add`` / ``Sub`` /
  ``Mul`` / ``Div`` of two activations of one shape become ``vector`` layers;
* what costs nothing here or is folded into a neighbour is passed over: shape and data movement (``Reshape``,
  ``Transpose``, ``Split``, ``Concat``, ``Gather``, ...), ``BatchNormalization`` (folded into its convolution),
  ``Relu`` and ``Clip`` (applied by the requantizer), pooling, ``Dropout``, element-wise operations with a
  constant (a bias, a scale), and anything computed from constants and shapes alone (folded before the model
  runs);
* anything else is refused in one line naming the operators, or with ``skip_unsupported`` left out and counted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from .errors import HwsimError
from .layers import MAX_LAYER_MACS, MAX_TOPOLOGY_LAYERS, Layer, linear, matmul, vector_of_shape

PASSED_OVER = frozenset({
    "Reshape", "Transpose", "Split", "Concat", "Squeeze", "Unsqueeze", "Gather", "GatherElements", "Shape", "Size",
    "Constant", "ConstantOfShape", "Slice", "Cast", "CastLike", "Expand", "Range", "Where", "Equal", "Less", "Greater",
    "Not", "And", "Or", "Identity", "Flatten", "Dropout", "BatchNormalization", "Relu", "Clip", "LeakyRelu",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Trilu", "IsNaN", "Tile",
})
VECTOR_OF = {"Softmax": "softmax", "LayerNormalization": "layernorm", "RMSNormalization": "rmsnorm",
             "SimplifiedLayerNormalization": "rmsnorm", "Gelu": "gelu", "Sigmoid": "unary", "Tanh": "unary",
             "Erf": "unary", "Exp": "unary", "Sqrt": "unary", "Reciprocal": "unary"}
ELEMENTWISE = {"Add": "add", "Sub": "add", "Mul": "mul", "Div": "mul"}  # of two activations: one op, two operands


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise HwsimError("--onnx needs the onnx package: pip install 'hwsim[onnx]'") from None
    return onnx


def _dims(value_info) -> tuple | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return None if any(d is None or d <= 0 for d in dims) else dims


def _name(node, i: int) -> str:
    raw = node.name or (node.output[0] if node.output else f"{node.op_type}_{i}")
    return re.sub(r"[^A-Za-z0-9_.]+", ".", raw).strip(".") or f"{node.op_type}_{i}"


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else (a.i if a.type == a.INT else default)
    return default


def layers_from_onnx(path: str | Path, input_shape: Sequence[int] | None = None,
                     skip_unsupported: bool = False) -> tuple[list[Layer], Counter]:
    """(layers, operators skipped as unsupported, by type) of the ONNX model at ``path``."""
    onnx = _import_onnx()
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise HwsimError(f"{path}: no such file") from None
    except Exception as exc:  # a damaged or foreign file
        raise HwsimError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    graph = model.graph
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if input_shape is not None:
        if not inputs:
            raise HwsimError(f"{path}: the model has no input to give the shape {tuple(input_shape)}")
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != len(input_shape):
            raise HwsimError(f"{path}: input {inputs[0].name!r} has {len(dims)} dimensions; "
                             f"--input-shape gave {len(input_shape)}")
        for i, (d, v) in enumerate(zip(dims, input_shape)):
            if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != int(v):
                raise HwsimError(f"{path}: dimension {i} of input {inputs[0].name!r} is fixed at {d.dim_value} in "
                                 f"the file; --input-shape gave {v} (it sets only the open ones)")
            d.ClearField("dim_param")
            d.dim_value = int(v)
    try:
        graph = onnx.shape_inference.infer_shapes(model).graph
    except Exception as exc:
        raise HwsimError(f"{path}: ONNX shape inference failed ({str(exc).splitlines()[0][:200]})") from None
    shapes = {v.name: _dims(v) for v in list(graph.input) + list(graph.value_info) + list(graph.output)}
    shapes.update(weights)
    constants = set(weights) | {o for n in graph.node if n.op_type in ("Constant", "ConstantOfShape") for o in n.output}

    def shape(name: str, node) -> tuple:
        s = shapes.get(name)
        if s is None and input_shape is not None:
            raise HwsimError(f"{path}: ONNX shape inference gives {name!r} (input of {node.op_type} {node.name!r}) no "
                             f"shape even with --input-shape (a reshape computed from the input's own shape?): export "
                             f"the model with fixed shapes, without dynamic axes")
        if s is None:
            raise HwsimError(f"{path}: no shape for {name!r} (input of {node.op_type} {node.name!r}): give the input "
                             f"shape (--input-shape) or a model with value info")
        return s

    layers: list[Layer] = []
    unsupported: Counter = Counter()
    for i, node in enumerate(graph.node):
        op, name = node.op_type, _name(node, i)
        if op in ("Shape", "Size") or all(x in constants for x in node.input if x):
            constants.update(node.output)  # computed from constants and shapes alone: folded before it runs
            continue
        if op == "Conv":
            x, w, y = shape(node.input[0], node), shape(node.input[1], node), shape(node.output[0], node)
            strides = _attr(node, "strides", [1, 1])
            if any(d != 1 for d in _attr(node, "dilations", [1, 1])) or len(x) != 4:
                raise HwsimError(f"{path}: {op} {name!r}: only 2-D convolutions without dilation are supported")
            if strides[0] != strides[1]:
                raise HwsimError(f"{path}: {op} {name!r}: only equal strides are supported (strides={strides})")
            layers.append(Layer(name, "conv", x[2], x[3], x[1], y[2], y[3], y[1], w[2], w[3], strides[0],
                                _attr(node, "group", 1), x[0]))
        elif op in ("Gemm", "MatMul"):
            a, b = shape(node.input[0], node), shape(node.input[1], node)
            if op == "Gemm":
                a = a[::-1] if _attr(node, "transA", 0) else a
                b = b[::-1] if _attr(node, "transB", 0) else b
            if node.input[1] in constants and len(b) == 2:  # a weight
                layers.append(linear(name, math.prod(a[:-1]), b[0], b[1]))
            else:  # two activations: leading dimensions are independent products
                rows, depth, cols = a[-2] if len(a) > 1 else 1, a[-1], b[-1]
                groups = max(math.prod(a[:-2]), math.prod(b[:-2]))
                layers.append(matmul(name, groups, rows, depth, cols))
        elif op in VECTOR_OF:
            y = shape(node.output[0], node)
            layers.append(vector_of_shape(name, VECTOR_OF[op], y))
        elif op in ELEMENTWISE:
            if all(x not in constants and shapes.get(x) is not None and len(shapes[x]) > 0 for x in node.input[:2]) \
                    and shapes[node.input[0]] == shapes[node.input[1]]:
                layers.append(vector_of_shape(name, ELEMENTWISE[op], shape(node.output[0], node)))
            # with a constant or a broadcast operand (a bias, a scale): folded into its neighbour
        elif op in PASSED_OVER:
            continue
        else:
            unsupported[op] += 1
    if unsupported and not skip_unsupported:
        listed = ", ".join(f"{op} ({n})" for op, n in sorted(unsupported.items()))
        raise HwsimError(f"{path}: unsupported operators: {listed}; supported: Conv, Gemm, MatMul, "
                         f"{', '.join(VECTOR_OF)}, Add/Mul/Sub/Div, and shape operators; "
                         f"--skip-unsupported leaves them out and counts them")
    if not layers:
        raise HwsimError(f"{path}: no Conv, Gemm or MatMul to simulate")
    if len(layers) > MAX_TOPOLOGY_LAYERS:
        raise HwsimError(f"{path}: {len(layers):,} layers; allowed: at most {MAX_TOPOLOGY_LAYERS:,}")
    biggest = max(layers, key=lambda x: x.macs)
    if biggest.macs > MAX_LAYER_MACS:
        raise HwsimError(f"{path}: layer {biggest.name} has {biggest.macs:.3g} MACs; allowed: at most "
                         f"{MAX_LAYER_MACS:.0e} in one layer")
    return layers, unsupported

