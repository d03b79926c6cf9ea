"""Skipping the FP prefix (quant/replay.py) gives the very numbers of a full forward pass."""

import pytest
import torch

from hwsim.models import build_model
from hwsim.quant.qmodel import quant_layers, set_mode, wrap
from hwsim.quant.replay import PrefixReplay
from hwsim.quant.sensitivity.brecq import per_sample_logits


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_replayed_passes_equal_full_passes_bit_for_bit(name):
    """torchvision's blocks (in-place adds and ReLUs, a ReLU module called twice per block): for single layers and
    pairs anywhere in the net, quantized alone, the replayed pass equals the full one exactly; batches of 3 over 7
    samples (a short last batch)."""
    torch.manual_seed(0)
    fp, q = wrap(build_model(name, num_classes=10).eval(), torch.randn(2, 3, 16, 16))
    x = torch.randn(7, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    layers = quant_layers(q, x[:2])
    names = [n for n, _ in layers]
    targets = [{names[i]} for i in (0, len(names) // 2, len(names) - 1)]
    targets.append({names[len(names) // 2], names[len(names) // 2 + 1]})
    for n, m in layers:
        if any(n in t for t in targets):  # 2-bit weights (min/max grid), 4-bit inputs
            m.wq.set_bits(m.weight, 2, search=False)
            m.aq.bits, m.aq.signed = 4, True
            m.aq.step.data.fill_(0.05)
    set_mode(layers, "fp", False)
    replay = PrefixReplay(q, x, targets, batch=3)
    assert sum(len(v) for v in replay.plans.values()) > 0  # something is replayed
    assert replay.plans[frozenset(targets[0])] == []  # nothing runs before the first layer
    for target in targets:
        set_mode([(n, m) for n, m in layers if n not in target], "fp", False)
        set_mode([(n, m) for n, m in layers if n in target], "hard", True)
        full = per_sample_logits(q, x, batch=3)
        assert torch.equal(per_sample_logits(q, x, replay=replay, target=target), full), target
        assert not any("forward" in vars(m) for m in q.modules())  # every replay is undone
    set_mode(layers, "fp", False)
    assert torch.equal(per_sample_logits(q, x, batch=3), per_sample_logits(fp, x, batch=3))  # recordings untouched


def test_a_recording_that_would_not_fit_replays_nothing(monkeypatch):
    from hwsim.quant import replay as mod

    monkeypatch.setattr(mod, "available_memory_bytes", lambda: 1000)
    torch.manual_seed(0)
    _, q = wrap(build_model("resnet18", num_classes=10).eval(), torch.randn(2, 3, 16, 16))
    x = torch.randn(4, 3, 16, 16)
    layers = quant_layers(q, x[:2])
    set_mode(layers, "fp", False)
    r = PrefixReplay(q, x, [{layers[-1][0]}])
    assert r.plans == {} and r.outputs == {}
    assert torch.equal(per_sample_logits(q, x, replay=r, target={layers[-1][0]}), per_sample_logits(q, x))
