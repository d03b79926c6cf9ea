"""Where numba keeps this package's compiled functions: one folder per version of their sources.

numba keys a compiled function's disk cache on the function's own source file.  A function that calls into another
module (the schedule search calls the kernel, the kernel the DRAM tiles) carries the callee's compiled code in its
own cache entry, so after an edit to the callee alone (a ``git pull`` in an editable checkout, a local change) the
caller would keep running the old code, silently.  So the compiled modules of this package are cached in a folder
named by a digest of all their sources: any edit to any of them starts a fresh cache, and the numbers always come
from the code on disk.

The folder's name depends on the sources only, not on where the package is installed (numba's own locators add a
digest of the source folder's path): installs of the same sources that point ``NUMBA_CACHE_DIR`` at one folder share
one compile (several virtual environments, a container's layers, the workers of a cluster on a shared disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
_state: dict = {"folder": None, "compiled": set()}


def source_digest() -> str:
    """16 hex digits of a digest of this folder's Python sources (the compiled modules and what they import)."""
    h = hashlib.sha256()
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def cache_folder() -> Path:
    """``<NUMBA_CACHE_DIR or this package's __pycache__>/numba-<digest>``, or the user's cache folder when the
    package folder is read-only."""
    name = f"numba-{source_digest()}"
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user) / name
    folder = HERE / "__pycache__" / name
    if not _writable(folder):
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwsim" / name
    return folder


def use_code_keyed_cache() -> None:
    """Cache this package's compiled functions in :func:`cache_folder` (unless numba's caching is off)."""
    from numba.core import caching, config

    if config.DISABLE_JIT:
        return
    folder = cache_folder()
    _state["folder"] = folder
    base = getattr(caching, "_CacheLocator", None)
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if base is None or impl is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        # a numba that takes no locator of ours: its own, pointed at the folder (for every module of the process)
        config.CACHE_DIR = str(folder)
        return
    if any(getattr(cls, "hwsim_folder", None) for cls in impl._locator_classes):
        return

    class CodeKeyedLocator(base):
        """numba's cache for the functions of this folder's modules: all in one folder named by the sources."""

        hwsim_folder = str(folder)

        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno

        def get_cache_path(self):
            return self.hwsim_folder

        def get_source_stamp(self):
            return Path(self.hwsim_folder).name  # numba-<digest of the sources>

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != HERE:
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    impl._locator_classes.insert(0, CodeKeyedLocator)


@contextlib.contextmanager
def first_compile(name: str) -> Iterator[None]:
    """Held around a process's first call of the compiled entry point ``name``: one process at a time compiles it
    into the cache folder, and the others wait, then load what it wrote, instead of each compiling the same code
    (a sweep's or the test suite's workers, commands started side by side on a fresh install).  A no-op once the
    process has called it, or when the folder takes no lock."""
    folder = _state["folder"]
    if folder is None or name in _state["compiled"]:
        yield
        return
    from filelock import FileLock

    lock = FileLock(str(Path(folder) / f"{name}.compile.lock"))
    try:
        lock.acquire()
    except OSError:  # a read-only or vanished folder: compile without the lock
        yield
        return
    try:
        yield
        _state["compiled"].add(name)
    finally:
        lock.release()
