"""Caches that cannot go stale, cannot be trusted when damaged, and never stop a command.

Every cache of hwsim (layer lists, lookup tables, pipeline and co-design steps, sensitivities,
quantized models, reconstruction progress, trained models, sweep parts) keys its entries on
:func:`code_identity` together with its own inputs, so a change to any line of the installed
package, or to a library release that changes numbers, is a miss, never an old answer.

An entry also carries a SHA-256 of its content, checked on every read: a truncated, edited or
foreign file is a miss with one warning line on stderr, then recomputed and rewritten.  A cache
folder that cannot be used (unwritable, a regular file where the folder should be, a directory
where an entry should be) costs one warning line and the command runs without it; a cache never
makes a command fail.

Entry formats (``<root>/<kind>-<digest>.<ext>``, written atomically):

* JSON: ``{"format": "hwsim-cache/1", "kind", "key": <digest>, "code": <identity>, "checksum":
  <sha256 of the canonical JSON of value>, "value": ...}``
* binary: the line ``hwsim-cache/1 <kind> <digest> <identity> <sha256 of payload> <payload bytes>``,
  then the payload.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import HwsimError

CACHE_FORMAT = "hwsim-cache/1"
# the distribution's one package (its subpackages and data included): its files make up the code identity
PACKAGES = ("hwsim",)
_SOURCE_SUFFIXES = (".py", ".json", ".pt", ".yaml", ".yml", ".sha256")
# libraries whose releases can change a number hwsim computes (kernels, solvers, the data set, samplers)
RESULT_LIBRARIES = ("numpy", "numba", "llvmlite", "torch", "scipy", "scikit-learn", "pymoo", "pyarrow")
# environment settings that change float results when hwsim does not pin them (quant.reproducible)
RESULT_ENVIRONMENT = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")
NATIVE_KERNELS = "HWSIM_NATIVE_KERNELS"  # the opt-out of quant.reproducible's pinning


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # finds without importing (hwsim.quant would import torch)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def code_identity() -> str:
    """A digest (16 hex digits) of the installed package's own source and data files, the Python version and the
    releases of the libraries that change results; computed once per process."""
    h = hashlib.sha256()
    for name in PACKAGES:
        root = _package_dir(name)
        if root is None:
            continue
        for path in sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and p.is_file()
                           and "__pycache__" not in p.parts):
            h.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(f"python={platform.python_version()}\0".encode())
    h.update(_float_environment().encode())
    for dist in RESULT_LIBRARIES:
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist}=absent\0".encode())
    return h.hexdigest()[:16]


def _float_environment() -> str:
    """What torch's float results depend on beyond the code: nothing while hwsim pins the kernels (the default),
    else the kernel settings and the CPU (results computed with native kernels are this machine's own)."""
    if os.environ.get(NATIVE_KERNELS, "") not in ("1", "true", "yes"):
        return "kernels=pinned\0"
    settings = ",".join(f"{k}={os.environ.get(k, '')}" for k in RESULT_ENVIRONMENT)
    return f"kernels=native,{settings},cpu={platform.processor() or platform.machine()},{os.cpu_count()}\0"


def key_digest(key: Any) -> str:
    """SHA-256 (24 hex digits) of ``key`` (any JSON-able value; other objects by ``str``) and the code identity."""
    doc = json.dumps({"key": key, "code": code_identity()}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:24]


def _value_checksum(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, allow_nan=False).encode()).hexdigest()


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"hwsim: warning: {' '.join(message.split())}", file=sys.stderr)


