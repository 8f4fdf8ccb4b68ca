"""Concept bottleneck probing (CBP), the interpretable baseline of the SSAE paper's table (App. G.2).

Each concept c_j is a keyword about the task (`nurse`, `university`, ...). Its vector is the
activation, at the probe submodule (the penultimate layer's residual stream), of the keyword's last
token as the word appears in running text - that is, with its leading space: " nurse" is one
Pythia token where "nurse" alone splits into fragments. The mean over all keywords is removed, so
that what every keyword shares (the direction of "a lone word at the start of a text") does not
dominate:

    v_j = h(" " + keyword_j)[last] - (1/K) sum_k h(" " + keyword_k)[last].

An example with pooled activation a is represented only by its cosine similarities to the
concepts, s_j(a) = cos(a, v_j), and a linear probe (`probes.probe`, trained like the other probes)
is trained on s. The bottleneck is the debiasing: the paper's 20 keywords (`CBP_KEYWORDS`) are
about the two professions only, so the classifier has no gender concept to read.

Options beyond the paper: another keyword set, keywords dropped from the bottleneck after the
centring (e.g. add `GENDER_KEYWORDS` and drop them), and per-concept standardisation of s with the
training set's mean and standard deviation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import torch
from safetensors.torch import load_file, save_file

from probes.activations import default_submodule, pad_batch
from probes.config import CBP_KEYWORDS, CBPConfig
from probes.probe import LinearProbe, train_probe
from ssae.errors import CheckpointError, ConfigError
from ssae.io import atomic_path
from ssae.models import LoadedModel


def in_running_text(word: str) -> str:
    """The word as it appears after another word: with one leading space."""
    return " " + word.lstrip(" ")


@torch.no_grad()
def last_token_activations(
    lm: LoadedModel, words: Sequence[str], submodule: str | None = None
) -> torch.Tensor:
    """[len(words), d]: activation of each text's last token at `submodule`, one text per row."""
    spec = lm.submodule(submodule or default_submodule(lm))
    rows = lm.tokenizer(list(words), add_special_tokens=False)["input_ids"]
    rows = [r if len(r) else [lm.tokenizer.pad_token_id] for r in rows]
    batch = {k: v.to(lm.device) for k, v in pad_batch(rows, lm.tokenizer.pad_token_id).items()}
    got: dict[str, torch.Tensor] = {}
    with lm.nn.trace(**batch) as tracer:
        got["x"] = spec.read(lm.nn)
        tracer.stop()
    last = torch.tensor([len(r) - 1 for r in rows])
    return got["x"][torch.arange(len(rows)), last.to(lm.device)].float().cpu()


def concept_vectors(
    lm: LoadedModel, keywords: Sequence[str] = CBP_KEYWORDS, submodule: str | None = None
) -> torch.Tensor:
    """[K, d] mean-centred concept vectors v_j of the keywords in running text (module docstring)."""
    h = last_token_activations(lm, [in_running_text(k) for k in keywords], submodule)
    return h - h.mean(0, keepdim=True)


def cosine_similarities(acts: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
    """[n, K] cos(a_i, v_j)."""
    a = torch.nn.functional.normalize(acts.float(), dim=-1)
    v = torch.nn.functional.normalize(concepts.float(), dim=-1)
    return a @ v.T


class ConceptBottleneckProbe:
    """Concepts kept in the bottleneck, the similarity standardisation, and the linear probe."""

    def __init__(
        self,
        names: Sequence[str],
        concepts: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        probe: LinearProbe,
    ):
        if concepts.shape[0] != len(names) or probe.d != len(names):
            raise ConfigError("CBP: one concept vector and one probe weight per concept name")
        self.names, self.concepts, self.mean, self.std, self.probe = (
            list(names),
            concepts,
            mean,
            std,
            probe,
        )

    def features(self, acts: torch.Tensor) -> torch.Tensor:
        return (cosine_similarities(acts, self.concepts) - self.mean) / self.std

    @torch.no_grad()
    def logits(self, acts: torch.Tensor) -> torch.Tensor:
        return self.probe(self.features(acts))

    @torch.no_grad()
    def predict(self, acts: torch.Tensor) -> torch.Tensor:
        return self.probe.predict(self.features(acts))

    def weights(self) -> dict[str, float]:
        """Probe weight per concept: which concepts the classifier leans on."""
        w = self.probe.net.weight.detach()[0].tolist()
        return dict(zip(self.names, w))

    def save(self, path: str | os.PathLike) -> None:
        tensors = {
            "concepts": self.concepts.contiguous(),
            "mean": self.mean.contiguous(),
            "std": self.std.contiguous(),
            **{f"probe.{k}": v.detach().contiguous() for k, v in self.probe.state_dict().items()},
        }
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"names": json.dumps(self.names)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> ConceptBottleneckProbe:
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                names = json.loads(f.metadata()["names"])
            t = load_file(str(path))
            probe = LinearProbe(len(names))
            probe.load_state_dict(
                {"net.weight": t["probe.net.weight"], "net.bias": t["probe.net.bias"]}
            )
        except Exception as e:
            raise CheckpointError(f"{path} is not a CBP checkpoint; delete it to retrain") from e
        return cls(names, t["concepts"], t["mean"], t["std"], probe.eval())


def train_cbp(
    acts: torch.Tensor,
    labels: torch.Tensor,
    concepts: torch.Tensor,
    config: CBPConfig | None = None,
) -> ConceptBottleneckProbe:
    """Train a CBP on pooled `acts` given the concept vectors of `config.keywords` (in order)."""
    config = config or CBPConfig()
    if concepts.shape[0] != len(config.keywords):
        raise ConfigError(
            f"{concepts.shape[0]} concept vectors for {len(config.keywords)} keywords"
        )
    keep = [i for i, k in enumerate(config.keywords) if k not in config.drop]
    kept = concepts[keep]
    sims = cosine_similarities(acts, kept)
    if config.standardize:
        spread = sims.std(0) if len(sims) > 1 else torch.ones(len(keep))
        mean, std = sims.mean(0), spread.clamp_min(1e-6)
    else:
        mean, std = torch.zeros(len(keep)), torch.ones(len(keep))
    probe = train_probe((sims - mean) / std, labels, config.probe)
    return ConceptBottleneckProbe([config.keywords[i] for i in keep], kept, mean, std, probe)
