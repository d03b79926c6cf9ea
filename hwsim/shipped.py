"""Files that ship inside the package, found by name from any directory.

``--hw bitfusion_16x32`` names ``hwsim/hw_configs/bitfusion_16x32.yaml`` and ``hwsim sweep sweep_bitfusion``
names ``hwsim/examples/sweep_bitfusion.yaml``, wherever hwsim is installed.  A value that is an existing
file, or that has a folder in it, is always a path: a user's own ``bitfusion_16x32.yaml`` in the working
directory wins over the shipped one.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "hw_configs"
EXAMPLE_DIR = Path(__file__).resolve().parent / "examples"
_SUFFIXES = (".yaml", ".yml")


def config_names() -> list[str]:
    """The names of the shipped hardware configs (``bitfusion_16x32``, ``cortex_a53_rpi3b``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def example_names() -> list[str]:
    """The names of the shipped example specs (``sweep_bitfusion``, ``codesign_space``)."""
    return sorted(p.stem for p in EXAMPLE_DIR.glob("*.yaml"))


def _by_name(value: str | Path, folder: Path) -> Path:
    p = Path(value)
    if p.exists() or len(p.parts) != 1:
        return p
    stem = p.stem if p.suffix.lower() in _SUFFIXES else p.name
    shipped = folder / f"{stem}.yaml"
    return shipped if shipped.is_file() else p


def config_path(value: str | Path) -> Path:
    """The file a ``--hw`` value means: an existing file or a path as given, else the shipped config of that
    name (with or without ``.yaml``); a name that matches nothing comes back unchanged (the loader says so)."""
    return _by_name(value, CONFIG_DIR)


def example_path(value: str | Path) -> Path:
    """The file a spec argument means: an existing file or a path as given, else the shipped example of that
    name; a name that matches nothing comes back unchanged."""
    return _by_name(value, EXAMPLE_DIR)
