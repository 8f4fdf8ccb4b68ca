"""Configuration of a tiny world: corpus, biography dataset, tokenizer and language model sizes.

Two presets share one code path: `tiny` (what `shift run --preset tiny` uses; a few minutes on two
CPU cores) and `micro` (the same world shrunk so that tests can build it in seconds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ssae.errors import ConfigError, ToolkitError

RARE_TOPICS = ("biography", "physics", "toxic")


def _positive(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ConfigError(f"{name} must be > 0")


@dataclass(frozen=True)
class CorpusConfig:
    """The generated general corpus and the held-out evaluation documents."""

    n_docs: int = 20000
    """Documents in the training corpus (all topics together)."""
    rare_fraction: float = 0.01
    """Fraction of corpus documents in each rare subdomain (biography, physics, toxic)."""
    topic_zipf: float = 1.0
    """Exponent s of the Zipf law p(rank r) ~ 1 / r^s over the general topics."""
    word_zipf: float = 1.1
    """Exponent of the Zipf law over the words of a topic's lists (earlier words are commoner)."""
    min_sentences: int = 3
    """Fewest sentences in a general-topic document."""
    max_sentences: int = 7
    """Most sentences in a general-topic document."""
    tail_prob: float = 0.3
    """Probability that a rare-subdomain document mentions one of the subdomain's tail concepts."""
    n_heldout: int = 1000
    """Held-out documents drawn with the corpus topic mix (not in the corpus)."""
    heldout_min_per_topic: int = 100
    """Held-out documents per topic at least, so that rare subdomains can be evaluated too."""

    def __post_init__(self):
        _positive(self, "n_docs", "n_heldout", "min_sentences", "max_sentences")
        if self.max_sentences < self.min_sentences:
            raise ConfigError("max_sentences must be >= min_sentences")
        if not 0 < self.rare_fraction * len(RARE_TOPICS) < 0.5:
            raise ConfigError("rare_fraction must be in (0, 0.5 / number of rare topics)")
        if self.topic_zipf < 0 or self.word_zipf < 0:
            raise ConfigError("Zipf exponents must be >= 0")
        if not 0 <= self.tail_prob <= 1:
            raise ConfigError("tail_prob must be in [0, 1]")
        if self.heldout_min_per_topic < 0:
            raise ConfigError("heldout_min_per_topic must be >= 0")


