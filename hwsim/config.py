"""Hardware descriptions: the one loader for hwsim YAML files and SCALE-Sim ``.cfg`` files.

Every value is validated on load; any problem raises :class:`~hwsim.errors.ConfigError`
with one message naming the file, the field, the bad value and what is allowed.
The result is a frozen :class:`SystolicConfig` that the simulator reads and never changes.
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple, Union


from .errors import ConfigError, HwsimError
from .io import read_text

DATAFLOWS = ("os", "ws", "is")
TIMINGS = ("hwsim", "scalesim")  # physical cycle accounting, or SCALE-Sim's (see README, timing modes)
BIT_WIDTHS = (2, 4, 8)
UNLIMITED = "unlimited"
PSUM_VIA_OFMAP = "ofmap"


class Buffers(NamedTuple):
    """One number per on-chip buffer: input feature map, filter (weights), output feature map."""

    ifmap: float | None
    filter: float | None
    ofmap: float | None


#: How many banks a buffer has: a number, or one per array row, per column or per PE (``pes``).
BANK_RULES = ("rows", "cols", "pes")


class Banks(NamedTuple):
    """Banks of each on-chip buffer: a count, or ``rows``, ``cols`` or ``pes`` (one per row, column or PE)."""

    ifmap: int | str
    filter: int | str
    ofmap: int | str


@dataclasses.dataclass(frozen=True)
class EnergyTable:
    """Energy per event, SRAM and DRAM models and area (45 nm, Bit Fusion's design by default; every value
    overridable in YAML).

    Sources: ``pe_op_pj``, ``pe_leak_pj_per_cycle`` and ``pe_um2`` from Bit Fusion's synthesis of one 2-8-bit
    fusion unit at 500 MHz (results/systolic_array_synth.csv: 279.96 uW dynamic, 64.31 uW leakage,
    1,733.13 um2), i.e. 0.560 pJ per fused operation and 0.129 pJ per unit per cycle (verified).  The buffers:
    ``sram_banks`` banks each (Bit Fusion's organisation by default: one input bank per row, one weight bank
    per PE, one output bank per column), priced by the CACTI table of ``technology_nm``
    (:mod:`hwsim.memory_model`), leaking ``sram_leak_scale`` times the table's leakage over the run.
    DRAM: ``dram`` names the memory type whose energy per bit applies.  ``sram_read_pj_per_bit``,
    ``sram_write_pj_per_bit``, ``sram_mm2_per_kib`` and ``dram_pj_per_bit`` override the models when given.
    """

    pe_op_pj: float = 0.560
    pe_leak_pj_per_cycle: float = 0.129
    pe_um2: float = 1733.13
    technology_nm: int = 45
    sram_banks: Banks = Banks("rows", "pes", "cols")
    sram_leak_scale: float = 1.0
    dram: str = "ddr4"
    sram_read_pj_per_bit: Buffers | None = None
    sram_write_pj_per_bit: Buffers | None = None
    sram_mm2_per_kib: float | None = None
    dram_pj_per_bit: float | None = None


@dataclasses.dataclass(frozen=True)
class VectorUnit:
    """The accelerator's vector unit, which runs a transformer's non-GEMM operators (softmax, the norms,
    activations, residual adds, rotary embeddings; :data:`hwsim.layers.VECTOR_OPS`) on tensors streamed from the
    ifmap buffer to the ofmap buffer.

    ``lanes`` operations per cycle (None: one lane per array column); per operator, the operations per output
    element (a first-order count, every value overridable in YAML): softmax 8 (max, subtract, exp as four
    polynomial steps, sum, scale), layernorm 7 (mean, subtract, square, sum, rsqrt scale, gamma, beta), rmsnorm 4
    (square, sum, rsqrt scale, gamma), gelu 8 (tanh form), silu_mul 8 (sigmoid as exp, add, reciprocal; two
    multiplies), add and mul 1, rope 3 (two multiplies and an add, sines and cosines from a table), unary 4 (an
    imported model's sigmoid, tanh, erf, exp or square root, as polynomial steps).  ``pj_per_op``: 0.75 pJ,
    the mean of a 16-bit float add (0.4 pJ) and multiply (1.1 pJ) at 45 nm (Horowitz, ISSCC 2014).  Its area is
    not counted.
    """

    lanes: int | None = None
    softmax: float = 8.0
    layernorm: float = 7.0
    rmsnorm: float = 4.0
    gelu: float = 8.0
    silu_mul: float = 8.0
    add: float = 1.0
    mul: float = 1.0
    rope: float = 3.0
    unary: float = 4.0
    pj_per_op: float = 0.75

    def ops_per_element(self, op: str) -> float:
        """Operations per output element of ``op``."""
        return float(getattr(self, op))


@dataclasses.dataclass(frozen=True)
class SystolicConfig:
    """A precision-scalable (Bit Fusion-style) systolic array and its memory system.

    Bandwidth fields hold ``None`` for unlimited.
    """

    name: str
    rows: int
    cols: int
    dataflow: str
    clock_mhz: float
    bits: tuple[int, ...]
    sram_kib: Buffers
    sram_bytes_per_cycle: Buffers
    dram_gb_per_s: float | None
    requant_outputs_per_cycle: float | None
    scale_bits: int
    accumulator_bits: int
    requant_latency_cycles: int = 0
    timing: str = "hwsim"
    psum_bytes_per_cycle: float | None = None  # accumulator port; None = one accumulator per column
    psum_via_ofmap: bool = False  # partial sums share the ofmap write port instead
    fold_overlap: bool = True  # hwsim timing: neighbouring folds overlap fill and drain (double-buffered PE registers)
    # SCALE-Sim USER mode (a .cfg): IFMAP fill, FILTER fill, OFMAP drain in words per cycle; scalesim timing
    # then replays SCALE-Sim's trace-driven buffers (systolic/scalesim_user.py)
    scalesim_user_bw: tuple[int, int, int] | None = None
    energy: EnergyTable = EnergyTable()
    vector: VectorUnit = VectorUnit()
    description: str = ""
    source: str = ""
    kind: str = "systolic"

    def area_mm2(self) -> float:
        """Silicon area of the PE array and the three buffers (mm2), from the energy table's models."""
        from .energy import area_mm2
        return area_mm2(self)

    # ---- the Target protocol (hwsim.targets.Target; simulation dispatches on the config's type there) -------

    def on_chip_bits(self) -> float:
        """Bits an activation tensor may have to stay on chip between two layers (the smaller of the ifmap and
        ofmap buffers)."""
        return min(self.sram_kib.ifmap, self.sram_kib.ofmap) * 1024 * 8

    @property
    def run_label(self) -> str:
        """How it runs, for reports: the dataflow."""
        return self.dataflow

    def fusion_factor(self, wbits: int, abits: int) -> int:
        """MACs per PE per cycle at ``wbits`` x ``abits`` (Bit Fusion: (8/w)*(8/a))."""
        return fusion_factor(wbits, abits)

    def peak_macs_per_s(self, wbits: int = 8, abits: int = 8) -> float:
        """Peak throughput in MAC/s at the given precision."""
        return self.rows * self.cols * self.fusion_factor(wbits, abits) * self.clock_mhz * 1e6

    def dram_bytes_per_cycle(self) -> float | None:
        """Off-chip bandwidth in bytes per array cycle (None = unlimited)."""
        if self.dram_gb_per_s is None:
            return None
        return self.dram_gb_per_s * 1e9 / (self.clock_mhz * 1e6)

    def with_dataflow(self, dataflow: str) -> "SystolicConfig":
        """The same hardware with another dataflow (validated)."""
        if dataflow not in DATAFLOWS:
            raise ConfigError(f"dataflow {dataflow!r} is not supported; allowed: {', '.join(DATAFLOWS)}")
        return dataclasses.replace(self, dataflow=dataflow)

    def with_timing(self, timing: str) -> "SystolicConfig":
        """The same hardware under another timing mode (validated)."""
        if timing not in TIMINGS:
            raise ConfigError(f"timing {timing!r} is not supported; allowed: {', '.join(TIMINGS)}")
        return dataclasses.replace(self, timing=timing)

    def content_hash(self) -> str:
        """A stable hash of everything that changes simulated numbers (not name/description/source)."""
        return content_hash(self)


def content_hash(config: Any) -> str:
    """Hash of a config dataclass's numbers (name, description and source excluded)."""
    record = dataclasses.asdict(config)  # nested tables (energy) become mappings
    for key in ("name", "description", "source", "fitted", "calibration"):
        record.pop(key, None)
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]




