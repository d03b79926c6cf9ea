"""The SRAM/DRAM energy and area model (hwsim/memory_model.py) checked and shown.

  python benchmarks/memory_energy.py

1. bitfusion_16x32 against Bit Fusion's own area model (its simulator's banking priced by its CACTI sweep,
   plus its synthesised fusion unit), buffer by buffer, with the error;
2. its power at full load, by part (what the model charges per cycle);
3. ResNet-18 w8a8 on bitfusion_16x32 as all three buffers grow together: SRAM energy per byte the array moves
   (dynamic, then with leakage) rises with size, as CACTI says it must;
4. the DRAM types and their energy per bit, with sources.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwsim.config import Buffers, load_config  # noqa: E402
from hwsim.energy import BUFFERS, buffer_models, dram_energy_per_bit  # noqa: E402
from hwsim.memory_model import PORTS, dram_source, dram_types, fitted_exponents, word_bits  # noqa: E402
from hwsim.shipped import CONFIG_DIR  # noqa: E402
from hwsim.targets import simulate_network  # noqa: E402
from hwsim.workload import layers_from_model_name  # noqa: E402

# Bit Fusion's simulator (get_area) for N=16, M=32, IBUF 32 KiB, WBUF 64 KiB, OBUF 16 KiB: N banks of 2 KiB,
# N*M banks of 128 B, M banks of 512 B with a read-write port, each the cacti_sweep.csv row of that size, and
# 16*32 fusion units of results/systolic_array_synth.csv (1,733.13 um2 each).
BITFUSION_MM2 = {"ifmap": 16 * 0.015132, "filter": 512 * 0.00149898, "ofmap": 32 * 0.00760331,
                 "PE array": 512 * 1733.13e-6}


def area_check(hw) -> None:
    models = buffer_models(hw)
    ours = {b: models[b].area_mm2 for b in BUFFERS} | {"PE array": hw.rows * hw.cols * hw.energy.pe_um2 / 1e6}
    print(f"1. Area of {hw.name} against Bit Fusion's area model (mm2)\n")
    print("| part | banks x bank | hwsim | Bit Fusion | error |\n|---|---|---|---|---|")
    for part, theirs in BITFUSION_MM2.items():
        shape = f"{models[part].banks} x {models[part].bank_bytes:g} B" if part in models else "512 fusion units"
        print(f"| {part} | {shape} | {ours[part]:.4f} | {theirs:.4f} | {100 * (ours[part] / theirs - 1):+.2f}% |")
    total, theirs = sum(ours.values()), sum(BITFUSION_MM2.values())
    print(f"| total | | {total:.3f} | {theirs:.3f} | {100 * (total / theirs - 1):+.2f}% |\n")
    print(f"Beyond the {hw.energy.technology_nm} nm table, each figure grows as bank size to the power:\n")
    print("| ports | area | read energy | write energy | leakage |\n|---|---|---|---|---|")
    for ports in PORTS:
        x = fitted_exponents(hw.energy.technology_nm, ports)
        print(f"| {ports} | {x['area_mm2']:.2f} | {x['read_pj']:.2f} | {x['write_pj']:.2f} | {x['leak_mw']:.2f} |")
    print()


def power_at_full_load(hw) -> None:
    """mW at the clock when every PE fuses every cycle and every buffer port moves a word per bank per cycle."""
    e, models = hw.energy, buffer_models(hw)
    ns = 1e3 / hw.clock_mhz
    pe_dyn = hw.rows * hw.cols * e.pe_op_pj / ns
    pe_leak = hw.rows * hw.cols * e.pe_leak_pj_per_cycle / ns
    word = word_bits(e.technology_nm)
    sram_dyn = sum(m.banks * word * m.read_pj_per_bit for m in models.values()) / ns
    leak = sum(m.leak_mw for m in models.values())
    print(f"2. Power of {hw.name} at {hw.clock_mhz:g} MHz, every PE busy, every bank read once per cycle (mW)\n")
    print("| part | mW |\n|---|---|")
    for name, mw in (("PE array, dynamic", pe_dyn), ("PE array, leakage", pe_leak),
                     ("buffers, dynamic (one read per bank per cycle)", sram_dyn), ("buffers, leakage", leak)):
        print(f"| {name} | {mw:.1f} |")
    print(f"| total | {pe_dyn + pe_leak + sram_dyn + leak:.1f} |\n")
    print("The buffers' leakage is CACTI's for itrs-hp cells at 45 nm (the cells Bit Fusion's sweep used); "
          "energy.sram_leak_scale scales it for low-leakage cells.\n")


def growth(hw) -> None:
    layers = layers_from_model_name("resnet18")
    print(f"3. ResNet-18 w8a8 on {hw.name}, all three buffers at the same size (per-layer mode)\n")
    print("| buffers (KiB each) | SRAM pJ per byte moved (dynamic) | with leakage | DRAM MB | ms | total uJ |")
    print("|---|---|---|---|---|---|")
    for kib in (16, 64, 256, 1024, 4096):
        h = dataclasses.replace(hw, sram_kib=Buffers(kib, kib, kib))
        t = simulate_network(layers, h, (8, 8)).total()
        moved = t["sram_ifmap_bytes"] + t["sram_filter_bytes"] + t["sram_ofmap_bytes"]
        dyn = t["energy_sram_pj"] - t["energy_sram_leak_pj"]
        print(f"| {kib} | {dyn / moved:.3f} | {t['energy_sram_pj'] / moved:.3f} | "
              f"{(t['dram_read_bytes'] + t['dram_write_bytes']) / 1e6:.2f} | {t['latency_ms']:.3f} | "
              f"{t['energy_pj'] / 1e6:.0f} |")
    print()


def dram_table(hw) -> None:
    print("4. DRAM energy per bit (energy.dram; bitfusion_16x32 uses "
          f"{hw.energy.dram}, {dram_energy_per_bit(hw):g} pJ/bit)\n")
    print("| energy.dram | pJ/bit | source | status |\n|---|---|---|---|")
    for kind in dram_types():
        d = dram_source(kind)
        print(f"| {kind} | {d['pj_per_bit']:g} | {d['source']} | {d['status']} |")


def main() -> int:
    hw = load_config(CONFIG_DIR / "bitfusion_16x32.yaml")
    area_check(hw)
    power_at_full_load(hw)
    growth(hw)
    dram_table(hw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
