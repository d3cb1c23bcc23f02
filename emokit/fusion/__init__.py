"""Fusion of the three modalities (report section 4).

- :mod:`.late`: weighted late fusion, the simplex grid search, temperature scaling, figures;
- :mod:`.hybrid`: the cross-attention + gated-residual network (7/3 heads);
- :mod:`.trimodal`: the demo's label-matched tri-modal set and the cached per-modality outputs;
- :func:`analyze` (in :mod:`.perception`; a module named `analyze` would shadow the function):
  one turn's whole perception, the function the CLI and the chat call.

Imports are lazy: ``import emokit.fusion`` loads neither torch nor a modality model.
"""
from __future__ import annotations

from importlib import import_module

# name -> the module that defines it, imported on first use
_LAZY = {"analyze": ".perception", "fuse": ".late", "grid_search": ".late", "FusionError": ".late"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
