"""On-disk formats of sparse dictionaries: dictionary_learning and SAELens, read and written.

dictionary_learning (Marks et al.; the paper preset's dictionaries): a folder with
- `ae.pt`: a plain state dict saved with `torch.save`; the keys say the class:
  `AutoEncoder` {`encoder.weight` [n, d], `encoder.bias` [n], `decoder.weight` [d, n], `bias` [d]},
  `AutoEncoderTopK` and `BatchTopKSAE` {`encoder.*`, `decoder.weight`, `b_dec`, `k`,
  `threshold`} (the same keys: config.json's class name decides),
  `JumpReluAutoEncoder` {`W_enc` [d, n], `b_enc`, `W_dec` [n, d], `b_dec`, `threshold` [n]},
  `MatryoshkaBatchTopKSAE` {`W_enc`, `b_enc`, `W_dec`, `b_dec`, `k`, `threshold`, `group_sizes`};
- `config.json`: `{"trainer": {"dict_class", "activation_dim", "dict_size", "lr", "l1_penalty",
  ...}, "buffer": {...}}`.

SAELens: a folder with `cfg.json` (`d_in`, `d_sae`, `architecture` in standard/topk/jumprelu,
`activation_fn_str` or `activation_fn`, `k` or `activation_fn_kwargs.k`, `apply_b_dec_to_input`,
`normalize_activations`) and `sae_weights.safetensors` (`W_enc` [d_in, d_sae], `b_enc`, `W_dec`
[d_sae, d_in], `b_dec`, and `threshold` for JumpReLU). SAELens computes
pre = (x - b_dec * apply_b_dec_to_input) W_enc + b_enc. A ReLU or TopK SAE that does not subtract
b_dec from its input is folded into the dictionary_learning form exactly by absorbing the term:
b_enc' = b_enc + W_enc^T b_dec, so that W_enc^T (x - b_dec) + b_enc' = W_enc^T x + b_enc.

Every reader checks that the weights are floating point and finite, their shapes against each
other, against config.json, and against the activation width the caller expects, and turns any
failure into a one-line `CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ssae.archs import (
    AutoEncoder,
    BatchTopKSAE,
    JumpReLUAutoEncoder,
    MatryoshkaBatchTopKSAE,
    TopKAutoEncoder,
)
from ssae.dictionary import Dictionary
from ssae.errors import CheckpointError
from ssae.io import atomic_path, torch_load
from ssae.layout import AE_FILE, CONFIG_FILE, SAELENS_CFG, SAELENS_WEIGHTS, read_json_object

_DL_KEYS = {
    # most specific first: the first layout whose keys are all present is the dictionary's
    "MatryoshkaBatchTopKSAE": {"W_enc", "b_enc", "W_dec", "b_dec", "k", "threshold", "group_sizes"},
    "AutoEncoder": {"encoder.weight", "encoder.bias", "decoder.weight", "bias"},
    "AutoEncoderTopK": {"encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "k"},
    "JumpReluAutoEncoder": {"W_enc", "b_enc", "W_dec", "b_dec", "threshold"},
}
_INTEGER_BUFFERS = {"k", "group_sizes"}
"""Buffers of the layouts above that hold counts, not weights (never checked as weights)."""
_SAME_KEYS = {"BatchTopKSAE": "AutoEncoderTopK"}
"""Classes whose state dict has another's keys; only config.json's class name tells them apart."""


def load_dictionary(
    path: str | os.PathLike,
    activation_dim: int | None = None,
    dict_size: int | None = None,
    where: str = "",
    device: str | torch.device = "cpu",
) -> Dictionary:
    """Read a dictionary from a folder (dictionary_learning or SAELens) or an `ae.pt` file.

    `activation_dim` / `dict_size`, when given, must match the checkpoint; `where` names what it
    is meant for (e.g. "submodule resid_out_layer3 of pythia-70m") in the error message.
    """
    path = Path(path)
    if path.is_file():
        ae = read_dictionary_learning(path)
        file = path
    elif (path / AE_FILE).is_file():
        ae = read_dictionary_learning(path)
        file = path / AE_FILE
    elif (path / SAELENS_CFG).is_file():
        ae = read_saelens(path)
        file = path / SAELENS_WEIGHTS
    else:
        raise CheckpointError(
            f"{path} holds no dictionary: expected {AE_FILE} (dictionary_learning) or "
            f"{SAELENS_CFG} + {SAELENS_WEIGHTS} (SAELens)"
        )
    check_shape(ae, file, activation_dim, dict_size, where)
    return ae.to(device)


def check_shape(
    ae: Dictionary,
    file: str | os.PathLike,
    activation_dim: int | None = None,
    dict_size: int | None = None,
    where: str = "",
) -> None:
    """Raise a one-line CheckpointError when `ae` does not fit the expected sizes."""
    target = f" of {where}" if where else ""
    if activation_dim is not None and ae.activation_dim != activation_dim:
        raise CheckpointError(
            f"{file}: input size {ae.activation_dim} does not match the width {activation_dim}"
            f"{target}; use dictionaries trained for this model and submodule"
        )
    if dict_size is not None and ae.dict_size != dict_size:
        raise CheckpointError(
            f"{file}: dictionary width {ae.dict_size} does not match the expected {dict_size}"
            f"{target}; use a matching checkpoint or start a fresh output folder"
        )


def read_dictionary_learning(path: str | os.PathLike) -> Dictionary:
    """Read `ae.pt` (and `config.json` next to it when present) written by dictionary_learning."""
    path = Path(path)
    file = path if path.is_file() else path / AE_FILE
    config = (
        read_json_object(file.parent / CONFIG_FILE) if (file.parent / CONFIG_FILE).exists() else {}
    )
    sd = _load_state_dict(file)
    hint = (config.get("trainer") or {}).get("dict_class") or (config.get("dictionary") or {}).get(
        "dict_class"
    )
    ae = dictionary_from_state_dict(sd, file, hint)
    for section in ("trainer", "dictionary"):
        sec = config.get(section) or {}
        for key, have in (("activation_dim", ae.activation_dim), ("dict_size", ae.dict_size)):
            if key in sec and sec[key] is not None and int(sec[key]) != have:
                raise CheckpointError(
                    f"{file}: {key} {have} in the weights does not match {sec[key]} in "
                    f"{file.parent / CONFIG_FILE}; the folder mixes two dictionaries"
                )
    return ae


def dictionary_from_state_dict(
    sd: dict[str, torch.Tensor], file: str | os.PathLike = "<state dict>", hint: str | None = None
) -> Dictionary:
    """Build the dictionary_learning class whose keys `sd` has, after checking all shapes."""
    keys = set(sd)
    kind = next((name for name, need in _DL_KEYS.items() if need <= keys), None)
    if kind is None:
        raise CheckpointError(
            f"{file}: unknown dictionary layout (keys {sorted(keys)[:6]}); expected a "
            f"dictionary_learning state dict of one of {', '.join([*_DL_KEYS, *_SAME_KEYS])}"
        )
    layout = _SAME_KEYS.get(hint, hint)
    if layout is not None and layout in _DL_KEYS and layout != kind:
        raise CheckpointError(f"{file}: config.json says {hint} but the weights are a {kind}")
    weights = _DL_KEYS[kind] - _INTEGER_BUFFERS
    check_weights(file, {k: v for k, v in sd.items() if k in weights})
    try:
        if kind in ("JumpReluAutoEncoder", "MatryoshkaBatchTopKSAE"):
            d, n = sd["W_enc"].shape
            _expect(file, sd, {"b_enc": (n,), "W_dec": (n, d), "b_dec": (d,)})
            if kind == "JumpReluAutoEncoder":
                _expect(file, sd, {"threshold": (n,)})
                ae = JumpReLUAutoEncoder(d, n)
            else:
                sizes = [int(v) for v in sd["group_sizes"].reshape(-1)]
                if sum(sizes) != n or min(sizes, default=0) < 1:
                    raise CheckpointError(f"{file}: group_sizes {sizes} do not sum to width {n}")
                ae = MatryoshkaBatchTopKSAE(d, n, _k(file, sd, n), sizes)
            ae.load_state_dict({k: sd[k] for k in _DL_KEYS[kind]})
            return ae
        n, d = sd["encoder.weight"].shape
        shapes = {"encoder.bias": (n,), "decoder.weight": (d, n)}
        if kind == "AutoEncoder":
            _expect(file, sd, {**shapes, "bias": (d,)})
            ae = AutoEncoder(d, n)
        else:
            _expect(file, sd, {**shapes, "b_dec": (d,)})
            cls = BatchTopKSAE if hint == "BatchTopKSAE" else TopKAutoEncoder
            ae = cls(d, n, _k(file, sd, n))
            sd = {**sd, "threshold": sd.get("threshold", torch.tensor(-1.0))}
        ae.load_state_dict({k: v for k, v in sd.items() if k in ae.state_dict()})
    except ValueError as e:  # a shape of size 0 or a non-2-d weight
        raise CheckpointError(f"{file}: malformed weights ({_one_line(e)})") from e
    return ae


def read_saelens(folder: str | os.PathLike) -> Dictionary:
    """Read a SAELens folder (cfg.json + sae_weights.safetensors) as a dictionary here."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = read_json_object(folder / SAELENS_CFG)
    file = folder / SAELENS_WEIGHTS
    if not file.exists():
        raise CheckpointError(f"{file} is missing; a SAELens folder needs {SAELENS_WEIGHTS}")
    try:
        w = load_file(str(file))
    except Exception as e:  # safetensors raises several types on a torn or foreign file
        raise CheckpointError(f"{file} is corrupt or not safetensors ({_one_line(e)})") from e
    missing = {"W_enc", "b_enc", "W_dec", "b_dec"} - set(w)
    if missing:
        raise CheckpointError(f"{file}: missing tensors {sorted(missing)}")
    check_weights(file, w)
    if w["W_enc"].ndim != 2:
        raise CheckpointError(f"{file}: W_enc must be 2-d, got shape {tuple(w['W_enc'].shape)}")
    d, n = w["W_enc"].shape
    for key, want in (("d_in", d), ("d_sae", n)):
        if key in cfg and int(cfg[key]) != want:
            raise CheckpointError(f"{file}: {key}={cfg[key]} in {SAELENS_CFG} but W_enc is {d}x{n}")
    _expect(file, w, {"b_enc": (n,), "W_dec": (n, d), "b_dec": (d,)})
    norm = cfg.get("normalize_activations") or "none"
    if norm != "none":
        raise CheckpointError(
            f"{folder / SAELENS_CFG}: normalize_activations={norm!r} is not supported; only "
            "SAEs on raw activations ('none') can be spliced into the model exactly"
        )
    if cfg.get("finetuning_scaling_factor"):
        raise CheckpointError(f"{folder / SAELENS_CFG}: finetuning_scaling_factor is unsupported")
    arch = cfg.get("architecture", "standard")
    act = cfg.get("activation_fn_str") or cfg.get("activation_fn") or "relu"
    apply_b_dec = bool(cfg.get("apply_b_dec_to_input", True))
    W_enc, b_enc, W_dec, b_dec = (w[k].float() for k in ("W_enc", "b_enc", "W_dec", "b_dec"))
    if arch == "jumprelu":
        if "threshold" in w:
            threshold = w["threshold"].float()
        elif "log_threshold" in w:
            threshold = w["log_threshold"].float().exp()
        else:
            raise CheckpointError(f"{file}: a JumpReLU SAE needs a threshold tensor")
        _expect(file, {"threshold": threshold}, {"threshold": (n,)})
        ae = JumpReLUAutoEncoder(d, n, apply_b_dec_to_input=apply_b_dec)
        ae.load_state_dict(
            {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec, "threshold": threshold}
        )
        return ae
    if not apply_b_dec:
        b_enc = b_enc + b_dec @ W_enc
    if arch == "topk" or act == "topk":
        k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
        if k is None or not 1 <= int(k) <= n:
            raise CheckpointError(f"{folder / SAELENS_CFG}: TopK SAE needs k in 1..{n}, got {k}")
        ae = TopKAutoEncoder(d, n, int(k))
        with torch.no_grad():
            ae.b_dec.copy_(b_dec)
    elif arch == "standard" and act == "relu":
        ae = AutoEncoder(d, n)
        with torch.no_grad():
            ae.bias.copy_(b_dec)
    else:
        raise CheckpointError(
            f"{folder / SAELENS_CFG}: architecture {arch!r} with activation {act!r} is not "
            "supported; supported: standard (relu), topk, jumprelu"
        )
    with torch.no_grad():
        ae.encoder.weight.copy_(W_enc.T)
        ae.encoder.bias.copy_(b_enc)
        ae.decoder.weight.copy_(W_dec.T)
    return ae