def fusion_factor(wbits: int, abits: int) -> int:
    """Bit Fusion's throughput multiplier: 1 at 8x8, 2 at 8x4, ..., 16 at 2x2."""
    for b in (wbits, abits):
        if b not in BIT_WIDTHS:
            raise ConfigError(f"bit-width {b} is not supported; allowed: {', '.join(map(str, BIT_WIDTHS))}")
    return (8 // wbits) * (8 // abits)


# ----------------------------------------------------------------------------------------------
# Schema of the YAML format.  Each entry: field -> (checker, required, default, help).
# ----------------------------------------------------------------------------------------------


MAX_NUMBER = 1e12  # any number in a config: finite and at most this (1 THz, 1 PB of buffer, 10^12 GB/s)


def finite_number(v: Any) -> bool:
    """A real number (not a bool) that is finite and at most MAX_NUMBER in size."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return -MAX_NUMBER <= v <= MAX_NUMBER  # False for NaN; exact for ints of any size (no float overflow)


def positive_number(v: Any) -> bool:
    return finite_number(v) and v > 0


def in_range(lo: float, hi: float, integer: bool = False, unlimited: bool = False) -> Any:
    """A checker for a number in the physical range [lo, hi] (an integer if ``integer``; ``unlimited``: or the
    word 'unlimited'), so that no value a machine could not have reaches the simulator."""
    def check(v: Any) -> bool:
        if unlimited and v == UNLIMITED:
            return True
        if integer and not (isinstance(v, int) and not isinstance(v, bool)):
            return False
        return finite_number(v) and lo <= v <= hi
    return check


def span(lo: float, hi: float, unit: str, integer: bool = False, unlimited: bool = False) -> str:
    """The help text of an ``in_range`` field: 'a number from 0.001 to 1e+06 (GB/s) or 'unlimited''."""
    text = f"{'an integer' if integer else 'a number'} from {lo:g} to {hi:g}" + (f" ({unit})" if unit else "")
    return text + (f" or '{UNLIMITED}'" if unlimited else "")


def ranged(lo: float, hi: float, unit: str, integer: bool = False, unlimited: bool = False,
           required: bool = True, default: Any = None) -> tuple:
    """A schema entry (checker, required, default, help) for a number in [lo, hi]."""
    return in_range(lo, hi, integer, unlimited), required, default, span(lo, hi, unit, integer, unlimited)


def _bandwidth(v: Any) -> bool:
    return in_range(*RATE, unlimited=True)(v)


#: The physical ranges of the numbers in a config (what a chip could have, generously): any value outside
#: is refused with the range, so that hostile or mistyped values (1e-300 MHz, 2**63 rows) never reach the
#: simulator.  Rates below RATE[0] are refused because the cycle-stepped kernel's cost grows with 1 / rate.
CLOCK_MHZ = (1e-3, 1e5)  # 1 kHz to 100 GHz
ARRAY_DIM = (1, 65536)  # PEs per array side
BUFFER_KIB = (1 / 1024, 2.0 ** 30)  # 1 byte to 1 TiB
GB_PER_S = (1e-3, 1e6)  # 1 MB/s to 1 PB/s
RATE = (0.01, 1e6)  # bytes or outputs per cycle
WORDS_PER_CYCLE = (1, 10 ** 6)  # a SCALE-Sim .cfg's bandwidths
ENERGY = (0.0, 1e6)  # pJ per event, pJ/bit, mm2
VECTOR_OPS_RANGE = (0.0, 1e4)  # a vector unit's operations per element, pJ per operation


def bit_list(v: Any) -> bool:
    """A non-empty list of supported bit-widths (integers)."""
    return isinstance(v, list) and len(v) > 0 and all(
        isinstance(b, int) and not isinstance(b, bool) and b in BIT_WIDTHS for b in v)


COMMON_SCHEMA: dict[str, tuple[Any, bool, Any, str]] = {
    "name": (lambda v: isinstance(v, str) and v != "", True, None, "a non-empty string"),
    "description": (lambda v: isinstance(v, str), False, "", "a string"),
    "clock_mhz": ranged(*CLOCK_MHZ, "MHz"),
    "bits": (bit_list, True, None, "a non-empty list drawn from [2, 4, 8]"),
}

_BUFFER_NAMES = ("ifmap", "filter", "ofmap")

_SCHEMA: dict[str, tuple[Any, bool, Any, str]] = {
    **COMMON_SCHEMA,
    "kind": (lambda v: v == "systolic", False, "systolic", "'systolic'"),
    "dataflow": (lambda v: v in DATAFLOWS, True, None, "one of " + ", ".join(DATAFLOWS)),
    "dram_gb_per_s": ranged(*GB_PER_S, "GB/s", unlimited=True),
    "requant_outputs_per_cycle": ranged(*RATE, "outputs/cycle", unlimited=True),
    "scale_bits": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 32,
        False,
        16,
        "an integer from 0 (scales not modelled) to 32",
    ),
    "accumulator_bits": (lambda v: v in (16, 24, 32, 48, 64), False, 32, "one of 16, 24, 32, 48, 64"),
    "requant_latency_cycles": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000, False, 0,
                               "an integer from 0 to 1000 (cycles from an accumulator to its requantized output)"),
    "timing": (lambda v: v in TIMINGS, False, "hwsim", "one of " + ", ".join(TIMINGS)),
    "psum_bytes_per_cycle": (lambda v: _bandwidth(v) or v == PSUM_VIA_OFMAP, False, UNLIMITED,
                             f"{span(*RATE, 'bytes/cycle')}, '{UNLIMITED}' (one accumulator per column) or "
                             f"'{PSUM_VIA_OFMAP}' (partial sums share the ofmap write port)"),
    "fold_overlap": (lambda v: isinstance(v, bool), False, True,
                     "true or false (hwsim timing: neighbouring folds overlap their fill and drain)"),
    "energy": (lambda v: isinstance(v, dict), False, {}, "a mapping of energy/area figures (see EnergyTable)"),
    "vector": (lambda v: isinstance(v, dict), False, {}, "a mapping of the vector unit's figures (see VectorUnit)"),
}

_VECTOR_FIELDS = {f.name for f in dataclasses.fields(VectorUnit)}


def _vector_unit(raw: dict, source: str) -> VectorUnit:
    """The vector unit of a config: the defaults, overridden field by field."""
    args: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _VECTOR_FIELDS:
            raise fail(source, f"vector.{key}", value, "known fields are " + ", ".join(sorted(_VECTOR_FIELDS)))
        if key == "lanes":
            if not in_range(*ARRAY_DIM, integer=True)(value):
                raise fail(source, "vector.lanes", value, span(*ARRAY_DIM, "", integer=True))
            args[key] = int(value)
        elif not in_range(*VECTOR_OPS_RANGE)(value) or (key != "pj_per_op" and value == 0):
            raise fail(source, f"vector.{key}", value, span(*VECTOR_OPS_RANGE, "") + " (operations are more than 0)"
                       if key != "pj_per_op" else span(*VECTOR_OPS_RANGE, "pJ"))
        else:
            args[key] = float(value)
    return VectorUnit(**args)

_ENERGY_FIELDS = {f.name for f in dataclasses.fields(EnergyTable)}


def _bank_count(v: Any) -> bool:
    return v in BANK_RULES or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= ARRAY_DIM[1] ** 2)


def _energy_table(raw: dict, source: str) -> EnergyTable:
    """The energy table of a config: Bit Fusion's figures, overridden field by field."""
    from .memory_model import dram_types, sram_nodes

    args: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _ENERGY_FIELDS:
            raise fail(source, f"energy.{key}", value, "known fields are " + ", ".join(sorted(_ENERGY_FIELDS)))
        if key == "technology_nm":
            if value not in sram_nodes():
                raise fail(source, "energy.technology_nm", value,
                           "a node with a shipped SRAM table: " + ", ".join(map(str, sram_nodes())))
            args[key] = int(value)
        elif key == "dram":
            if value not in dram_types():
                raise fail(source, "energy.dram", value, "one of " + ", ".join(dram_types()))
            args[key] = value
        elif key == "sram_banks":
            if not isinstance(value, dict) or set(value) != set(_BUFFER_NAMES) or \
                    not all(_bank_count(value[b]) for b in _BUFFER_NAMES):
                raise fail(source, "energy.sram_banks", value, "a mapping of ifmap, filter, ofmap to a bank count "
                           f"(1 to {ARRAY_DIM[1] ** 2:,}) or one of {', '.join(BANK_RULES)}")
            args[key] = Banks(*(value[b] for b in _BUFFER_NAMES))
        elif key.startswith("sram_") and key.endswith("_bit"):
            if not isinstance(value, dict) or set(value) != set(_BUFFER_NAMES) or \
                    not all(in_range(*ENERGY)(value[b]) for b in _BUFFER_NAMES):
                raise fail(source, f"energy.{key}", value,
                           f"a mapping of ifmap, filter, ofmap to {span(*ENERGY, 'pJ/bit').removeprefix('a ')}s")
            args[key] = Buffers(*(float(value[b]) for b in _BUFFER_NAMES))
        else:
            if not in_range(*ENERGY)(value):
                raise fail(source, f"energy.{key}", value, span(*ENERGY, ""))
            args[key] = float(value)
    return EnergyTable(**args)

_NESTED: dict[str, tuple[tuple[str, ...], Any, str]] = {
    "array": (("rows", "cols"), in_range(*ARRAY_DIM, integer=True), span(*ARRAY_DIM, "", integer=True)),
    "sram_kib": (_BUFFER_NAMES, in_range(*BUFFER_KIB), span(*BUFFER_KIB, "KiB")),
    "sram_bytes_per_cycle": (_BUFFER_NAMES, _bandwidth, span(*RATE, "bytes/cycle", unlimited=True)),
}


def fail(source: str, field: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{source}: field '{field}': got {value!r}; allowed: {allowed}")


def validated(raw: dict, source: str, schema: dict, nested: dict | None = None) -> dict[str, Any]:
    """Check ``raw`` against a schema (flat fields and one-level nested groups); fill defaults."""
    allowed_keys = list(schema) + list(nested or {})
    for key in raw:
        if key not in allowed_keys:
            raise fail(source, str(key), raw[key], "known fields are " + ", ".join(allowed_keys))
    out: dict[str, Any] = {}
    for key, (check, required, default, help_text) in schema.items():
        if key not in raw:
            if required:
                raise ConfigError(f"{source}: field '{key}' is missing; it must be {help_text}")
            out[key] = default
            continue
        if not check(raw[key]):
            raise fail(source, key, raw[key], help_text)
        out[key] = raw[key]
    for key, (subkeys, check, help_text) in (nested or {}).items():
        if key not in raw:
            raise ConfigError(f"{source}: field '{key}' is missing; it must map {', '.join(subkeys)} to {help_text}")
        sub = raw[key]
        if not isinstance(sub, dict):
            raise fail(source, key, sub, f"a mapping of {', '.join(subkeys)} to {help_text}")
        for sk in sub:
            if sk not in subkeys:
                raise fail(source, f"{key}.{sk}", sub[sk], f"known fields are {', '.join(subkeys)}")
        for sk in subkeys:
            if sk not in sub:
                raise ConfigError(f"{source}: field '{key}.{sk}' is missing; it must be {help_text}")
            if not check(sub[sk]):
                raise fail(source, f"{key}.{sk}", sub[sk], help_text)
        out[key] = sub
    return out


def num_or_none(v: Any) -> float | None:
    return None if v == UNLIMITED else float(v)


def config_from_dict(raw: Any, source: str = "<dict>") -> "HardwareConfig":
    """Validate a parsed YAML mapping and build the config of its ``kind``; raises ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level, got {type(raw).__name__}")
    kind = raw.get("kind", "systolic")
    if kind == "arm":
        return arm_config_from_dict(raw, source)
    if kind != "systolic":
        raise fail(source, "kind", kind, "systolic, arm")
    v = validated(raw, source, _SCHEMA, _NESTED)
    return SystolicConfig(
        name=v["name"],
        rows=v["array"]["rows"],
        cols=v["array"]["cols"],
        dataflow=v["dataflow"],
        clock_mhz=float(v["clock_mhz"]),
        bits=tuple(sorted(set(v["bits"]))),
        sram_kib=Buffers(*(float(v["sram_kib"][b]) for b in _BUFFER_NAMES)),
        sram_bytes_per_cycle=Buffers(*(num_or_none(v["sram_bytes_per_cycle"][b]) for b in _BUFFER_NAMES)),
        dram_gb_per_s=num_or_none(v["dram_gb_per_s"]),
        requant_outputs_per_cycle=num_or_none(v["requant_outputs_per_cycle"]),
        scale_bits=v["scale_bits"],
        accumulator_bits=v["accumulator_bits"],
        requant_latency_cycles=v["requant_latency_cycles"],
        timing=v["timing"],
        psum_bytes_per_cycle=None if v["psum_bytes_per_cycle"] == PSUM_VIA_OFMAP else num_or_none(v["psum_bytes_per_cycle"]),
        psum_via_ofmap=v["psum_bytes_per_cycle"] == PSUM_VIA_OFMAP,
        fold_overlap=v["fold_overlap"],
        energy=_energy_table(v["energy"], source),
        vector=_vector_unit(v["vector"], source),
        description=v["description"],
        source=source,
    )


# ----------------------------------------------------------------------------------------------
# ARM CPU targets (kind: arm): the data hwsim.arm's model reads.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArmConfig:
    """A multi-core Cortex-A53 board running int8 / low-bit GEMM kernels (see hwsim/arm.py).

    ``threads`` is how many cores a run uses (1..cores; default all).  ``fitted`` names the constants
    ``hwsim calibrate`` fits by default; ``calibration`` says what they were fitted to.
    """

    name: str
    cores: int
    clock_mhz: float
    bits: tuple[int, ...]
    neon_q_ops_per_cycle: float
    load_cycles_per_vector: float
    loop_cycles_per_block: float
    tile_int16: tuple[int, int]
    tile_int8: tuple[int, int]
    l1d_kib: float
    l2_kib: float
    dram_gb_per_s: float
    core_gb_per_s: float
    memory_overlap: float
    fork_join_us: float
    pack_cycles_per_byte: float
    requant_cycles_per_output: float
    layer_overhead_us: float
    winograd_tile: int = 0
    winograd_transform_cycles: float = 1.0
    winograd_always: bool = False
    int32_outputs: bool = False
    residual_bytes_per_output: float = 0.0
    threads: int = 0  # 0: all cores (set on load)
    fitted: tuple[str, ...] = ()
    calibration: str = ""
    description: str = ""
    source: str = ""
    kind: str = "arm"

    def content_hash(self) -> str:
        """A stable hash of the numbers (not name/description/source)."""
        return content_hash(self)

    # ---- the Target protocol (hwsim.targets.Target; simulation dispatches on the config's type there) -------

    def on_chip_bits(self) -> float:
        """0: tensors go through the memory hierarchy between layers."""
        return 0.0

    def area_mm2(self) -> None:
        """None: the board has no area model."""
        return None

    @property
    def run_label(self) -> str:
        """How it runs, for reports: the thread count."""
        return f"{self.threads} threads"

    def bytes_per_cycle(self, threads: int | None = None) -> float:
        """DRAM bytes per core cycle that ``threads`` cores can stream (shared bus, per-core limit)."""
        t = self.threads if threads is None else threads
        return min(t * self.core_gb_per_s, self.dram_gb_per_s) * 1e9 / (self.clock_mhz * 1e6)

    def with_threads(self, threads: int) -> "ArmConfig":
        """The same board running on ``threads`` cores (1..cores)."""
        if not (isinstance(threads, int) and 1 <= threads <= self.cores):
            raise ConfigError(f"threads {threads}: {self.name} has {self.cores} cores; allowed: 1 to {self.cores}")
        return dataclasses.replace(self, threads=threads)

    def with_clock(self, clock_mhz: float) -> "ArmConfig":
        """The same board at another core clock (MHz, positive)."""
        if not in_range(*CLOCK_MHZ)(clock_mhz):
            raise ConfigError(f"clock {clock_mhz!r} MHz: allowed: {span(*CLOCK_MHZ, 'MHz')}")
        return dataclasses.replace(self, clock_mhz=float(clock_mhz))



#: What :func:`load_config` returns: a SystolicConfig, or an ArmConfig for ``kind: arm``; both implement
#: :class:`hwsim.targets.Target`.
HardwareConfig = Union[SystolicConfig, ArmConfig]

def _tile(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(in_range(1, 32, integer=True)(x) for x in v)


def sweepable_fields(kind: str) -> list[str]:
    """The config fields a sweep may vary for a ``kind`` of config, as YAML paths (``array.rows``, ``dram_gb_per_s``)."""
    fixed = {"name", "description", "kind", "bits", "energy", "vector", "fitted", "calibration"}
    if kind == "arm":
        return [k for k in _ARM_SCHEMA if k not in fixed]
    flat = [k for k in _SCHEMA if k not in fixed]
    nested = [f"{outer}.{inner}" for outer, (inner_keys, _, _) in _NESTED.items() for inner in inner_keys]
    return nested + flat


def with_run_options(hw: "HardwareConfig", threads: int | None = None, clock_mhz: float | None = None,
                     strict: bool = True) -> "HardwareConfig":
    """An ARM config on ``threads`` cores at ``clock_mhz`` (None keeps the config's).

    An override that changes the config also changes its name (``cortex_a53_rpi3b_2t_1000mhz``), so
    reports and tables keep runs apart.  A systolic config is returned unchanged when ``strict`` is false,
    refused when it is true.
    """
    if threads is None and clock_mhz is None:
        return hw
    if hw.kind != "arm":
        if strict:
            raise ConfigError(f"--threads and --clock-mhz apply to ARM targets; {hw.name} is of kind {hw.kind!r}")
        return hw
    name = hw.name
    if threads is not None and threads != hw.threads:
        hw, name = hw.with_threads(threads), f"{name}_{threads}t"
    elif threads is not None:
        hw = hw.with_threads(threads)  # validated all the same
    if clock_mhz is not None and float(clock_mhz) != hw.clock_mhz:
        hw, name = hw.with_clock(clock_mhz), f"{name}_{clock_mhz:g}mhz"
    return dataclasses.replace(hw, name=name)


#: The constants of the ARM model that ``hwsim calibrate`` may fit, with their physical ranges.
ARM_FIT_BOUNDS: dict[str, tuple[float, float]] = {
    "dram_gb_per_s": (0.2, 25.6),
    "core_gb_per_s": (0.1, 25.6),
    "memory_overlap": (0.0, 1.0),
    "fork_join_us": (0.0, 200.0),
    "residual_bytes_per_output": (0.0, 64.0),
    "winograd_transform_cycles": (0.05, 50.0),
    "layer_overhead_us": (0.0, 2000.0),
    "load_cycles_per_vector": (1.0, 8.0),
    "pack_cycles_per_byte": (0.0, 4.0),
    "requant_cycles_per_output": (0.0, 16.0),
}

_ARM_SCHEMA = {
    **COMMON_SCHEMA,
    "kind": (lambda v: v == "arm", True, None, "'arm'"),
    "cores": ranged(1, 1024, "", integer=True),
    "threads": ranged(1, 1024, "at most cores; default: all cores", integer=True, required=False),
    "neon_q_ops_per_cycle": ranged(0.01, 64, "128-bit operations per cycle"),
    "load_cycles_per_vector": ranged(0.01, 1000, "cycles per 16-byte load"),
    "loop_cycles_per_block": ranged(0, 1e6, "cycles"),
    "tile_int16": (_tile, True, None, "[mr, nr], two integers from 1 to 32"),
    "tile_int8": (_tile, True, None, "[mr, nr], two integers from 1 to 32"),
    "l1d_kib": ranged(*BUFFER_KIB, "KiB"),
    "l2_kib": ranged(*BUFFER_KIB, "KiB"),
    "dram_gb_per_s": ranged(*GB_PER_S, "GB/s, all cores together"),
    "core_gb_per_s": ranged(*GB_PER_S, "GB/s one core can stream"),
    "memory_overlap": ranged(0, 1, "share of the shorter of compute and memory time hidden"),
    "fork_join_us": ranged(0, 1e9, "microseconds per layer on more than one thread"),
    "pack_cycles_per_byte": ranged(0, 1e6, "cycles"),
    "requant_cycles_per_output": ranged(0, 1e6, "cycles"),
    "layer_overhead_us": ranged(0, 1e9, "microseconds"),
    "winograd_tile": (lambda v: v in (0, 2, 4), False, 0,
                      "0 (no Winograd), 2 or 4 (F(2,3) / F(4,3) for 3x3 stride-1 convolutions)"),
    "winograd_always": (lambda v: isinstance(v, bool), False, False,
                        "true (int8 3x3 stride-1 layers always run as Winograd, as ncnn does) or false (when "
                        "faster)"),
    "int32_outputs": (lambda v: isinstance(v, bool), False, False,
                      "true (int32 accumulators are written out and requantized in a second pass, as ncnn does) "
                      "or false (requantized in the kernel)"),
    "winograd_transform_cycles": ranged(0.01, 1e6, "cycles per transformed element", required=False, default=1.0),
    "residual_bytes_per_output": ranged(0, 1e6, "DRAM bytes per output of a layer feeding a residual add: the "
                                                "float path", required=False, default=0.0),
    "fitted": (lambda v: isinstance(v, list) and all(isinstance(x, str) and x in ARM_FIT_BOUNDS for x in v), False, [],
               "a list drawn from " + ", ".join(ARM_FIT_BOUNDS)),
    "calibration": (lambda v: isinstance(v, str), False, "", "a string"),
}


def arm_config_from_dict(raw: dict, source: str) -> ArmConfig:
    """Validate a ``kind: arm`` mapping and build the config; raises ConfigError."""
    if "thread_efficiency" in raw:
        raise fail(source, "thread_efficiency", raw["thread_efficiency"],
                   "nothing: thread scaling now follows from core_gb_per_s, dram_gb_per_s and fork_join_us "
                   "(see the shipped cortex_a53_*.yaml configs)")
    v = validated(raw, source, _ARM_SCHEMA)
    for tile in ("tile_int16", "tile_int8"):
        regs = _registers(tile, *v[tile])
        if regs > 32:
            raise fail(source, tile, v[tile], f"a tile needing at most 32 NEON registers (this one needs {regs})")
    threads = v["threads"] if v["threads"] is not None else v["cores"]
    if threads > v["cores"]:
        raise fail(source, "threads", threads, f"1 to cores ({v['cores']})")
    fields = {f.name for f in dataclasses.fields(ArmConfig)}
    args = {k: (tuple(x) if isinstance(x, list) else x) for k, x in v.items() if k in fields}
    args["bits"] = tuple(sorted(set(v["bits"])))
    args["threads"] = threads
    return ArmConfig(**args, source=source)


def _registers(tile: str, mr: int, nr: int) -> int:
    """NEON registers a micro-tile needs: operands plus accumulators (int8 path: an int8 and an int16 one)."""
    return mr + nr + mr * nr * (2 if tile == "tile_int8" else 1)


# ----------------------------------------------------------------------------------------------
# SCALE-Sim .cfg (INI).  Keys are case-insensitive there, as in configparser.
# ----------------------------------------------------------------------------------------------

#: SCALE-Sim has no clock; cycles are what it reports, so any clock only scales latency_ms.
SCALESIM_DEFAULT_CLOCK_MHZ = 1000.0


def _cfg_get(cp: configparser.ConfigParser, source: str, section: str, key: str) -> str:
    if not cp.has_section(section):
        raise ConfigError(f"{source}: section [{section}] is missing; a SCALE-Sim config needs it")
    if not cp.has_option(section, key):
        raise ConfigError(f"{source}: field '{section}.{key}' is missing")
    return cp.get(section, key).strip()


def _cfg_number(cp, source: str, section: str, key: str, bounds: tuple, unit: str, integer: bool = False,
                text: str | None = None):
    """A number of a SCALE-Sim .cfg in its physical range (the same ranges as the YAML format's)."""
    text = _cfg_get(cp, source, section, key) if text is None else text
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = None
    if value is None or not in_range(*bounds, integer)(value):
        raise fail(source, f"{section}.{key}", text, span(*bounds, unit, integer))
    return value


def _cfg_words_per_cycle(cp, source: str, section: str, key: str, text: str | None = None) -> int:
    """A whole number of words per cycle (SCALE-Sim's bandwidths)."""
    return _cfg_number(cp, source, section, key, WORDS_PER_CYCLE, "words per cycle", True, text)


def _cfg_refuse_on(cp, source: str, section: str, key: str, why: str) -> None:
    """An error if a SCALE-Sim boolean key is switched on (a feature hwsim does not model)."""
    if cp.has_option(section, key) and cp.get(section, key).strip().lower() in ("true", "1", "yes", "on"):
        raise fail(source, f"{section}.{key}", cp.get(section, key).strip(), f"False ({why})")


def _cfg_user_bandwidths(cp, source: str, arch: str) -> tuple[int, int, int]:
    """SCALE-Sim's USER-mode rates (words/cycle): IFMAP and FILTER fills from ``[layout]``, OFMAP drain
    from the first ``Bandwidth`` value, as SCALE-Sim 3.0.0 reads them."""
    drain = _cfg_words_per_cycle(cp, source, arch, "Bandwidth", _cfg_get(cp, source, arch, "Bandwidth").split(",")[0].strip())
    fills = []
    for op in ("Ifmap", "Filter"):
        _cfg_refuse_on(cp, source, "layout", f"{op}CustomLayout", "custom SRAM layouts are not modelled")
        # SCALE-Sim requires these keys; its built-in value, 10, stands in when the section is absent
        fills.append(_cfg_words_per_cycle(cp, source, "layout", f"{op}SRAMBankBandwidth")
                     if cp.has_option("layout", f"{op}SRAMBankBandwidth") else 10)
    _cfg_refuse_on(cp, source, "run_presets", "UseRamulatorTrace", "Ramulator DRAM traces are not modelled")
    return fills[0], fills[1], drain


def config_from_scalesim_cfg(path: Path, text: str | None = None) -> SystolicConfig:
    """Read a SCALE-Sim v3 ``.cfg``: array, SRAM sizes, dataflow, and bandwidth mode.

    SCALE-Sim has one fixed precision (1-byte words), so the array supports only 8 bits.
    ``InterfaceBandwidth = CALC`` means unlimited DRAM bandwidth.  ``USER`` reads SCALE-Sim's three
    rates (``[layout] IfmapSRAMBankBandwidth`` and ``FilterSRAMBankBandwidth`` fill the input buffers,
    the first ``Bandwidth`` value drains the output buffer; words = bytes per cycle): ``timing:
    scalesim`` replays SCALE-Sim's buffers with them, ``timing: hwsim`` takes the drain rate as the
    DRAM bandwidth.  On-chip bandwidth and requantization are not modelled by SCALE-Sim, so they are
    unlimited here.
    """
    source = str(path)
    cp = configparser.ConfigParser(interpolation=None)
    text = _read(path) if text is None else text
    try:
        cp.read_string(text, source)
    except configparser.Error as exc:
        raise ConfigError(f"{source}: not a valid SCALE-Sim config: {exc}".splitlines()[0]) from None
    arch = "architecture_presets"
    rows = _cfg_number(cp, source, arch, "ArrayHeight", ARRAY_DIM, "", integer=True)
    cols = _cfg_number(cp, source, arch, "ArrayWidth", ARRAY_DIM, "", integer=True)
    sram = Buffers(*(_cfg_number(cp, source, arch, k, BUFFER_KIB, "KiB")
                     for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")))
    if cp.has_option(arch, "Bandwidth"):  # read in USER mode only, but SCALE-Sim parses it always: checked always
        for part in cp.get(arch, "Bandwidth").split(","):
            _cfg_words_per_cycle(cp, source, arch, "Bandwidth", part.strip())
    dataflow = _cfg_get(cp, source, arch, "Dataflow").lower()
    if dataflow not in DATAFLOWS:
        raise fail(source, f"{arch}.Dataflow", dataflow, ", ".join(DATAFLOWS))
    mode = "CALC"
    if cp.has_section("run_presets") and cp.has_option("run_presets", "InterfaceBandwidth"):
        mode = cp.get("run_presets", "InterfaceBandwidth").strip().upper()
    if mode not in ("CALC", "USER"):
        raise fail(source, "run_presets.InterfaceBandwidth", mode, "CALC, USER")
    dram, user_bw = None, None
    if mode == "USER":
        user_bw = _cfg_user_bandwidths(cp, source, arch)
        dram = user_bw[2] * SCALESIM_DEFAULT_CLOCK_MHZ * 1e6 / 1e9
    name = Path(path).stem
    if cp.has_section("general") and cp.has_option("general", "run_name"):
        name = cp.get("general", "run_name").strip() or name
    return SystolicConfig(
        name=name,
        rows=rows,
        cols=cols,
        dataflow=dataflow,
        clock_mhz=SCALESIM_DEFAULT_CLOCK_MHZ,
        bits=(8,),
        sram_kib=sram,
        sram_bytes_per_cycle=Buffers(None, None, None),
        dram_gb_per_s=dram,
        requant_outputs_per_cycle=None,
        scale_bits=0,
        accumulator_bits=32,
        timing="scalesim",
        scalesim_user_bw=user_bw,
        description=f"SCALE-Sim config ({mode} bandwidth mode)",
        source=source,
    )


def _read(path: Path) -> str:
    try:
        return read_text(path, "hardware config file", max_bytes=2 ** 20)
    except HwsimError as exc:
        raise ConfigError(str(exc)) from None


def load_config(path: str | Path) -> "HardwareConfig":
    """Load a hardware description from ``.yaml``/``.yml`` (ours) or ``.cfg`` (SCALE-Sim), or a shipped one by
    name (``bitfusion_16x32``; see :mod:`hwsim.shipped`)."""
    from .shipped import config_names, config_path

    p = config_path(path)
    suffix = p.suffix.lower()
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give a hardware config file (.yaml, .yml or SCALE-Sim .cfg)")
    if not p.exists() and len(p.parts) == 1:
        raise ConfigError(f"{p}: hardware config file not found; allowed: a path, or a shipped config: "
                          f"{', '.join(config_names())}")
    if suffix not in (".yaml", ".yml", ".cfg"):
        if not p.exists():
            raise ConfigError(f"{p}: hardware config file not found")
        raise ConfigError(f"{p}: unknown config format {suffix!r}; allowed: .yaml, .yml (hwsim) or .cfg (SCALE-Sim)")
    text = _read(p)
    if suffix == ".cfg":
        return config_from_scalesim_cfg(p, text)
    from .yaml_input import load_yaml

    try:
        raw = load_yaml(text, str(p))
    except HwsimError as exc:
        raise ConfigError(str(exc)) from None
    return config_from_dict(raw, str(p))
