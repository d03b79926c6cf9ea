"""The simulator's Python entry points, as ``import hwsim`` shows them: the CLI's ``simulate`` and ``lut`` from a
notebook.  Every argument that names something (a config, a model, a precision) takes what the CLI takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from .config import HardwareConfig, SystolicConfig, load_config, with_run_options
from .errors import HwsimError
from .layers import Layer
from .precision import Bits, PrecisionPolicy
from .results import LayerResult, NetworkResult

Workload = Union[Layer, Sequence[Layer], str, Path]  # a layer, layers, a built-in model name or a topology CSV
HardwareLike = Union[HardwareConfig, str, Path]  # a loaded config, a shipped config's name, or a config file
BitsLike = Union[Bits, tuple, str, Mapping[str, Any]]  # Bits(4, 8), (4, 8), "w4a8", or {layer name: any of those}


def hardware(hw: HardwareLike, *, threads: int | None = None, clock_mhz: float | None = None,
             timing: str | None = None, dataflow: str | None = None) -> HardwareConfig:
    """A validated hardware config from a config object, a shipped name (``"bitfusion_16x32"``) or a file, with
    the CLI's run options applied (ARM: ``threads``, ``clock_mhz``; systolic: ``timing``, ``dataflow``)."""
    config = load_config(hw) if isinstance(hw, (str, Path)) else hw
    config = with_run_options(config, threads, clock_mhz)
    for option, value in (("timing", timing), ("dataflow", dataflow)):
        if value is None:
            continue
        if not isinstance(config, SystolicConfig):
            raise HwsimError(f"--{option} applies to systolic arrays; {config.name} is of kind {config.kind!r}")
        config = config.with_timing(value) if option == "timing" else config.with_dataflow(value)
    return config


def model_layers(name: str, *, input_size: int | None = None, batch: int = 1) -> list[Layer]:
    """The GEMM layers of a built-in model (``resnet18``, ``resnet50``, ``mobilenet_v1``, ``mobilenet_v2``,
    ``regnet_x_600mf``) on ``batch`` images of ``input_size`` x ``input_size`` pixels (default 224), or of a
    built-in transformer (``vit_b_16``, ``bert_base:seq=384``, ``llama3_8b:phase=decode,seq=4096``, ...;
    :mod:`hwsim.transformer`)."""
    from .transformer import is_transformer, transformer_layers
    from .workload import layers_from_model_name

    if is_transformer(name):
        return transformer_layers(name, input_size, batch if batch != 1 else None)  # (--batch 1: the name's)
    size = input_size or 224
    return layers_from_model_name(name, (batch, 3, size, size))


def topology_layers(path: str | Path) -> list[Layer]:
    """The layers of a SCALE-Sim topology CSV (conv rows, or GEMM rows ``name, M, N, K,``)."""
    from .workload import layers_from_topology

    return layers_from_topology(path)


def onnx_layers(path: str | Path, *, input_shape: Sequence[int] | None = None,
                skip_unsupported: bool = False) -> tuple[list[Layer], Any]:
    """The layers of an ONNX model (needs the ``onnx`` package), and a Counter of the operators left out as
    unsupported (with ``skip_unsupported``; else they are refused).  ``input_shape``: the first input's shape,
    where the file does not fix it (:mod:`hwsim.onnx_import`)."""
    from .onnx_import import layers_from_onnx

    return layers_from_onnx(path, input_shape, skip_unsupported)


def module_layers(model: Any, input_shape: Sequence[int] = (1, 3, 224, 224)) -> list[Layer]:
    """The layers of a torch ``nn.Module`` for a float input of ``input_shape`` ((N, C, H, W) for images, (N, L, E)
    for a sequence of embeddings), in execution order, with the graph's edges (needs torch): convolutions, linear
    layers, attention (nn.MultiheadAttention; traced: scaled_dot_product_attention and products of two
    activations) and softmax, norm and GELU as vector layers."""
    from .workload import layers_from_module

    return layers_from_module(model, input_shape)


def layers_of(workload: Workload, *, input_size: int | None = None) -> list[Layer]:
    """The layers of any workload: a Layer, a list of them, a topology CSV (``*.csv``) or a built-in model's
    name (at ``input_size``)."""
    if isinstance(workload, Layer):
        return [workload]
    if isinstance(workload, (str, Path)):
        text = str(workload)
        return topology_layers(text) if text.endswith(".csv") else model_layers(text, input_size=input_size)
    found = list(workload)
    if not all(isinstance(x, Layer) for x in found):
        raise HwsimError("workload: allowed: a model name, a topology CSV, a Layer or a list of Layers")
    return found


def simulate(workload: Workload, hw: HardwareLike, bits: BitsLike = (8, 8), *, whole_network: bool = False,
             input_size: int | None = None) -> LayerResult | NetworkResult:
    """Simulate on any target (systolic array or ARM core).  A single Layer gives its LayerResult; anything else
    (a model name, a topology, a list of layers) a NetworkResult, per layer as in a lookup table, or with
    ``whole_network=True`` as deployed (outputs kept on chip when they fit, written at their readers' bits)."""
    from .targets import simulate_layer, simulate_network

    config = hardware(hw)
    if isinstance(workload, Layer):
        if not isinstance(bits, (tuple, str)):
            raise HwsimError("bits: one layer takes one precision, e.g. 'w4a8' or (4, 8)")
        pair = Bits.of(bits)
        return simulate_layer(workload, config, pair.w, pair.a)
    found = layers_of(workload, input_size=input_size)
    per = Bits.of(bits) if isinstance(bits, (tuple, str)) else {k: Bits.of(v, f"bits of {k}") for k, v in bits.items()}
    return simulate_network(found, config, per, whole_network=whole_network)


def lookup_table(workload: Workload, hw: HardwareLike, *, input_size: int | None = None,
                 policy: str = "first-last-8bit", jobs: int | None = None, cache: bool = True,
                 cache_dir: str | Path | None = None, progress: bool = False) -> dict:
    """The lookup table ``hwsim lut`` writes (format ``hwsim-lut/2``): every layer's latency (ms), energy and
    bytes at every precision the target runs, the pinned layers of ``policy``, totals and the additivity check;
    cached like the CLI's (``cache=False``: always built, never stored)."""
    from .lut import build_lut, cached_lut

    config = hardware(hw)
    found = layers_of(workload, input_size=input_size)
    name = Path(str(workload)).stem if isinstance(workload, (str, Path)) else ""
    size = input_size or 224
    shape = () if not isinstance(workload, str) or workload.endswith(".csv") else (1, 3, size, size)
    rules = PrecisionPolicy(policy)
    if not cache:
        return build_lut(found, config, name, shape, jobs=jobs, progress=progress, policy=rules)
    doc, _ = cached_lut(found, config, name, shape, cache_dir=Path(cache_dir) if cache_dir else None, jobs=jobs,
                        progress=progress, policy=rules)
    return doc
