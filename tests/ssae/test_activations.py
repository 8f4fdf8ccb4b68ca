"""One shared forward pass reads every submodule; it stops early; edits splice outputs."""

from __future__ import annotations

import pytest
import torch

from ssae.activations import masked_tokens, next_token_loss, read_activations, run_with_edits

pytestmark = pytest.mark.usefixtures("one_thread")


def _hooked(model, specs, batch, replace=None):
    """Brute force with plain torch hooks: outputs of every spec (and optional replacement)."""
    seen, handles = {}, []
    for spec in specs:

        def hook(mod, inp, out, name=spec.name):
            value = out[0] if isinstance(out, tuple) else out
            seen[name] = value.detach().clone()
            if replace and name in replace:
                new = replace[name](value)
                return (new, *out[1:]) if isinstance(out, tuple) else new
            return None

        handles.append(spec.module(model).register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = model(**batch).logits
    finally:
        for h in handles:
            h.remove()
    return seen, logits


@pytest.fixture
def batch(tiny_lm):
    ids = torch.randint(2, 100, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_one_pass_reads_all_submodules_and_stops(tiny_lm, batch):
    specs = tiny_lm.submodules()
    expected, _ = _hooked(tiny_lm.model, specs, batch)
    calls = {"embed": 0, "final": 0}
    model = tiny_lm.model
    h1 = model.gpt_neox.embed_in.register_forward_hook(
        lambda *a: calls.__setitem__("embed", calls["embed"] + 1)
    )
    h2 = model.gpt_neox.final_layer_norm.register_forward_hook(
        lambda *a: calls.__setitem__("final", calls["final"] + 1)
    )
    try:
        acts = read_activations(tiny_lm, specs[:4], batch)  # up to resid_out_layer0
        assert calls == {"embed": 1, "final": 0}  # one pass, stopped before the end
        acts_all = read_activations(tiny_lm, list(reversed(specs)), batch)  # any order given
        assert calls["embed"] == 2
    finally:
        h1.remove()
        h2.remove()
    for name, a in {**acts, **acts_all}.items():
        assert torch.allclose(a, expected[name], atol=1e-6), name
    flat = masked_tokens(acts, batch["attention_mask"])
    assert flat["embed"].shape == (int(batch["attention_mask"].sum()), 32)
    assert torch.equal(flat["embed"][9:15], acts["embed"][1, :6])


def test_run_with_edits_matches_hooks(tiny_lm, batch):
    specs = tiny_lm.submodules()
    edits = {"mlp_out_layer0": lambda x: x * 0.5, "resid_out_layer1": torch.zeros_like}
    _, expected = _hooked(tiny_lm.model, specs, batch, replace=edits)
    logits = run_with_edits(tiny_lm, batch, edits)
    assert torch.allclose(logits, expected, atol=1e-5)
    clean = run_with_edits(tiny_lm, batch)
    assert not torch.allclose(clean, expected)


def test_skipping_the_clean_layers_below_an_edit_changes_no_logit(tiny_lm, batch):
    """An edit at layer L run with the clean outputs of layers 0..L-1 (read in a clean pass)
    gives bit for bit the logits of the full edited pass; an edit inside the skip is refused."""
    from ssae.activations import read_activations_and_logits, resid_prefix, resid_stream_specs

    edited = [s for s in tiny_lm.submodules() if s.layer >= 1]
    specs = resid_stream_specs(tiny_lm, edited)
    assert [s.name for s in specs if s.layer == 0] == ["resid_out_layer0"]
    acts, _ = read_activations_and_logits(tiny_lm, specs, batch)
    for spec in edited:
        prefix = resid_prefix(tiny_lm, acts, spec)
        assert len(prefix) == spec.layer
        edit = {spec.name: lambda x: x * 0.5}
        full = run_with_edits(tiny_lm, batch, edit, [spec])
        assert torch.equal(run_with_edits(tiny_lm, batch, edit, [spec], prefix), full), spec.name
    deep = resid_prefix(tiny_lm, acts, edited[-1])
    with pytest.raises(ValueError, match="skipped layers"):
        run_with_edits(tiny_lm, batch, {"mlp_out_layer0": torch.zeros_like}, None, deep)


def test_next_token_loss_excludes_padding(tiny_lm, batch):
    logits = run_with_edits(tiny_lm, batch)
    ce, valid = next_token_loss(logits, batch["input_ids"], batch["attention_mask"])
    assert int(valid.sum()) == 2 * 8 + 5
    logp = torch.log_softmax(logits, -1)
    manual = -logp[1, 2, batch["input_ids"][1, 3]]
    assert torch.allclose(ce[1, 2], manual, atol=1e-5)
    assert not ce[1, 5:].any()
