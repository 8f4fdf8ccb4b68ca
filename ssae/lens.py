"""Logit lens of dictionary features: the output tokens a decoder direction promotes.

For a feature with decoder direction d_j (row j of `Dictionary.decoder_directions`), its
logit-lens tokens are the k tokens with the largest logits

    W_U LN_f(d_j),

where LN_f is the model's final layer norm and W_U the unembedding (nostalgebraist 2020). For
GPTNeoX these are `gpt_neox.final_layer_norm` and the output embedding (`embed_out` in
transformers 4, `lm_head` in 5, found with `get_output_embeddings()`). Circuit annotations label
features with these tokens, and the SSAE paper's tail analysis asks which tokens of a subdomain
appear among some feature's top-10 logit-lens tokens.
"""

from __future__ import annotations

import operator

import torch

from ssae.models import LoadedModel


@torch.no_grad()
def lens_top_tokens(
    lm: LoadedModel, directions: torch.Tensor, k: int = 10, batch: int = 4096
) -> torch.Tensor:
    """Token ids [n, k] with the largest logit-lens logits of each direction (rows of [n, d])."""
    norm = operator.attrgetter(lm.arch["final_norm"])(lm.model)
    unembed = lm.model.get_output_embeddings()
    dtype = next(unembed.parameters()).dtype
    k = min(k, unembed.weight.shape[0])
    out = []
    # vocab-sized logits for every feature at once would be n x vocab floats; go in slices
    for start in range(0, directions.shape[0], batch):
        dirs = directions[start : start + batch].to(device=lm.device, dtype=dtype)
        out.append(unembed(norm(dirs)).topk(k, dim=-1).indices.cpu())
    if not out:
        return torch.zeros(0, k, dtype=torch.long)
    return torch.cat(out)
