"""Simulate one layer on a systolic config: the Python face of the numba kernel."""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..config import SystolicConfig
from ..energy import layer_energy
from ..errors import HwsimError
from ..layers import Layer
from ..precision import check_bits
from ..resources import MAX_FOLD_STEPS, MAX_FOLDS, available_memory_bytes, check_systolic_size
from ..precision import label
from ..results import LayerResult, Schedule
from . import kernel as K
from . import schedule_search as S
from ._numba_cache import first_compile
from .bounds import ports_of
from .dram import Traffic, build_tiles, fold_traffic, plan_traffic
from .mapping import DATAFLOW_CODES, Mapping, map_layer
from .scalesim_user import user_mode_cycles
from .vector import simulate_vector


MAX_UNITS_PER_BIT = 2 ** 20  # the finest unit the kernel counts on-chip bits in is 1/2**20 bit


def _rational(rate: float) -> Fraction | None:
    """``rate`` as a fraction with a denominator of at most :data:`MAX_UNITS_PER_BIT` when it is one to 1e-12
    relative (0.1 -> 1/10, 0.3333333333333333 -> 1/3), else None (0.123456789)."""
    exact = Fraction(rate)
    q = exact.limit_denominator(MAX_UNITS_PER_BIT)
    return q if abs(q - exact) <= abs(exact) * Fraction(1, 10 ** 12) else None


def _bits_per_cycle(rate: float | None, bits: int) -> Fraction | float:
    """``rate`` things per cycle of ``bits`` bits each, in bits per cycle: exact when the rate is a simple fraction
    (:func:`_rational`), else a float (``inf``: unlimited)."""
    if rate is None:
        return math.inf
    q = _rational(float(rate))
    return bits * q if q is not None else bits * float(rate)


def _onchip_rates(sram: tuple, psum_via_ofmap: bool, psum: float | None, requant: float | None,
                  out_bits: int) -> list[Fraction | float]:
    """Bits per cycle of the ifmap, filter and ofmap ports (``sram`` bytes per cycle), the accumulators' port (-1:
    partial sums use the ofmap write port) and the requantizer, exact where they are simple fractions."""
    rates = [_bits_per_cycle(b, 8) for b in sram]
    rates.append(-1.0 if psum_via_ofmap else _bits_per_cycle(psum, 8))
    rates.append(_bits_per_cycle(requant, out_bits))
    return rates


def units_per_bit(rates: list[Fraction | float]) -> int:
    """The smallest D that makes every exact rate a whole number of 1/D bits per cycle (1 when that exceeds
    :data:`MAX_UNITS_PER_BIT`: the kernel then counts in bits, as floats).  A power of two when every rate is a
    binary fraction, so scaling by it changes no float result."""
    d = 1
    for r in rates:
        if isinstance(r, Fraction):
            d = math.lcm(d, r.denominator)
    return d if d <= MAX_UNITS_PER_BIT else 1


def _in_units(rate: Fraction | float, d: int) -> float:
    """A rate in bits per cycle as 1/``d`` bits per cycle: exact for a fraction; ``inf`` and -1 stay."""
    if isinstance(rate, Fraction):
        return float(rate * d)
    return rate if rate < 0 or math.isinf(rate) else rate * d


@functools.lru_cache(maxsize=1024)
def _onchip_units(*config_rates) -> tuple[tuple[float, ...], int]:
    """(the rates of :func:`_onchip_rates` in units of 1/D bit per cycle, D (:func:`units_per_bit`)), made once per
    config's rates and output width (the search asks for them per candidate)."""
    rates = _onchip_rates(*config_rates)
    d = units_per_bit(rates)
    return tuple(float(_in_units(r, d)) for r in rates), d


