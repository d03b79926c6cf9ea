"""hwsim: hardware-in-the-loop quantization co-design.

The simulator side turns a network into GEMM layers (:mod:`hwsim.workload`),
loads a validated hardware description (:mod:`hwsim.config`) and simulates
each layer cycle by cycle on a precision-scalable systolic array
(:mod:`hwsim.systolic`).
"""

__version__ = "0.1.0"
