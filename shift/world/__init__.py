"""The tiny world: a self-contained corpus, Pythia-architecture LM and Bias-in-Bios-schema dataset.

`ensure_world(preset, seed)` builds it deterministically on a CPU the first time and returns the
cached paths afterwards, checked against the world's manifest and repaired when damaged
(`shift.world.store`); see `shift.world.build` for the layout and `shift.world.corpus` /
`shift.world.bios` for what the generated text looks like. The names below are imported on first
use (`ssae.lazy`), so that reading a world's configuration (`shift.world.config`) imports no torch.
"""

from ssae.lazy import lazy_exports

EXPORTS = {
    "PRESETS": "shift.world.config",
    "WorldConfig": "shift.world.config",
    "get_config": "shift.world.config",
    "WorldPaths": "shift.world.build",
    "ensure_world": "shift.world.store",
    "world_dir": "shift.world.build",
}
"""Name -> the module that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
