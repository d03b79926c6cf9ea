"""Sweep results on disk: one Parquet part per finished chunk, merged into ``sweep.parquet`` and ``sweep.csv``.

Parts are written atomically as chunks finish, so an interrupted sweep loses at most the chunks in
flight, and a rerun skips every point whose key is already in a part.  Parts live in
``DIR/parts-<columns hash>/``: a spec with other axes starts a set of its own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hwsim.io import replace_atomic

from .run import METRICS
from .spec import SweepSpec

_FLOAT = ("latency_ms", "utilization", "energy_uj", "area_mm2")
ROW_GROUP = 8_192  # rows per row group of sweep.parquet (what the merge holds in memory at most)
CSV_BATCH = 2_048  # rows converted to text at a time


def schema(spec: SweepSpec) -> pa.Schema:
    """Columns of a sweep's table: index, key, model, precision, one per axis, then the metrics."""
    fields = [pa.field("index", pa.int64()), pa.field("key", pa.string()), pa.field("model", pa.string()),
              pa.field("precision", pa.string())]
    for axis in spec.axes:
        fields.append(pa.field(axis.name, _axis_type(axis.values)))
    fields += [pa.field(m, pa.float64() if m in _FLOAT else pa.int64()) for m in METRICS]
    return pa.schema(fields)


def _axis_type(values: tuple) -> pa.DataType:
    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()


def parts_dir(out: Path, sch: pa.Schema) -> Path:
    """Where this schema's parts go."""
    sig = hashlib.sha256(str(sch).encode()).hexdigest()[:10]
    return out / f"parts-{sig}"


def _table(records: list[dict], sch: pa.Schema) -> pa.Table:
    columns = {}
    for f in sch:
        col = [r.get(f.name) for r in records]
        if pa.types.is_string(f.type):
            col = [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in col]
        elif pa.types.is_floating(f.type):
            col = [None if v is None else float(v) for v in col]
        columns[f.name] = pa.array(col, type=f.type)
    return pa.table(columns, schema=sch)


def key_code(key: str) -> int:
    """A point's key as the driver holds it: its first 15 hex digits as one integer (8 bytes a point)."""
    return int(key[:15], 16)


def _codes(keys: list[str]) -> np.ndarray:
    return np.fromiter((key_code(k) for k in keys), dtype=np.int64, count=len(keys))


def done_codes(folder: Path) -> np.ndarray:
    """Sorted key codes of the points already in this folder's parts (an unreadable part is ignored: its
    points rerun)."""
    found = []
    for part in sorted(folder.glob("part-*.parquet")):
        try:
            found.append(_codes(pq.read_table(part, columns=["key"]).column("key").to_pylist()))
        except (OSError, pa.ArrowException):
            continue
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def write_part(folder: Path, number: int, records: list[dict], sch: pa.Schema) -> Path:
    """Write one chunk's records as ``part-NNNNNN.parquet`` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = _table(sorted(records, key=lambda r: r["index"]), sch)
    return replace_atomic(folder / f"part-{number:06d}.parquet", lambda tmp: pq.write_table(table, tmp), force=True)


def next_part_number(folder: Path) -> int:
    """One more than the highest part number in the folder (0 when empty)."""
    numbers = [int(p.stem.split("-")[1]) for p in folder.glob("part-*.parquet") if p.stem.split("-")[1].isdigit()]
    return max(numbers, default=-1) + 1


def merge(folder: Path, out: Path, wanted: np.ndarray, sch: pa.Schema) -> int:
    """Write ``sweep.parquet`` and ``sweep.csv``: the rows of the ``wanted`` key codes, once each, by point
    index; returns rows.  The driver holds 17 bytes a point (codes, their order, a seen flag), no objects.

    Parts written by one spec cover disjoint index ranges, so they are streamed one at a time in order and
    written in row groups of ROW_GROUP rows (memory does not grow with the sweep: a footer entry per part
    did, before the parts were gathered); parts whose ranges overlap (runs of different samples into one
    folder) are merged in memory instead.
    """
    spans = []
    for part in sorted(folder.glob("part-*.parquet")):
        try:
            idx = pq.read_table(part, columns=["index"]).column("index")
        except (OSError, pa.ArrowException):
            continue
        if len(idx):
            spans.append((pa.compute.min(idx).as_py(), pa.compute.max(idx).as_py(), part))
    spans.sort(key=lambda s: s[0])
    disjoint = all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    parts = [p for _, _, p in spans]

    order = np.argsort(wanted, kind="stable")
    wanted_sorted = wanted[order]
    seen = np.zeros(len(wanted), dtype=bool)

    def tables():
        if disjoint:
            sources = (pq.read_table(p, schema=sch) for p in parts)
        else:
            sources = iter([pa.concat_tables([pq.read_table(p, schema=sch) for p in parts]).sort_by("index")]
                           if parts else [])
        for table in sources:
            codes = _codes(table.column("key").to_pylist())
            pos = np.minimum(np.searchsorted(wanted_sorted, codes), max(len(wanted_sorted) - 1, 0))
            hit = (wanted_sorted[pos] == codes) if len(wanted_sorted) else np.zeros(len(codes), dtype=bool)
            keep = []
            for i in np.flatnonzero(hit):
                if not seen[pos[i]]:
                    seen[pos[i]] = True
                    keep.append(i)
            yield table.take(pa.array(keep, type=pa.int64()))

    rows = 0

    def write_parquet(tmp):
        # parts are small (a chunk each): gather them into row groups of ROW_GROUP rows, so the writer's
        # footer (metadata per row group and column, held in memory until close) stays small
        nonlocal rows
        with pq.ParquetWriter(tmp, sch) as writer:
            held, n_held = [], 0
            for t in tables():
                held.append(t)
                n_held += t.num_rows
                while n_held >= ROW_GROUP:  # a table larger than a row group is cut into several
                    whole = pa.concat_tables(held)
                    writer.write_table(whole.slice(0, ROW_GROUP))
                    held, n_held = [whole.slice(ROW_GROUP)], n_held - ROW_GROUP
                    rows += ROW_GROUP
            if n_held:
                writer.write_table(pa.concat_tables(held))
                rows += n_held

    def write_csv(tmp):  # the same rows, read back from the Parquet file one row group at a time
        with pacsv.CSVWriter(tmp, sch) as writer:
            for batch in pq.ParquetFile(out / "sweep.parquet").iter_batches(batch_size=CSV_BATCH):
                writer.write_batch(batch)

    replace_atomic(out / "sweep.parquet", write_parquet, force=True)
    pa.default_memory_pool().release_unused()  # the allocator keeps freed pages otherwise
    replace_atomic(out / "sweep.csv", write_csv, force=True)
    pa.default_memory_pool().release_unused()
    return rows
