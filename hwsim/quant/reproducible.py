"""The same float results on every x86-64 machine: torch's kernels pinned to code that does not depend on the CPU.

Which kernel torch runs for a convolution, a matrix product or a reduction depends on the machine:
ATen picks AVX2 or AVX-512 code for its vectorised loops (reductions then add in another order),
oneDNN builds convolution kernels for the CPU's instruction set and cache sizes, MKL picks a GEMM
code path per CPU, and every parallel loop splits its work by the thread count.  Each choice moves
the last bits of a float, and 200 steps of AdaRound turn those bits into a different rounding and
a different accuracy (measured by ``scripts/repro_probe.py``: every one of these settings alone
changes the trained model and the W2A2 accuracy).  So, before torch runs its first operator:

* ``ATEN_CPU_CAPABILITY=default``: ATen's portable loops, on every CPU;
* ``MKL_CBWR=COMPATIBLE`` (with ``MKL_DYNAMIC=FALSE``): MKL's code path documented to give the same
  results on all Intel and compatible processors for a fixed thread count;
* oneDNN and NNPACK off (convolutions go through torch's own im2col and MKL's GEMM): oneDNN promises
  bitwise-equal results only on identical hardware;
* a fixed number of torch threads (2), whatever the machine's core count.

The cost on this project's workloads: about 1.5x on the embedded task's block reconstruction and on
a ResNet-18 forward pass (``scripts/repro_probe.py --time``).  ``HWSIM_NATIVE_KERNELS=1`` turns the
pinning off (faster on big models; results then depend on the machine, and every cache keys on it).
"""

from __future__ import annotations

import os
import sys

THREADS = 2  # torch threads for every quantization step (the pipeline's --torch-threads default)
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "MKL_DYNAMIC": "FALSE",
              "OMP_DYNAMIC": "FALSE"}
OPT_OUT = "HWSIM_NATIVE_KERNELS"
_state = {"torch": False, "threads": False}


def pinned() -> bool:
    """True unless the user opted out with ``HWSIM_NATIVE_KERNELS=1``."""
    return os.environ.get(OPT_OUT, "") not in ("1", "true", "yes")


def pin_environment() -> None:
    """Set the environment that selects torch's and MKL's portable kernels (torch reads it at its first operator)."""
    if pinned():
        os.environ.update(PINNED_ENV)


def pin_torch(threads: int | None = None) -> None:
    """Turn off the machine-dependent convolution libraries and fix torch's thread count (``threads``, else
    THREADS unless a caller set it before); warn once if torch chose its kernels before :func:`pin_environment`."""
    import torch

    if threads is not None or not _state["threads"]:
        torch.set_num_threads(threads or THREADS)
        _state["threads"] = True
    if not pinned() or _state["torch"]:
        return
    _state["torch"] = True
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        print("hwsim: warning: torch chose its CPU kernels before hwsim could pin them (import hwsim's quant "
              "before running any torch operator, or set ATEN_CPU_CAPABILITY=default); float results may "
              "differ from other machines", file=sys.stderr)


def environment() -> dict:
    """What the float results of this process depend on (for reports and cache keys)."""
    import torch

    return {"pinned": pinned(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": os.environ.get("MKL_CBWR", ""), "mkldnn": bool(torch.backends.mkldnn.enabled),
            "threads": torch.get_num_threads(), "torch": torch.__version__}
