"""Regenerate SCALE-Sim's USER bandwidth-mode references in this folder.

Run from the repository root with an interpreter that has ``scalesim==3.0.0`` (a venv apart from the
project's, ``pip install scalesim==3.0.0 "numpy<2.4"``; ``benchmarks/scalesim_runner.py`` makes one in
``.cache/scalesim-venv``)::

    .cache/scalesim-venv/bin/python tests/data/scalesim/user/make_user_refs.py [--with-resnet18]

It writes the ``.cfg`` files below (SCALE-Sim's example ``configs/scale.cfg`` -- 32x32, 64 KiB
buffers, 10 words/cycle -- switched to ``InterfaceBandwidth = USER`` in each dataflow, plus smaller
buffers and unequal fill/drain rates so that the array stalls), runs SCALE-Sim on every ``.cfg`` x
``topo_*.csv`` pair through its Python API (no traces) and stores its ``COMPUTE_REPORT.csv`` as
``ref_<cfg>_<topo>.csv`` exactly as ``../make_refs.py`` does (fields stripped, ``LayerName`` added;
a ``DP`` layer's per-channel rows are named ``<layer>Channel_<i>`` as SCALE-Sim names them).
``--with-resnet18`` also runs SCALE-Sim's ``Resnet18.csv`` on ``scale_os`` (about 8 minutes).  A
reference already present is kept unless ``--force`` is given.  Pairs that stall for millions of
cycles are left out (``SKIP``; ``scale_ws_8k_mixed`` x ``topo_example_inc5b`` stalls 10 M cycles, the
8x8 1 KiB configs 1.5 M to 158 M on the two larger example topologies): SCALE-Sim appends every
prefetch to a growing trace array, and did not finish the first of them in 5 minutes.

Topologies: ``topo_convs.csv`` and ``topo_gemm.csv`` are ``../``'s; ``topo_example_inc5b.csv``
(``conv_nets/test.csv``), ``topo_gemm_example.csv`` (``GEMM_mnk/test_mnk_input.csv``) and
``topo_resnet18.csv`` (``conv_nets/Resnet18.csv``) hold the layer sizes of SCALE-Sim's own example
topologies; ``topo_dp.csv`` is a depthwise layer in SCALE-Sim's ``DP`` naming.  Only SCALE-Sim's
outputs and layer sizes are stored; none of its source.
"""

import csv
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[3] / "benchmarks"))
from make_refs import EXPECTED_SCALESIM, read_compute_report, run_one  # noqa: E402
from scalesim_runner import scalesim_cfg  # noqa: E402

# name: (rows, cols, dataflow, buffer KiB, ifmap fill, filter fill, ofmap drain words/cycle)
CONFIGS = {
    "scale_os": (32, 32, "os", 64, 10, 10, 10),
    "scale_ws": (32, 32, "ws", 64, 10, 10, 10),
    "scale_is": (32, 32, "is", 64, 10, 10, 10),
    "scale_os_8k_mixed": (32, 32, "os", 8, 4, 16, 2),
    "scale_ws_8k_mixed": (32, 32, "ws", 8, 4, 16, 2),
    "scale_is_8k_mixed": (32, 32, "is", 8, 4, 16, 2),
    "os_8x8_1k": (8, 8, "os", 1, 10, 10, 10),
    "ws_8x8_1k": (8, 8, "ws", 1, 10, 10, 10),
    "is_8x8_1k": (8, 8, "is", 1, 10, 10, 10),
}

SKIP = {("scale_ws_8k_mixed", "topo_example_inc5b")} | {
    (f"{df}_8x8_1k", topo) for df in ("os", "ws", "is") for topo in ("topo_example_inc5b", "topo_gemm_example")}

def layer_names(topo: Path) -> list[str]:
    """SCALE-Sim's report row names: one per layer, one per channel of a ``DP`` layer."""
    names = []
    for row in topo.read_text().splitlines()[1:]:
        cells = [c.strip() for c in row.split(",")]
        if not cells or not cells[0]:
            continue
        if "DP" in cells[0]:
            names += [f"{cells[0]}Channel_{i}" for i in range(int(cells[5]))]
        else:
            names.append(cells[0])
    return names


def main() -> None:
    from importlib import metadata
    if metadata.version("scalesim") != EXPECTED_SCALESIM:
        sys.exit(f"need scalesim=={EXPECTED_SCALESIM}, found {metadata.version('scalesim')}")
    for name, (rows, cols, df, kib, ifill, ffill, drain) in CONFIGS.items():
        (HERE / f"{name}.cfg").write_text(scalesim_cfg(name, rows, cols, df, kib, "USER", ifill, ffill, drain))
    pairs = [(c, t) for c in CONFIGS for t in sorted(HERE.glob("topo_*.csv"))
             if t.stem != "topo_resnet18" and (c, t.stem) not in SKIP]
    if "--with-resnet18" in sys.argv:
        pairs.append(("scale_os", HERE / "topo_resnet18.csv"))
    for cfg, topo in pairs:
        out = HERE / f"ref_{cfg}_{topo.stem}.csv"
        if out.exists() and "--force" not in sys.argv:
            continue
        start = time.time()
        with tempfile.TemporaryDirectory(prefix="scalesim_user_") as tmp:
            rows = read_compute_report(run_one((HERE / f"{cfg}.cfg").absolute(), topo.absolute(), tmp))
        header, body = rows[0], rows[1:]
        names = layer_names(topo)
        if len(body) != len(names):
            raise RuntimeError(f"{cfg} x {topo.name}: {len(body)} report rows for {len(names)} layers")
        with open(out, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header[:1] + ["LayerName"] + header[1:])
            for n, row in zip(names, body):
                w.writerow(row[:1] + [n] + row[1:])
        print(f"wrote {out.name} ({time.time() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
