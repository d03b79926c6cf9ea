"""Where numba keeps this package's compiled functions: a folder per version of their source.

numba keys a compiled function's disk cache on the function's own source file.  A function that calls into another
module (the schedule search calls the kernel, the kernel the DRAM tiles) carries the callee's compiled code in its
own cache entry, so after an edit to the callee alone (a ``git pull`` in an editable checkout, a local change) the
caller would keep running the old code, silently.  So the compiled modules of this package are cached in a folder
named by a digest of all their sources: any edit to any of them starts a fresh cache, and the numbers always come
from the code on disk.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


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


def use_code_keyed_cache() -> None:
    """Point numba's cache at ``<NUMBA_CACHE_DIR or this package's __pycache__>/numba-<digest>`` (falling back to the
    user's cache folder when the package folder is read-only), unless numba's caching is off."""
    from numba.core import config

    if config.DISABLE_JIT:
        return
    name = f"numba-{source_digest()}"
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        folder = Path(user) / name
    else:
        folder = HERE / "__pycache__" / name
        if not _writable(folder):
            folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwsim" / name
    config.CACHE_DIR = str(folder)
