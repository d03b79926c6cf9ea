"""Workloads: a torch model or a SCALE-Sim topology file turned into a list of :class:`Layer`.

Shapes come from propagating an input through a copy of the model on torch's ``meta`` device
(shapes without data, so any batch or image size costs nothing): with ``torch.fx`` when the
model traces, with forward hooks otherwise (models with data-dependent control flow).
Conv2d (plain, grouped, depthwise) and Linear modules become layers, in execution order.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Sequence

from .errors import HwsimError
from .io import default_cache_dir, read_text
from .layers import MAX_LAYER_MACS, MAX_TOPOLOGY_LAYERS, Layer, linear, matmul, vector_of_shape
from .resources import available_memory_bytes
from .transformer import attention_products, is_transformer, transformer_layers


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
        return linear(name, rows, module.in_features, module.out_features)
    return None


def _shape_of(arg) -> tuple | None:
    meta = getattr(arg, "meta", {}).get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _attention_layers(name: str, q: tuple, k: tuple, v: tuple) -> list[Layer]:
    """Q x K^T, softmax, P x V of an attention over (..., L, E) queries and (..., S, E) keys and values; a key head
    shared by several query heads (grouped-query attention) stacks them as rows."""
    lead_q, lead_k = math.prod(q[:-2]), math.prod(k[:-2])
    groups, share = lead_k, max(1, lead_q // max(lead_k, 1))
    rows, depth, keys, width = q[-2] * share, q[-1], k[-2], v[-1]
    return attention_products(name, "", groups, rows, depth, keys, width, lead_q * q[-2])


def _multihead_layers(name: str, module, q: tuple, k: tuple) -> list[Layer]:
    """nn.MultiheadAttention on (L, N, E) or, batch first, (N, L, E) queries: its projections and attention."""
    if q[-1] != module.embed_dim or (module.kdim, module.vdim) != (module.embed_dim, module.embed_dim):
        raise HwsimError(f"layer {name}: MultiheadAttention with kdim/vdim other than embed_dim is not supported")
    if len(q) == 2:  # unbatched: (L, E)
        q, k = (1, *q) if module.batch_first else (q[0], 1, q[1]), (1, *k) if module.batch_first else (k[0], 1, k[1])
    (n, lq), s = ((q[0], q[1]) if module.batch_first else (q[1], q[0])), (k[1] if module.batch_first else k[0])
    e, h = module.embed_dim, module.num_heads
    heads = (n, h)
    proj = [linear(f"{name}.q", n * lq, e, e), linear(f"{name}.k", n * s, e, e), linear(f"{name}.v", n * s, e, e)]
    core = _attention_layers(name, (*heads, lq, e // h), (*heads, s, e // h), (*heads, s, e // h))
    out = linear(f"{name}.out_proj", n * lq, e, e)
    return proj + core[:-1] + [dataclasses.replace(core[-1], consumers=(out.name,)), out]


def _functional_layers(node, name: str) -> list[Layer]:
    """The layers of a function call: scaled_dot_product_attention, a product of two activations, softmax, GELU,
    layer norm; [] for anything else."""
    import operator

    import torch
    from torch.nn import functional as F

    target, args = node.target, node.args
    shapes = [_shape_of(a) for a in args]
    out = _shape_of(node)
    if target is F.scaled_dot_product_attention and all(shapes[:3]):
        return _attention_layers(name, *shapes[:3])
    if target in (torch.matmul, operator.matmul, torch.bmm) and len(shapes) >= 2 and all(shapes[:2]) \
            and len(shapes[0]) >= 2 and len(shapes[1]) >= 2:
        a, b = shapes[0], shapes[1]
        if getattr(args[1], "op", "") == "get_attr" and len(b) == 2:  # x @ a parameter: a weight
            return [linear(name, math.prod(a[:-1]), b[0], b[1])]
        groups = max(math.prod(a[:-2]), math.prod(b[:-2]))
        return [matmul(name, groups, a[-2], a[-1], b[-1])]
    ops = {F.softmax: "softmax", torch.softmax: "softmax", F.gelu: "gelu", F.layer_norm: "layernorm"}
    if target in ops and out:
        return [vector_of_shape(name, ops[target], out)]
    return []


_VECTOR_MODULES = {"Softmax": "softmax", "GELU": "gelu", "LayerNorm": "layernorm", "RMSNorm": "rmsnorm"}


def _module_layers(name: str, module, in_shapes: list, out_shape: tuple | None) -> list[Layer]:
    """The layers of one module call: a convolution, a linear layer, nn.MultiheadAttention (its projections and
    attention), a softmax, GELU or norm module (a vector layer); [] for anything else."""
    from torch import nn

    if isinstance(module, nn.MultiheadAttention):
        return _multihead_layers(name, module, in_shapes[0], in_shapes[1]) if len(in_shapes) >= 2 and \
            all(in_shapes[:2]) else []
    if out_shape is None or not in_shapes or in_shapes[0] is None:
        return []
    if type(module).__name__ in _VECTOR_MODULES:
        return [vector_of_shape(name, _VECTOR_MODULES[type(module).__name__], out_shape)]
    layer = _layer_from_module(name, module, in_shapes[0], out_shape)
    return [layer] if layer is not None else []


def _layers_by_fx(model, example) -> list[Layer]:
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    gm = fx.symbolic_trace(model)
    ShapeProp(gm).propagate(example)
    modules = dict(gm.named_modules())
    layers, nodes, outputs = [], {}, {}  # nodes: a layer reading a node's input; outputs: a layer writing its output
    for node in gm.graph.nodes:
        found: list[Layer] = []
        if node.op == "call_function":
            found = _functional_layers(node, str(node.name))
        elif node.op == "call_module":
            operands = list(node.args) + [node.kwargs[k] for k in ("query", "key", "value") if k in node.kwargs]
            found = _module_layers(str(node.target), modules[node.target], [_shape_of(a) for a in operands],
                                   _shape_of(node))
        if found:
            layers += found
            nodes[found[0].name] = node
            outputs[found[-1].name] = node
    return [layer if layer.consumers else dataclasses.replace(layer, consumers=_consumers(outputs[layer.name], nodes))
            if layer.name in outputs else layer for layer in layers]


def _consumers(node, layer_nodes: dict) -> tuple[str, ...]:
    """Layers that read ``node``'s output, with markers for what else reads it.

    Single-input operations (activations, pooling, reshapes) are followed.  A multi-input one
    (a residual add, a concatenation) adds ``"@residual"``, and the layers reading its result
    through single-input operations count as consumers too (they read the sum at their bits);
    the network output adds ``"@output"``.
    """
    by_node = {n: name for name, n in layer_nodes.items()}

    def tensor_inputs(n) -> int:
        return sum(1 for a in n.all_input_nodes if a.op != "get_attr")

    found, seen, todo = set(), set(), [(u, True) for u in node.users]
    while todo:
        user, may_cross = todo.pop(0)
        if (user, may_cross) in seen:
            continue
        seen.add((user, may_cross))
        if user in by_node:
            found.add(by_node[user])
        elif user.op == "output":
            found.add("@output")
        elif tensor_inputs(user) > 1:
            found.add("@residual")
            if may_cross:  # readers of the sum, but not past a second join
                todo.extend((u, False) for u in user.users)
        else:
            todo.extend((u, may_cross) for u in user.users)
    return tuple(sorted(found))


def _layers_by_hooks(model, example) -> list[Layer]:
    import torch
    from torch import nn

    layers: list[Layer] = []
    seen: dict[str, int] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            n = seen.get(name, 0)
            seen[name] = n + 1
            label = name if n == 0 else f"{name}#{n}"  # a module called twice is two layers
            shape = lambda t: tuple(t.shape) if hasattr(t, "shape") else None  # noqa: E731
            layers.extend(_module_layers(label, module, [shape(x) for x in inputs], shape(output)))
        return record

    for name, module in model.named_modules():
        if not list(module.children()) or isinstance(module, nn.MultiheadAttention):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return layers


_SMALL_REAL_BYTES = 64 * 2 ** 20


def _without_batchnorm(model):
    """``model`` with its batch-norm modules replaced by identities, in place (they keep shapes, and
    torch's meta-device batch norm loads its whole compiler stack: about a second)."""
    from torch import nn

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return model


def layers_from_module(model, input_shape: Sequence[int] = (1, 3, 224, 224), method: str = "auto") -> list[Layer]:
    """Conv/linear layers of ``model`` for an input of ``input_shape`` (N, C, H, W), in execution order.

    ``method``: ``"fx"``, ``"hooks"`` or ``"auto"`` (fx, falling back to hooks if tracing fails).
    Shapes are propagated on real zeros when the activations are small (under 64 MiB: faster), else
    on a meta-device copy (shapes without data); a model that cannot run there (data-dependent
    control flow) is run on real zeros, and then only if that fits in memory.
    """
    import torch

    from torch import nn

    fused = sorted({type(m).__name__ for m in model.modules()
                    if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer, nn.Transformer))})
    if fused:
        raise HwsimError(f"{', '.join(fused)}: not supported (its fused inference path hides its layers); build the "
                         f"block from nn.MultiheadAttention and nn.Linear, or export it to ONNX (--onnx)")
    if len(input_shape) < 2 or any(not isinstance(d, int) or d <= 0 for d in input_shape):
        raise HwsimError(f"input shape {tuple(input_shape)}: expected positive integers, at least two (N, C, H, W for "
                         f"images; N, L, E for a sequence of embeddings)")
    attempts = []
    try:
        attempts.append((_without_batchnorm(copy.deepcopy(model).to("meta")), torch.zeros(*input_shape, device="meta")))
    except Exception:  # a module that cannot move to the meta device
        pass
    real = (model, None)
    # A small input runs faster on real zeros: torch's first meta-device operation loads its compiler stack (~1 s).
    attempts.insert(0 if 4 * math.prod(input_shape) * 64 <= _SMALL_REAL_BYTES else len(attempts), real)
    error: Exception | None = None
    for shadow, example in attempts:
        if example is None:
            need = 4 * math.prod(input_shape) * 64  # the input and its activations, many times its size
            avail = available_memory_bytes()
            if need > avail // 2:
                raise HwsimError(f"input shape {tuple(input_shape)}: the model runs only on real data, which would "
                                 f"need about {need / 2 ** 30:.1f} GiB; allowed: half the {avail / 2 ** 30:.1f} GiB "
                                 f"available")
            example = torch.zeros(*input_shape)
        was_training = shadow.training
        shadow.eval()
        try:
            if method in ("auto", "fx"):
                try:
                    return _layers_by_fx(shadow, example)
                except HwsimError:
                    raise
                except Exception as exc:  # tracing fails on data-dependent control flow
                    error = exc
                    if method == "fx":
                        continue
            return _layers_by_hooks(shadow, example)
        except HwsimError:
            raise
        except Exception as exc:
            error = exc
        finally:
            shadow.train(was_training)
    detail = f"{type(error).__name__}: {str(error).splitlines()[0]}" if error is not None and str(error) else ""
    if method == "fx":
        raise HwsimError("torch.fx could not trace the model" + (f" ({detail})" if detail else ""))
    raise HwsimError(f"the model does not run on input shape {tuple(input_shape)}" + (f" ({detail})" if detail else ""))


