"""Sweeps that survive: part manifests (damaged, foreign, incomplete parts are recomputed), one run per folder,
SIGINT/SIGTERM with no orphans and a resumed table byte-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import CONFIGS, DATA, ROOT

from hwsim.lock import folder_lock
from hwsim.explore.spec import load_spec
from hwsim.explore.sweep import run_sweep
from hwsim.errors import HwsimError

TOPO = DATA / "scalesim" / "topo_convs.csv"
SMALL = """\
base: {base}
axes:
  array.rows: [8, 16]
  array.cols: [16, 32]
  dram_gb_per_s: [4, 16]
models: [{topo}]
precisions: [w8a8, w2a4]
"""
# slow enough to interrupt (about 0.3 s a point on 2 cores), small enough for the suite
SLOW = """\
base: {base}
axes:
  array.rows: [8, 16, 32, 64]
  dram_gb_per_s: [4, 8, 16, 32]
models: [resnet18]
precisions: [w8a8, w4a4]
input_size: 64
"""


def _spec(tmp_path, text, base=CONFIGS / "bitfusion_16x32.yaml", name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text.format(base=base, topo=TOPO))
    return path


def _parts(out):
    return sorted(next(out.glob("parts-*")).glob("part-*.parquet"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of SMALL: (spec, its table)."""
    tmp = tmp_path_factory.mktemp("ref")
    spec = load_spec(_spec(tmp, SMALL))
    return spec, run_sweep(spec, tmp / "out", jobs=1, chunk=4, plots=False).table


def _damage(path, how):
    blob = path.read_bytes()
    if how == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif how == "random-bytes":
        path.write_bytes(os.urandom(len(blob)))
    elif how == "column-stripped":
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["latency_ms"]), path)
    elif how == "edited":
        table = pq.read_table(path)
        lat = pa.array([v * 2 for v in table.column("latency_ms").to_pylist()])
        pq.write_table(table.set_column(table.schema.get_field_index("latency_ms"), "latency_ms", lat), path)
    elif how == "no-manifest":
        path.with_suffix(".json").unlink()


