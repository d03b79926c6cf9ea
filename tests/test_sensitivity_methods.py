"""The sensitivity methods behind one interface: hawq's Hutchinson traces against exact Hessians, first_order's
k = 0 case against the plain expected gradient norm, tables the search reads, and the CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim.precision import PrecisionPolicy
from hwsim.cli import main
from hwsim.quant.sensitivity import METHODS
from hwsim.quant.sensitivity.first_order import gradient_norms
from hwsim.quant.sensitivity.hawq import hutchinson_traces
from hwsim.quant.sensitivity.probes import prepare, table_document

from conftest import CONFIGS

pytestmark = pytest.mark.slow  # whole pipelines / a trained model per test: make test-fast skips them


def _tiny(seed=0):
    """A conv -> ReLU -> linear network on 1x4x4 inputs, its data, and the same forward pass by hand."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    x = torch.randn(24, 1, 4, 4)
    y = torch.randint(0, 3, (24,))
    return model, x, y


def _exact(model, x, y):
    """Exact traces: of the weight Hessians, and of the input Hessians (mean over samples) of both layers."""
    conv, lin = model[0], model[3]
    w1, b1, w2, b2 = (t.detach().clone() for t in (conv.weight, conv.bias, lin.weight, lin.bias))

    def loss_w(a, b):
        return F.cross_entropy(F.linear(F.relu(F.conv2d(x, a, b1)).flatten(1), b, b2), y)

    h = torch.autograd.functional.hessian(loss_w, (w1, w2))
    tw = [float(torch.diagonal(h[i][i].reshape(t.numel(), t.numel())).sum()) for i, t in enumerate((w1, w2))]
    z = F.relu(F.conv2d(x, w1, b1)).flatten(1)
    hx = torch.autograd.functional.hessian(lambda v: F.cross_entropy(
        F.linear(F.relu(F.conv2d(v, w1, b1)).flatten(1), w2, b2), y), x)
    hz = torch.autograd.functional.hessian(lambda v: F.cross_entropy(F.linear(v, w2, b2), y), z)
    tx = [float(torch.diagonal(hx.reshape(x.numel(), x.numel())).sum()),
          float(torch.diagonal(hz.reshape(z.numel(), z.numel())).sum())]
    return np.array(tw), np.array(tx)


@pytest.mark.parametrize("seed", [0, 1])
def test_hutchinson_traces_match_the_exact_hessian_traces_within_5_percent(seed):
    model, x, y = _tiny(seed)
    exact_w, exact_x = _exact(model, x, y)
    prep = prepare(model, x, PrecisionPolicy("none"))
    tw, tx, draws = hutchinson_traces(prep, x, y, draws=3000, batch=len(x), seed=seed, tol=0.0, min_draws=250)
    assert draws == 4 * 3000  # two weight blocks and two input blocks, each probed on its own
    assert np.all(np.abs(tw / exact_w - 1) < 0.05), (tw, exact_w)
    assert np.all(np.abs(tx / exact_x - 1) < 0.05), (tx, exact_x)


def test_first_order_with_k_zero_is_the_plain_expected_gradient_norm():
    model, x, y = _tiny(2)
    prep = prepare(model, x, PrecisionPolicy("none"))
    before = [m.weight.detach().clone() for _, m in prep.layers]
    sw, sx = gradient_norms(prep, x, y, k=0.0, batch=8)
    conv, lin = model[0], model[3]
    plain_w, plain_x = np.zeros(2), np.zeros(2)
    for i in range(0, len(x), 8):
        xb, yb = x[i:i + 8].clone().requires_grad_(True), y[i:i + 8]
        h = F.relu(conv(xb)).flatten(1)
        h.retain_grad()
        loss = F.cross_entropy(lin(h), yb, reduction="none")
        gw = torch.autograd.grad(loss.mean(), (conv.weight, lin.weight), retain_graph=True)
        plain_w += [float(g.norm()) for g in gw]
        gx = torch.autograd.grad(loss.sum(), (xb, h))
        plain_x += [float(g.flatten(1).norm(dim=1).sum()) for g in gx]
    assert sw == pytest.approx(plain_w / 3, rel=1e-5) and sx == pytest.approx(plain_x / len(x), rel=1e-5)
    # a perturbation changes the estimate (k matters), and the weights are put back afterwards
    sw_k, _ = gradient_norms(prep, x, y, k=0.5, batch=8)
    assert not np.allclose(sw_k, sw, rtol=1e-3)
    assert all(torch.equal(b, m.weight) for b, (_, m) in zip(before, prep.layers))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1.0, 10.0, allow_nan=False), min_size=9, max_size=9))
