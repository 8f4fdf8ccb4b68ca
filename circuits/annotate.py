"""Annotations of the feature nodes of a circuit graph, for reading the picture.

For every feature node (submodule s, feature j):

- `contexts`: the top activating contexts of f_{s,j} over a token dataset (the k largest
  activations over all real token positions), each a stretch of text with the activating token
  marked as «token», and its activation;
- `top_tokens`: the logit lens of the decoder direction, the k tokens with the largest logits
  W_U LN_f(d_j), where d_j is row j of `decoder_directions`, LN_f the model's final layer norm
  and W_U the unembedding (for GPTNeoX `gpt_neox.final_layer_norm` and the output embedding,
  `embed_out` in transformers 4, `lm_head` in 5, found with `get_output_embeddings()`);
- `human_label`: a label from a JSONL file of lines {"feature": "resid_out_layer3/123",
  "label": "..."} (also "resid_out_layer3/error" for an error node).

The node's `label` becomes the human label if there is one, else the top tokens.
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import torch
from tqdm.auto import tqdm

from circuits.metrics import Metric
from circuits.runner import frozen, ordered_specs, run_metric
from ssae.dictionary import Dictionary
from ssae.errors import DataError
from ssae.io import read_jsonl
from ssae.lens import lens_top_tokens
from ssae.models import LoadedModel
from ssae.tokens import TokenDataset

MARK_OPEN, MARK_CLOSE = "«", "»"


def show_token(text: str) -> str:
    """A token as readable text: newlines and tabs made visible, blank tokens shown as ␣."""
    text = text.replace("\n", "⏎").replace("\t", "⇥").replace("\r", "")
    return text if text.strip() else "␣" * max(1, len(text))


def logit_lens(
    lm: LoadedModel, sae: Dictionary, features: list[int], k: int = 8
) -> list[list[str]]:
    """Top-k logit-lens tokens of the decoder direction of each feature (see ssae.lens)."""
    if not features:
        return []
    top = lens_top_tokens(lm, sae.decoder_directions[torch.tensor(features)], k).tolist()
    return [[show_token(lm.tokenizer.decode([t])) for t in row] for row in top]


def _as_dataset(lm: LoadedModel, data, ctx_len: int) -> TokenDataset:
    if isinstance(data, TokenDataset):
        return data
    if isinstance(data, (list, tuple)) and all(isinstance(t, str) for t in data):
        return TokenDataset.from_texts(list(data), lm.tokenizer, ctx_len=ctx_len)
    raise DataError("annotation data must be a TokenDataset or a list of texts")


def context_text(tokenizer, ids: list[int], pos: int, before: int, after: int) -> str:
    """The tokens around `ids[pos]` as text, that token marked as «token»."""
    dec = tokenizer.decode
    left = dec(ids[max(0, pos - before) : pos])
    right = dec(ids[pos + 1 : pos + 1 + after])
    tok = dec([ids[pos]])
    # leading blanks stay outside the marks, so «word» reads as a word
    lead = tok[: len(tok) - len(tok.lstrip())] if tok.strip() else ""
    return (
        show_token(left)
        + lead
        + MARK_OPEN
        + show_token(tok[len(lead) :])
        + MARK_CLOSE
        + show_token(right)
    )


def top_contexts(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    data,
    features: dict[str, list[int]],
    k: int = 5,
    window: tuple[int, int] = (12, 4),
    batch_size: int = 32,
    ctx_len: int = 128,
    progress: bool = True,
) -> dict[tuple[str, int], list[dict]]:
    """Top-k activating contexts (text with «token», activation) of each requested feature."""
    features = {n: sorted(set(js)) for n, js in features.items() if js}
    if not features:
        return {}
    ds = _as_dataset(lm, data, ctx_len)
    specs = ordered_specs(lm, list(features))
    stop = Metric(fn=lambda x, b: x.new_zeros(x.shape[0]), reads=specs[-1].name, name="stop")
    best: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (values [k, m], flat index)
    pool = 4 * k  # candidates kept, so that k distinct contexts survive deduplication
    offset = 0
    with frozen(lm.model, *saes.values()), torch.no_grad():
        batches = ds.batches(batch_size, trim=True)
        total = (len(ds) + batch_size - 1) // batch_size
        for batch in tqdm(
            batches, total=total, desc="top contexts", disable=not progress, leave=False
        ):
            b, t = batch["input_ids"].shape
            mask = batch["attention_mask"].to(lm.device).bool()

            def observer(name: str, mask=mask, b=b, t=t, offset=offset):
                def fn(x: torch.Tensor) -> None:
                    idx = torch.tensor(features[name], device=x.device)
                    acts = saes[name].encode(x)[..., idx]  # [b, t, m]
                    acts = acts.masked_fill(~mask[..., None], float("-inf")).reshape(b * t, -1)
                    # global position = row * ctx_len + pos, so contexts can be found again
                    rows = torch.arange(b, device=x.device)[:, None] + offset
                    gpos = (rows * ds.ctx_len + torch.arange(t, device=x.device)[None]).reshape(-1)
                    vals, where = acts.topk(min(pool, acts.shape[0]), dim=0)
                    cand_v, cand_i = vals, gpos[where]
                    if name in best:
                        cand_v = torch.cat([best[name][0], cand_v])
                        cand_i = torch.cat([best[name][1], cand_i])
                    keep = cand_v.topk(min(pool, cand_v.shape[0]), dim=0).indices
                    best[name] = (cand_v.gather(0, keep), cand_i.gather(0, keep))

                return fn

            run_metric(lm, batch, stop, observe={n: observer(n) for n in features})
            offset += b
    out: dict[tuple[str, int], list[dict]] = {}
    before, after = window
    for name, (vals, gidx) in best.items():
        for col, j in enumerate(features[name]):
            items, seen = [], set()
            for v, g in zip(vals[:, col].tolist(), gidx[:, col].tolist(), strict=True):
                if not v > 0:
                    continue
                row, pos = divmod(int(g), ds.ctx_len)
                ids = ds.input_ids[row, : int(ds.lengths[row])].tolist()
                text = context_text(lm.tokenizer, ids, pos, before, after)
                if text not in seen and len(items) < k:  # repeated boilerplate counts once
                    seen.add(text)
                    items.append({"text": text, "activation": v})
            out[(name, j)] = items
    return out


def load_labels(path: str | os.PathLike) -> dict[str, str]:
    """Human labels from JSONL lines {"feature": "resid_out_layer3/123", "label": "..."}."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"label file {path} does not exist")
    rows = read_jsonl(path, {"feature": object, "label": object})
    return {str(row["feature"]): str(row["label"]) for row in rows}


