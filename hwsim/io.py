"""Files: outputs are written whole or not at all (temporary file, then rename); where caches live."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees a half-written file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def default_cache_dir() -> Path:
    """Where trained models and lookup tables are cached: ``$HWSIM_CACHE_DIR``, else ``~/.cache/hwsim``."""
    return Path(os.environ.get("HWSIM_CACHE_DIR") or Path.home() / ".cache" / "hwsim")


def save_figure(fig, stem: str | Path, dpi: int = 120) -> list[Path]:
    """Save a matplotlib figure as ``stem``.png and ``stem``.svg, each atomically; close it; return the paths."""
    import matplotlib.pyplot as plt

    paths = []
    for ext in ("png", "svg"):
        path = Path(stem).with_suffix(f".{ext}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.{ext}")
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths
