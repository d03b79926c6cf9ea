"""quant: post-training quantization (BRECQ block reconstruction, AdaRound, LSQ, Fisher-weighted loss), the peer
sensitivity methods, whole-model integer execution, and the embedded digits task.

Importing it pins the float environment torch's kernels are chosen from (:mod:`quant.reproducible`), so the
same seed gives the same numbers on every x86-64 machine.
"""

from .reproducible import pin_environment

pin_environment()
