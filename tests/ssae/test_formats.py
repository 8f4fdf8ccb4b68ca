"""Dictionary formats: dictionary_learning both ways, SAELens/TopK/JumpReLU against hand-computed
outputs, and one-line errors for corrupt or mismatched checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ssae.archs import AutoEncoder, JumpReLUAutoEncoder, TopKAutoEncoder
from ssae.errors import CheckpointError
from ssae.formats import load_dictionary, read_saelens, save_dictionary

pytestmark = pytest.mark.usefixtures("one_thread")

# Hand-made SAE, d = 3, n = 4 (rows of W_enc.T / columns of W_dec are features).
W_ENC = [[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, 1.0, 0.5], [-1.0, 0.5, 0.0, 1.0]]  # [d, n]
B_ENC = [0.1, -0.2, -3.0, 0.0]
W_DEC = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]  # [n, d]
B_DEC = [0.5, -0.5, 1.0]
X = [[1.0, 2.0, 3.0], [-1.0, 0.0, 2.0], [2.0, -1.0, 0.5]]


def _hand(x, act, sub_b_dec, threshold=None, k=None):
    """Reference SAE written with loops: pre, activation, reconstruction."""
    d, n = len(W_ENC), len(B_ENC)
    xin = [x[i] - (B_DEC[i] if sub_b_dec else 0.0) for i in range(d)]
    pre = [sum(xin[i] * W_ENC[i][j] for i in range(d)) + B_ENC[j] for j in range(n)]
    if act == "relu":
        f = [max(p, 0.0) for p in pre]
    elif act == "jumprelu":
        f = [p if p > threshold[j] else 0.0 for j, p in enumerate(pre)]
        f = [max(v, 0.0) for v in f]
    else:  # topk of the ReLU
        r = [max(p, 0.0) for p in pre]
        keep = sorted(range(n), key=lambda j: -r[j])[:k]
        f = [r[j] if j in keep else 0.0 for j in range(n)]
    x_hat = [sum(f[j] * W_DEC[j][i] for j in range(n)) + B_DEC[i] for i in range(d)]
    return f, x_hat


def _write_saelens(folder, cfg, extra=None):
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        "W_enc": torch.tensor(W_ENC),
        "b_enc": torch.tensor(B_ENC),
        "W_dec": torch.tensor(W_DEC),
        "b_dec": torch.tensor(B_DEC),
        **(extra or {}),
    }
    save_file(tensors, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"d_in": 3, "d_sae": 4, **cfg}))
    return folder


@pytest.mark.parametrize(
    "cfg,act,sub,k,thr",
    [
        ({"architecture": "standard", "apply_b_dec_to_input": True}, "relu", True, None, None),
        ({"architecture": "standard", "apply_b_dec_to_input": False}, "relu", False, None, None),
        (
            {
                "architecture": "standard",
                "activation_fn_str": "topk",
                "activation_fn_kwargs": {"k": 2},
                "apply_b_dec_to_input": True,
            },
            "topk",
            True,
            2,
            None,
        ),
        ({"architecture": "topk", "k": 1, "apply_b_dec_to_input": False}, "topk", False, 1, None),
        (
            {"architecture": "jumprelu", "apply_b_dec_to_input": False},
            "jumprelu",
            False,
            None,
            [0.5, 0.0, 0.1, 1.2],
        ),
        (
            {"architecture": "jumprelu", "apply_b_dec_to_input": True},
            "jumprelu",
            True,
            None,
            [0.5, 0.0, 0.1, 1.2],
        ),
    ],
)
def test_saelens_reader_matches_hand_computation(tmp_path, cfg, act, sub, k, thr):
    extra = {"threshold": torch.tensor(thr)} if thr else None
    ae = read_saelens(_write_saelens(tmp_path / "sae", cfg, extra))
    assert (ae.activation_dim, ae.dict_size) == (3, 4)
    for x in X:
        f_ref, xhat_ref = _hand(x, act, sub, thr, k)
        f = ae.encode(torch.tensor([x]))[0]
        assert torch.allclose(f, torch.tensor(f_ref), atol=1e-5), (x, f, f_ref)
        assert torch.allclose(ae(torch.tensor([x]))[0], torch.tensor(xhat_ref), atol=1e-5)
    if act == "topk":
        assert isinstance(ae, TopKAutoEncoder)
    if act == "jumprelu":
        assert isinstance(ae, JumpReLUAutoEncoder)


def test_saelens_unsupported_and_mismatched(tmp_path):
    with pytest.raises(CheckpointError, match="normalize_activations"):
        read_saelens(_write_saelens(tmp_path / "a", {"normalize_activations": "layer_norm"}))
    bad = _write_saelens(tmp_path / "b", {})
    (bad / "cfg.json").write_text(json.dumps({"d_in": 5, "d_sae": 4}))
    with pytest.raises(CheckpointError, match="d_in=5"):
        load_dictionary(bad)


def test_topk_and_jumprelu_dictionary_learning_layout(tmp_path):
    torch.manual_seed(0)
    topk = TopKAutoEncoder(6, 10, k=3)
    jump = JumpReLUAutoEncoder(6, 10)
    with torch.no_grad():
        jump.threshold.uniform_(0, 0.3)
        topk.encoder.bias.normal_()
    x = torch.randn(20, 6)
    f = topk.encode(x)
    assert ((f > 0).sum(-1) <= 3).all() and ((f > 0).sum(-1) == 3).any()
    pre = torch.relu((x - topk.b_dec) @ topk.encoder.weight.T + topk.encoder.bias)
    brute = torch.where(pre >= pre.topk(3, dim=-1).values[:, -1:], pre, torch.zeros_like(pre))
    assert torch.allclose(f, brute)
    for ae in (topk, jump):
        save_dictionary(ae, tmp_path / ae.dict_class)
        back = load_dictionary(tmp_path / ae.dict_class, activation_dim=6)
        assert type(back) is type(ae)
        assert torch.equal(back(x), ae(x))


def test_saved_set_member_loads_in_dictionary_learning(tmp_path):
    dl = pytest.importorskip("dictionary_learning.dictionary")
    torch.manual_seed(1)
    ae = AutoEncoder(16, 40)
    with torch.no_grad():
        ae.encoder.bias.normal_(0, 0.1)
        ae.bias.normal_()
    save_dictionary(ae, tmp_path / "ae", trainer={"lr": 1e-3, "l1_penalty": 0.1})
    theirs = dl.AutoEncoder.from_pretrained(str(tmp_path / "ae" / "ae.pt"))
    x = torch.randn(50, 16)
    assert torch.equal(theirs(x), ae(x))
    assert torch.equal(theirs.encode(x), ae.encode(x))
    config = json.loads((tmp_path / "ae" / "config.json").read_text())
    want = {
        "dict_class": "AutoEncoder",
        "activation_dim": 16,
        "dict_size": 40,
        "lr": 1e-3,
        "l1_penalty": 0.1,
    }
    assert config["trainer"].items() >= want.items()
    assert "buffer" in config


def test_dictionary_learning_checkpoints_load_here(tmp_path):
    dl = pytest.importorskip("dictionary_learning.dictionary")
    topk_mod = pytest.importorskip("dictionary_learning.trainers.top_k")
    torch.manual_seed(2)
    theirs = {
        "relu": dl.AutoEncoder(16, 40),
        "topk": topk_mod.AutoEncoderTopK(16, 40, 5),
        "jump": dl.JumpReluAutoEncoder(16, 40),
    }
    with torch.no_grad():
        theirs["relu"].encoder.bias.normal_(0, 0.1)
        theirs["relu"].bias.normal_()
        theirs["jump"].b_enc.normal_(0, 0.1)
    x = torch.randn(30, 16)
    for name, model in theirs.items():
        (tmp_path / name).mkdir()
        torch.save(model.state_dict(), tmp_path / name / "ae.pt")
        mine = load_dictionary(tmp_path / name, activation_dim=16, dict_size=40)
        assert torch.equal(mine(x), model(x)), name
        assert torch.equal(mine.encode(x), model.encode(x)), name


def _one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupt_file_is_one_line_error(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "ae.pt").write_bytes(b"\x80\x04 not a checkpoint \x00" * 10)
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "x")
    _one_line_error(e, str(tmp_path / "x" / "ae.pt"), "corrupt")
    # truncated zip
    save_dictionary(AutoEncoder(4, 8), tmp_path / "y")
    blob = (tmp_path / "y" / "ae.pt").read_bytes()
    (tmp_path / "y" / "ae.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "y")
    _one_line_error(e, str(tmp_path / "y" / "ae.pt"), "corrupt")
    (tmp_path / "z").mkdir()
    torch.save({"foo": torch.zeros(3)}, tmp_path / "z" / "ae.pt")
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "z")
    _one_line_error(e, "unknown dictionary layout")


def test_width_and_input_size_mismatch_are_one_line_errors(tmp_path):
    save_dictionary(AutoEncoder(16, 40), tmp_path / "a")
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "a", activation_dim=32, where="submodule embed")
    _one_line_error(e, str(tmp_path / "a" / "ae.pt"), "input size 16", "32", "submodule embed")
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "a", dict_size=64)
    _one_line_error(e, "width 40", "64")
    # config.json disagreeing with the weights
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["trainer"]["dict_size"] = 41
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "a")
    _one_line_error(e, "dict_size 40", "41", "config.json")
    # inconsistent shapes inside ae.pt
    sd = AutoEncoder(16, 40).state_dict()
    sd["decoder.weight"] = torch.zeros(16, 39)
    (tmp_path / "b").mkdir()
    torch.save(sd, tmp_path / "b" / "ae.pt")
    with pytest.raises(CheckpointError) as e:
        load_dictionary(tmp_path / "b")
    _one_line_error(e, "decoder.weight", "(16, 39)", "(16, 40)")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda sd: sd["encoder.weight"].__setitem__((0, 1), float("nan")), "1 NaN or infinite"),
        (lambda sd: sd["bias"].__setitem__(2, float("inf")), "bias has 1 NaN or infinite"),
        (
            lambda sd: sd.update({"decoder.weight": sd["decoder.weight"].round().long()}),
            "decoder.weight has dtype int64; dictionary weights must be floating point",
        ),
    ],
)
def test_weights_must_be_finite_floating_point(tmp_path, edit, message):
    """A dictionary_learning file with a NaN, an infinity or integer weights is refused in one
    line naming the file."""
    sd = {k: v.clone() for k, v in AutoEncoder(3, 4).state_dict().items()}
    edit(sd)
    torch.save(sd, tmp_path / "ae.pt")
    with pytest.raises(CheckpointError, match=message) as e:
        load_dictionary(tmp_path)
    assert str(tmp_path / "ae.pt") in str(e.value) and "\n" not in str(e.value)


def test_half_precision_weights_load_as_float32(tmp_path):
    """...while half-precision weights load, as the float32 every consumer reads."""
    ae = AutoEncoder(3, 4)
    torch.save({k: v.half() for k, v in ae.state_dict().items()}, tmp_path / "ae.pt")
    loaded = load_dictionary(tmp_path)
    assert loaded.encoder.weight.dtype == torch.float32
    assert torch.allclose(loaded.encoder.weight, ae.encoder.weight.half().float())


def test_saelens_weights_with_nan_are_refused(tmp_path):
    d, n = 3, 4
    w = {
        "W_enc": torch.randn(d, n),
        "b_enc": torch.zeros(n),
        "W_dec": torch.randn(n, d),
        "b_dec": torch.full((d,), float("nan")),
    }
    save_file(w, str(tmp_path / "sae_weights.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps({"d_in": d, "d_sae": n}))
    with pytest.raises(CheckpointError, match="b_dec has 3 NaN or infinite values"):
        read_saelens(tmp_path)
