"""The steps of ``make boards`` that are not a fit: share the core's constants, derive the Pi 3B.

  python scripts/boards.py share    copy the Snapdragon 410's fitted core constants into the Pi 3B+ config
  python scripts/boards.py derive   write cortex_a53_rpi3b.yaml from the calibrated Pi 3B+ config

Both boards have the same Cortex-A53 cores running the same ncnn kernels, so how much of a layer's memory
time hides under its compute (``memory_overlap``) is fitted once, on the Snapdragon 410, whose four
measurements separate it from the bandwidths; on the Pi 3B+ one core already streams about what all four
can, so its measurements cannot tell that constant from the per-core bandwidth.  The Pi 3B+ then fits
only its memory system (``dram_gb_per_s``, ``core_gb_per_s``).

The Pi 3B (BCM2837) has the 3B+'s cores and caches at 1.2 GHz instead of 1.4 GHz, and its LPDDR2 at
sdram_freq 450 MHz instead of 500 MHz (raspberrypi/documentation, overclocking.adoc).  No int8 latency of a
Pi 3B is public, so nothing is fitted to it: the clock is read (V), and both bandwidths are the 3B+'s fit
scaled by the memory clock, 450 / 500 (D).  Everything else is the 3B+'s.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.calibrate import MEANING, replace_fields  # noqa: E402
PHONE = ROOT / "hwsim" / "hw_configs" / "cortex_a53_sd410.yaml"
SOURCE = ROOT / "hwsim" / "hw_configs" / "cortex_a53_rpi3bplus.yaml"
TARGET = ROOT / "hwsim" / "hw_configs" / "cortex_a53_rpi3b.yaml"
SHARED = ("memory_overlap",)  # core + library constants fitted on the phone, used by every Pi
MEMORY_CLOCK_RATIO = 450 / 500  # sdram_freq, Pi 3B / Pi 3B+

HEADER = """\
# Raspberry Pi 3 Model B (BCM2837): 4x ARM Cortex-A53 at 1.2 GHz, 1 GB LPDDR2 (sdram_freq 450 MHz), the
# board of BRECQ's ARM experiments (appendix B.3).  Written by scripts/boards.py derive (make boards) from
# cortex_a53_rpi3bplus.yaml: no int8 latency of a Pi 3B is public, so its constants are the 3B+'s, with
# the clock (V) and both bandwidths scaled by the memory clock, 450 / 500 (D).  Tags: (V) read in a
# public source, (D) derived, (F) fitted, (U) a guess; sources in shared/reference/arm_a53_facts.md.
"""


def derive(text: str) -> str:
    """The Pi 3B config text from the Pi 3B+ config text."""
    body = text[text.index("name:"):]
    values = {k: float(v) for k, v in re.findall(r"^(dram_gb_per_s|core_gb_per_s): ([0-9.eE+-]+)$", body, re.M)}
    dram, core = (f"{values[k] * MEMORY_CLOCK_RATIO:.6g}" for k in ("dram_gb_per_s", "core_gb_per_s"))
    fields = {
        "name": (None, "cortex_a53_rpi3b"),
        "description": (None, "Raspberry Pi 3 Model B, 4x Cortex-A53 @ 1.2 GHz, ncnn int8 + low-bit GEMM "
                              "(derived from the 3B+)"),
        "clock_mhz": (["# (V) raspberrypi/documentation config_txt/overclocking.adoc: Pi 3 arm_freq 1200."], "1200"),
        "dram_gb_per_s": ([f"# (D) the Pi 3B+'s fit ({values['dram_gb_per_s']:g} GB/s) x 450 / 500 (sdram_freq)."],
                          dram),
        "core_gb_per_s": ([f"# (D) the Pi 3B+'s fit ({values['core_gb_per_s']:g} GB/s) x 450 / 500 (sdram_freq)."],
                          core),
        "fitted": (None, "[dram_gb_per_s, core_gb_per_s]"),
        "calibration": (None, '"derived from cortex_a53_rpi3bplus.yaml (ncnn_rpi3bplus.csv)"'),
    }
    return HEADER + replace_fields(body, fields)


def share(phone_text: str, pi_text: str) -> str:
    """The Pi 3B+ config text with the phone's shared constants (and a tag saying where they come from)."""
    values = dict(re.findall(r"^([a-z_0-9]+): (.*)$", phone_text, re.M))
    tag = ("# (F) fitted on the Snapdragon 410 (cortex_a53_sd410.yaml, ncnn_sd410.csv): the same cores and kernels; "
           "copied by scripts/boards.py share.")
    return replace_fields(pi_text, {k: ([f"# {MEANING[k]}", tag], values[k]) for k in SHARED})


def main(argv: list[str]) -> int:
    step = argv[0] if argv else ""
    if step == "share":
        SOURCE.write_text(share(PHONE.read_text(), SOURCE.read_text()))
        print(f"wrote {SOURCE.relative_to(ROOT)} ({', '.join(SHARED)} from {PHONE.name})", file=sys.stderr)
    elif step == "derive":
        TARGET.write_text(derive(SOURCE.read_text()))
        print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    else:
        print("usage: python scripts/boards.py share|derive", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
