"""Caches that cannot go stale or be trusted when damaged, and never stop a command (hwsim/cache.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ROOT

from hwsim.cache import Cache, code_identity, key_digest

TOPO = str(ROOT / "tests" / "data" / "scalesim" / "topo_convs.csv")
HW = str(ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml")


@pytest.mark.slow
def test_code_identity_changes_with_an_edit_to_the_kernel_source(tmp_path):
    """A copy of the package with one comment added to the cycle kernel: another identity, and `hwsim lut`
    misses its cache instead of returning the old table."""
    shutil.copytree(ROOT / "hwsim", tmp_path / "pkg" / "hwsim", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    # the kernels interpreted (NUMBA_DISABLE_JIT): what is checked is the cache identity, and the copy would
    # otherwise compile them three times (about 50 s)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkg"), "HWSIM_CACHE_DIR": str(cache), "NUMBA_DISABLE_JIT": "1"}
    code = ("import sys, hwsim; from hwsim.cache import code_identity; from hwsim.cli import main\n"
            "assert hwsim.__file__.startswith(sys.argv[1]), hwsim.__file__\n"
            "print(code_identity()); main(['lut', '--hw', sys.argv[2], '--topology', sys.argv[3], '--quiet'])\n")

    def run() -> tuple[str, str]:
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pkg"), HW, TOPO], env=env, capture_output=True,
                           text=True, check=True, cwd=tmp_path)
        return p.stdout.splitlines()[0], p.stderr

    first, err = run()
    assert "built and cached" in err
    again, err = run()
    assert again == first and "cache hit" in err
    kernel = tmp_path / "pkg" / "hwsim" / "systolic" / "kernel.py"
    kernel.write_text(kernel.read_text() + "\n# an edit\n")
    edited, err = run()
    assert edited != first and "built and cached" in err and "cache hit" not in err
    assert len(list(cache.glob("lut-*.json"))) == 2


def test_identity_is_stable_within_a_process():
    assert code_identity() == code_identity() and len(code_identity()) == 16


def test_hit_miss_and_a_damaged_entry_is_one_warning(tmp_path, capsys):
    cache = Cache(tmp_path)
    calls = []
    make = lambda: calls.append(1) or {"x": [1.5, 2]}  # noqa: E731
    assert cache.get("step", {"a": 1}, make) == {"x": [1.5, 2]} and cache.last == "miss"
    assert cache.get("step", {"a": 1}, make) == {"x": [1.5, 2]} and cache.last == "hit" and len(calls) == 1
    path = cache.path("step", {"a": 1})
    doc = json.loads(path.read_text())
    doc["value"]["x"][0] = 9.5  # edited by hand: the checksum no longer matches
    path.write_text(json.dumps(doc))
    assert cache.get("step", {"a": 1}, make) == {"x": [1.5, 2]} and len(calls) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum does not match" in err and err.startswith("hwsim: warning: ")


def test_an_entry_of_other_inputs_is_not_trusted(tmp_path, capsys):
    cache = Cache(tmp_path)
    cache.get("step", {"a": 1}, lambda: 1)
    cache.get("step", {"a": 2}, lambda: 2)
    shutil.copyfile(cache.path("step", {"a": 1}), cache.path("step", {"a": 2}))  # a renamed entry
    assert cache.get("step", {"a": 2}, lambda: 2) == 2 and "other inputs or code" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["unwritable", "file", "entry-dir"])
def test_an_unusable_cache_folder_is_a_warning_and_the_result(tmp_path, capsys, kind):
    root = tmp_path / "c"
    if kind == "file":
        root.write_text("not a folder")
    elif kind == "unwritable":
        root.mkdir()
        root.chmod(0o500)
        if os.access(root, os.W_OK):  # root ignores permission bits: make the folder's parent a file instead
            root.chmod(0o700)
            root = tmp_path / "f" / "c"
            (tmp_path / "f").write_text("")
    else:
        root.mkdir()
        Cache(root).path("step", 1).mkdir()
    cache = Cache(root)
    assert cache.get("step", 1, lambda: 42) == 42
    assert cache.get("step", 1, lambda: 43) == 43  # nothing was stored
    err = capsys.readouterr().err
    assert err.startswith("hwsim: warning: ") and 1 <= err.count("\n") <= 2 and "Traceback" not in err


def test_binary_entries_are_checked(tmp_path, capsys):
    cache = Cache(tmp_path)
    payload = bytes(range(256)) * 4
    assert cache.get_bytes("blob", "k", lambda: payload) == payload
    assert cache.read_bytes("blob", "k") == payload and cache.last == "hit"
    path = cache.path("blob", "k", "bin")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cache.read_bytes("blob", "k") is None and "checksum" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_damage_to_any_byte_of_an_entry_is_detected(tmp_path_factory, data):
    """Flip, drop or insert a byte anywhere in a JSON or a binary entry: never returned as if intact."""
    root = tmp_path_factory.mktemp("c")
    cache = Cache(root)
    binary = data.draw(st.booleans())
    if binary:
        cache.get_bytes("b", 1, lambda: b"\x00payload\xff" * 8)
        path = cache.path("b", 1, "bin")
    else:
        cache.get("j", 1, lambda: {"cycles": [1, 2, 3], "name": "conv1"})
        path = cache.path("j", 1)
    blob = bytearray(path.read_bytes())
    at = data.draw(st.integers(0, len(blob) - 1))
    how = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    if how == "flip":
        blob[at] ^= data.draw(st.integers(1, 255))
    elif how == "drop":
        del blob[at]
    else:
        blob.insert(at, data.draw(st.integers(0, 255)))
    path.write_bytes(bytes(blob))
    if binary:
        assert cache.read_bytes("b", 1) is None
    else:
        got = cache.get("j", 1, lambda: "recomputed")
        # a change that leaves the same JSON value (whitespace) is harmless; anything else is recomputed
        assert got in ("recomputed", {"cycles": [1, 2, 3], "name": "conv1"})
        if got != "recomputed":
            assert json.loads(bytes(blob))["value"] == got


def test_key_digest_includes_the_code_identity(monkeypatch):
    before = key_digest({"a": 1})
    monkeypatch.setattr("hwsim.cache.code_identity", lambda: "0" * 16)
    assert key_digest({"a": 1}) != before


@pytest.mark.parametrize("kind", ["file", "entry-dir"])
def test_lut_with_an_unusable_cache_dir_warns_once_and_writes_its_output(tmp_path, capsys, kind):
    from hwsim.cli import main

    cache = tmp_path / "cache"
    if kind == "file":
        cache.write_text("a regular file")
    args = ["lut", "--hw", HW, "--topology", TOPO, "--cache-dir", str(cache), "-o", str(tmp_path / "t.json"),
            "--quiet"]
    if kind == "entry-dir":
        assert main(args) == 0
        (entry,) = cache.glob("lut-*.json")
        entry.unlink()
        entry.mkdir()  # a directory where the entry belongs
        capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert json.loads((tmp_path / "t.json").read_text())["format"] == "hwsim-lut/2"
    assert sum(line.startswith("hwsim: warning: ") for line in err.splitlines()) == 1 and "Traceback" not in err


def test_compiled_code_is_shared_by_installs_of_the_same_sources_and_never_by_others(tmp_path):
    """numba's cache for hwsim.systolic is one folder named by the sources' digest, wherever the package lies: a
    second copy of the same sources under another path loads what the first compiled (one NUMBA_CACHE_DIR), an
    edited copy compiles its own."""
    shared = tmp_path / "numba"
    code = ("import sys; from hwsim.systolic import schedule_search as s, _numba_cache as c\n"
            "assert s.__file__.startswith(sys.argv[1]), s.__file__\n"
            "assert s._bit_length(1000) == 10\n"
            "print(c.cache_folder().name, s._bit_length.stats.cache_hits.total(), "
            "s._bit_length.stats.cache_misses.total())\n")

    def run(copy: str) -> list[str]:
        root = tmp_path / copy
        if not root.exists():
            shutil.copytree(ROOT / "hwsim", root / "hwsim", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(shared)}
        p = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True,
                           check=True, cwd=tmp_path)
        return p.stdout.split()

    folder, hits, misses = run("a")
    assert (hits, misses) == ("0", "1")
    entries = sorted(p.name for p in (shared / folder).iterdir())
    assert any(name.startswith("schedule_search._bit_length-") for name in entries), entries
    assert run("b") == [folder, "1", "0"]  # another path, the same sources: loaded, not compiled
    kernel = tmp_path / "b" / "hwsim" / "systolic" / "kernel.py"
    kernel.write_text(kernel.read_text() + "\n# an edit\n")
    edited, hits, misses = run("b")
    assert edited != folder and (hits, misses) == ("0", "1")


def test_one_process_at_a_time_compiles_the_search_and_the_others_wait_for_it(tmp_path):
    """first_compile: while one process holds a compiled entry point's first call, another process's first call of
    it waits (then loads the disk cache the first wrote); later calls in a process take no lock."""
    code = ("import sys, time; from hwsim.systolic import _numba_cache as c\n"
            "with c.first_compile('probe'):\n"
            "    start = time.time(); time.sleep(float(sys.argv[1])); end = time.time()\n"
            "with c.first_compile('probe'):\n"
            "    pass\n"
            "print(start, end)\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = subprocess.Popen([sys.executable, "-c", code, "3"], env=env, stdout=subprocess.PIPE, text=True)
    deadline = 60
    while not list(tmp_path.glob("numba-*/probe.compile.lock")) and deadline:
        time.sleep(0.5)
        deadline -= 1
    second = subprocess.run([sys.executable, "-c", code, "0"], env=env, capture_output=True, text=True, check=True)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0
    s1, e1 = map(float, out.split())
    s2, _ = map(float, second.stdout.split())
    assert s2 >= e1 > s1  # the second entered only once the first had left
