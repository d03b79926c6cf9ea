"""The workload passed between the front ends and the hardware targets: a list of GEMM layers."""

from __future__ import annotations

import dataclasses
import math

MAX_TOPOLOGY_LAYERS = 100_000  # layers of one workload (a topology CSV's rows, a built or imported model's layers)
MAX_LAYER_MACS = 10 ** 15  # MACs of one layer (a 70B-parameter model's whole prefill of 8k tokens is ~10^15)

# Operators a vector unit runs, and how many input tensors each reads per output element
VECTOR_OPS = {"softmax": 1, "layernorm": 1, "rmsnorm": 1, "gelu": 1, "silu_mul": 2, "add": 2, "mul": 2, "rope": 1,
              "unary": 1}


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution, fully connected layer or matrix product, described by its shapes.

    A linear layer is a 1x1 convolution on a 1x1 map.  ``groups`` > 1 is a grouped
    convolution; ``groups == in_channels == out_channels`` a depthwise one.  A ``matmul`` (attention's
    Q x K^T and P x V) is a GEMM whose second operand is an activation, not a weight: per group (a
    KV head, times the batch) ``batch`` rows of ``in_channels / groups`` times ``in_channels / groups``
    x ``out_channels / groups``; it has no parameters, its second operand takes the first bits of a
    (w, a) pair (the KV cache's bits where that operand is the cache) with one scale per tensor.  A ``vector``
    layer is an element-wise or row-wise operator ``op`` (:data:`VECTOR_OPS`: softmax, a norm, an activation, a
    residual add, rotary embedding) on ``batch`` rows of ``out_channels`` elements, reading ``in_channels``
    per row (two operands for ``add`` and ``silu_mul``): no MACs, run on a vector unit.  ``consumers`` are
    the layers that read this layer's output (through activations, pooling and residual adds),
    with ``"@output"`` for the network output; empty when the graph is unknown (a topology file).
    """

    name: str
    kind: str  # "conv", "linear", "gemm" (weights), "matmul" (activation x activation) or "vector"
    in_h: int
    in_w: int
    in_channels: int
    out_h: int
    out_w: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    groups: int = 1
    batch: int = 1
    consumers: tuple[str, ...] = ()
    op: str = ""  # a vector layer's operator (VECTOR_OPS)

    def __post_init__(self) -> None:
        for f in ("in_h", "in_w", "in_channels", "out_h", "out_w", "out_channels", "kernel_h", "kernel_w", "stride",
                  "groups", "batch"):
            if getattr(self, f) <= 0:
                raise ValueError(f"layer {self.name!r}: {f} must be positive, got {getattr(self, f)}")
        if self.kind in ("matmul", "vector") and (self.in_h, self.in_w, self.out_h, self.out_w, self.kernel_h, self.kernel_w,
                                      self.stride) != (1, 1, 1, 1, 1, 1, 1):
            raise ValueError(f"layer {self.name!r}: a {self.kind} is rows x matrix: 1x1 maps, kernel and stride")
        if self.kind == "vector" and (self.op not in VECTOR_OPS or self.groups != 1 or
                                      self.in_channels != VECTOR_OPS[self.op] * self.out_channels):
            raise ValueError(f"layer {self.name!r}: a vector layer's op is one of {', '.join(VECTOR_OPS)}, with one "
                             f"group and in_channels = operands x out_channels")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}"
            )

    # GEMM view of one group: (M x K) activations times (K x N) weights.
    @property
    def gemm_m(self) -> int:
        """Output pixels per group (rows of the im2col matrix)."""
        return self.batch * self.out_h * self.out_w

    @property
    def gemm_k(self) -> int:
        """Reduction length per group: input channels per group x kernel window."""
        return (self.in_channels // self.groups) * self.kernel_h * self.kernel_w

    @property
    def gemm_n(self) -> int:
        """Output channels per group."""
        return self.out_channels // self.groups

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the whole layer."""
        return 0 if self.kind == "vector" else self.groups * self.gemm_m * self.gemm_k * self.gemm_n

    @property
    def operand_b_elements(self) -> int:
        """Elements of the second GEMM operand: the weights, or a matmul's second activation (K or V)."""
        return 0 if self.kind == "vector" else self.groups * self.gemm_k * self.gemm_n

    @property
    def weight_count(self) -> int:
        """Number of weights (without bias); 0 for a matmul, whose operands are both activations."""
        return 0 if self.kind == "matmul" else self.operand_b_elements

    @property
    def ifmap_elements(self) -> int:
        """Distinct input activations the layer reads (no padding, no im2col duplication)."""
        return self.batch * self.in_h * self.in_w * self.in_channels

    @property
    def ofmap_elements(self) -> int:
        """Output activations the layer writes."""
        return self.batch * self.out_h * self.out_w * self.out_channels

    @property
    def is_depthwise(self) -> bool:
        """True for a depthwise convolution (one input channel per group)."""
        return self.groups > 1 and self.groups == self.in_channels

    def to_dict(self) -> dict:
        """A JSON-ready record of the layer's shapes."""
        return dataclasses.asdict(self)


def linear(name: str, rows: int, inputs: int, outputs: int) -> Layer:
    """A linear layer: ``rows`` rows of ``inputs`` features times an ``inputs`` x ``outputs`` weight."""
    return Layer(name, "linear", 1, 1, inputs, 1, 1, outputs, batch=rows)


def matmul(name: str, groups: int, rows: int, depth: int, columns: int) -> Layer:
    """``groups`` independent (rows x depth) x (depth x columns) products of two activations."""
    return Layer(name, "matmul", 1, 1, groups * depth, 1, 1, groups * columns, groups=groups, batch=rows)


def vector(name: str, op: str, rows: int, width: int) -> Layer:
    """``op`` on ``rows`` rows of ``width`` elements (reading one or two operands)."""
    return Layer(name, "vector", 1, 1, VECTOR_OPS[op] * width, 1, 1, width, batch=rows, op=op)


def vector_of_shape(name: str, op: str, shape: tuple) -> Layer:
    """``op`` on a tensor of ``shape``: its last dimension the row, every other one more rows."""
    return vector(name, op, math.prod(shape[:-1]) if len(shape) > 1 else 1, shape[-1] if shape else 1)
