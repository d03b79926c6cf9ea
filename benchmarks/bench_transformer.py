"""Transformer workloads on the accelerator: ViT-B/16 and Llama 3 8B decode per precision on the paper's array and a
128x128 one, and Llama 3 8B's time per output token against the KV cache's length and bits.

  python benchmarks/bench_transformer.py            (both tables, about 10 s with a warm numba cache)

Timing ``hwsim`` (every layer's best schedule), per layer as in a lookup table (outputs to DRAM): the GEMMs on the
array, softmax, the norms, activations, residual adds and rotary embeddings on its vector unit (one lane per
column by default).  The 128x128 array is ``bitfusion_32x64`` with 128 rows and 128 columns and its buffers and DRAM
as they are.  docs/guide/transformers.md quotes this output; tests/test_transformer.py checks the quote.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.api import hardware, model_layers, simulate  # noqa: E402
from hwsim.transformer import kv_cache_bytes, spec_of  # noqa: E402

PAIRS = ((8, 8), (4, 8), (4, 4), (2, 8), (2, 2))
DECODE = "llama3_8b:phase=decode,seq=2048"
LENGTHS = (512, 2048, 8192, 32768)


def arrays() -> dict:
    """The two accelerators of the tables, by label."""
    big = hardware("bitfusion_32x64")
    return {"bitfusion_16x32": hardware("bitfusion_16x32"),
            "128x128": dataclasses.replace(big, name="bitfusion_128x128", rows=128, cols=128)}


def precision_table() -> str:
    """ViT-B/16 (one 224x224 image) and Llama 3 8B decode (one token against 2,048 cached) per (w, a) pair."""
    hws = arrays()
    workloads = {"vit_b_16": model_layers("vit_b_16"), "llama3_8b decode, seq 2048": model_layers(DECODE)}
    lines = [f"{'workload':<28}{'array':<17}" + "".join(f"{f'w{w}a{a} ms':>12}" for w, a in PAIRS)]
    for label, layers in workloads.items():
        for name, hw in hws.items():
            row = "".join(f"{simulate(layers, hw, pair).latency_ms:>12.3f}" for pair in PAIRS)
            lines.append(f"{label:<28}{name:<17}{row}")
    return "\n".join(lines)


def decode_table() -> str:
    """Llama 3 8B's time per output token on the paper's array: weights at 4 bits, activations at 8, the KV
    cache at 2, 4 or 8 bits, against the cache's length; with the cache's size."""
    hw = arrays()["bitfusion_16x32"]
    lines = [f"{'cached tokens':>14}" + "".join(f"{f'KV {b}-bit MiB':>15}{'TPOT ms':>10}" for b in (8, 4, 2))]
    for seq in LENGTHS:
        name = f"llama3_8b:phase=decode,seq={seq}"
        layers, spec = model_layers(name), spec_of(name)
        cells = []
        for kv in (8, 4, 2):
            bits = {x.name: ((kv, 8) if x.kind == "matmul" else (4, 8)) for x in layers}
            cells.append(f"{kv_cache_bytes(spec, kv) / 2 ** 20:>15,.0f}{simulate(layers, hw, bits).latency_ms:>10.1f}")
        lines.append(f"{seq:>14,}" + "".join(cells))
    return "\n".join(lines)


def main() -> int:
    print("Per precision, ms (timing hwsim, GEMMs and vector operators):")
    print(precision_table())
    print("\nLlama 3 8B decode on bitfusion_16x32, weights w4, activations a8:")
    print(decode_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
