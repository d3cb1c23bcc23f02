"""Fusion of the three modalities (report section 4).

- :mod:`.late`: weighted late fusion, the simplex grid search, temperature scaling, figures;
- :mod:`.hybrid`: the cross-attention + gated-residual network (7/3 heads);
- :mod:`.trimodal`: the demo's label-matched tri-modal set and the cached per-modality outputs;
- :func:`analyze` (in :mod:`.perception`; a module named `analyze` would shadow the function):
  one turn's whole perception, the function the CLI and the chat call.

Imports are lazy: ``import emokit.fusion`` loads neither torch nor a modality model.
"""
from __future__ import annotations

from typing import Any

__all__ = ["analyze", "fuse", "grid_search", "FusionError"]


def analyze(face: Any = None, audio: Any = None, text: str | None = None, weights=None, **kw):
    from .perception import analyze as _f

    return _f(face=face, audio=audio, text=text, weights=weights, **kw)


def fuse(probs, weights, temperatures=None):
    from .late import fuse as _f

    return _f(probs, weights, temperatures)


def grid_search(probs, labels, step: float = 0.02, metric: str = "f1_weighted", **kw):
    from .late import grid_search as _f

    return _f(probs, labels, step=step, metric=metric, **kw)


def __getattr__(name: str):
    if name == "FusionError":
        from .late import FusionError

        return FusionError
    raise AttributeError(name)