def model_names() -> list[str]:
    """Names accepted by :func:`layers_from_model_name`."""
    from .models import MODEL_BUILDERS
    from .transformer import names

    return sorted(MODEL_BUILDERS) + names()


def build_named_model(name: str, num_classes: int = 1000):
    """A torch model by name: our torchvision-identical builders, else torchvision if installed."""
    from .models import MODEL_BUILDERS

    if is_transformer(name):
        raise HwsimError(f"{name}: a built-in transformer has shapes, not a torch model: simulate, lut and sweep take "
                         f"it, the quantization pipeline does not yet")
    if name in MODEL_BUILDERS:
        return MODEL_BUILDERS[name](num_classes=num_classes)
    try:
        import torchvision  # optional
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    except Exception:
        raise HwsimError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODEL_BUILDERS))}") from None


def layers_from_model_name(name: str, input_shape: Sequence[int] = (1, 3, 224, 224),
                           cache: bool = True) -> list[Layer]:
    """Layers of a named architecture at ``input_shape`` (no weights needed).

    Our own builders at 1x3x224x224 come from JSON shipped with the package (``ZOO_LAYERS``, equal to
    a fresh extraction: a test checks it).  Otherwise, with ``cache``, the list is kept as JSON in
    ``<cache dir>/layers``, keyed by the name, the shape, and the sources and library versions that
    produce it.  Either way a process needs no torch at all (importing torch and propagating shapes
    takes about 1.5 s; reading the file, ms).
    """
    shape = tuple(int(d) for d in input_shape)
    if is_transformer(name):  # built from their dimensions, no torch
        return transformer_layers(name, shape[2] if shape[2:] != ZOO_SHAPE[2:] else None, shape[0])
    shipped = ZOO_LAYERS / f"{name}.json"
    if shape == ZOO_SHAPE and shipped.is_file():  # our builders at their default input: shipped with the package
        return _read_layers(shipped)
    if not cache:
        return layers_from_module(build_named_model(name), shape)
    from .cache import Cache

    rows = Cache(default_cache_dir() / "layers").get(
        "layers", {"model": name, "shape": list(shape)},
        lambda: [dataclasses.asdict(layer) for layer in layers_from_module(build_named_model(name), shape)],
        check=lambda rows: None if _layers_from_rows(rows) is not None else "not a layer list")
    return _layers_from_rows(rows)