def annotate_circuit(
    graph: nx.DiGraph,
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    data=None,
    labels: dict[str, str] | str | os.PathLike | None = None,
    k_contexts: int = 5,
    k_tokens: int = 8,
    window: tuple[int, int] = (12, 4),
    batch_size: int = 32,
    progress: bool = True,
) -> nx.DiGraph:
    """Add `top_tokens`, `contexts` and `human_label` to the nodes of `graph` (in place)."""
    wanted: dict[str, list[int]] = {}
    for _, a in feature_nodes(graph, saes):
        wanted.setdefault(a["submodule"], []).append(int(a["feature"]))
    lens = {}
    for name, js in wanted.items():
        js = sorted(set(js))
        lens.update(
            {
                (name, j): toks
                for j, toks in zip(js, logit_lens(lm, saes[name], js, k_tokens), strict=True)
            }
        )
    contexts = (
        top_contexts(lm, saes, data, wanted, k_contexts, window, batch_size, progress=progress)
        if data is not None
        else {}
    )
    for _, a in feature_nodes(graph):
        j = int(a["feature"])
        a["top_tokens"] = lens.get((a["submodule"], j), [])
        if data is not None:
            a["contexts"] = contexts.get((a["submodule"], j), [])
    return label_nodes(graph, labels)


def feature_nodes(graph: nx.DiGraph, names=None):
    """(id, attributes) of the feature nodes, of the submodules in `names` when given."""
    for n, a in graph.nodes(data=True):
        if a.get("kind") == "feature" and (names is None or a["submodule"] in names):
            yield n, a


def label_nodes(graph: nx.DiGraph, labels) -> nx.DiGraph:
    """Human labels (a dict or a JSONL file) on the nodes; `label` becomes the human label, or
    the first logit-lens tokens."""
    if labels is not None and not isinstance(labels, dict):
        labels = load_labels(labels)
    labels = labels or {}
    for _, a in graph.nodes(data=True):
        if a.get("kind") not in ("feature", "error"):
            continue
        human = labels.get(f"{a['submodule']}/{a['feature']}")
        if human is not None:
            a["human_label"] = a["label"] = human
        elif a.get("top_tokens"):
            a["label"] = " · ".join(t.strip() or t for t in a["top_tokens"][:4])
    graph.graph["annotated"] = True
    return graph
