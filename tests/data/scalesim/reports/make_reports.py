"""Regenerate SCALE-Sim's three reports for topo_two.csv under os_8x8.cfg (run with a scalesim==3.0.0 interpreter,
e.g. .cache/scalesim-venv/bin/python, from this folder; the reports land in outdir/os_8x8/ and are copied here)."""
from scalesim.scale_sim import scalesim

with open("layout.csv", "w") as fh:  # SCALE-Sim wants a layout file even with custom layouts off
    fh.write("Layer name,\n")
sim = scalesim(save_disk_space=True, verbose=False, config="../os_8x8.cfg", topology="topo_two.csv",
               layout="layout.csv")
sim.run_scale(top_path="outdir")
