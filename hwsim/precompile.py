"""Compile the accelerator model's numba code ahead of the first real run: ``python -m hwsim.precompile``.

numba compiles a function the first time it is called.  The best-schedule search and the cycle kernel take one to
two minutes of one core to compile, once per version of their sources: the machine code is then cached on disk
(:mod:`hwsim.systolic._numba_cache`) and later processes load it in a second.  This command pays the compile ahead of
time, where nobody waits on it: a container image's build step, a CI job before its tests start on every core
(the Makefile's ``compile`` target), the workers of a cluster before a sweep.  With the cache already warm it
returns in seconds.  The ARM model is plain numpy and needs no compiling.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from .api import model_layers
from .config import DATAFLOWS, load_config
from .precision import Bits
from .targets import simulate_network


def precompile() -> float:
    """Run every compiled path of the systolic model once on a few small layers (a convolution, a depthwise and a
    pointwise one, a linear layer; every dataflow; both timing modes and SCALE-Sim's user-bandwidth mode; per layer
    and whole network; packed and unpacked precisions): compiles what the disk cache lacks, loads the rest.
    Returns the seconds it took."""
    start = time.perf_counter()
    layers = model_layers("mobilenet_v2")  # the shipped layer shapes: no torch needed
    layers = layers[:4] + layers[-1:]
    base = load_config("bitfusion_16x32")
    for dataflow in DATAFLOWS:
        hw = base.with_dataflow(dataflow)
        scalesim = hw.with_timing("scalesim")
        for config in (hw, scalesim, dataclasses.replace(scalesim, scalesim_user_bw=(10, 10, 10))):
            for bits in (Bits(8, 8), Bits(2, 4)):
                simulate_network(layers, config, bits)
        simulate_network(layers, hw, Bits(4, 4), whole_network=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """``python -m hwsim.precompile``: compile (or load) the simulator's numba code, say how long it took."""
    argparse.ArgumentParser(prog="python -m hwsim.precompile", description=__doc__.split("\n")[0]).parse_args(argv)
    seconds = precompile()
    print(f"hwsim: the simulator's compiled code is ready ({seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
