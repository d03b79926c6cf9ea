"""Result records shared by every hardware target, and their table/JSON/CSV renderings."""

from __future__ import annotations

import csv
import dataclasses
import io
import json


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How a layer ran on a systolic array: the schedule the search chose (``timing: hwsim``) or SCALE-Sim's.

    ``mode``: the precision mode the PEs ran in (a Bit Fusion unit runs 2-bit data in its 4- or 8-bit
    mode when that is faster); ``sub_array``: the rows x columns used; ``chunks``: how many pieces the
    streamed dimension was cut into (1: none); ``rows_outer`` and ``block``: the fold loop order
    (row folds outer or column folds outer) and how many inner folds share a block (of the most
    frequent chunk when chunked); ``fold_overlap``: neighbouring folds overlap fill and drain.
    """

    dataflow: str
    mode: str
    sub_array: tuple[int, int]
    chunks: int
    rows_outer: bool
    block: int
    fold_overlap: bool


@dataclasses.dataclass(frozen=True)
class LayerResult:
    """Simulated cost of one layer at one precision (cycles at the array clock, bytes, ms)."""

    name: str
    wbits: int
    abits: int
    dataflow: str
    macs: int
    total_cycles: int
    compute_cycles: int
    stall_cycles: int
    onchip_stall_cycles: int
    dram_stall_cycles: int
    folds: int
    utilization: float
    mapping_efficiency: float
    compute_utilization: float
    sram_ifmap_bytes: int
    sram_filter_bytes: int
    sram_ofmap_bytes: int
    dram_read_bytes: int
    dram_write_bytes: int
    latency_ms: float
    note: str = ""  # e.g. a layer the target's kernel does not support, and how it was costed
    dram_ifmap_read_bytes: int | None = None  # the DRAM reads into each buffer (systolic targets)
    dram_filter_read_bytes: int | None = None
    energy_pj: float | None = None  # None: the target has no energy model
    energy_compute_pj: float | None = None
    energy_sram_pj: float | None = None
    energy_dram_pj: float | None = None
    energy_sram_leak_pj: float | None = None  # the buffers' leakage over the run (part of energy_sram_pj)
    # the systolic schedule as data (None: an ARM target, or a result read back from a table); not part of
    # the JSON/CSV records, whose columns stay as they were
    schedule: Schedule | None = dataclasses.field(default=None, compare=False)

    def to_dict(self) -> dict:
        """A JSON-ready record (without ``schedule``)."""
        out = dataclasses.asdict(self)
        del out["schedule"]
        return out


_SUMMED = ("macs", "total_cycles", "compute_cycles", "stall_cycles", "onchip_stall_cycles", "dram_stall_cycles",
           "folds", "sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes", "dram_read_bytes",
           "dram_write_bytes", "latency_ms")
_ENERGY = ("energy_pj", "energy_compute_pj", "energy_sram_pj", "energy_dram_pj", "energy_sram_leak_pj")


@dataclasses.dataclass(frozen=True)
class NetworkResult:
    """Per-layer results of a network and their totals."""

    hardware: str
    dataflow: str
    clock_mhz: float
    layers: list[LayerResult]
    area_mm2: float | None = None  # None: the target has no area model

    def total(self) -> dict:
        """Whole-network totals; utilization is MAC-weighted (total MACs over total peak MAC slots)."""
        out = {k: sum(getattr(r, k) for r in self.layers) for k in _SUMMED}
        for k in _ENERGY:
            values = [getattr(r, k) for r in self.layers]
            out[k] = None if any(v is None for v in values) else sum(values)
        slots = sum(r.macs / r.utilization for r in self.layers if r.utilization > 0)
        out["utilization"] = out["macs"] / slots if slots else 0.0
        out["name"] = "total"
        return out

    @property
    def total_cycles(self) -> int:
        """Sum of all layers' cycles."""
        return sum(r.total_cycles for r in self.layers)

    @property
    def latency_ms(self) -> float:
        """Sum of all layers' latency in ms."""
        return sum(r.latency_ms for r in self.layers)

    @property
    def energy_uj(self) -> float | None:
        """Whole-network energy in microjoules (None without an energy model)."""
        e = self.total()["energy_pj"]
        return None if e is None else e / 1e6

    def to_json(self) -> str:
        """``{"hardware", "dataflow", "clock_mhz", "area_mm2", "layers": [...], "total": {...}}`` as text."""
        doc = {"hardware": self.hardware, "dataflow": self.dataflow, "clock_mhz": self.clock_mhz,
               "area_mm2": self.area_mm2, "layers": [r.to_dict() for r in self.layers], "total": self.total()}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """One row per layer plus a final ``total`` row."""
        buf = io.StringIO()
        fields = [f.name for f in dataclasses.fields(LayerResult)]
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in self.layers:
            writer.writerow(r.to_dict())
        writer.writerow({k: v for k, v in self.total().items() if k in fields})
        return buf.getvalue()

    def to_scalesim_reports(self) -> dict[str, str]:
        """SCALE-Sim's three report files (COMPUTE, BANDWIDTH, DETAILED_ACCESS), with its column names.

        Words are bytes (SCALE-Sim's word is one byte).  hwsim does not trace each access, so start and
        stop cycles are the layer's bounds (0 and its total cycles, which include the first tile's
        load: "incl. prefetch" equals "Total Cycles"), and average DRAM bandwidths divide by the layer's
        cycles rather than by SCALE-Sim's DRAM active window.
        """
        def csv_text(header: list[str], rows: list[list]) -> str:
            fmt = lambda v: f"{v}" if isinstance(v, int) else f"{v:.6f}".rstrip("0").rstrip(".") if isinstance(
                v, float) else str(v)
            return "".join(", ".join(fmt(v) for v in row) + ",\n" for row in [header] + rows)

        compute, bandwidth, detail = [], [], []
        for i, r in enumerate(self.layers):
            cyc = max(r.total_cycles, 1)
            if_rd = r.dram_ifmap_read_bytes if r.dram_ifmap_read_bytes is not None else r.dram_read_bytes
            f_rd = r.dram_filter_read_bytes if r.dram_filter_read_bytes is not None else 0
            compute.append([i, r.total_cycles, r.total_cycles, r.stall_cycles, 100 * r.utilization,
                            100 * r.mapping_efficiency, 100 * r.compute_utilization])
            bandwidth.append([i, r.sram_ifmap_bytes / cyc, r.sram_filter_bytes / cyc, r.sram_ofmap_bytes / cyc,
                              if_rd / cyc, f_rd / cyc, r.dram_write_bytes / cyc])
            detail.append([i, 0, r.total_cycles, r.sram_ifmap_bytes, 0, r.total_cycles, r.sram_filter_bytes,
                           0, r.total_cycles, r.sram_ofmap_bytes, 0, r.total_cycles, if_rd, 0, r.total_cycles, f_rd,
                           0, r.total_cycles, r.dram_write_bytes])
        return {
            "COMPUTE_REPORT.csv": csv_text(["LayerID", "Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles",
                                            "Overall Util %", "Mapping Efficiency %", "Compute Util %"], compute),
            "BANDWIDTH_REPORT.csv": csv_text(["LayerID", "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW",
                                              "Avg IFMAP DRAM BW", "Avg FILTER DRAM BW", "Avg OFMAP DRAM BW"],
                                             bandwidth),
            "DETAILED_ACCESS_REPORT.csv": csv_text(
                ["LayerID"] + [f"{mem} {op} {what}" for mem, ops in (("SRAM", ("IFMAP", "Filter", "OFMAP")),
                                                                     ("DRAM", ("IFMAP", "Filter", "OFMAP")))
                               for op in ops for what in ("Start Cycle", "Stop Cycle",
                                                          "Writes" if op == "OFMAP" else "Reads")], detail),
        }

    def to_table(self) -> str:
        """A fixed-width per-layer table with a total line, for the terminal."""
        cols = [("layer", "name", "{}"), ("w/a", None, "{}"), ("MMAC", "macs", "{:.1f}"),
                ("cycles", "total_cycles", "{:,}"), ("compute", "compute_cycles", "{:,}"),
                ("stall", "stall_cycles", "{:,}"), ("util%", "utilization", "{:.1f}"),
                ("map%", "mapping_efficiency", "{:.1f}"), ("DRAM KB", None, "{:.1f}"), ("ms", "latency_ms", "{:.4f}"),
                ("uJ", "energy_pj", "{:.2f}")]

        def cells(rec: dict, is_total: bool) -> list[str]:
            row = []
            for head, key, fmt in cols:
                if head == "w/a":
                    row.append("" if is_total else f"{rec['wbits']}/{rec['abits']}")
                elif head == "DRAM KB":
                    row.append(fmt.format((rec["dram_read_bytes"] + rec["dram_write_bytes"]) / 1e3))
                elif key == "macs":
                    row.append(fmt.format(rec[key] / 1e6))
                elif key in ("utilization", "mapping_efficiency"):
                    row.append("" if key not in rec else fmt.format(100 * rec[key]))
                elif key == "energy_pj":
                    row.append("-" if rec[key] is None else fmt.format(rec[key] / 1e6))
                else:
                    row.append(fmt.format(rec[key]))
            return row

        rows = [cells(r.to_dict(), False) for r in self.layers]
        notes = sorted({r.note for r in self.layers if r.note})
        for row, r in zip(rows, self.layers):
            if r.note:
                row[0] += "*" * (notes.index(r.note) + 1)
        rows.append(cells(self.total(), True))
        heads = [c[0] for c in cols]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        fmt_row = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        area = "" if self.area_mm2 is None else f"  area={self.area_mm2:.3f} mm2"
        how = self.dataflow if self.dataflow.endswith("threads") else f"dataflow={self.dataflow}"  # ARM: "4 threads"
        lines = [f"{self.hardware}  {how}  clock={self.clock_mhz:g} MHz{area}",
                 fmt_row(heads), "  ".join("-" * w for w in widths)]
        lines += [fmt_row(r) for r in rows[:-1]]
        lines.append("  ".join("-" * w for w in widths))
        lines.append(fmt_row(rows[-1]))
        lines += ["*" * (i + 1) + " " + note for i, note in enumerate(notes)]
        return "\n".join(lines) + "\n"