def save_dictionary(
    ae: Dictionary,
    folder: str | os.PathLike,
    trainer: dict | None = None,
    buffer: dict | None = None,
) -> Path:
    """Write `ae.pt` (plain state dict) and a dictionary_learning-style `config.json`, atomically.

    `trainer` adds fields to config.json's "trainer" section (lr, l1_penalty, steps, ...).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu").clone().contiguous() for k, v in ae.state_dict().items()}
    with atomic_path(folder / AE_FILE) as tmp:
        torch.save(sd, tmp)
    config = {
        "trainer": {
            "dict_class": ae.dict_class,
            "activation_dim": ae.activation_dim,
            "dict_size": ae.dict_size,
            **(trainer or {}),
        },
        "buffer": dict(buffer or {}),
    }
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(config, indent=2, default=str) + "\n")
    return folder


def read_config(folder: str | os.PathLike) -> dict:
    """config.json of a dictionary_learning folder ({} when there is none)."""
    file = Path(folder) / CONFIG_FILE
    return read_json_object(file) if file.exists() else {}


def _load_state_dict(file: Path) -> dict[str, torch.Tensor]:
    if not file.exists():
        raise CheckpointError(f"{file} does not exist")
    try:
        sd = torch_load(file)
    except Exception as e:  # torch.load raises many types on a torn or foreign file
        raise CheckpointError(
            f"{file} is corrupt or not a PyTorch state dict ({_one_line(e)}); "
            "re-download or retrain it"
        ) from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{file} is not a state dict of tensors (got {type(sd).__name__})")
    return sd


def check_weights(file: str | os.PathLike, tensors: dict[str, torch.Tensor]) -> None:
    """Every weight floating point and finite: integer weights would be cast and NaN or infinite
    ones would pass through every later computation without an error."""
    for key, t in tensors.items():
        if not t.is_floating_point():
            raise CheckpointError(
                f"{file}: {key} has dtype {str(t.dtype).removeprefix('torch.')}; dictionary "
                "weights must be floating point (float32, float16 or bfloat16)"
            )
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise CheckpointError(
                f"{file}: {key} has {bad} NaN or infinite values; the dictionary is corrupt or "
                "diverged in training: retrain or re-download it"
            )


def _expect(file, tensors: dict, shapes: dict[str, tuple[int, ...]]) -> None:
    for key, shape in shapes.items():
        have = tuple(tensors[key].shape)
        if have != shape:
            raise CheckpointError(f"{file}: {key} has shape {have}, expected {shape}")


def _k(file, sd: dict, n: int) -> int:
    k = int(sd["k"])
    if not 1 <= k <= n:
        raise CheckpointError(f"{file}: k={k} is outside 1..{n}")
    return k


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