ZOO_LAYERS = Path(__file__).parent / "zoo_layers"  # scripts/ship_zoo_layers.py writes, tests/test_workload.py checks
ZOO_SHAPE = (1, 3, 224, 224)


def layers_of(model: str, input_size: int | None = None) -> list[Layer]:
    """Layers of a built-in architecture at ``input_size`` x ``input_size`` (default 224), or of a SCALE-Sim
    topology CSV when ``model`` ends in ``.csv``."""
    if model.endswith(".csv"):
        return layers_from_topology(model)
    if is_transformer(model):
        return transformer_layers(model, input_size)
    size = input_size or 224
    return layers_from_model_name(model, (1, 3, size, size))


def layers_json(layers: list[Layer]) -> str:
    """A layer list as JSON (one object per layer, the dataclass fields)."""
    return json.dumps([dataclasses.asdict(layer) for layer in layers], indent=0)


def _read_layers(path: Path) -> list[Layer]:
    return _layers_from_rows(json.loads(path.read_text(encoding="utf-8")), strict=True)


def _layers_from_rows(rows, strict: bool = False) -> list[Layer] | None:
    """Layers from their JSON rows (None, or with ``strict`` the error, when the rows are not a layer list)."""
    try:
        return [Layer(**{**row, "consumers": tuple(row["consumers"])}) for row in rows]
    except (TypeError, KeyError, ValueError):
        if strict:
            raise
        return None


