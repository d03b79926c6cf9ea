"""The one pure function of a sweep: a point -> a record of its whole-network numbers."""

from __future__ import annotations

from pathlib import Path

from hwsim.config import config_from_dict
from hwsim.targets import simulate_network

from .spec import Point
from .workload import BITS_SUFFIXES, model_layers, point_bits

#: the numeric columns every record has, after the point's own columns
METRICS = ("latency_ms", "total_cycles", "compute_cycles", "onchip_stall_cycles", "dram_stall_cycles",
           "utilization", "energy_uj", "area_mm2", "macs", "dram_read_bytes", "dram_write_bytes")


def run_point(point: Point) -> dict:
    """Simulate the point's whole network as deployed (outputs at their readers' bits, small tensors on chip)."""
    hw = config_from_dict(point.config, f"sweep point {point.index}")
    layers = model_layers(point.model, point.input_size)
    result = simulate_network(layers, hw, point_bits(point.precision, point.model, point.input_size), whole_network=True)
    total = result.total()
    record = {"index": point.index, "key": point.key(), "model": short_name(point.model),
              "precision": short_name(point.precision), **point.values}
    record.update({
        "latency_ms": result.latency_ms, "total_cycles": total["total_cycles"],
        "compute_cycles": total["compute_cycles"], "onchip_stall_cycles": total["onchip_stall_cycles"],
        "dram_stall_cycles": total["dram_stall_cycles"], "utilization": total["utilization"],
        "energy_uj": result.energy_uj, "area_mm2": result.area_mm2, "macs": total["macs"],
        "dram_read_bytes": total["dram_read_bytes"], "dram_write_bytes": total["dram_write_bytes"],
    })
    return record


def run_chunk(points: list[Point]) -> list[dict]:
    """``run_point`` over a chunk (the unit an executor ships to a worker)."""
    return [run_point(p) for p in points]


def short_name(name: str) -> str:
    """A model or bits file as a table shows it: the file's stem, or the name itself."""
    return Path(name).stem if "/" in name or name.endswith((".csv",) + BITS_SUFFIXES) else name
