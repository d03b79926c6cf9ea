"""Run the real SCALE-Sim v3 (``scalesim==3.0.0`` from PyPI) on a config and topology.

SCALE-Sim needs ``numpy<2.4``, so it runs in its own interpreter (see
:func:`scalesim_python`), in a subprocess, through its Python API without
traces (``save_disk_space=True, verbose=False``), in a temporary directory.

Command line::

    python benchmarks/scalesim_runner.py CFG TOPOLOGY [--gemm]

prints the result of :func:`run_scalesim` as JSON.  Standard library only.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCALESIM_REQUIREMENTS = ["scalesim==3.0.0", "numpy<2.4"]
ENV_VAR = "HWSIM_SCALESIM_PYTHON"
REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".cache" / "scalesim-venv"
_READY_MARKER = ".hwsim-scalesim-ready"

# Runs inside the SCALE-Sim interpreter.  argv: config, topology, layout,
# output dir, result json, "1" for GEMM mode.
_CHILD = r"""
import json, sys, time
cfg, topo, layout, out_dir, result, gemm = sys.argv[1:7]
from scalesim.scale_sim import scalesim
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
               layout=layout, input_type_gemm=(gemm == "1"))
t0 = time.perf_counter()
sim.run_scale(top_path=out_dir)
sim_seconds = time.perf_counter() - t0
with open(result, "w") as f:
    json.dump({"sim_seconds": sim_seconds}, f)
"""


_CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {kib}
FilterSramSzkB = {kib}
OfmapSramSzkB = {kib}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Bandwidth = {drain}
Dataflow = {dataflow}
MemoryBanks = 1
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = {ifmap_fill}
IfmapSRAMBankNum = 1
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = {filter_fill}
FilterSRAMBankNum = 1
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = {interface}
UseRamulatorTrace = False
"""


def scalesim_cfg(name, rows, cols, dataflow, kib, interface="CALC", ifmap_fill=10, filter_fill=10, drain=10):
    """The text of a SCALE-Sim 3.0.0 ``.cfg``: equal buffers of ``kib`` KiB; in ``USER`` mode the input
    buffers fill at ``ifmap_fill`` / ``filter_fill`` and the output buffer drains at ``drain`` words/cycle."""
    return _CFG.format(name=name, rows=rows, cols=cols, dataflow=dataflow, kib=kib, interface=interface,
                       ifmap_fill=ifmap_fill, filter_fill=filter_fill, drain=drain)


def _venv_python(venv):
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def scalesim_python() -> str:
    """Path of a Python interpreter that can import scalesim 3.0.0.

    Order: ``$HWSIM_SCALESIM_PYTHON`` if set; else ``<repo>/.cache/scalesim-venv``
    if it exists (and finished installing); else that venv is created with
    ``python -m venv`` and ``pip install scalesim==3.0.0 "numpy<2.4"``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    python = _venv_python(VENV_DIR)
    if python.exists() and (VENV_DIR / _READY_MARKER).exists():
        return str(python)
    print(f"scalesim_runner: creating {VENV_DIR} with {' '.join(SCALESIM_REQUIREMENTS)} "
          f"(one-time; set {ENV_VAR} to use another interpreter)", file=sys.stderr)
    # --clear so that a venv left half-built by an interrupted install is redone.
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV_DIR)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *SCALESIM_REQUIREMENTS],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                               f"{proc.stdout}\n{proc.stderr}")
    (VENV_DIR / _READY_MARKER).write_text(" ".join(SCALESIM_REQUIREMENTS) + "\n")
    return str(python)


def _layer_names(topology_path, gemm):
    """Layer names in the order SCALE-Sim simulates them.

    Mirrors SCALE-Sim's parser: header line skipped, blank lines skipped, name =
    first field; in conv mode a name containing ``DP`` is split into
    ``Channels`` layers named ``<name>Channel_<i>``.
    """
    names = []
    with open(topology_path) as f:
        lines = f.read().splitlines()[1:]
    for line in lines:
        line = line.strip()
        if not line:
            continue
        fields = [x.strip() for x in line.split(",")]
        name = fields[0]
        if not gemm and "DP" in name:
            names.extend(f"{name}Channel_{i}" for i in range(int(fields[5])))
        else:
            names.append(name)
    return names


def _parse_compute_report(path, names):
    with open(path, newline="") as f:
        rows = [[x.strip() for x in r] for r in csv.reader(f) if any(x.strip() for x in r)]
    header, body = rows[0], rows[1:]
    col = {h: i for i, h in enumerate(header) if h}
    if len(body) != len(names):
        raise RuntimeError(f"{path}: {len(body)} layers reported, topology has {len(names)}")
    layers = []
    for name, r in zip(names, body):
        layers.append({
            "name": name,
            "total_cycles": int(r[col["Total Cycles"]]),
            "stall_cycles": int(r[col["Stall Cycles"]]),
            "overall_util": float(r[col["Overall Util %"]]),
            "mapping_efficiency": float(r[col["Mapping Efficiency %"]]),
            "compute_util": float(r[col["Compute Util %"]]),
        })
    return layers


def run_scalesim(cfg_path, topology_path, *, gemm=False, timeout=None) -> dict:
    """Run SCALE-Sim on one config and topology (GEMM-mode topology if ``gemm``).

    Returns ``{"seconds": subprocess wall time incl. interpreter start and import,
    "sim_seconds": wall time of run_scale() alone, "layers": [{"name",
    "total_cycles", "stall_cycles", "overall_util", "mapping_efficiency",
    "compute_util"}, ...]}``; utilisations are percentages as SCALE-Sim reports them.
    """
    cfg_path = Path(cfg_path).resolve()
    topology_path = Path(topology_path).resolve()
    for p in (cfg_path, topology_path):
        if not p.is_file():  # SCALE-Sim itself would print an error and exit 0
            raise FileNotFoundError(p)
    names = _layer_names(topology_path, gemm)
    python = scalesim_python()
    with tempfile.TemporaryDirectory(prefix="hwsim_scalesim_") as tmp:
        tmp = Path(tmp)
        layout = tmp / "layout.csv"  # must exist even with custom layouts off
        layout.write_text("Layer name, unused,\n")
        out_dir, result = tmp / "out", tmp / "result.json"
        cmd = [python, "-c", _CHILD, str(cfg_path), str(topology_path), str(layout),
               str(out_dir), str(result), "1" if gemm else "0"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        reports = list(out_dir.glob("*/COMPUTE_REPORT.csv"))
        if proc.returncode != 0 or not result.exists() or len(reports) != 1:
            raise RuntimeError(f"SCALE-Sim run failed (exit {proc.returncode}) for "
                               f"{cfg_path} x {topology_path}:\n{proc.stdout}\n{proc.stderr}")
        sim_seconds = json.loads(result.read_text())["sim_seconds"]
        layers = _parse_compute_report(reports[0], names)
    return {"seconds": seconds, "sim_seconds": sim_seconds, "layers": layers}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run SCALE-Sim 3.0.0 and print per-layer results as JSON.")
    ap.add_argument("cfg", help="SCALE-Sim .cfg file")
    ap.add_argument("topology", help="SCALE-Sim topology CSV")
    ap.add_argument("--gemm", action="store_true", help="topology is in GEMM (Layer, M, N, K,) format")
    args = ap.parse_args(argv)
    print(json.dumps(run_scalesim(args.cfg, args.topology, gemm=args.gemm), indent=2))


if __name__ == "__main__":
    main()
