"""SAE evaluation against brute force: L0, FVU, dead features, spliced and zero-ablation CE."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ssae.evaluate import evaluate_sae_sets, evaluate_saes
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def saes(tiny_lm):
    s = SAESet.new(tiny_lm, 40, seed=1)
    with torch.no_grad():
        for ae in s.values():
            ae.encoder.bias.uniform_(-0.6, 0.1)  # some features never fire
            ae.bias.normal_(0, 0.1)
    return s


def _brute(lm, saes, tokens):
    """Every metric from scratch with torch hooks, one document at a time, explicit loops."""
    model = lm.model
    xs = {n: [] for n in saes}
    ce = {"clean": []} | {f"{k}:{n}": [] for n in saes for k in ("sae", "zero")}

    def run(doc_ids, replace=None):
        handles = []
        for spec in saes.specs:

            def hook(mod, inp, out, name=spec.name):
                value = out[0] if isinstance(out, tuple) else out
                if replace is None:
                    xs[name].append(value[0].detach().clone())
                    return None
                if name != replace[0]:
                    return None
                new = replace[1](value)
                return (new, *out[1:]) if isinstance(out, tuple) else new

            handles.append(spec.module(model).register_forward_hook(hook))
        try:
            with torch.no_grad():
                logits = model(input_ids=doc_ids[None]).logits[0]
        finally:
            for h in handles:
                h.remove()
        logp = torch.log_softmax(logits.double(), -1)
        return [-float(logp[p, doc_ids[p + 1]]) for p in range(len(doc_ids) - 1)]

    for i in range(len(tokens)):
        doc = tokens.input_ids[i, : int(tokens.lengths[i])].long()  # no padding at all
        ce["clean"] += run(doc)
        for n, ae in saes.items():
            ce[f"sae:{n}"] += run(doc, (n, lambda v, ae=ae: ae(v)))
            ce[f"zero:{n}"] += run(doc, (n, torch.zeros_like))
    out = {}
    for n, ae in saes.items():
        x = torch.cat(xs[n]).double()
        with torch.no_grad():
            f = ae.encode(x.float()).double()
            x_hat = ae(x.float()).double()
        # Engels et al.: least squares of the error on [x, 1], fit on even tokens, scored on odd
        e = x - x_hat
        z = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
        w = torch.linalg.lstsq(z[0::2], e[0::2]).solution
        e_odd, x_odd = e[1::2], x[1::2]
        resid = float(((e_odd - z[1::2] @ w) ** 2).sum())
        out[n] = {
            "error_linear_share": 1 - resid / float(((e_odd - e_odd.mean(0)) ** 2).sum()),
            "nonlinear_error_fvu": resid / float(((x_odd - x_odd.mean(0)) ** 2).sum()),
            "l0": float((f > 0).sum(1).double().mean()),
            "fvu": float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()),
            "dead": int((f.amax(0) <= 0).sum()),
            "ce_spliced": sum(ce[f"sae:{n}"]) / len(ce[f"sae:{n}"]),
            "ce_zero": sum(ce[f"zero:{n}"]) / len(ce[f"zero:{n}"]),
        }
    return out, sum(ce["clean"]) / len(ce["clean"]), sum(len(v) for v in xs["embed"])


def test_metrics_match_brute_force(tiny_lm, saes, tmp_path, make_tokens):
    tokens = make_tokens(10, 12, seed=5)
    result = evaluate_saes(
        tiny_lm, saes, tokens, batch_docs=4, out=tmp_path / "e.json", progress=False
    )
    brute, clean, n_tokens = _brute(tiny_lm, saes, tokens)
    assert result["n_tokens"] == n_tokens == tokens.n_tokens
    assert result["clean_ce"] == pytest.approx(clean, rel=1e-5)
    assert result["clean_ppl"] == pytest.approx(math.exp(clean), rel=1e-5)
    for n, want in brute.items():
        row = result["submodules"][n]
        assert row["l0"] == pytest.approx(want["l0"], rel=1e-6)
        assert row["fvu"] == pytest.approx(want["fvu"], rel=1e-4)
        assert row["dead"] == want["dead"] and row["alive"] == 40 - want["dead"]
        assert row["ce_spliced"] == pytest.approx(want["ce_spliced"], rel=1e-5)
        assert row["ce_zero"] == pytest.approx(want["ce_zero"], rel=1e-5)
        rec = (want["ce_zero"] - want["ce_spliced"]) / (want["ce_zero"] - clean)
        assert row["ce_loss_recovered"] == pytest.approx(rec, rel=1e-3, abs=1e-4)
        assert row["error_linear_share"] == pytest.approx(want["error_linear_share"], abs=1e-4)
        # (an SAE whose features never fire has an error x - b_dec, linear in x: residual ~ 0,
        # which the sums reproduce to ~1e-6 of the input's variance)
        nonlinear = pytest.approx(want["nonlinear_error_fvu"], rel=1e-3, abs=1e-5)
        assert row["nonlinear_error_fvu"] == nonlinear
        assert -1e-5 < row["nonlinear_error_fvu"] <= row["fvu"] + 1e-9
    assert any(r["dead"] > 0 for r in result["submodules"].values())
    on_disk = json.loads((tmp_path / "e.json").read_text())
    assert on_disk["submodules"]["embed"]["l0"] == result["submodules"]["embed"]["l0"]


def test_padding_never_counts(tiny_lm, saes, make_tokens):
    tokens = make_tokens(6, 10, seed=7)
    garbage = tokens.input_ids.clone()
    mask = tokens.attention_mask().bool()
    garbage[~mask] = torch.randint(2, 100, (int((~mask).sum()),), dtype=torch.int32)
    wider = torch.full((6, 16), 3, dtype=torch.int32)
    wider[:, :10] = garbage
    other = TokenDataset(wider, tokens.lengths.clone(), pad_id=3)
    a = evaluate_saes(tiny_lm, saes, tokens, batch_docs=3, progress=False)
    b = evaluate_saes(tiny_lm, saes, other, batch_docs=3, progress=False)
    assert a["n_tokens"] == b["n_tokens"] == tokens.n_tokens
    for n in saes:
        for k in ("l0", "fvu", "dead", "ce_spliced", "ce_zero"):
            assert a["submodules"][n][k] == pytest.approx(b["submodules"][n][k], rel=1e-5), (n, k)


def test_identity_dictionaries_are_lossless(tiny_lm, make_tokens):
    tokens = make_tokens(4, 8, seed=9)
    result = evaluate_saes(tiny_lm, SAESet.identity(tiny_lm), tokens, progress=False)
    for row in result["submodules"].values():
        assert row["fvu"] == pytest.approx(0.0, abs=1e-12)
        assert row["ce_spliced"] == pytest.approx(result["clean_ce"], abs=1e-5)
        assert row["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-4)


def test_sets_evaluated_together_match_each_alone(tiny_lm, saes, make_tokens):
    """Sharing the clean and zero-ablation passes between sets changes no figure; a set over
    fewer submodules than the other gets only its own rows."""
    tokens = make_tokens(5, 9, seed=11)
    other = SAESet.new(tiny_lm, 24, seed=2).subset(saes.names[:2])
    both = evaluate_sae_sets(tiny_lm, {"a": saes, "b": other}, tokens, batch_docs=2, progress=False)
    for key, s in (("a", saes), ("b", other)):
        alone = evaluate_saes(tiny_lm, s, tokens, batch_docs=2, progress=False)
        assert list(both[key]["submodules"]) == s.names
        assert both[key]["clean_ce"] == pytest.approx(alone["clean_ce"], rel=1e-6)
        for n in s:
            for k in ("l0", "fvu", "dead", "ce_spliced", "ce_zero", "ce_loss_recovered"):
                got, want = both[key]["submodules"][n][k], alone["submodules"][n][k]
                assert got == pytest.approx(want, rel=1e-5), (key, n, k)


def test_a_reference_result_supplies_the_zero_ablation_ce(tiny_lm, saes, make_tokens, monkeypatch):
    """With an earlier result on the same tokens, a set's evaluation skips the zero-ablation
    passes of the submodules it covers and gives the same figures."""
    import ssae.evaluate as ev

    tokens = make_tokens(5, 9, seed=11)
    other = SAESet.new(tiny_lm, 24, seed=2)
    first = evaluate_saes(tiny_lm, saes, tokens, batch_docs=2, progress=False)
    alone = evaluate_saes(tiny_lm, other, tokens, batch_docs=2, progress=False)
    zero_passes = []
    real = ev._edited
    monkeypatch.setattr(
        ev,
        "_edited",
        lambda lm, b, a, spec, edit: zero_passes.append(edit) or real(lm, b, a, spec, edit),
    )
    reused = ev.evaluate_sae_sets(
        tiny_lm, {"s": other}, tokens, batch_docs=2, progress=False, reference=first
    )["s"]
    assert torch.zeros_like not in zero_passes
    for n in other:
        for k in ("fvu", "ce_spliced", "ce_zero", "ce_loss_recovered"):
            got, want = reused["submodules"][n][k], alone["submodules"][n][k]
            assert got == pytest.approx(want, rel=1e-6), (n, k)


def test_max_tokens_and_no_ce(tiny_lm, saes, make_tokens):
    tokens = make_tokens(10, 12, seed=5)
    result = evaluate_saes(tiny_lm, saes, tokens, max_tokens=20, spliced=False, progress=False)
    assert "clean_ce" not in result and "ce_spliced" not in result["submodules"]["embed"]
    first = int(tokens.lengths[0])
    assert (
        result["n_tokens"] >= 20
        and result["n_tokens"] - int(tokens.lengths[result["n_docs"] - 1]) < 20
    )
    assert result["n_tokens"] >= first


def test_one_dictionary_at_one_site_matches_brute_force(tiny_lm, saes, make_tokens):
    """spliced_metrics (one pass per batch, the edit and the statistics in the same pass) and
    clean_ce give the brute-force numbers of every submodule."""
    from ssae.evaluate import clean_ce, spliced_metrics

    tokens = make_tokens(10, 12, seed=5)
    brute, clean, n_tokens = _brute(tiny_lm, saes, tokens)
    assert clean_ce(tiny_lm, tokens, batch_docs=3)["clean_ce"] == pytest.approx(clean, rel=1e-5)
    for n, want in brute.items():
        row = spliced_metrics(tiny_lm, n, saes[n], tokens, batch_docs=3)
        assert row["n_tokens"] == n_tokens
        assert row["l0"] == pytest.approx(want["l0"], rel=1e-6)
        assert row["fvu"] == pytest.approx(want["fvu"], rel=1e-4)
        assert row["dead"] == want["dead"]
        assert row["ce_spliced"] == pytest.approx(want["ce_spliced"], rel=1e-5)
        assert row["ppl_spliced"] == pytest.approx(math.exp(want["ce_spliced"]), rel=1e-5)
