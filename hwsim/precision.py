"""Bit-width labels and per-layer bit assignments (``w4a8`` = 4-bit weights, 8-bit activations)."""

from __future__ import annotations

import dataclasses
import numbers
import re
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .errors import HwsimError
from .io import load_json, read_text

_LABEL = re.compile(r"^w(\d+)a(\d+)$")


class Bits(NamedTuple):
    """A precision: ``w``-bit weights times ``a``-bit activations.  A tuple, so ``(4, 8)`` works wherever a Bits
    is asked for, and ``Bits(4, 8) == (4, 8)``; its label is ``"w4a8"``."""

    w: int
    a: int

    @classmethod
    def parse(cls, text: str) -> Bits:
        """``Bits.parse("w4a8") == Bits(4, 8)`` (case and surrounding blanks ignored); raises HwsimError on
        anything else."""
        m = _LABEL.match(str(text).strip().lower())
        if not m:
            raise HwsimError(f"bit label {text!r} is not of the form w<bits>a<bits>, e.g. w4a8")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, value: Any, where: str = "bits") -> Bits:
        """A Bits from any of its spellings: ``"w4a8"``, ``(4, 8)``, ``[4, 8]``, ``{"w": 4, "a": 8}``; raises
        HwsimError naming ``where`` on anything else."""
        if isinstance(value, str):
            try:
                return cls.parse(value)
            except HwsimError as exc:
                raise HwsimError(f"{where}: {exc}") from None
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            return cls(int(value[0]), int(value[1]))
        if isinstance(value, dict) and set(value) == {"w", "a"}:
            return cls.of([value["w"], value["a"]], where)
        raise HwsimError(f"{where}: got {value!r}; allowed: 'w4a8', [4, 8] or {{w: 4, a: 8}}")

    @property
    def label(self) -> str:
        """``"w4a8"``."""
        return f"w{self.w}a{self.a}"


def is_label(text: Any) -> bool:
    """Whether ``text`` is exactly a bit label (``w4a8``; no blanks, lower case)."""
    return isinstance(text, str) and _LABEL.match(text) is not None


def parse_label(text: str) -> Bits:
    """``"w4a8"`` -> ``Bits(4, 8)``; raises HwsimError on anything else."""
    return Bits.parse(text)


def label(wbits: int, abits: int) -> str:
    """``(4, 8)`` -> ``"w4a8"``."""
    return f"w{wbits}a{abits}"


def _pair(value: Any, where: str) -> Bits:
    return Bits.of(value, where)


def load_bits_file(path: str | Path, layer_names: Iterable[str]) -> dict[str, Bits]:
    """Read a per-layer bit assignment (JSON or YAML mapping layer -> w/a; optional ``default``), or the
    result JSON of ``hwsim search`` (its ``assignment``).

    Every layer of the workload must get bits (directly or from ``default``) and every name
    in the file must be a layer of the workload.
    """
    p = Path(path)
    text = read_text(p, "bits file", max_bytes=16 * 2 ** 20)
    if p.suffix == ".json":
        raw = load_json(text, p)
    else:
        from .yaml_input import load_yaml

        raw = load_yaml(text, str(p))
    if isinstance(raw, dict) and isinstance(raw.get("assignment"), dict) and "solver" in raw:
        raw = raw["assignment"]  # an 'hwsim search' result: its assignment is the bits file
    if not isinstance(raw, dict):
        raise HwsimError(f"{p}: expected a mapping of layer name -> bits (e.g. conv1: w8a8)")
    names = list(layer_names)
    default = _pair(raw["default"], f"{p}: field 'default'") if "default" in raw else None
    unknown = [k for k in raw if k != "default" and k not in names]
    if unknown:
        raise HwsimError(f"{p}: unknown layer {unknown[0]!r}; layers are: {', '.join(names[:8])}"
                         + (" ..." if len(names) > 8 else ""))
    out = {}
    for name in names:
        if name in raw:
            out[name] = _pair(raw[name], f"{p}: field '{name}'")
        elif default is not None:
            out[name] = default
        else:
            raise HwsimError(f"{p}: layer {name!r} has no bits and there is no 'default' entry")
    return out


def check_bits(hw: Any, wbits: int, abits: int, where: str = "") -> None:
    """Raise HwsimError unless the hardware supports ``wbits`` x ``abits``."""
    for role, b in (("weight", wbits), ("activation", abits)):
        if b not in hw.bits:
            raise HwsimError(
                f"{where}{role} bit-width {b} is not supported by {hw.name}; allowed: {', '.join(map(str, hw.bits))}"
            )


POLICIES = ("first-last-8bit", "none")


@dataclasses.dataclass(frozen=True)
class PrecisionPolicy:
    """Layers whose bits are fixed whatever is requested: the one rule the quantizer, the LUT and the search obey.

    ``first-last-8bit`` (default) keeps the first layer (it reads the raw image) and the last
    layer (it produces the logits) at w8a8, as BRECQ (appendix B.4.4) and most post-training
    quantization work do; ``none`` pins nothing.  Layers are named in execution order.
    """

    name: str = "first-last-8bit"

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise HwsimError(f"precision policy {self.name!r} is not known; allowed: {', '.join(POLICIES)}")

    def pinned(self, names: list[str]) -> dict[str, tuple[tuple[int, int], str]]:
        """Layer name -> (fixed (w, a), reason) for the layers this policy pins."""
        if self.name == "none" or not names:
            return {}
        out = {names[0]: ((8, 8), "first layer (reads the input image) kept at w8a8 by policy first-last-8bit")}
        out[names[-1]] = ((8, 8), "last layer (produces the logits) kept at w8a8 by policy first-last-8bit")
        return out

    def apply(self, plan: dict[str, tuple[int, int]], names: list[str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
        """(plan with pinned layers set, one note per layer whose requested bits changed)."""
        plan, notes = dict(plan), []
        for name, (bits, reason) in self.pinned(names).items():
            if name in plan and tuple(plan[name]) != bits:
                notes.append(f"{name}: {label(*plan[name])} -> {label(*bits)} ({reason})")
            plan[name] = bits
        return plan, notes
