"""Energy of a simulated layer and area of a systolic array, from the access counts the kernel reports.

* Compute: every fused operation of a PE costs ``pe_op_pj`` (a fusion unit at 2x2 does 16 MACs per
  operation for about the energy of one 8x8 MAC), and every PE leaks ``pe_leak_pj_per_cycle`` in every
  cycle of the layer, busy or not.
* Buffers: each is ``sram_banks`` banks priced by the SRAM model (:mod:`hwsim.memory_model`): ifmap and
  filter buffers are written with what DRAM loads into them and read by the array (the SRAM bits of the
  layer); the ofmap buffer is written by the array (outputs and partial sums) and with partial sums read
  back from DRAM, and read when data leaves for DRAM.  Every bank leaks over the layer's run time.
* DRAM: the energy per bit of the config's memory type for every bit read or written.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

from .memory_model import bank_figures, dram_pj_per_bit, word_bits

BUFFERS = ("ifmap", "filter", "ofmap")
_PORTS = {"ifmap": "1r1w", "filter": "1r1w", "ofmap": "1r1w1rw"}  # Bit Fusion's: the output buffer accumulates


@dataclasses.dataclass(frozen=True)
class Energy:
    """Energy of one layer (pJ); ``sram_pj`` includes ``sram_leak_pj``."""

    compute_pj: float
    sram_pj: float
    dram_pj: float
    sram_leak_pj: float = 0.0

    @property
    def total_pj(self) -> float:
        """All of it."""
        return self.compute_pj + self.sram_pj + self.dram_pj


class BufferModel(NamedTuple):
    """One on-chip buffer as priced: its banks, their size, energies per bit, area and leakage."""

    banks: int
    bank_bytes: float
    read_pj_per_bit: float
    write_pj_per_bit: float
    area_mm2: float
    leak_mw: float


def bank_count(rule: int | str, rows: int, cols: int) -> int:
    """Banks of a buffer: a number, or one per row, column or PE of a ``rows`` x ``cols`` array."""
    return {"rows": rows, "cols": cols, "pes": rows * cols}.get(rule, rule)  # type: ignore[arg-type, return-value]


@functools.lru_cache(maxsize=1024)
def buffer_models(hw) -> dict[str, BufferModel]:
    """The three buffers of systolic config ``hw`` as priced (explicit per-bit or per-KiB figures win)."""
    e = hw.energy
    word = word_bits(e.technology_nm)
    out = {}
    for i, name in enumerate(BUFFERS):
        banks = bank_count(e.sram_banks[i], hw.rows, hw.cols)
        bank_bytes = hw.sram_kib[i] * 1024 / banks
        f = bank_figures(e.technology_nm, _PORTS[name], bank_bytes)
        read = f.read_pj / word if e.sram_read_pj_per_bit is None else e.sram_read_pj_per_bit[i]
        write = f.write_pj / word if e.sram_write_pj_per_bit is None else e.sram_write_pj_per_bit[i]
        area = banks * f.area_mm2 if e.sram_mm2_per_kib is None else hw.sram_kib[i] * e.sram_mm2_per_kib
        out[name] = BufferModel(banks, bank_bytes, read, write, area, banks * f.leak_mw * e.sram_leak_scale)
    return out


def area_mm2(hw) -> float:
    """Silicon area of the PE array and the three buffers (mm2)."""
    return hw.rows * hw.cols * hw.energy.pe_um2 / 1e6 + sum(b.area_mm2 for b in buffer_models(hw).values())


def dram_energy_per_bit(hw) -> float:
    """pJ per bit moved to or from DRAM: the config's figure, else its memory type's."""
    e = hw.energy
    return dram_pj_per_bit(e.dram) if e.dram_pj_per_bit is None else e.dram_pj_per_bit


def layer_energy(hw, fused_ops: float, cycles: int, sram_bits: tuple[float, float, float],
                 loaded_bits: tuple[float, float, float], dram_read_bits: float, dram_write_bits: float) -> Energy:
    """Energy of a layer on ``hw`` from its access counts (bits) and cycles.

    ``sram_bits``: bits the array read from the ifmap and filter buffers and wrote to the ofmap buffer;
    ``loaded_bits``: DRAM bits written into the ifmap, filter and ofmap (partial sums) buffers.
    """
    e = hw.energy
    compute = fused_ops * e.pe_op_pj + cycles * hw.rows * hw.cols * e.pe_leak_pj_per_cycle
    b = buffer_models(hw)
    i, f, o = b["ifmap"], b["filter"], b["ofmap"]
    dynamic = (sram_bits[0] * i.read_pj_per_bit + loaded_bits[0] * i.write_pj_per_bit
               + sram_bits[1] * f.read_pj_per_bit + loaded_bits[1] * f.write_pj_per_bit
               + (sram_bits[2] + loaded_bits[2]) * o.write_pj_per_bit + dram_write_bits * o.read_pj_per_bit)
    leak = (i.leak_mw + f.leak_mw + o.leak_mw) * cycles * 1e3 / hw.clock_mhz  # mW x ns = pJ
    return Energy(compute, dynamic + leak, (dram_read_bits + dram_write_bits) * dram_energy_per_bit(hw), leak)
