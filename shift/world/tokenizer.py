"""Byte-level BPE tokenizer trained on the corpus, wrapped like Pythia's.

Byte-level BPE (Sennrich et al. 2016; GPT-2's byte alphabet) starts from the 256 bytes and greedily
merges the most frequent adjacent pair until the vocabulary has `vocab_size` entries, so any text
round-trips exactly. As in Pythia, `<|endoftext|>` is id 0 and serves as bos, eos, unk and pad;
padding is on the right.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on `texts` and wrap it as a `PreTrainedTokenizerFast`."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )
    fast.padding_side = "right"
    return fast
