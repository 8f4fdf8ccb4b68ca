"""Causal language models, their tokenizers, and the submodule map.

A *submodule* is one place in a model whose output an SAE reads and rewrites. Following Marks et
al. (2024) a GPTNeoX model has, per layer i, three of them - the attention output (`attn_out`), the
MLP output (`mlp_out`) and the residual stream after the layer (`resid_out`) - plus the token
embedding (`embed`). Their names are the folder names of the dictionary_learning layout
(`embed`, `attn_out_layer{i}`, `mlp_out_layer{i}`, `resid_out_layer{i}`).

Every layer above reads and writes activations through nnsight with `SubmoduleSpec.read` and
`SubmoduleSpec.write` inside a trace; specs come in forward order, which nnsight requires.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from nnsight import NNsight
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from ssae.errors import ConfigError, ModelUnavailable, ToolkitError

SUBMODULE_KINDS = ("embed", "attn_out", "mlp_out", "resid_out")

# Attribute paths per architecture: where the embedding, the layer list, and each layer's
# attention and MLP live. Adding an architecture is adding a row.
_ARCHITECTURES: dict[str, dict[str, str]] = {
    "gpt_neox": {
        "embed": "gpt_neox.embed_in",
        "layers": "gpt_neox.layers",
        "attn_out": "attention",
        "mlp_out": "mlp",
        "final_norm": "gpt_neox.final_layer_norm",
    },
}


@dataclass(frozen=True)
class SubmoduleSpec:
    """One activation site an SAE is attached to."""

    name: str
    """Folder name in the dictionary_learning layout, e.g. `resid_out_layer3`."""
    kind: str
    """One of `SUBMODULE_KINDS`."""
    layer: int
    """Transformer layer index; -1 for the embedding."""
    path: str
    """Dotted attribute path of the module inside the HF model."""
    d: int
    """Width of the activation (the model's hidden size)."""

    def __post_init__(self):
        if self.kind not in SUBMODULE_KINDS:
            raise ConfigError(
                f"unknown submodule kind {self.kind!r}; expected one of {SUBMODULE_KINDS}"
            )

    @property
    def order(self) -> tuple[int, int]:
        """Sort key for forward order (embed, then attn, mlp, resid of each layer)."""
        return (self.layer, SUBMODULE_KINDS.index(self.kind))

    def module(self, model: torch.nn.Module) -> torch.nn.Module:
        return _get_attr(model, self.path)

    def envoy(self, nn_model: NNsight):
        return _get_attr(nn_model, self.path)

    def read(self, nn_model: NNsight) -> torch.Tensor:
        """The submodule's output activation [batch, pos, d]; call inside a trace, in forward order."""
        out = self.envoy(nn_model).output
        return out[0] if isinstance(out, tuple) else out

    def write(self, nn_model: NNsight, value: torch.Tensor) -> None:
        """Replace the submodule's output activation; call inside a trace right after `read`."""
        envoy = self.envoy(nn_model)
        out = envoy.output
        envoy.output = (value, *out[1:]) if isinstance(out, tuple) else value


@dataclass
class LoadedModel:
    """A causal LM in eval mode, its tokenizer, and an nnsight wrapper for interventions."""

    model: PreTrainedModel
    tokenizer: object
    name: str

    def __post_init__(self):
        self.nn = NNsight(self.model)
        self.arch = architecture_of(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def d_model(self) -> int:
        return self.model.config.hidden_size

    @property
    def n_layers(self) -> int:
        return self.model.config.num_hidden_layers

    def submodules(
        self, layers: range | list[int] | None = None, kinds: tuple[str, ...] = SUBMODULE_KINDS
    ) -> list[SubmoduleSpec]:
        """Specs in forward order. `layers` defaults to all; `embed` is included when in `kinds`."""
        return submodule_specs(self.model, layers=layers, kinds=kinds)

    def submodule(self, name: str) -> SubmoduleSpec:
        for spec in self.submodules():
            if spec.name == name:
                return spec
        raise ToolkitError(
            f"model {self.name} has no submodule {name!r}; valid: embed, attn_out_layerI, "
            f"mlp_out_layerI, resid_out_layerI for I in 0..{self.n_layers - 1}"
        )

    def tokenize(self, texts: list[str], max_length: int | None = 128) -> dict[str, torch.Tensor]:
        """Right-padded batch encoding on the model's device, cut to `max_length` tokens (None:
        every token, padded to the longest text)."""
        enc = self.tokenizer(
            list(texts),
            return_tensors="pt",
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
        )
        return {
            k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")
        }


def architecture_of(model: torch.nn.Module) -> dict[str, str]:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in _ARCHITECTURES:
        raise ToolkitError(
            f"architecture {model_type!r} has no submodule map; supported: {sorted(_ARCHITECTURES)}"
        )
    return _ARCHITECTURES[model_type]


def submodule_specs(
    model: PreTrainedModel,
    layers: range | list[int] | None = None,
    kinds: tuple[str, ...] = SUBMODULE_KINDS,
) -> list[SubmoduleSpec]:
    arch = architecture_of(model)
    n_layers = model.config.num_hidden_layers
    d = model.config.hidden_size
    layers = list(range(n_layers)) if layers is None else list(layers)
    for i in layers:
        if not 0 <= i < n_layers:
            raise ToolkitError(f"layer {i} out of range: the model has layers 0..{n_layers - 1}")
    specs = []
    if "embed" in kinds:
        specs.append(SubmoduleSpec("embed", "embed", -1, arch["embed"], d))
    for i in layers:
        base = f"{arch['layers']}.{i}"
        if "attn_out" in kinds:
            specs.append(
                SubmoduleSpec(f"attn_out_layer{i}", "attn_out", i, f"{base}.{arch['attn_out']}", d)
            )
        if "mlp_out" in kinds:
            specs.append(
                SubmoduleSpec(f"mlp_out_layer{i}", "mlp_out", i, f"{base}.{arch['mlp_out']}", d)
            )
        if "resid_out" in kinds:
            specs.append(SubmoduleSpec(f"resid_out_layer{i}", "resid_out", i, base, d))
    return sorted(specs, key=lambda s: s.order)


def pythia70m_config(**overrides):
    """The GPTNeoX config of Pythia-70M(-deduped), for randomly initialised models of its shape
    (offline tests and benchmarks); `overrides` change fields, e.g. `hidden_size=32`."""
    from transformers import GPTNeoXConfig

    fields = {
        "vocab_size": 50304,
        "hidden_size": 512,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
        "rotary_pct": 0.25,
        "max_position_embeddings": 2048,
        "use_parallel_residual": True,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    return GPTNeoXConfig(**{**fields, **overrides})


def load_tokenizer(name_or_path: str | os.PathLike):
    name = str(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise ModelUnavailable(_unavailable_message("tokenizer", name)) from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    tokenizer: str | os.PathLike | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a hub id or a local directory, in eval mode.

    A hub id that is neither cached nor reachable fails at once, in one line, instead of after
    the hub client's half-minute of retries."""
    name = str(name_or_path)
    if is_hub_id(name) and not hub_model_available(name):
        raise ModelUnavailable(_unavailable_message("model", name))
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError) as e:
        raise ModelUnavailable(_unavailable_message("model", name)) from e
    model.to(device).eval()
    tok = load_tokenizer(tokenizer if tokenizer is not None else name)
    return LoadedModel(model=model, tokenizer=tok, name=name)


def is_hub_id(name: str) -> bool:
    """`owner/name` that is not a local path: what the hub client would try to download."""
    if Path(name).exists() or name.startswith((".", "/", "~")):
        return False
    parts = name.split("/")
    return len(parts) == 2 and all(parts)


def hub_model_available(repo_id: str, timeout: float = 3.0) -> bool:
    """Whether `repo_id` can be loaded: in the HF cache, or the hub answers (checked in seconds).

    The hub client retries an unreachable host for about half a minute before failing; this lets
    a command stop at once with a useful message instead.
    """
    import socket

    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    host = constants.ENDPOINT.split("://", 1)[-1].split("/", 1)[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _unavailable_message(what: str, name: str) -> str:
    if Path(name).exists():
        return f"{what} directory {name} could not be loaded: it is not a saved Hugging Face {what}"
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    where = "offline and not in the Hugging Face cache" if offline else "not reachable on the hub"
    return (
        f"{what} {name!r} is {where}: pass a local directory (e.g. --model PATH), fill the "
        f"Hugging Face cache on a machine with network, or use --preset tiny"
    )


def _get_attr(obj, path: str):
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj
