"""A set of dictionaries, one per submodule of a model, and its folder layout.

Layout (Marks et al., `saprmarks/pythia-70m-deduped-saes`), one folder per submodule:

    <root>/{embed, attn_out_layer{i}, mlp_out_layer{i}, resid_out_layer{i}}/<dict_id>/
        ae.pt         plain state dict (dictionary_learning)
        config.json   {"trainer": {...}, "buffer": {...}}

`<dict_id>` names one run, e.g. `10_32768`; a submodule folder may also hold `ae.pt` directly, or a
SAELens folder (cfg.json + sae_weights.safetensors). `SAESet.save` writes this layout plus
`sae_set.json` (names, dict_id, free-form metadata such as training and evaluation settings).

Slicing keeps features 0..k-1 of every dictionary (encoder rows, decoder columns), the SSAE
paper's compression experiment ("first 4096 features").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from ssae.arch_config import ArchConfig
from ssae.archs import new_dictionary
from ssae.dictionary import Dictionary, IdentityDictionary
from ssae.errors import CheckpointError, ToolkitError
from ssae.formats import load_dictionary, read_config, save_dictionary
from ssae.io import atomic_dir, derived_seed
from ssae.layout import SET_FILE, SUBMODULE_NAME
from ssae.layout import run_dir as _run_dir
from ssae.models import SUBMODULE_KINDS, LoadedModel, SubmoduleSpec

_NAME = SUBMODULE_NAME


class SAESet(Mapping[str, Dictionary]):
    """Submodule name -> dictionary, iterated in the model's forward order."""

    def __init__(
        self,
        dictionaries: Mapping[str, Dictionary],
        specs: list[SubmoduleSpec] | None = None,
        configs: Mapping[str, dict] | None = None,
        meta: dict | None = None,
    ):
        specs = specs or None
        by_name = {s.name: s for s in specs or []}
        unknown = [n for n in dictionaries if specs is not None and n not in by_name]
        if unknown:
            raise CheckpointError(f"dictionaries for unknown submodules {unknown}")
        self._specs = {n: by_name[n] for n in dictionaries if n in by_name}
        order = sorted(dictionaries, key=_order_key)
        self._dicts: dict[str, Dictionary] = {n: dictionaries[n] for n in order}
        self.configs: dict[str, dict] = {n: dict((configs or {}).get(n, {})) for n in order}
        self.meta: dict = dict(meta or {})

    # Mapping protocol
    def __getitem__(self, name: str) -> Dictionary:
        return self._dicts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dicts)

    def __len__(self) -> int:
        return len(self._dicts)

    def __repr__(self) -> str:
        sizes = {n: (d.activation_dim, d.dict_size) for n, d in self._dicts.items()}
        return f"SAESet({sizes})"

    @property
    def names(self) -> list[str]:
        """Submodule names in forward order."""
        return list(self._dicts)

    @property
    def specs(self) -> list[SubmoduleSpec]:
        """Specs of the submodules (forward order); known when built from a model or spec list."""
        missing = [n for n in self._dicts if n not in self._specs]
        if missing:
            raise CheckpointError(
                f"SAE set has no submodule specs for {missing}; load it with a model"
            )
        return [self._specs[n] for n in self._dicts]

    def spec(self, name: str) -> SubmoduleSpec:
        return self._specs[name]

    def with_specs(self, lm_or_specs: LoadedModel | list[SubmoduleSpec]) -> SAESet:
        """The same dictionaries bound to a model's specs, checking every input width."""
        specs = _specs_of(lm_or_specs)
        by_name = {s.name: s for s in specs}
        for name, ae in self._dicts.items():
            if name not in by_name:
                raise CheckpointError(f"dictionary {name!r} matches no submodule of the model")
            if ae.activation_dim != by_name[name].d:
                raise CheckpointError(
                    f"dictionary {name}: input size {ae.activation_dim} does not match the "
                    f"model's width {by_name[name].d}"
                )
        return SAESet(self._dicts, specs, self.configs, self.meta)

    # construction
    @classmethod
    def new(
        cls,
        lm_or_specs: LoadedModel | list[SubmoduleSpec],
        dict_size: int,
        names: list[str] | None = None,
        seed: int = 0,
        arch: ArchConfig | None = None,
    ) -> SAESet:
        """Freshly initialised dictionaries of width `dict_size` (default architecture: ReLU).

        Each one is drawn from its own generator seeded by (seed, submodule name), so a
        submodule's SAE is the same whichever other submodules are made with it."""
        specs = select_specs(_specs_of(lm_or_specs), names)
        arch = arch or ArchConfig()
        dicts = {}
        for spec in specs:
            gen = torch.Generator().manual_seed(derived_seed(seed, spec.name, "init"))
            dicts[spec.name] = new_dictionary(spec.d, dict_size, arch, gen)
        return cls(dicts, specs)

    @classmethod
    def identity(
        cls, lm_or_specs: LoadedModel | list[SubmoduleSpec], names: list[str] | None = None
    ) -> SAESet:
        """Neurons as features for every submodule (the neuron skyline), on the model's device and
        in its dtype when a model is given."""
        specs = select_specs(_specs_of(lm_or_specs), names)
        where = {}
        if isinstance(lm_or_specs, LoadedModel):
            where = {"device": lm_or_specs.device, "dtype": lm_or_specs.model.dtype}
        return cls({s.name: IdentityDictionary(s.d, **where) for s in specs}, specs)

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        lm_or_specs: LoadedModel | list[SubmoduleSpec] | None = None,
        names: list[str] | None = None,
        dict_id: str | None = None,
        device: str | torch.device = "cpu",
    ) -> SAESet:
        """Read every submodule folder under `folder`, checking each against the model's specs.

        `names` restricts (and then requires) the submodules; by default every submodule of the
        model that has a folder is loaded. `dict_id` picks a run when a submodule folder holds
        several (e.g. "10_32768"); with one run it is found automatically.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"SAE folder {folder} does not exist")
        meta = {}
        if (folder / SET_FILE).exists():
            try:
                meta = json.loads((folder / SET_FILE).read_text())
            except ValueError as e:
                raise CheckpointError(f"{folder / SET_FILE} is not valid JSON ({e})") from e
            dict_id = dict_id if dict_id is not None else meta.get("dict_id")
        present = sorted(p.name for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name))
        specs = _specs_of(lm_or_specs) if lm_or_specs is not None else None
        if specs is not None:
            valid = {s.name for s in specs}
            foreign = [n for n in present if n not in valid]
            if foreign and names is None:
                raise CheckpointError(
                    f"{folder}: folders {foreign} name submodules the model does not have "
                    f"(it has {len(valid)}: embed .. {specs[-1].name}); wrong model or SAE folder"
                )
        wanted = sorted(names if names is not None else present, key=_order_key)
        if not wanted:
            raise CheckpointError(
                f"{folder} holds no submodule folders (embed, attn_out_layerI, mlp_out_layerI, "
                "resid_out_layerI); pass the root of a dictionary set"
            )
        by_name = {s.name: s for s in specs} if specs is not None else {}
        dicts, configs = {}, {}
        for name in wanted:
            run = _run_dir(folder / name, dict_id)
            spec = by_name.get(name)
            if specs is not None and spec is None:
                raise CheckpointError(f"{folder / name}: the model has no submodule {name!r}")
            where = f"submodule {name}" if spec is not None else ""
            dicts[name] = load_dictionary(
                run, activation_dim=spec.d if spec else None, where=where, device=device
            )
            configs[name] = read_config(run)
        used = specs if specs is not None else None
        return cls(dicts, [s for s in used if s.name in dicts] if used else None, configs, meta)

    # output
    def save(self, folder: str | os.PathLike, dict_id: str | None = None, meta: dict | None = None):
        """Write the set (atomically, as a whole) in the dictionary_learning layout."""
        folder = Path(folder)
        _check_replaceable(folder)
        widths = {d.dict_size for d in self._dicts.values()}
        dict_id = dict_id or self.meta.get("dict_id") or f"shift_{max(widths)}"
        merged = {**self.meta, **(meta or {}), "dict_id": dict_id, "names": self.names}
        with atomic_dir(folder) as tmp:
            for name, ae in self._dicts.items():
                trainer = {k: v for k, v in self.configs[name].get("trainer", {}).items()}
                for k in ("dict_class", "activation_dim", "dict_size"):
                    trainer.pop(k, None)
                trainer.setdefault("submodule_name", name)
                buffer = self.configs[name].get("buffer")
                save_dictionary(ae, tmp / name / dict_id, trainer=trainer, buffer=buffer)
            (tmp / SET_FILE).write_text(json.dumps(merged, indent=2, default=str) + "\n")
        return folder

    # transforms
    def slice(self, k: int) -> SAESet:
        """Every dictionary cut to its first `k` features."""
        too_small = {n: d.dict_size for n, d in self._dicts.items() if d.dict_size < k}
        if too_small:
            raise CheckpointError(f"cannot keep {k} features: dictionaries {too_small} are smaller")
        dicts = {n: d.slice(k) for n, d in self._dicts.items()}
        configs = {}
        for n, cfg in self.configs.items():
            trainer = {**cfg.get("trainer", {}), "sliced_from": self._dicts[n].dict_size}
            configs[n] = {**cfg, "trainer": trainer}
        meta = {**self.meta, "sliced_to": k}
        meta.pop("dict_id", None)
        return SAESet(dicts, list(self._specs.values()), configs, meta)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        for d in self._dicts.values():
            d.to(device=device, dtype=dtype)
        return self

    def subset(self, names: list[str]) -> SAESet:
        missing = [n for n in names if n not in self._dicts]
        if missing:
            raise CheckpointError(f"SAE set has no dictionaries for {missing}")
        specs = [self._specs[n] for n in names if n in self._specs]
        return SAESet({n: self._dicts[n] for n in names}, specs or None, self.configs, self.meta)

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        for d in self._dicts.values():
            yield from d.parameters()


def _check_replaceable(folder: Path) -> None:
    """Refuse to replace a folder that holds anything but an SAE set or an SAE training run."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ToolkitError(f"{folder} is a file; pass a folder for the SAE set")
    entries = [p.name for p in folder.iterdir()]
    ours = {SET_FILE, "checkpoint.pt"}
    if entries and not ours & set(entries) and not all(_NAME.match(e) for e in entries):
        raise ToolkitError(
            f"{folder} is not empty and is not an SAE set; saving would replace it, so choose "
            "a new or empty folder"
        )


def _specs_of(lm_or_specs) -> list[SubmoduleSpec]:
    if isinstance(lm_or_specs, LoadedModel):
        return lm_or_specs.submodules()
    return sorted(lm_or_specs, key=lambda s: s.order)


def select_specs(specs: list[SubmoduleSpec], names: list[str] | None) -> list[SubmoduleSpec]:
    """The specs named `names` (all when None) in forward order; a one-line error for others."""
    if names is None:
        return specs
    by_name = {s.name: s for s in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CheckpointError(f"the model has no submodules {missing}")
    return sorted((by_name[n] for n in names), key=lambda s: s.order)


def _order_key(name: str) -> tuple[int, int, str]:
    m = _NAME.match(name)
    if m is None:
        return (1 << 30, 0, name)
    if m.group(1) == "embed":
        return (-1, 0, name)
    return (int(m.group(3)), SUBMODULE_KINDS.index(m.group(2)), name)