@pytest.mark.parametrize("how", ["truncated", "random-bytes", "column-stripped", "edited", "no-manifest"])
def test_a_damaged_part_is_named_and_recomputed(tmp_path, capsys, reference, how):
    spec, table = reference
    run_sweep(spec, tmp_path / "out", jobs=1, chunk=4, plots=False)
    victim = _parts(tmp_path / "out")[2]
    _damage(victim, how)
    capsys.readouterr()
    again = run_sweep(spec, tmp_path / "out", jobs=1, chunk=4, plots=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and victim.name in err and ("damaged" in err or "incomplete" in err)
    assert again.simulated == 4 and again.table.equals(table)


def test_a_part_of_another_spec_is_foreign(tmp_path, capsys, reference):
    """Same columns, other base config (its numbers differ): nothing of it is reused."""
    spec, table = reference
    other_base = tmp_path / "other.yaml"
    other_base.write_text((CONFIGS / "bitfusion_16x32.yaml").read_text().replace("clock_mhz: 500", "clock_mhz: 250"))
    assert other_base.read_text() != (CONFIGS / "bitfusion_16x32.yaml").read_text()
    other = load_spec(_spec(tmp_path, SMALL, base=other_base, name="other-spec.yaml"))
    run_sweep(other, tmp_path / "out", jobs=1, chunk=4, plots=False)
    capsys.readouterr()
    mine = run_sweep(spec, tmp_path / "out", jobs=1, chunk=4, plots=False)
    err = capsys.readouterr().err
    assert "foreign (written by another spec)" in err and mine.reused == 0 and mine.table.equals(table)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_any_byte_of_a_part_is_detected(tmp_path_factory, reference, data):
    spec, table = reference
    out = tmp_path_factory.mktemp("dmg") / "out"
    run_sweep(spec, out, jobs=1, chunk=8, plots=False)
    parts = _parts(out)
    victim = parts[data.draw(st.integers(0, len(parts) - 1))]
    lost = pq.read_metadata(victim).num_rows
    blob = bytearray(victim.read_bytes())
    at = data.draw(st.integers(0, len(blob) - 1))
    blob[at] ^= data.draw(st.integers(1, 255))
    victim.write_bytes(bytes(blob))
    again = run_sweep(spec, out, jobs=1, chunk=8, plots=False)
    assert again.simulated == lost and again.table.equals(table)


def test_a_second_run_into_a_held_folder_is_refused_naming_the_holder(tmp_path, reference):
    spec, _ = reference
    with folder_lock(tmp_path / "out", "sweep"):
        with pytest.raises(HwsimError, match=f"pid {os.getpid()}"):
            run_sweep(spec, tmp_path / "out", jobs=1, plots=False)
    run_sweep(spec, tmp_path / "out", jobs=1, plots=False)  # free again once the holder is done


def test_two_cli_sweeps_into_one_folder(tmp_path):
    """Started together: one runs, the other gets one error line naming the first's pid (exit 2)."""
    spec = _spec(tmp_path, SLOW)
    cmd = [sys.executable, "-m", "hwsim", "sweep", str(spec), "-o", str(tmp_path / "out"), "--jobs", "1",
           "--no-plots", "--quiet"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 60
    while not (tmp_path / "out" / ".hwsim.owner").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    first.kill()
    first.wait()
    assert second.returncode == 2 and _one_hwsim_line(second.stderr).startswith("hwsim: error: ")
    assert second.stderr.count("\n") == 1, second.stderr  # the error alone: no "sweep: N points" line first
    assert f"pid {first.pid}" in second.stderr and "another sweep" in second.stderr


def _one_hwsim_line(err: str) -> str:
    """The one ``hwsim:`` line of a command's stderr (after its progress notes), which must be the last."""
    lines = err.splitlines()
    assert sum(line.startswith("hwsim:") for line in lines) == 1 and lines[-1].startswith("hwsim:"), err
    return lines[-1]


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT at its default and unblocked, as in a job a terminal starts (a child inherits
    an ignored or blocked SIGINT from whatever ran it, and a program started that way rightly keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _alive_in_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_workers_and_the_resumed_table_is_byte_identical(tmp_path, sig, code):
    spec = _spec(tmp_path, SLOW)
    cmd = lambda out: [sys.executable, "-m", "hwsim", "sweep", str(spec), "-o", str(out), "--jobs", "2",  # noqa
                       "--no-plots", "--quiet"]
    subprocess.run(cmd(tmp_path / "whole"), check=True, capture_output=True, cwd=ROOT)

    out = tmp_path / "cut"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True,  # its own process group, as a shell gives a job
                            preexec_fn=_as_from_a_terminal)
    deadline = time.time() + 120
    while not list(out.glob("parts-*/part-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C: the whole process group
    else:
        os.kill(proc.pid, sig)  # SIGTERM: the driver only, as a job scheduler sends it
    sent = time.time()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code and "Traceback" not in err, err
    assert "finished results are kept" in _one_hwsim_line(err)
    while _alive_in_group(proc.pid) and time.time() < sent + 2.0:
        time.sleep(0.05)
    assert not _alive_in_group(proc.pid), "worker processes outlived the sweep"
    assert not (out / "sweep.parquet").exists() and not list(out.rglob("*.tmp"))

    resumed = subprocess.run(cmd(out), capture_output=True, text=True, cwd=ROOT, check=True)
    assert "found from an earlier run" in resumed.stderr and "damaged" not in resumed.stderr
    for name in ("sweep.parquet", "sweep.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


@pytest.mark.slow
def test_a_killed_driver_takes_its_workers_with_it(tmp_path):
    """SIGKILL (or the OOM killer) to the driver alone: no handler runs, yet the workers end within 3 s (they
    ask the kernel for SIGTERM when their parent dies), and a rerun resumes to the uninterrupted table."""
    spec = _spec(tmp_path, SLOW)
    cmd = lambda out: [sys.executable, "-m", "hwsim", "sweep", str(spec), "-o", str(out), "--jobs", "2",  # noqa
                       "--no-plots", "--quiet"]
    subprocess.run(cmd(tmp_path / "whole"), check=True, capture_output=True, cwd=ROOT)
    out = tmp_path / "cut"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)
    deadline = time.time() + 120
    while not list(out.glob("parts-*/part-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed = time.time()
    while _alive_in_group(proc.pid) and time.time() < killed + 3.0:
        time.sleep(0.05)
    assert not _alive_in_group(proc.pid), "worker processes outlived a killed driver"
    subprocess.run(cmd(out), capture_output=True, text=True, cwd=ROOT, check=True)
    assert (out / "sweep.csv").read_bytes() == (tmp_path / "whole" / "sweep.csv").read_bytes()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), chunk=st.sampled_from([1, 2, 3, 5]), tear=st.booleans())
def test_interrupt_anywhere_then_resume_gives_the_same_table(tmp_path_factory, reference, data, chunk, tear):
    """Stopped after any number of parts (and, with ``tear``, between a part and its manifest): the resumed
    sweep's files are byte-identical to an uninterrupted run's."""
    import hwsim.explore.sweep as sweep_mod
    import hwsim.explore.store as store

    spec, _ = reference
    root = tmp_path_factory.mktemp("resume")
    run_sweep(spec, root / "whole", jobs=1, chunk=chunk, plots=False)
    stop_after = data.draw(st.integers(0, len(_parts(root / "whole")) - 1), label="stop_after")
    real, written = sweep_mod.write_part, []

    def stopping(folder, number, records, sch, digest):
        if len(written) == stop_after:
            if tear:  # the part lands, its manifest never does
                store.replace_atomic(folder / f"part-{number:06d}.parquet",
                                     lambda tmp: pq.write_table(store._table(records, sch), tmp), force=True)
            raise KeyboardInterrupt
        written.append(number)
        return real(folder, number, records, sch, digest)

    sweep_mod.write_part = stopping
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(spec, root / "cut", jobs=1, chunk=chunk, plots=False)
    finally:
        sweep_mod.write_part = real
    resumed = run_sweep(spec, root / "cut", jobs=1, chunk=chunk, plots=False)
    assert resumed.reused == sum(pq.read_metadata(p).num_rows for p in _parts(root / "cut")[:stop_after])
    for name in ("sweep.parquet", "sweep.csv"):
        assert (root / "cut" / name).read_bytes() == (root / "whole" / name).read_bytes()