def test_every_method_table_is_nonnegative_and_monotone_in_bits(values):
    """Whatever the raw entries (noise can make them negative or out of order), the table the search reads
    never predicts less loss for fewer weight or activation bits, and never a negative loss."""
    model, x, _ = _tiny(0)
    prep = prepare(model, x, PrecisionPolicy("none"))
    choices = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
    doc = table_document(prep, "test", "tiny", choices, PrecisionPolicy("none"),
                         {n: np.array(values) for n in prep.free}, {})
    for row in doc["layers"].values():
        for (w1, a1) in choices:
            for (w2, a2) in choices:
                if w1 <= w2 and a1 <= a2:
                    assert row[f"w{w1}a{a1}"] >= row[f"w{w2}a{a2}"] - 1e-9
        assert min(row.values()) >= 0


@pytest.mark.parametrize("method", ["first_order"])
def test_cli_table_feeds_the_exact_search_within_budget(tmp_path, capsys, method):
    """`hwsim sensitivity --method M` writes a table that `hwsim problem` + `hwsim search` use unchanged
    (hawq takes the same path through the registry; a full hawq run is minutes, see the next test)."""
    sens, lut, prob, res = (tmp_path / f for f in ("sens.json", "lut.json", "problem.json", "result.json"))
    assert main(["sensitivity", "--method", method, "--choices", "w2a8,w4a8,w8a8,w4a4", "-o", str(sens),
                 "--quiet"]) == 0
    doc = json.loads(sens.read_text())
    assert doc["method"] == method and doc["format"] == "hwsim-sensitivity/2" and len(doc["layers"]) >= 10
    assert all(row["w2a8"] >= row["w4a8"] >= row["w8a8"] >= 0 for row in doc["layers"].values())
    assert main(["lut", "--model", "digits-resnet", "--hw", str(CONFIGS / "bitfusion_16x32.yaml"), "-o", str(lut),
                 "--quiet"]) == 0
    assert main(["problem", "--lut", str(lut), "--sensitivity", str(sens), "--budget", "0.4", "-o", str(prob),
                 "--quiet"]) == 0
    assert main(["search", "--problem", str(prob), "--solver", "exact", "-o", str(res), "--quiet"]) == 0
    result = json.loads(res.read_text())
    assert result["feasible"] and result["cost"] <= json.loads(prob.read_text())["budget"] * (1 + 1e-9)


def test_hawq_table_on_the_digits_model():
    """hawq on a few samples of the embedded task: one entry per free layer and choice, traces positive for the
    weights (a trained network sits near a minimum), 2-bit weights predicted costlier than 8-bit."""
    from hwsim.quant.sensitivity import measure
    from hwsim.quant.sources import load_model_and_data

    model, data = load_model_and_data("digits-resnet", None, None, seed=0, progress=False)
    data = dataclasses.replace(data, calib_x=data.calib_x[:64], calib_y=data.calib_y[:64])
    doc = measure("hawq", model, data, [(2, 8), (8, 8), (8, 2)], PrecisionPolicy("first-last-8bit"), "digits-resnet",
                  samples=64, draws=16)
    assert doc["method"] == "hawq" and set(doc["choices"]) == {"w2a8", "w8a8", "w8a2"}
    assert len(doc["layers"]) == len(doc["traces"]) - len(doc["pinned"])
    assert all(t["weight"] > 0 for t in doc["traces"].values())
    assert all(row["w2a8"] > row["w8a8"] and row["w8a2"] > row["w8a8"] for row in doc["layers"].values())


