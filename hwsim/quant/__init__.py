"""quant: post-training quantization (BRECQ block reconstruction, AdaRound, LSQ, Fisher-weighted loss), the peer
sensitivity methods, whole-model integer execution, and the embedded digits task.

Importing it pins the float environment torch's kernels are chosen from (:mod:`hwsim.quant.reproducible`), so the
same seed gives the same numbers on every x86-64 machine.

Entry points (each loads its module on first use): :func:`load_model_and_data` (a model name or checkpoint, and
its data: the embedded digits task by default), :func:`quantize` (round-to-nearest, AdaRound or BRECQ at one
precision or per layer; a :class:`QuantResult`), :func:`measure` (a sensitivity table by one of
:data:`METHODS`), :func:`integer_execution` (run the quantized model in integer arithmetic).
"""

from hwsim._lazy import lazy_exports

from .reproducible import pin_environment

pin_environment()

_EXPORTS = {
    "load_model_and_data": ".sources", "quantize": ".api", "QuantResult": ".api", "measure": ".sensitivity",
    "METHODS": ".sensitivity", "integer_execution": ".integer",
}
__all__ = ["load_model_and_data", "quantize", "QuantResult", "measure", "METHODS", "integer_execution"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
