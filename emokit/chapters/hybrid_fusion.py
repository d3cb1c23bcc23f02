"""The steps of notebook 05 (hybrid fusion): :func:`hybrid_data` (the features notebook 04 cached,
or the full profile's feature pickles); the notebook then trains :mod:`emokit.fusion.hybrid`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..fusion.hybrid import FEATURES_FILE, FusionData, load_dialogue_pickle, load_feature_npz


def hybrid_data(params: Mapping[str, Any], artifacts_root: str | Path) -> FusionData:
    """Demo: the features notebook 04 cached; full: MELD or M3ED feature pickles (params)."""
    src = params["data"]
    if src["kind"] == "trimodal_cache":
        path = Path(artifacts_root) / src["chapter"] / "cache" / FEATURES_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run `dvc repro 04_late_fusion` first")
        return load_feature_npz(path, source="label-matched triples (demo)")
    if src["kind"] in ("m3ed", "meld"):
        if not src["path"]:
            raise FileNotFoundError(f"full profile: set params/05_hybrid_fusion.yaml full.data.path to the {src['kind']} "
                                    "feature pickle (see docs/05_hybrid_fusion.md)")
        from ..config import data_root

        path = Path(src["path"]).expanduser()
        path = path if path.is_absolute() else data_root(params["data_root"]) / path
        return load_dialogue_pickle(path, kind=src["kind"], fields=src["fields"],
                                    label_order=src["label_order"], seed=int(params["seed"]))
    if src["kind"] == "npz":
        return load_feature_npz(src["path"])
    raise ValueError(f"data.kind must be trimodal_cache, m3ed, meld or npz, got {src['kind']!r}")