def _onchip_ports(hw: SystolicConfig, out_bits: int) -> tuple[tuple[float, ...], int]:
    """:func:`_onchip_units` of ``hw`` at ``out_bits``-bit outputs."""
    return _onchip_units(tuple(hw.sram_bytes_per_cycle), bool(hw.psum_via_ofmap), hw.psum_bytes_per_cycle,
                         hw.requant_outputs_per_cycle, int(out_bits))


def _real_ifmap_bits(layer: Layer, abits: int) -> int:
    """Input bits of one group: its distinct activations (no im2col duplication), at ``abits``."""
    return min(layer.gemm_m * layer.gemm_k, layer.ifmap_elements // layer.groups) * abits


def layer_tiles(layer: Layer, m: Mapping, wbits: int, abits: int, out_bits: int, hw: SystolicConfig,
                ifmap_on_chip: bool = False, weights_on_chip: bool = False, ifmap_bits: int | None = None):
    """[(tiles of a group batch, how many such batches)] of ``layer`` mapped as ``m``, in run order.

    ``out_bits`` = 0 for an output that stays on chip; ``ifmap_on_chip`` / ``weights_on_chip``: the
    input / the weights need no DRAM read; ``ifmap_bits`` overrides the real input bits per group.
    """
    ifmap_g = 0 if ifmap_on_chip else _real_ifmap_bits(layer, abits) if ifmap_bits is None else ifmap_bits
    args = dict(df=m.dataflow, m=layer.gemm_m, k=layer.gemm_k, n=layer.gemm_n, k_eff=math.ceil(layer.gemm_k / m.fusion),
                rows=m.rows, cols=m.cols, pf=m.fusion, wbits=0 if weights_on_chip else wbits, abits=abits,
                out_bits=out_bits, acc_bits=hw.accumulator_bits, scale_bits=0 if weights_on_chip else hw.scale_bits,
                ifmap_bits=ifmap_g)
    if m.groups_per_fold > 1:  # packed: each fold holds a batch of groups side by side
        full, last = divmod(m.groups, m.groups_per_fold)
        return [(build_tiles(g=m.groups_per_fold, packed=True, **args), full)] + \
            ([(build_tiles(g=last, packed=True, **args), 1)] if last else [])
    return [(build_tiles(g=1, packed=False, **args), m.groups)]


def simulate_layer(layer: Layer, hw: SystolicConfig, wbits: int = 8, abits: int = 8,
                   dataflow: str | None = None, reuse_folds: bool = True, out_bits: int | None = None,
                   ifmap_on_chip: bool = False, ofmap_on_chip: bool = False, search: bool = True) -> LayerResult:
    """Cycle-accurate result of one layer at ``wbits`` x ``abits`` (cycles, bytes, ms).

    Timing ``scalesim``: SCALE-Sim's schedule and accounting (the loop order that moves the fewest
    bytes, no fold overlap).  Timing ``hwsim``: the best schedule the hardware can run, found by
    simulated cycles (see :func:`best_schedule`).  ``out_bits``: precision the requantizer writes
    outputs at (default ``abits``).  ``ifmap_on_chip`` / ``ofmap_on_chip``: the input is already
    on chip / the output stays there (no DRAM traffic for them: whole-network mode).
    ``reuse_folds=False`` steps every fold even when an identical one was already stepped (same
    numbers, slower; for benchmarks and checks).  ``search=False`` runs SCALE-Sim's schedule under
    the config's timing (for checks of the kernel itself).
    """
    check_bits(hw, wbits, abits, f"layer {layer.name}: ")
    out_bits = abits if out_bits is None else out_bits
    if layer.kind == "vector":  # softmax, norms, activations, adds: the vector unit, not the array
        return simulate_vector(layer, hw, wbits, abits, out_bits, ifmap_on_chip, ofmap_on_chip)
    if layer.kind == "matmul" and hw.scale_bits:  # an activation operand: one scale per tensor, none per column
        hw = dataclasses.replace(hw, scale_bits=0)
    if hw.timing == "scalesim" or not search:
        m = map_layer(layer, hw, wbits, abits, dataflow)
        check_systolic_size(layer.name, m.folds, m.fold_cycles(), f"{hw.rows}x{hw.cols}", m.row_folds + m.col_folds)
        batches = layer_tiles(layer, m, wbits, abits, 0 if ofmap_on_chip else out_bits, hw, ifmap_on_chip)
        plan = plan_traffic(batches, _half(hw))
        traffic = fold_traffic(batches, plan)
        if hw.timing == "scalesim" and hw.scalesim_user_bw is not None:
            return _scalesim_user(layer, hw, m, traffic, plan, wbits, abits, out_bits, dataflow, reuse_folds)
        overlap = hw.fold_overlap and hw.timing != "scalesim"
        return _run(layer, hw, m, traffic, plan, wbits, abits, wbits, abits, out_bits, dataflow, overlap,
                    reuse_folds)
    anon = dataclasses.replace(layer, name="", consumers=())  # layers of the same shape share one search
    try:
        r = _best_schedule_memo(anon, hw, wbits, abits, out_bits, dataflow, reuse_folds, ifmap_on_chip,
                                ofmap_on_chip)
    except HwsimError as exc:  # a refusal names the layer the user gave, not the shared anonymous shape
        raise HwsimError(str(exc).replace("layer : ", f"layer {layer.name}: ", 1)) from None
    return dataclasses.replace(r, name=layer.name)


@functools.lru_cache(maxsize=4096)
def _best_schedule_memo(*args) -> LayerResult:
    return best_schedule(*args)


def clear_schedule_cache() -> None:
    """Forget the schedules found so far in this process (benchmarks time the search itself)."""
    _best_schedule_memo.cache_clear()


def best_schedule(layer: Layer, hw: SystolicConfig, wbits: int, abits: int, out_bits: int, dataflow: str | None,
                  reuse_folds: bool = True, ifmap_on_chip: bool = False, ofmap_on_chip: bool = False,
                  floors: bool = True) -> LayerResult:
    """The fewest cycles over every schedule the hardware can run.

    Ties in cycles go to fewer DRAM bytes among the candidates the search visits; a (mode, sub-array) pair
    whose bound equals the best cycles so far is not visited, so an equally fast schedule with fewer bytes
    there is not considered (frozen so by the golden set; tie-breaking across pairs would move its bytes).

    The candidates, a set that only grows when a buffer, a bandwidth or the array grows, or a
    bit-width drops (so more hardware, or fewer bits, is never slower):

    * every precision mode at least as wide as the data (a Bit Fusion unit runs 2-bit operands in
      its 4- or 8-bit mode too);
    * sub-arrays ``r x c`` of the array (:func:`~hwsim.systolic.schedule_search.rank_pairs`: per dimension the
      smallest size giving
      each fold count, and for grouped layers the smallest block holding each number of groups; the
      other PEs idle: shorter fill and drain, fewer operands per cycle, which wins when a layer is
      small or bandwidth-bound);
    * the streamed dimension (WS: output pixels, IS: output channels) cut into 1, 2, 4, ... chunks
      run one after another, so that partial sums fit the ofmap buffer; the stationary operand of
      later chunks (WS weights, IS inputs) stays on chip when it all fits half its buffer;
    * both fold loop orders with blocks of 1, 2, 4, ... inner folds (``dram.plans(family="all")``).

    Each candidate is simulated by the cycle kernel, with neighbouring folds overlapping their fill
    and drain when ``hw.fold_overlap``.  The (mode, sub-array) pairs are visited in order of their
    lower bound (:func:`~hwsim.systolic.schedule_search.rank_pairs`: the mapping's bound or its compulsory DRAM
    traffic; no chunking or plan of that pair can beat it), and the search stops at the first pair whose bound
    cannot beat the best so far; within a pair, plans whose DRAM bytes over the bandwidth cannot beat it are
    skipped.  A pair is also skipped when no plan's DRAM bytes, or its DRAM channel's work (every fold's fold
    operand and finished outputs, each a whole number of cycles), or its folds at their floors
    (:func:`hwsim.systolic.kernel.fold_floors`: the first fold stepped, the requantizer's queue drained at the
    end) can beat the best so far, and a plan when its folds at their floors through its DRAM pipeline
    (:func:`hwsim.systolic.kernel.plan_floor`) cannot: these skip only what could not be kept, so the same
    schedule is found (``tests/test_rate_independence.py``).

    The search runs compiled (:func:`hwsim.systolic.schedule_search.search`) and answers which candidate won;
    only that schedule's full result is built here.  ``floors=False`` skips nothing by its floors (slower; the
    check that they change nothing).
    """
    df = dataflow or hw.dataflow
    modes = [(w, a) for w in hw.bits for a in hw.bits if w >= wbits and a >= abits]
    stream = {"os": 1, "ws": layer.gemm_m, "is": layer.gemm_n}[df]
    chunkings = [n for n in (2 ** e for e in range(max(stream, 1).bit_length())) if n <= stream and
                 (n == 1 or math.ceil(stream / n) < math.ceil(stream / (n // 2)))]
    ifmap_elems = _real_ifmap_bits(layer, 1)
    layer_args = (DATAFLOW_CODES[df], layer.gemm_m, layer.gemm_k, layer.gemm_n, layer.groups, ifmap_elems, int(out_bits),
                  bool(ofmap_on_chip), bool(ifmap_on_chip))
    config = _search_config(hw, out_bits, reuse_folds, FAST_LIMITS, floors)
    with first_compile("search"):  # about 100 s cold: one process compiles, others load its result
        pair_w, pair_a, pair_rows, pair_cols, pair_bound = S.rank_pairs(
            config, *layer_args, int(hw.rows), int(hw.cols), np.array(modes, dtype=np.int64).reshape(-1, 2))
        args = (*layer_args, pair_w, pair_a, pair_rows, pair_cols, pair_bound, np.array(chunkings, dtype=np.int64))
        err = np.zeros(9, dtype=np.int64)
        found = S.search(config, *args, err)
    if err[0]:  # a candidate beyond the quick size limits: refused if it exceeds the real ones, else searched again
        check_systolic_size(layer.name, int(err[1]), int(err[2]), f"{hw.rows}x{hw.cols}", int(err[3]))
        limits = (MAX_FOLDS, max(FAST_LIMITS[1], available_memory_bytes() // 2), MAX_FOLD_STEPS)
        err[:4] = 0
        found = S.search(_search_config(hw, out_bits, reuse_folds, limits, floors), *args, err)
        if err[0]:
            check_systolic_size(layer.name, int(err[1]), int(err[2]), f"{hw.rows}x{hw.cols}", int(err[3]))
            raise AssertionError("the compiled search refused a size the size check allows")  # never
    _, _, _, i, n, kinds, parts, infos = found
    SEARCH_WORK[0] += 1
    SEARCH_WORK[1] += len(pair_w)
    SEARCH_WORK[2:] += err[4:]
    w, a, shape = int(pair_w[i]), int(pair_a[i]), (int(pair_rows[i]), int(pair_cols[i]))
    if n == 1:
        return _found(layer, hw, shape, wbits, abits, w, a, df, parts[0], infos[0])
    g, k = layer.groups, layer.gemm_k
    built = []
    for part, info in zip(parts[:kinds], infos[:kinds]):
        s, count = int(part[0]), int(part[2])
        if df == "ws":  # a chunk of output pixels: its share of the input, all the weights
            sub = Layer(layer.name, "gemm", 1, 1, k * g, s, 1, layer.gemm_n * g, 1, 1, 1, g)
        else:  # a chunk of output channels: all the input, its share of the weights
            sub = Layer(layer.name, "gemm", 1, 1, k * g, layer.gemm_m, 1, s * g, 1, 1, 1, g)
        built.append((_found(sub, hw, shape, wbits, abits, w, a, df, part, info), count))
    return _compose(layer, hw, built, wbits, abits, n)


class _Totals(NamedTuple):
    """A schedule's DRAM traffic in bits, as the search hands it back."""

    read_bits: float
    write_bits: float
    ifmap_bits: float
    filter_bits: float
    psum_bits: float


class _Loop(NamedTuple):
    """A schedule's fold loop order and block, as the search hands them back."""

    rows_outer: bool
    block: int


def _found(layer: Layer, hw: SystolicConfig, shape: tuple[int, int], wbits: int, abits: int, w: int, a: int, df: str,
           part: np.ndarray, info: np.ndarray) -> LayerResult:
    """The full result of a schedule the compiled search chose: ``layer`` in mode (w, a) on the ``shape`` sub-array,
    its loop (``part``: a row of the search's chunk kinds) and its kernel result and traffic (``info``)."""
    values = info.tolist()
    nk = len(K.KernelResult._fields)
    raw = K.KernelResult(*values[:nk - 1], int(values[nk - 1]))
    return _result(layer, hw, map_layer(layer, hw, w, a, df, shape), raw, _Totals(*values[nk:]), wbits, abits, w, a,
                   df, _Loop(bool(part[3]), int(part[4])), hw.fold_overlap)

# what the searches of this process did: searches, pairs ranked, pairs visited, pairs whose folds were priced, pairs
# whose plans were listed, plans priced by their floor, kernel runs (benchmarks/bench_sweep.py reports them)
SEARCH_WORK = np.zeros(7, dtype=np.int64)
FAST_LIMITS = (MAX_FOLDS, 2 ** 26, MAX_FOLD_STEPS)  # check_systolic_size's limits that need no memory query


@functools.lru_cache(maxsize=256)
def _search_config(hw: SystolicConfig, out_bits: int, reuse_folds: bool, limits: tuple,
                   floors: bool = True) -> S.SearchConfig:
    """What the compiled search reads of ``hw`` at ``out_bits``-bit outputs."""
    rates, d = _onchip_ports(hw, out_bits)
    dram = hw.dram_bytes_per_cycle()
    ports = K.Ports(*rates, float(hw.requant_latency_cycles), math.inf if dram is None else dram * 8.0, d)
    return S.SearchConfig(ports_of(hw).args(), ports, int(hw.accumulator_bits), int(hw.scale_bits),
                          tuple(float(h) for h in _half(hw)), math.inf if dram is None else float(dram),
                          bool(hw.fold_overlap), bool(reuse_folds), tuple(int(x) for x in limits), bool(floors))


def _compose(layer: Layer, hw: SystolicConfig, parts: list[tuple[LayerResult, int]], wbits: int, abits: int,
             n: int) -> LayerResult:
    """One layer's result from its chunks [(result, how many such chunks)], run one after another."""
    add = lambda f: sum(getattr(p, f) * c for p, c in parts)
    total, folds = add("total_cycles"), add("folds")
    first = parts[0][0]
    return dataclasses.replace(
        first, name=layer.name, macs=layer.macs, total_cycles=total, compute_cycles=add("compute_cycles"),
        stall_cycles=add("stall_cycles"), onchip_stall_cycles=add("onchip_stall_cycles"),
        dram_stall_cycles=add("dram_stall_cycles"), folds=folds,
        utilization=layer.macs / (max(total, 1) * hw.rows * hw.cols * hw.fusion_factor(wbits, abits)),
        mapping_efficiency=sum(p.mapping_efficiency * p.folds * c for p, c in parts) / folds,
        compute_utilization=sum(p.compute_utilization * p.folds * c for p, c in parts) / folds,
        sram_ifmap_bytes=add("sram_ifmap_bytes"), sram_filter_bytes=add("sram_filter_bytes"),
        sram_ofmap_bytes=add("sram_ofmap_bytes"), dram_read_bytes=add("dram_read_bytes"),
        dram_write_bytes=add("dram_write_bytes"), latency_ms=total / (hw.clock_mhz * 1e3),
        dram_ifmap_read_bytes=add("dram_ifmap_read_bytes"), dram_filter_read_bytes=add("dram_filter_read_bytes"),
        energy_pj=add("energy_pj"), energy_compute_pj=add("energy_compute_pj"), energy_sram_pj=add("energy_sram_pj"),
        energy_dram_pj=add("energy_dram_pj"), energy_sram_leak_pj=add("energy_sram_leak_pj"),
        note="; ".join(x for x in (first.note, f"streamed dimension in {n} chunks") if x),
        schedule=None if first.schedule is None else dataclasses.replace(first.schedule, chunks=n))


def _half(hw: SystolicConfig) -> tuple[float, float, float]:
    return tuple(kib * 1024 * 8 / 2 for kib in hw.sram_kib)


def _run(layer: Layer, hw: SystolicConfig, m: Mapping, traffic: Traffic, plan, wbits: int, abits: int, mode_w: int,
         mode_a: int, out_bits: int, dataflow: str | None, overlap: bool, reuse_folds: bool) -> LayerResult:
    """The cycle kernel on one schedule: ``m`` at precision mode (``mode_w``, ``mode_a``) with ``plan``."""
    raw = _kernel(hw, m, traffic, mode_w, mode_a, out_bits, overlap, reuse_folds)
    return _result(layer, hw, m, raw, traffic, wbits, abits, mode_w, mode_a, dataflow, plan, overlap)


def _scalesim_user(layer: Layer, hw: SystolicConfig, m: Mapping, traffic: Traffic, plan, wbits: int, abits: int,
                   out_bits: int, dataflow: str | None, reuse_folds: bool) -> LayerResult:
    """SCALE-Sim's USER mode: the kernel's counts with no DRAM limit, then SCALE-Sim's own buffer replay
    (:mod:`.scalesim_user`) for the cycles and stalls."""
    if layer.batch != 1:
        raise HwsimError(f"layer {layer.name}: SCALE-Sim's USER bandwidth mode has no batch; allowed: batch 1 "
                         f"(or timing hwsim)")
    raw = _kernel(dataclasses.replace(hw, dram_gb_per_s=None), m, traffic, wbits, abits, out_bits, False, reuse_folds)
    user = user_mode_cycles(layer, hw.rows, hw.cols, dataflow or hw.dataflow, tuple(hw.sram_kib), hw.scalesim_user_bw)
    raw = raw._replace(total=float(user.total), dram_stall=float(user.stalls), onchip_stall=0.0)
    return _result(layer, hw, m, raw, traffic, wbits, abits, wbits, abits, dataflow, plan, False)


def _kernel_inputs(hw: SystolicConfig, m: Mapping, mode_w: int, mode_a: int,
                   out_bits: int) -> tuple[K.Geometry, K.OperandBits, K.Ports]:
    """The kernel's records for mapping ``m`` in precision mode (``mode_w``, ``mode_a``): on-chip sizes and rates in
    units of 1/D bit (:func:`units_per_bit`), DRAM's rate in bits."""
    pf = m.fusion
    rates, d = _onchip_ports(hw, out_bits)
    dram = hw.dram_bytes_per_cycle()
    geometry = K.Geometry(int(m.dataflow), int(m.rows), int(m.cols), int(m.sr), int(m.sc), int(m.t), int(m.groups),
                          int(m.groups_per_fold))
    bits = K.OperandBits(*(int(b) * d for b in (pf * mode_a, pf * mode_w, out_bits, hw.accumulator_bits,
                                                 hw.scale_bits)))
    ports = K.Ports(*rates, float(hw.requant_latency_cycles),
                    math.inf if dram is None else dram * 8.0, d)
    return geometry, bits, ports


def _kernel(hw: SystolicConfig, m: Mapping, traffic: Traffic, mode_w: int, mode_a: int, out_bits: int, overlap: bool,
            reuse_folds: bool) -> K.KernelResult:
    """The cycle kernel on one schedule: mapping ``m`` in precision mode (``mode_w``, ``mode_a``), moving
    ``traffic`` through DRAM."""
    geometry, bits, ports = _kernel_inputs(hw, m, mode_w, mode_a, out_bits)
    return K.simulate_layer_kernel(geometry, bits, ports, traffic, hw.timing == "scalesim", bool(overlap),
                                   bool(reuse_folds))


def _result(layer: Layer, hw: SystolicConfig, m: Mapping, r: K.KernelResult, traffic: Traffic, wbits: int,
            abits: int, mode_w: int, mode_a: int, dataflow: str | None, plan, overlap: bool) -> LayerResult:
    """The LayerResult of kernel result ``r`` and DRAM ``traffic`` (mapping ``m``, precision mode (mode_w,
    mode_a), fold loop ``plan``)."""
    pf = m.fusion
    total = int(r.total)
    share = m.rows * m.cols / (hw.rows * hw.cols)  # the kernel's PE fractions are of the sub-array it ran on
    energy = layer_energy(hw, layer.macs / pf, total, (r.sram_ifmap, r.sram_filter, r.sram_ofmap),
                          (traffic.ifmap_bits, traffic.filter_bits, traffic.psum_bits), traffic.read_bits,
                          traffic.write_bits)
    return LayerResult(
        name=layer.name,
        wbits=wbits,
        abits=abits,
        dataflow=dataflow or hw.dataflow,
        macs=layer.macs,
        total_cycles=total,
        compute_cycles=int(r.compute),
        stall_cycles=int(r.onchip_stall + r.dram_stall),
        onchip_stall_cycles=int(r.onchip_stall),
        dram_stall_cycles=int(r.dram_stall),
        folds=int(r.folds),
        utilization=layer.macs / (max(total, 1) * hw.rows * hw.cols * hw.fusion_factor(wbits, abits)),
        mapping_efficiency=float(r.mapping_efficiency) * share,
        compute_utilization=float(r.compute_utilization) * share,
        sram_ifmap_bytes=_bytes(r.sram_ifmap),
        sram_filter_bytes=_bytes(r.sram_filter),
        sram_ofmap_bytes=_bytes(r.sram_ofmap),
        dram_read_bytes=_bytes(traffic.read_bits),
        dram_write_bytes=_bytes(traffic.write_bits),
        latency_ms=total / (hw.clock_mhz * 1e3),
        note="; ".join(x for x in (
            "" if (mode_w, mode_a) == (wbits, abits) else f"runs in the w{mode_w}a{mode_a} mode (faster here)",
            "" if share == 1 else f"uses {m.rows}x{m.cols} of the array (faster here)") if x),
        dram_ifmap_read_bytes=_bytes(traffic.ifmap_bits),
        dram_filter_read_bytes=_bytes(traffic.filter_bits),
        energy_pj=energy.total_pj,
        energy_compute_pj=energy.compute_pj,
        energy_sram_pj=energy.sram_pj,
        energy_dram_pj=energy.dram_pj,
        energy_sram_leak_pj=energy.sram_leak_pj,
        schedule=Schedule(dataflow=dataflow or hw.dataflow, mode=label(mode_w, mode_a), sub_array=(m.rows, m.cols),
                          chunks=1, rows_outer=bool(plan.rows_outer), block=int(plan.block), fold_overlap=overlap),
    )


def _bytes(bits: float) -> int:
    """Whole bytes holding ``bits`` (rounded up: a partial byte still moves)."""
    return int(math.ceil(round(bits, 6) / 8))
