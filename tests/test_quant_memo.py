"""The in-process store of FP work (quant/memo.py): a quantization that reuses it is bitwise the one that did not,
and the store stays inside its byte bound."""

import pytest
import torch

from hwsim.quant import memo
from hwsim.quant.api import quantize


def _mixed(model):
    """8-bit weights and 4-bit inputs everywhere but one layer of the last stage at w2a4: the units before its
    block have the bits of uniform w8a4."""
    from hwsim.quant.qmodel import quantizable_names

    return {n: (2, 4) if n == "layer3.0.conv1" else (8, 4) for n in quantizable_names(model)}


def _quantize(model, data, bits):
    return quantize(model, data.calib_x[:128], data.calib_y[:128], data.test_x[:256], data.test_y[:256], bits,
                    iters=10, seed=0, progress=False)


@pytest.mark.slow  # four quantizations of the digits model
def test_a_warm_store_quantizes_to_the_same_bits_as_a_cold_one(model, data):
    memo.clear()
    cold = _quantize(model, data, _mixed(model))
    assert memo.stats()["hits"] == 0 and memo.stats()["entries"] > 0
    memo.clear()
    _quantize(model, data, (8, 4))  # shares the unit targets, the FP accuracy, the 4-bit step searches and the
    before = memo.stats()["hits"]  # reconstructions of the stem and the first two stages (5 units)
    warm = _quantize(model, data, _mixed(model))
    recon_entries = [k for k in memo._STORE.items if k[0] == "unit-recon"]
    assert memo.stats()["hits"] >= before + 5 and len(recon_entries) == 8 + 3  # 8 units of w8a4, 3 more of the mixed
    a, b = cold.qmodel.state_dict(), warm.qmodel.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (cold.quant_accuracy, cold.fp_accuracy) == (warm.quant_accuracy, warm.fp_accuracy)
    assert [u["hard_loss"] for u in cold.units] == [u["hard_loss"] for u in warm.units]
    # other calibration data is another key: nothing of the above is reused
    memo.clear()
    _quantize(model, data, (8, 4))
    hits = memo.stats()["hits"]
    quantize(model, data.calib_x[128:256], data.calib_y[128:256], data.test_x[:256], data.test_y[:256], (8, 4),
             iters=2, seed=0, progress=False)
    assert memo.stats()["hits"] == hits + 1  # only the FP accuracy (same model, same test set)


def test_the_store_evicts_the_least_recently_used_within_its_bound(monkeypatch):
    memo.clear()
    monkeypatch.setattr(memo, "MAX_BYTES", 3000)
    for i in range(3):
        memo.cached(("t", i), lambda: torch.zeros(250))  # 1000 bytes each
    memo.cached(("t", 0), lambda: None)  # a hit: entry 0 becomes the most recent
    memo.cached(("t", 3), lambda: torch.zeros(250))  # over the bound: entry 1, the least recent, goes
    assert memo.lookup(("t", 1)) is None and memo.lookup(("t", 0)) is not None
    assert memo.stats()["bytes"] <= 3000
    big = memo.cached(("big",), lambda: torch.zeros(1000))  # larger than the bound: returned, never held
    assert big.numel() == 1000 and memo.lookup(("big",)) is None
    memo.clear()
