"""Regenerate the SCALE-Sim reference reports in this folder.

The ``ref_<cfgstem>_<topostem>.csv`` files next to this script were made by
running, from the repository root::

    /work/scalesim-venv/bin/python tests/data/scalesim/make_refs.py

with ``scalesim==3.0.0`` and ``numpy==2.3.5`` (Python 3.11.7) installed in that
virtualenv (``python3 -m venv /work/scalesim-venv &&
/work/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"``).  Any
interpreter with scalesim 3.0.0 importable works; the script refuses to run
with another scalesim version.

For every ``*.cfg`` x ``topo_*.csv`` pair in this folder it runs SCALE-Sim
through its Python API (``save_disk_space=True, verbose=False``, so no traces)
in a temporary directory.  ``topo_gemm.csv`` is read in GEMM mode
(``input_type_gemm=True``), the other topologies in conv mode.  SCALE-Sim's
``COMPUTE_REPORT.csv`` is then written here as ``ref_<cfgstem>_<topostem>.csv``
with every column and value kept exactly as SCALE-Sim printed it; the only
changes are: whitespace around fields and the trailing empty field (from
SCALE-Sim's trailing comma) are removed, and a ``LayerName`` column (the
topology's layer name, in file order) is inserted after ``LayerID``.

Only SCALE-Sim's outputs are stored; no SCALE-Sim source is copied.
"""

import contextlib
import csv
import io
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED_SCALESIM = "3.0.0"


def topology_layer_names(topo_path):
    """Layer names of a SCALE-Sim topology CSV, in order (header skipped)."""
    names = []
    with open(topo_path) as f:
        next(f)
        for row in f:
            row = row.strip()
            if row:
                names.append(row.split(",")[0].strip())
    return names


def read_compute_report(path):
    """Rows of COMPUTE_REPORT.csv as lists of stripped strings (no trailing empty field)."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.reader(f):
            fields = [x.strip() for x in raw]
            if fields and fields[-1] == "":
                fields = fields[:-1]
            if fields:
                rows.append(fields)
    return rows


def run_one(cfg_path, topo_path, workdir):
    """Run SCALE-Sim once; return the path of its COMPUTE_REPORT.csv."""
    from scalesim.scale_sim import scalesim

    gemm = "gemm" in topo_path.stem
    layout = Path(workdir) / "layout_empty.csv"
    # SCALE-Sim needs a layout file even with custom layouts off; header only.
    layout.write_text("Layer name, unused,\n")
    out_dir = Path(workdir) / "out"
    sink = io.StringIO()
    old_cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(sink):
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(cfg_path),
                topology=str(topo_path),
                layout=str(layout),
                input_type_gemm=gemm,
            )
            sim.run_scale(top_path=str(out_dir))
    finally:
        os.chdir(old_cwd)
    reports = list(out_dir.glob("*/COMPUTE_REPORT.csv"))
    if len(reports) != 1:
        raise RuntimeError(
            f"expected one COMPUTE_REPORT.csv for {cfg_path.name} x {topo_path.name}, "
            f"found {reports}; SCALE-Sim said:\n{sink.getvalue()}"
        )
    return reports[0]


def main():
    version = metadata.version("scalesim")
    if version != EXPECTED_SCALESIM:
        sys.exit(f"need scalesim=={EXPECTED_SCALESIM}, found {version}")
    print(f"scalesim {version}, numpy {metadata.version('numpy')}, "
          f"python {sys.version.split()[0]}")

    cfgs = sorted(HERE.glob("*.cfg"))
    topos = sorted(HERE.glob("topo_*.csv"))
    for cfg in cfgs:
        for topo in topos:
            names = topology_layer_names(topo)
            with tempfile.TemporaryDirectory(prefix="scalesim_ref_") as tmp:
                rows = read_compute_report(run_one(cfg, topo, tmp))
            header, body = rows[0], rows[1:]
            if len(body) != len(names):
                raise RuntimeError(
                    f"{cfg.name} x {topo.name}: {len(body)} report rows "
                    f"for {len(names)} topology layers")
            out = HERE / f"ref_{cfg.stem}_{topo.stem}.csv"
            with open(out, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(header[:1] + ["LayerName"] + header[1:])
                for name, row in zip(names, body):
                    w.writerow(row[:1] + [name] + row[1:])
            print(f"wrote {out.name}")


if __name__ == "__main__":
    main()
