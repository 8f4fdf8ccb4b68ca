"""The folder of one SAE training or finetuning run (see ssae.train).

A run folder holds either a resumable `checkpoint.pt` (an unfinished run) or a finished SAE set
whose `sae_set.json` records `complete` and the run's key (a hash of settings, data, model and
initial weights). These helpers decide which of the two a folder holds, refuse to overwrite a
folder that holds anything else, and hash tensors for the run key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ssae.errors import CheckpointError, ToolkitError
from ssae.io import torch_load
from ssae.models import LoadedModel
from ssae.sae_set import SET_FILE, SAESet

CHECKPOINT = "checkpoint.pt"


def digest(state: dict[str, torch.Tensor]) -> str:
    """Content hash of a state dict (raw bytes; JSON would be far too slow for big SAEs)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().to("cpu").contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def completed(out_dir: Path, key: str, lm: LoadedModel) -> SAESet | None:
    """The finished set in `out_dir` made with `key`; None when the run is not finished."""
    marker = out_dir / SET_FILE
    if not marker.exists():
        return None
    saes = SAESet.load(out_dir, lm, device=lm.device)
    if not saes.meta.get("complete"):
        return None
    if saes.meta.get("key") != key:
        raise CheckpointError(
            f"{marker}: {out_dir} holds SAEs made with other settings, data or model; "
            "choose another output folder or delete it"
        )
    return saes


def check_out_dir(out_dir: Path) -> None:
    """Create `out_dir`, refusing a file or a non-empty folder that is not an SAE run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ToolkitError(f"output {out_dir} is a file; pass a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / CHECKPOINT).exists():
        raise ToolkitError(
            f"output folder {out_dir} is not empty and holds no SAE run; it would be replaced, "
            "so choose a new or empty folder"
        )
    out_dir.mkdir(parents=True, exist_ok=True)


def load_checkpoint(file: Path, key: str) -> dict:
    """The checkpoint state in `file`, checked to belong to the run with `key`."""
    try:
        state = torch_load(file)
    except Exception as e:  # torch.load raises many types on a torn or foreign file
        msg = " ".join(str(e).split())[:160]
        raise CheckpointError(
            f"{file} is corrupt ({msg}); delete it to restart the run from scratch"
        ) from e
    if not isinstance(state, dict) or "trainer" not in state:
        raise CheckpointError(f"{file} is not a SAE training checkpoint; delete it to restart")
    if state.get("key") != key:
        raise CheckpointError(
            f"{file} was written with other settings, data or model; delete it to restart, "
            "or rerun with the settings it was started with"
        )
    return state