# ----------------------------------------------------------------------------------------------
# SCALE-Sim topology CSVs
# ----------------------------------------------------------------------------------------------


MAX_NAME_CHARS = 256  # characters of a layer name
MAX_DIM = 2 ** 24  # any size in a topology row (16,777,216: past any real layer; keeps every count in int64)


def _scalesim_out(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size: no padding, a partial last window rounds up (as SCALE-Sim counts it, so that
    cycles match its reports); a stride longer than the input gives the one window there is (SCALE-Sim's formula
    would count windows that start past the input)."""
    if stride > size:
        return 1
    return math.ceil((size - kernel + stride) / stride)


_SPARSITY = re.compile(r"^\d+:\d+$")


def layers_from_topology(path: str | Path) -> list[Layer]:
    """Read a SCALE-Sim topology CSV (conv rows, or GEMM rows ``name, M, N, K,``).

    Conv rows: ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,``
    (SCALE-Sim's optional ninth field, an ``N:M`` sparsity ratio, is refused: sparsity is not
    modelled).  A name containing ``DP`` is depthwise, as in SCALE-Sim: ``Channels`` groups of
    one channel, each with ``Num Filter`` filters.  GEMM rows map, as SCALE-Sim does, to an
    M x K input times a K x N filter (M output pixels, N output channels).  Every row must have
    the same kind and a name no other row has.
    """
    p = Path(path)
    text = read_text(p, "topology file")
    try:
        rows = [r for r in csv.reader(text.splitlines()) if any(cell.strip() for cell in r)]
    except csv.Error as exc:  # e.g. a field past the csv module's size limit
        raise HwsimError(f"{p}: not a readable CSV ({exc}); allowed: fields up to {MAX_NAME_CHARS} characters") from None
    if len(rows) < 2:
        raise HwsimError(f"{p}: expected a header line and at least one layer row")
    if len(rows) - 1 > MAX_TOPOLOGY_LAYERS:
        raise HwsimError(f"{p}: {len(rows) - 1:,} layer rows; allowed: at most {MAX_TOPOLOGY_LAYERS:,}")
    head = [c.strip() for c in rows[0]]
    if len(head) > 1 and re.fullmatch(r"[+-]?\d+", head[1]):
        raise HwsimError(f"{p}:1: the first line is a layer row, not the header; a topology starts with a header "
                         f"line such as 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                         f"Channels, Num Filter, Strides,' (or 'Layer, M, N, K,' for GEMM rows)")
    named = [c for c in head[1:] if c]
    header_fields = (3,) if len(named) == 3 else (7, 8) if len(named) in (7, 8) else ()
    layers, names, kinds = [], set(), set()
    for lineno, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        while cells and cells[-1] == "":  # SCALE-Sim rows end with a comma
            cells.pop()
        name, values = cells[0], cells[1:]
        if not name:
            raise HwsimError(f"{p}:{lineno}: the layer name (first column) is empty")
        if len(name) > MAX_NAME_CHARS:
            raise HwsimError(f"{p}:{lineno}: a layer name of {len(name):,} characters; allowed: up to {MAX_NAME_CHARS}")
        if name in names:
            raise HwsimError(f"{p}:{lineno}: layer name {name!r} appears twice; allowed: a name per row")
        names.add(name)
        if len(values) == 8 and _SPARSITY.match(values[7]):
            raise HwsimError(f"{p}:{lineno}: sparsity {values[7]!r} is not modelled; allowed: dense layers "
                             f"(drop the ninth field)")
        if len(values) not in (3, 7):
            raise HwsimError(f"{p}:{lineno}: expected 7 numbers (IFMAP H, IFMAP W, Filter H, Filter W, Channels, "
                             f"Num Filter, Stride) or 3 (M, N, K) after the name, got {len(values)} fields")
        if not all(re.fullmatch(r"\d+", v) for v in values):
            raise HwsimError(f"{p}:{lineno}: expected whole numbers (digits only) after the layer name, got {values}")
        if not all(1 <= int(v[-12:]) <= MAX_DIM and len(v.lstrip("0")) <= 12 for v in values):
            raise HwsimError(f"{p}:{lineno}: sizes {', '.join(v if len(v) < 20 else v[:8] + '...' for v in values)}; "
                             f"allowed: integers from 1 to {MAX_DIM:,}")
        nums = [int(v) for v in values]
        kinds.add(len(nums))
        if len(kinds) > 1:
            raise HwsimError(f"{p}:{lineno}: mixes GEMM rows (3 numbers) and conv rows (7 numbers); allowed: one kind "
                             f"per file")
        if header_fields in ((3,), (7, 8)) and len(nums) not in header_fields:
            raise HwsimError(f"{p}:{lineno}: a {'GEMM' if len(nums) == 3 else 'conv'} row under a "
                             f"{'GEMM (Layer, M, N, K)' if header_fields == (3,) else 'conv'} header; allowed: rows "
                             f"of the header's kind")
        if len(nums) == 3:  # GEMM: M, N, K
            m, n, k = nums
            if m * n * k > MAX_LAYER_MACS:
                raise HwsimError(f"{p}:{lineno}: {m * n * k:.3g} MACs in one layer; allowed: at most "
                                 f"{MAX_LAYER_MACS:.0e}")
            layers.append(Layer(name, "gemm", m, k, 1, m, 1, n, 1, k, 1, 1))
            continue
        h, w, fh, fw, c, nf, st = nums
        if fh > h or fw > w:
            raise HwsimError(f"{p}:{lineno}: filter {fh}x{fw} is larger than the input {h}x{w}")
        oh, ow = _scalesim_out(h, fh, st), _scalesim_out(w, fw, st)
        macs = oh * ow * fh * fw * c * nf  # depthwise too: Channels groups of Num Filter filters
        if macs > MAX_LAYER_MACS:
            raise HwsimError(f"{p}:{lineno}: {macs:.3g} MACs in one layer; allowed: at most {MAX_LAYER_MACS:.0e}")
        if "DP" in name:
            layers.append(Layer(name, "conv", h, w, c, oh, ow, c * nf, fh, fw, st, c))
        else:
            layers.append(Layer(name, "conv", h, w, c, oh, ow, nf, fh, fw, st, 1))
    return layers
