"""The tiny world: a self-contained corpus, Pythia-architecture LM and Bias-in-Bios-schema dataset.

`ensure_world(preset, seed)` builds it deterministically on a CPU the first time and returns the
cached paths afterwards, checked against the world's manifest and repaired when damaged
(`shift.world.store`); see `shift.world.build` for the layout and `shift.world.corpus` /
`shift.world.bios` for what the generated text looks like.
"""

from shift.world.build import WorldPaths, world_dir
from shift.world.config import PRESETS, WorldConfig, get_config
from shift.world.store import ensure_world

__all__ = ["PRESETS", "WorldConfig", "WorldPaths", "ensure_world", "get_config", "world_dir"]