@dataclass(frozen=True)
class BibConfig:
    """The Bias-in-Bios-schema dataset (train/dev/test parquet files)."""

    total_per_split: tuple[int, int, int] = (50_000, 8_000, 12_000)
    """Biographies in (train, dev, test), shared out by each profession's BiB-like frequency
    `Profession.weight` (professor about 30%, nurse 5%), before the minority-group floor. Sized so
    that the paper's probe recipe (one epoch, batch 128) takes a few dozen steps, as on real BiB."""
    min_group: tuple[int, int, int] = (1100, 100, 500)
    """Smallest profession x gender group of the SHIFT pair professions in (train, dev, test);
    a profession's split grows until its minority gender reaches this size. The test floor of
    500 gives a worst-group accuracy a standard error of about 2 points or less (it was 150:
    3.4 points at 77%); each split has its own random stream, so the train and dev splits, the
    corpus and the LM do not change with it."""
    first_person_prob: float = 0.05
    """Fraction of biographies written in the first person (no pronoun cue to gender)."""
    title_word_prob: float = 0.15
    """Probability that the profession's title word reappears after the removed first sentence."""
    duty_sentences: tuple[int, int] = (1, 2)
    """(fewest, most) sentences about work only the profession does (its duties)."""
    theme_sentences: tuple[int, int] = (1, 3)
    """(fewest, most) sentences of career themes several professions share (teaching, research,
    care, clients, ...), drawn by the profession's theme weights."""
    personal_sentences: tuple[int, int] = (1, 2)
    """(fewest, most) sentences about private life (family, home, hobbies)."""
    generic_degree_prob: float = 0.3
    """Probability that the degree named is one any profession holds ("master's degree")."""
    pronoun_prob: float = 0.8
    """Share of third-person sentence subjects that are pronouns (the rest: names, titles)."""

    def __post_init__(self):
        for name in ("total_per_split", "min_group"):
            v = getattr(self, name)
            if len(v) != 3 or min(v) < 1:
                raise ConfigError(f"{name} needs three positive sizes (train, dev, test)")
        for name in ("duty_sentences", "theme_sentences", "personal_sentences"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ConfigError(f"{name} needs 0 <= fewest <= most")
        for name in ("first_person_prob", "title_word_prob", "generic_degree_prob", "pronoun_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1]")


@dataclass(frozen=True)
class ModelConfig:
    """The Pythia-architecture (GPTNeoX) causal LM and its byte-level BPE tokenizer."""

    vocab_size: int = 4096
    """BPE vocabulary size including the `<|endoftext|>` special token."""
    hidden_size: int = 128
    """Residual stream width d."""
    num_layers: int = 6
    """Transformer layers; 6 like Pythia-70M, so the probe layer 4 is the penultimate one."""
    num_heads: int = 4
    """Attention heads (hidden_size must be divisible by it)."""
    intermediate_size: int = 512
    """MLP width (4 d, as in Pythia)."""
    ctx_len: int = 128
    """Training context length in tokens (the SSAE paper's 128)."""

    def __post_init__(self):
        _positive(self, "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size")
        if self.hidden_size % self.num_heads:
            raise ConfigError("hidden_size must be divisible by num_heads")
        if self.vocab_size < 300:
            raise ConfigError("vocab_size must exceed the 256 byte tokens plus merges")
        if self.ctx_len < 8:
            raise ConfigError("ctx_len must be >= 8")


@dataclass(frozen=True)
class TrainConfig:
    """Causal-LM training: AdamW with linear warmup and cosine decay."""

    epochs: float = 1.0
    """Passes over the packed corpus (fractions allowed)."""
    batch_size: int = 32
    """Sequences of ctx_len tokens per step."""
    lr: float = 3e-3
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of the peak (end of the cosine)."""
    warmup_frac: float = 0.05
    """Fraction of the steps spent warming up linearly from 0."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    threads: int = 1
    """torch intra-op threads while training and evaluating (restored afterwards); 1 makes the
    weights independent of the machine's core count, and models this small gain little from more
    threads while losing much when the cores are shared with other processes."""

    def __post_init__(self):
        _positive(self, "epochs", "batch_size", "lr")
        if not 0 <= self.min_lr_ratio <= 1 or not 0 <= self.warmup_frac < 1:
            raise ConfigError("min_lr_ratio must be in [0, 1] and warmup_frac in [0, 1)")
        if self.threads < 1:
            raise ConfigError("threads must be >= 1")
        if self.weight_decay < 0 or self.grad_clip <= 0:
            raise ConfigError("weight_decay must be >= 0 and grad_clip > 0")


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a world, together with the seed."""

    preset: str = "tiny"
    """Name the world is cached under."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """Generated corpus and held-out documents."""
    bib: BibConfig = field(default_factory=BibConfig)
    """Bias-in-Bios-schema dataset."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Tokenizer and GPTNeoX sizes."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Language-model training."""

    def __post_init__(self):
        if not self.preset or not self.preset.replace("_", "").isalnum():
            raise ConfigError("preset must be a non-empty alphanumeric name")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, WorldConfig] = {
    # Calibrated against the baseline rows only (shift/world/CALIBRATION.md): 1.5 epochs of the
    # 1.15M-token corpus, ~835 steps, so the LM's layer-4 representations carry gender and
    # profession as Pythia-70M's do on Bias in Bios.
    "tiny": WorldConfig(preset="tiny", train=TrainConfig(epochs=1.5, batch_size=16)),
    "micro": WorldConfig(
        preset="micro",
        corpus=CorpusConfig(n_docs=3000, n_heldout=300, heldout_min_per_topic=20),
        # A 64-wide LM on 3k documents, read through 64-token texts, carries gender more faintly
        # than tiny's. Calibrated on the Original and Oracle rows only (shift/world/
        # CALIBRATION.md): the first 64 tokens of a micro biography carry no duty sentence, no
        # profession-specific degree and no title word (profession is left to fields, employers
        # and themes), gender is in every subject, and the LM trains 4 epochs. With 2 epochs
        # the same biographies gave an Original that reads profession (gender 62, profession 70).
        bib=BibConfig(
            total_per_split=(6_000, 1_500, 1_500),
            min_group=(40, 40, 40),
            duty_sentences=(0, 0),
            personal_sentences=(2, 3),
            pronoun_prob=1.0,
            generic_degree_prob=1.0,
            title_word_prob=0.0,
        ),
        model=ModelConfig(
            vocab_size=1024, hidden_size=64, num_heads=4, intermediate_size=256, ctx_len=64
        ),
        train=TrainConfig(epochs=4.0, batch_size=16, lr=5e-3),
    ),
}


def get_config(preset: str) -> WorldConfig:
    """The configuration of a named preset; unknown names raise a one-line ToolkitError."""
    if preset not in PRESETS:
        raise ToolkitError(f"unknown world preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]
