"""Run a sweep: skip the points already on disk, map the rest over an executor, merge, plot."""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from hwsim.lock import folder_lock

from .executors import connect_ray, run_local, run_ray
from .run import run_chunk
from .spec import SweepSpec
from .store import done_codes, key_code, merge, next_part_number, parts_dir, schema, spec_digest, trusted_parts, \
    write_part

CHUNK = 25  # points per task: large enough to amortise shipping, small enough to lose little on interruption


@dataclasses.dataclass
class SweepResult:
    """What a run did: where its table is, how many points it simulated and how many it found on disk."""

    out: Path
    rows: int
    simulated: int
    reused: int
    seconds: float
    plots: list

    def read(self, columns: list[str] | None = None):
        """The merged table (or some of its columns) as a pyarrow Table, read from ``sweep.parquet``."""
        import pyarrow.parquet as pq

        return pq.read_table(self.out / "sweep.parquet", columns=columns)

    @property
    def table(self):
        """The whole merged table."""
        return self.read()


def run_sweep(spec: SweepSpec, out: Path, jobs: int = 1, ray: bool = False, ray_address: str | None = None,
              progress: bool = False, chunk: int = CHUNK, plots: bool = True,
              started: Callable[[], None] | None = None) -> SweepResult:
    """Simulate every point of ``spec`` not yet in ``out``, then write sweep.parquet, sweep.csv and the plots.

    ``out`` is locked for the run (a second run into it is refused, naming this one's pid).  Only parts whose
    manifests match this spec and code are reused (explore/store.py).
    """
    with folder_lock(out, "sweep"):
        owned = connect_ray(ray_address, jobs) if (ray or ray_address) else False  # a refusal is the only line
        try:
            if started:  # e.g. the CLI's "sweep: N points" line, once the folder and the workers are this run's
                started()
            return _run_sweep(spec, out, jobs, ray, ray_address, progress, chunk, plots)
        finally:
            if owned:
                import ray as ray_module

                ray_module.shutdown()


def _run_sweep(spec: SweepSpec, out: Path, jobs: int, ray: bool, ray_address: str | None, progress: bool,
               chunk: int, plots: bool) -> SweepResult:
    from tqdm import tqdm

    start = time.perf_counter()
    sch = schema(spec)
    folder = parts_dir(out, sch)
    digest = spec_digest(spec)
    parts = trusted_parts(folder, digest)
    indices = spec.indices()
    # 8 bytes a point for the keys (no object per point: the driver's memory stays flat as sweeps grow)
    wanted = np.fromiter((key_code(spec.point(int(i)).key()) for i in indices), dtype=np.int64, count=len(indices))
    todo_indices = indices[~np.isin(wanted, done_codes(parts))]
    todo = (spec.point(int(index)) for index in todo_indices)
    n_todo = len(todo_indices)
    chunk = max(1, min(chunk, -(-n_todo // (4 * jobs))))  # at least four tasks per worker when points are few
    chunks = iter(lambda: list(itertools.islice(todo, chunk)), [])
    runner = run_ray(run_chunk, chunks, ray_address, jobs) if (ray or ray_address) else \
        run_local(run_chunk, chunks, jobs)
    number = next_part_number(folder)
    with tqdm(total=n_todo, unit="pt", desc="sweep", file=sys.stderr, disable=not progress) as bar:
        for _, records in runner:
            parts.append(write_part(folder, number, records, sch, digest))
            number += 1
            bar.update(len(records))
    rows = merge(sorted(parts), out, wanted, sch)
    result = SweepResult(out=out, rows=rows, simulated=n_todo, reused=len(wanted) - n_todo, seconds=0.0, plots=[])
    if plots and rows:
        result.plots = _plots(spec, result.read(["model"] + _PLOTTED + [a for a in spec.heatmap or ()]), out)
    result.seconds = time.perf_counter() - start
    return result


_PLOTTED = ["latency_ms", "energy_uj", "area_mm2"]


def _plots(spec: SweepSpec, table, out: Path) -> list:
    from .plots import front_plot, heatmap

    made = []
    title = f"{Path(spec.source).stem}: {table.num_rows} points"  # the plotted columns only
    for x, y in (("area_mm2", "latency_ms"), ("latency_ms", "energy_uj")):
        paths = front_plot(table, x, y, out / f"{y}_vs_{x}", title)
        made += paths or []
    if spec.heatmap:
        from .run import short_name

        made += heatmap(table, *spec.heatmap, "latency_ms", out / "heatmap_latency_ms", title,
                        model=short_name(spec.models[0]))
    return made
