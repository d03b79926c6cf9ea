"""Sweep results on disk: one Parquet part per finished chunk, merged into ``sweep.parquet`` and ``sweep.csv``.

Parts are written atomically as chunks finish, so an interrupted sweep loses at most the chunks in
flight, and a rerun skips every point whose key is already in a trusted part.  Parts live in
``DIR/parts-<columns hash>/``: a spec with other axes starts a set of its own.

Each part ``part-NNNNNN.parquet`` has a manifest ``part-NNNNNN.json``, written after it (atomically):
the digest of the spec that made it (:func:`spec_digest`), the code identity, its row count, the
SHA-256 of its point keys and of the file's bytes.  A resumed run trusts a part only when its manifest
is there and every field matches; a part that is damaged (any byte), foreign (another spec or another
version of the code) or incomplete (no manifest: the run stopped between the two writes) is named in
one warning line, removed, and its points are simulated again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hwsim.cache import code_identity, warn
from hwsim.io import replace_atomic, write_atomic

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


PART_FORMAT = "hwsim-sweep-part/1"


def spec_digest(spec: SweepSpec) -> str:
    """SHA-256 (24 hex digits) of what decides a sweep point's numbers: the base config, the axes, the models
    and precisions (with the bytes of any topology CSV or bits file they name) and the input size.  Sampling,
    seed and plots are left out: another sample of the same grid reuses the same points."""
    files = {}
    for name in (*spec.models, *spec.precisions):
        p = Path(name)
        if p.is_file():
            files[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    doc = {"base": spec.base, "axes": [[a.name, list(a.values)] for a in spec.axes], "models": list(spec.models),
           "precisions": list(spec.precisions), "input_size": spec.input_size, "files": files}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _keys_digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _part_problem(part: Path, digest: str) -> str | None:
    """Why ``part`` cannot be trusted for a sweep of spec ``digest`` (None: it can)."""
    manifest = part.with_suffix(".json")
    if not manifest.is_file():
        return "incomplete (no manifest: the run stopped while writing it)"
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != PART_FORMAT:
            return "damaged (its manifest is not one)"
        if doc.get("spec") != digest:
            return "foreign (written by another spec)"
        if doc.get("code") != code_identity():
            return "foreign (written by another version of hwsim)"
        if doc.get("sha256") != _file_digest(part):
            return "damaged (its bytes do not match its manifest)"
        keys = pq.read_table(part, columns=["key"]).column("key").to_pylist()
        if len(keys) != doc.get("rows") or _keys_digest(keys) != doc.get("keys_sha256"):
            return "damaged (its rows do not match its manifest)"
    except (OSError, ValueError, pa.ArrowException) as exc:
        return f"damaged (unreadable: {type(exc).__name__})"
    return None


def trusted_parts(folder: Path, digest: str) -> list[Path]:
    """The parts of ``folder`` whose manifests vouch for them under spec ``digest``; every other part (and any
    manifest without its part) is named in one warning line and removed, so its points are simulated again."""
    trusted = []
    for part in sorted(folder.glob("part-*.parquet")):
        problem = _part_problem(part, digest)
        if problem is None:
            trusted.append(part)
            continue
        warn(f"sweep part {part} is {problem}; its points are simulated again")
        for p in (part, part.with_suffix(".json")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    for manifest in folder.glob("part-*.json"):
        if not manifest.with_suffix(".parquet").exists():
            manifest.unlink()
    return trusted


def done_codes(parts: list[Path]) -> np.ndarray:
    """Sorted key codes of the points in ``parts`` (trusted ones: :func:`trusted_parts`)."""
    found = [_codes(pq.read_table(part, columns=["key"]).column("key").to_pylist()) for part in parts]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def write_part(folder: Path, number: int, records: list[dict], sch: pa.Schema, digest: str) -> Path:
    """Write one chunk's records as ``part-NNNNNN.parquet``, then its manifest (each atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = _table(sorted(records, key=lambda r: r["index"]), sch)
    path = replace_atomic(folder / f"part-{number:06d}.parquet", lambda tmp: pq.write_table(table, tmp), force=True)
    manifest = {"format": PART_FORMAT, "spec": digest, "code": code_identity(), "rows": table.num_rows,
                "keys_sha256": _keys_digest(table.column("key").to_pylist()), "sha256": _file_digest(path),
                "pid": os.getpid()}
    write_atomic(path.with_suffix(".json"), json.dumps(manifest, sort_keys=True) + "\n", force=True)
    return path


def next_part_number(folder: Path) -> int:
    """One more than the highest part number in the folder (0 when empty)."""
    numbers = [int(p.stem.split("-")[1]) for p in folder.glob("part-*.*") if p.stem.split("-")[1].isdigit()]
    return max(numbers, default=-1) + 1


def merge(parts: list[Path], out: Path, wanted: np.ndarray, sch: pa.Schema) -> int:
    """Write ``sweep.parquet`` and ``sweep.csv``: the rows of the ``wanted`` key codes, once each, by point
    index; returns rows.  The driver holds 17 bytes a point (codes, their order, a seen flag), no objects.

    Parts written by one spec cover disjoint index ranges, so they are streamed one at a time in order and
    written in row groups of ROW_GROUP rows (memory does not grow with the sweep: a footer entry per part
    did, before the parts were gathered); parts whose ranges overlap (runs of different samples into one
    folder) are merged in memory instead.
    """
    spans = []
    for part in parts:
        idx = pq.read_table(part, columns=["index"]).column("index")
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
