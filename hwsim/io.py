"""Files: inputs read with one clear error, outputs written whole or not at all, and where caches live.

Every output goes through :func:`write_atomic` (or :func:`replace_atomic` for writers that need a
path): a temporary file in the target's own directory, then a rename, with the permissions the
umask gives a new file.  :func:`check_output` is the pre-flight check: a directory, FIFO, device
or dangling symlink is refused, a symlink is followed only with ``force``, and the directory must
accept a new file.  A failed write (a full disk) removes the temporary file and leaves the
previous output as it was.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import HwsimError

MAX_INPUT_BYTES = 256 * 2 ** 20  # text inputs (configs, topologies, bits files, tables) larger than this are refused


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_text(path: str | Path, what: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of ``path``, or one HwsimError naming the file and what is wrong with it."""
    p = Path(path)
    if not p.exists():
        raise HwsimError(f"{p}: {what} not found")
    if p.is_dir():
        raise HwsimError(f"{p}: is a directory; give the {what}, a file")
    if not p.is_file():
        raise HwsimError(f"{p}: not a regular file (a FIFO, device or socket); give the {what}, a file")
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise HwsimError(f"{p}: {size / 2 ** 20:.0f} MiB is too large for a {what} (allowed up to "
                             f"{max_bytes // 2 ** 20} MiB)")
        data = p.read_bytes()
    except OSError as exc:
        raise HwsimError(f"{p}: cannot read the {what}: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise HwsimError(f"{p}: binary data, not a {what} (expected UTF-8 text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HwsimError(f"{p}: not UTF-8 text at byte {exc.start}; a {what} must be UTF-8 text") from None


def load_json(text: str, source: str | Path) -> Any:
    """Parse a JSON input strictly: ``NaN``/``Infinity`` and a key given twice in one object (which Python's
    parser would take, keeping the last) are refused, as is nesting past the parser's depth; one HwsimError."""
    def unique(pairs: list) -> dict:
        out: dict = {}
        for k, v in pairs:
            if k in out:
                raise HwsimError(f"{source}: duplicate key {k[:80]!r}; give each key once")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise HwsimError(f"{source}: {name} is not a JSON number; allowed: finite numbers")

    try:
        return json.loads(text, object_pairs_hook=unique, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise HwsimError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise HwsimError(f"{source}: not valid JSON: nested too deeply") from None


def check_output(path: str | Path, force: bool = False, create: bool = True) -> Path:
    """The real file an output to ``path`` will replace, after the pre-flight checks (HwsimError if refused).

    ``create=False`` (a pre-flight before any work): a missing directory is checked, not made.
    """
    p = Path(path)
    if p.is_symlink():
        if not p.exists():
            raise HwsimError(f"{p}: a dangling symbolic link; refusing to write (give a plain file name)")
        if not force:
            raise HwsimError(f"{p}: a symbolic link to {os.path.realpath(p)}; refusing to write through it "
                             f"(--force writes to its target)")
        p = Path(os.path.realpath(p))
    if p.exists():
        mode = p.stat().st_mode
        if stat.S_ISDIR(mode):
            raise HwsimError(f"{p}: is a directory; give a file name for the output")
        if not stat.S_ISREG(mode):
            raise HwsimError(f"{p}: not a regular file (a FIFO, device or socket); give a file name for the output")
    check_output_dir(p.parent if str(p.parent) else Path("."), f"directory of {p}", create)
    return p


def check_output_dir(path: str | Path, what: str = "output directory", create: bool = True) -> Path:
    """Make sure ``path`` is (or can be created as) a directory that accepts new files; HwsimError if not.

    ``create=False`` (a pre-flight before any work): a missing ``path`` is not made; its nearest existing
    ancestor must be a directory this process can create it in, so that a later input error leaves no
    empty folder behind.
    """
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise HwsimError(f"{d}: {what} exists and is not a directory")
    if not create and not d.exists():
        parent = d.absolute().parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise HwsimError(f"{d}: cannot create the {what}: {parent} is not a directory")
        try:  # a real probe (permissions, read-only or pseudo file systems), removed at once
            os.rmdir(tempfile.mkdtemp(prefix=".hwsim-probe.", dir=parent))
        except OSError as exc:
            raise HwsimError(f"{d}: cannot write in the {what}: cannot create it in {parent}: "
                             f"{exc.strerror or exc}") from None
        return d
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hwsim-probe.", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HwsimError(f"{d}: cannot write in the {what}: {exc.strerror or exc}") from None
    return d


def replace_atomic(path: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it over ``path``.

    The file gets the permissions the umask gives a new file.  If ``write`` fails, the
    temporary file is removed and ``path`` is left as it was; an OSError becomes one HwsimError.
    """
    p = check_output(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            left = "the previous file is unchanged" if p.exists() else "nothing was written"
            reason = "no space left on the device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise HwsimError(f"{p}: cannot write: {reason}; {left}") from None
        raise
    return p


def write_atomic(path: str | Path, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (a reader never sees a half-written file); returns the file written."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    return replace_atomic(path, write, force)


def default_cache_dir() -> Path:
    """Where trained models and lookup tables are cached: ``$HWSIM_CACHE_DIR``, else ``~/.cache/hwsim``."""
    return Path(os.environ.get("HWSIM_CACHE_DIR") or Path.home() / ".cache" / "hwsim")


def save_figure(fig, stem: str | Path, dpi: int = 120) -> list[Path]:
    """Save a matplotlib figure as ``stem``.png and ``stem``.svg, each atomically; close it; return the paths."""
    import matplotlib.pyplot as plt

    paths = []
    try:
        for ext in ("png", "svg"):
            paths.append(replace_atomic(Path(stem).with_suffix(f".{ext}"),
                                        lambda tmp, ext=ext: fig.savefig(tmp, dpi=dpi, format=ext)))
    finally:
        plt.close(fig)
    return paths