class Cache:
    """A folder of checked entries (see the module docstring); ``root=None`` is the user cache
    (``$HWSIM_CACHE_DIR``, else ``~/.cache/hwsim``); ``enabled=False`` computes everything and stores nothing."""

    _warned: set = set()  # folders already reported unusable in this process (one line each)

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        from .io import default_cache_dir

        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled
        self.last = ""  # what the last get did: "hit", "miss", "damaged: ..." (for status lines)

    # ---- the folder ------------------------------------------------------------------------------------------

    def _disable(self, reason: str) -> None:
        self.enabled = False
        where = str(self.root)
        if where not in Cache._warned:
            Cache._warned.add(where)
            warn(f"cache {where} is not usable ({reason}); running without it")

    def _usable(self) -> bool:
        if not self.enabled:
            return False
        if self.root.exists() and not self.root.is_dir():
            self._disable("it is not a directory")
            return False
        return True

    def path(self, kind: str, key: Any, suffix: str = "json") -> Path:
        """Where the entry of ``kind`` for ``key`` lives (whether or not it exists)."""
        return self.root / f"{kind}-{key_digest(key)}.{suffix}"

    # ---- JSON entries ----------------------------------------------------------------------------------------

    def get(self, kind: str, key: Any, make: Callable[[], Any], check: Callable[[Any], str | None] | None = None):
        """The cached value of ``kind`` for ``key``, else ``make()`` (stored for next time).

        ``check(value)`` may name a reason not to trust a value that passed its checksum (None: trusted).
        """
        path = self.path(kind, key)
        value, found = self._read_json(kind, path, check)
        if found:
            self.last = "hit"
            return value
        value = make()
        self._write(path, lambda: (json.dumps({"format": CACHE_FORMAT, "kind": kind, "key": path.stem.split("-")[-1],
                                               "code": code_identity(), "checksum": _value_checksum(value),
                                               "value": value}, allow_nan=False) + "\n").encode())
        return value

    def _read_json(self, kind: str, path: Path, check) -> tuple[Any, bool]:
        self.last = "miss"
        if not self._usable() or not os.path.lexists(path):
            return None, False
        reason = None
        try:
            if not path.is_file():
                raise _Damaged("not a regular file")
            doc = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or "value" not in doc:
                raise _Damaged("not a cache entry")
            if doc.get("kind") != kind or doc.get("key") != path.stem.split("-")[-1] or doc.get("code") != code_identity():
                raise _Damaged("made for other inputs or code")
            if doc.get("checksum") != _value_checksum(doc["value"]):
                raise _Damaged("its checksum does not match its content")
            reason = check(doc["value"]) if check else None
            if reason is None:
                return doc["value"], True
        except _Damaged as exc:
            reason = str(exc)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = f"unreadable ({type(exc).__name__})"
        self.last = f"damaged: {reason}"
        warn(f"cached {kind} {path} is damaged: {reason}; computing it again")
        return None, False

    # ---- binary entries --------------------------------------------------------------------------------------

    def get_bytes(self, kind: str, key: Any, make: Callable[[], bytes], check: Callable[[bytes], str | None] | None = None
                  ) -> bytes:
        """Like :meth:`get` for a binary payload (a torch checkpoint, a table); ``check(payload)`` as in get."""
        payload = self.read_bytes(kind, key, check)
        if payload is not None:
            return payload
        payload = make()
        self.put_bytes(kind, key, payload)
        return payload

    def read_bytes(self, kind: str, key: Any, check: Callable[[bytes], str | None] | None = None) -> bytes | None:
        """The payload stored for ``key`` if it is there and intact (a damaged one: a warning line, then None)."""
        self.last = "miss"
        path = self.path(kind, key, "bin")
        if not self._usable() or not os.path.lexists(path):
            return None
        try:
            if not path.is_file():
                raise _Damaged("not a regular file")
            data = path.read_bytes()
            head, sep, payload = data.partition(b"\n")
            fields = head.decode("ascii", "replace").split(" ")
            if not sep or len(fields) != 6 or fields[0] != CACHE_FORMAT:
                raise _Damaged("not a cache entry")
            if fields[1] != kind or fields[2] != path.stem.split("-")[-1] or fields[3] != code_identity():
                raise _Damaged("made for other inputs or code")
            if fields[5] != str(len(payload)) or fields[4] != hashlib.sha256(payload).hexdigest():
                raise _Damaged("its checksum does not match its content")
            reason = check(payload) if check else None
            if reason is None:
                self.last = "hit"
                return payload
        except _Damaged as exc:
            reason = str(exc)
        except OSError as exc:
            reason = f"unreadable ({exc.strerror or type(exc).__name__})"
        self.last = f"damaged: {reason}"
        warn(f"cached {kind} {path} is damaged: {reason}; computing it again")
        return None

    def put_bytes(self, kind: str, key: Any, payload: bytes) -> None:
        """Store ``payload`` for ``key`` (atomically; a cache that cannot be written is reported once, then skipped)."""
        path = self.path(kind, key, "bin")
        head = f"{CACHE_FORMAT} {kind} {path.stem.split('-')[-1]} {code_identity()} " \
               f"{hashlib.sha256(payload).hexdigest()} {len(payload)}\n"
        self._write(path, lambda: head.encode("ascii") + payload)

    # ---- writing ---------------------------------------------------------------------------------------------

    def _write(self, path: Path, content: Callable[[], bytes]) -> None:
        if not self._usable():
            return
        from .io import replace_atomic

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                fh.write(content())
                fh.flush()
                os.fsync(fh.fileno())

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(path) and not path.is_file():
                return  # reading it already warned ("not a regular file"); it is left as the user made it
            replace_atomic(path, write, force=True)
        except (HwsimError, OSError) as exc:
            self._disable(str(exc).split(": ", 1)[-1] if isinstance(exc, HwsimError) else (exc.strerror or str(exc)))


class _Damaged(Exception):
    """Why a cache entry cannot be trusted."""