def test_cli_methods_match_the_registry_and_bad_k_is_one_line(tmp_path, capsys):
    from hwsim.cli.common import SENSITIVITY_METHODS

    assert SENSITIVITY_METHODS == METHODS
    assert main(["sensitivity", "--method", "first_order", "--k", "-1", "-o", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert "--k -1.0: allowed: a perturbation >= 0" in err and err.count("\n") == 1
    assert not (tmp_path / "s.json").exists()


def test_limpq_trains_key_and_random_policies_and_its_ilp_meets_the_budget(tmp_path):
    """Algorithm 1: every step trains the n key policies (all layers at one bit-width) and one random policy;
    one weight and one activation indicator per layer and bit; the exact search on them meets a budget."""
    import math

    from hwsim.quant.sensitivity.limpq import limpq_sensitivity, train_indicators
    from hwsim.quant.sources import load_model_and_data
    from hwsim.search.build import problem_from_tables
    from hwsim.search.exact import solve_exact

    model, data = load_model_and_data("digits-resnet", None, None, seed=0, progress=False)
    policy = PrecisionPolicy("first-last-8bit")
    prep = prepare(model, data.calib_x, policy)
    seen = []
    train_indicators(prep, data, [2, 4, 8], epochs=1, batch=256, on_policy=lambda p: seen.append(dict(p)))
    steps = math.ceil(len(data.train_x) / 256)
    assert len(seen) == steps * 4
    for s in range(steps):
        key, drawn = seen[4 * s:4 * s + 3], seen[4 * s + 3]
        for b, pol in zip((2, 4, 8), key):
            assert all(pol[n] == (b, b) for n in prep.free) and all(pol[n] == (8, 8) for n in prep.pinned)
        assert all(w in (2, 4, 8) and a in (2, 4, 8) for w, a in drawn.values())
    assert len({tuple(sorted(p.items())) for p in seen[3::4]}) > 1  # the random policies differ

    choices = [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
    doc = limpq_sensitivity(model, data, choices, policy, "digits-resnet", epochs=1)
    assert set(doc["indicators"]) == {n for n, _ in prep.layers}
    for n in prep.free:
        assert set(doc["indicators"][n]["weight"]) == set(doc["indicators"][n]["activation"]) == {"2", "4", "8"}
        assert doc["layers"][n]["w4a8"] == pytest.approx(
            doc["indicators"][n]["activation"]["8"] + doc["alpha"] * doc["indicators"][n]["weight"]["4"])
    lut = tmp_path / "lut.json"
    assert main(["lut", "--model", "digits-resnet", "--hw", str(CONFIGS / "bitfusion_16x32.yaml"), "-o", str(lut),
                 "--quiet"]) == 0
    for fraction in (0.1, 0.5):
        problem = problem_from_tables(json.loads(lut.read_text()), doc, fraction, "fraction", "latency")
        sol = solve_exact(problem)
        assert sol.feasible and sol.cost <= problem.budget * (1 + 1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 40))
def test_gmpq_rank_correlation_is_spearmans_and_blind_to_monotone_maps(seed, pixels):
    """gmpq scores attribution maps by rank only: its correlation is scipy's Spearman (no ties), 1 for a map
    against any strictly increasing function of itself, -1 against a decreasing one."""
    from scipy.stats import spearmanr

    from hwsim.quant.sensitivity.gmpq import spearman

    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(4, pixels, generator=gen, dtype=torch.float64), torch.randn(4, pixels, generator=gen,
                                                                                 dtype=torch.float64)
    rho = spearman(a, b)
    assert rho.numpy() == pytest.approx([spearmanr(a[i], b[i]).statistic for i in range(4)], abs=1e-9)
    assert spearman(a, torch.exp(3 * a) + 1).numpy() == pytest.approx(np.ones(4))
    assert spearman(a, -a ** 3).numpy() == pytest.approx(-np.ones(4))


def test_gmpq_entries_split_into_loss_and_rank_terms():
    """Each entry is the loss increase plus lam x the rank loss; 8-bit layers keep the attribution ranks
    better than 2-bit ones."""
    from hwsim.quant.sensitivity import measure
    from hwsim.quant.sources import load_model_and_data

    model, data = load_model_and_data("digits-resnet", None, None, seed=0, progress=False)
    doc = measure("gmpq", model, data, [(2, 8), (8, 8)], PrecisionPolicy("first-last-8bit"), "digits-resnet",
                  proxy=64, lam=2.0)
    for name, terms in doc["terms"].items():
        for c, t in terms.items():
            assert doc["measured"][name][doc["choices"].index(c)] == pytest.approx(t["loss"] + 2.0 * t["rank"])
        assert terms["w8a8"]["rank"] < terms["w2a8"]["rank"]


@settings(max_examples=60, deadline=None)
@given(p=st.floats(1.0, 3.0), bits=st.integers(2, 8))
def test_pnmq_closed_form_rounding_maps_every_grid_point_to_itself(p, bits):
    """Eq. A.2 on every level of the grid of Eq. A.1 (both signs, and zero) returns that level."""
    from hwsim.quant.pnmq import closed_form_index, levels, quantize_scaled

    grid = levels(p, bits)
    K = 2 ** (bits - 1) - 1
    assert len(grid) == K and grid[-1] == pytest.approx(1.0) and bool((grid[1:] > grid[:-1]).all())
    assert closed_form_index(grid, p, bits).tolist() == list(range(K))
    assert closed_form_index(-grid, p, bits).tolist() == list(range(K))
    assert closed_form_index(torch.zeros(1, dtype=torch.float64), p, bits).item() == -1
    both = torch.cat([-grid, torch.zeros(1, dtype=torch.float64), grid])
    assert torch.allclose(quantize_scaled(both, p, bits), both)  # quantize-dequantize keeps grid points


@pytest.mark.parametrize("p,bits", [(1.0, 4), (1.1, 4), (1.5, 4), (1.3, 6)])
def test_pnmq_closed_form_against_nearest_level_rounding(p, bits):
    """How often Eq. A.2 departs from nearest-level rounding, on Gaussian weights scaled to [-1, 1]: never on
    the uniform grid (p = 1), sometimes for p > 1, and then always by one level (to a neighbour)."""
    from hwsim.quant.pnmq import closed_form_index, nearest_index

    x = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / 3
    x = x.clamp(-1, 1)
    a2, near = closed_form_index(x, p, bits), nearest_index(x, p, bits)
    share = float((a2 != near).double().mean())
    print(f"p={p} bits={bits}: Eq. A.2 differs from the nearest level for {100 * share:.3f}% of the weights")
    if p == 1.0:
        assert share == 0.0
    else:
        assert 0.0 < share < 0.2
    assert int((a2 - near).abs().max()) <= 1


def test_pnmq_quantizer_cli_and_mixed_precision_under_a_size_budget(tmp_path, capsys):
    """`hwsim quantize --quantizer pnmq` keeps 4-bit weights near FP accuracy, reports size and the Eq. A.2
    share; the pnmq table drives the exact search under a weight-size budget."""
    from hwsim.search.build import problem_from_tables
    from hwsim.search.exact import solve_exact

    out = tmp_path / "q"
    assert main(["quantize", "--quantizer", "pnmq", "--wbits", "4", "-o", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quantizer"] == "pnmq" and summary["fp_accuracy"] - summary["quant_accuracy"] < 0.01
    assert 6 < summary["compression"] < 8 and all(1.0 <= p <= 2.0 for p in summary["p"].values())
    assert "pnmq top-1" in capsys.readouterr().out

    sens, lut = tmp_path / "sens.json", tmp_path / "lut.json"
    assert main(["sensitivity", "--method", "pnmq", "--choices", "w2a8,w4a8,w8a8", "-o", str(sens), "--quiet"]) == 0
    assert main(["sensitivity", "--method", "pnmq", "-o", str(tmp_path / "bad.json")]) == 2
    assert "pnmq quantizes weights only" in capsys.readouterr().err
    assert main(["lut", "--model", "digits-resnet", "--hw", str(CONFIGS / "bitfusion_16x32.yaml"), "-o", str(lut),
                 "--quiet"]) == 0
    table = json.loads(sens.read_text())
    losses = []
    for fraction in (0.2, 0.5, 0.8):
        problem = problem_from_tables(json.loads(lut.read_text()), table, fraction, "fraction", "size")
        sol = solve_exact(problem)
        assert sol.feasible and sol.cost <= problem.budget * (1 + 1e-9) and problem.cost_unit == "bytes"
        losses.append(sol.objective)
    assert losses[0] >= losses[1] >= losses[2]  # a larger size budget never predicts more error
