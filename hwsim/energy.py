"""Energy of a simulated layer and area of a systolic array, from the access counts the kernel reports.

* Compute: every fused operation of a PE costs ``pe_op_pj`` (a fusion unit at 2x2 does 16 MACs per
  operation for about the energy of one 8x8 MAC), and every PE leaks ``pe_leak_pj_per_cycle`` in every
  cycle of the layer, busy or not.
* Buffers: ifmap and filter buffers are written with what DRAM loads into them and read by the array
  (the SRAM bits of the layer); the ofmap buffer is written by the array (outputs and partial sums) and
  with partial sums read back from DRAM, and read when data leaves for DRAM.
* DRAM: ``dram_pj_per_bit`` for every bit read or written.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Energy:
    """Energy of one layer (pJ)."""

    compute_pj: float
    sram_pj: float
    dram_pj: float

    @property
    def total_pj(self) -> float:
        """All of it."""
        return self.compute_pj + self.sram_pj + self.dram_pj


def layer_energy(hw, fused_ops: float, cycles: int, sram_bits: tuple[float, float, float],
                 loaded_bits: tuple[float, float, float], dram_read_bits: float, dram_write_bits: float) -> Energy:
    """Energy of a layer on ``hw`` from its access counts (bits) and cycles.

    ``sram_bits``: bits the array read from the ifmap and filter buffers and wrote to the ofmap buffer;
    ``loaded_bits``: DRAM bits written into the ifmap, filter and ofmap (partial sums) buffers.
    """
    e = hw.energy
    compute = fused_ops * e.pe_op_pj + cycles * hw.rows * hw.cols * e.pe_leak_pj_per_cycle
    rd, wr = e.sram_read_pj_per_bit, e.sram_write_pj_per_bit
    sram = (sram_bits[0] * rd.ifmap + loaded_bits[0] * wr.ifmap
            + sram_bits[1] * rd.filter + loaded_bits[1] * wr.filter
            + (sram_bits[2] + loaded_bits[2]) * wr.ofmap + dram_write_bits * rd.ofmap)
    return Energy(compute, sram, (dram_read_bits + dram_write_bits) * e.dram_pj_per_bit)
