"""Where things are, which profile runs, and the parameters of each chapter.

One switch chooses the profile for the whole pipeline: ``profile`` in ``params/profile.yaml``
(``demo`` or ``full``). ``EMOKIT_PROFILE`` overrides it for a single command-line call; DVC stages
always read the file, so a ``dvc repro`` is decided by what is committed.

A chapter's parameter file ``params/<chapter>.yaml`` has a ``common`` section and one section per
profile (``demo``, ``full``) plus ``smoke`` (the smallest sizes, for the notebook smoke tests,
applied on top of demo). :func:`load_params` deep-merges them in that order.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

PROFILES = ("demo", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = REPO_ROOT / "params"
ARTIFACTS_DIR = Path(os.environ.get("EMOKIT_ARTIFACTS", REPO_ROOT / "artifacts"))


class ConfigError(ValueError):
    """A parameter file or setting that is missing or malformed."""


def offline_env() -> None:
    """Stop Hugging Face libraries from calling the hub (demo profile; must precede their import)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("KERAS_BACKEND", "torch")


def read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def active_profile(params_dir: Path | None = None) -> str:
    env = os.environ.get("EMOKIT_PROFILE")
    if env:
        profile = env
        where = "EMOKIT_PROFILE"
    else:
        path = (params_dir or PARAMS_DIR) / "profile.yaml"
        profile = read_yaml(path).get("profile", "demo")
        where = str(path)
    if profile not in PROFILES:
        raise ConfigError(f"{where}: profile must be one of {PROFILES}, got {profile!r}")
    return profile


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(chapter: str, profile: str | None = None, smoke: bool = False,
                params_dir: Path | None = None) -> dict[str, Any]:
    """The merged parameters of one chapter (e.g. ``"02_text"``) for a profile."""
    params_dir = params_dir or PARAMS_DIR
    profile = profile or active_profile(params_dir)
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = params_dir / f"{chapter}.yaml"
    raw = read_yaml(path)
    unknown = set(raw) - {"common", "smoke", *PROFILES}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level sections {sorted(unknown)}; "
                          f"expected common, {', '.join(PROFILES)}, smoke")
    merged = deep_merge(raw.get("common", {}), raw.get(profile, {}) or {})
    if smoke:
        merged = deep_merge(merged, raw.get("smoke", {}) or {})
    merged["profile"] = profile
    merged["smoke"] = bool(smoke)
    merged.setdefault("data_root", None)
    return merged


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding the datasets: explicit value, then ``EMOKIT_DATA_ROOT``, then
    ``params/profile.yaml: data_root``, then ``../shared/data`` beside the repository.

    The first of these that is *set* decides: a setting that names a missing folder is an error
    (naming the setting), never a silent fall-back to other data.
    """
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("argument", Path(explicit)))
    if os.environ.get("EMOKIT_DATA_ROOT"):
        candidates.append(("EMOKIT_DATA_ROOT", Path(os.environ["EMOKIT_DATA_ROOT"])))
    try:
        cfg = read_yaml(PARAMS_DIR / "profile.yaml").get("data_root")
    except ConfigError:
        cfg = None
    if cfg:
        p = Path(cfg)
        candidates.append(("params/profile.yaml", p if p.is_absolute() else REPO_ROOT / p))
    candidates.append(("default", REPO_ROOT.parent / "shared" / "data"))
    source, path = candidates[0]
    if path.is_dir():
        return path.resolve()
    if source != "default":
        raise FileNotFoundError(
            f"data root from {source} does not exist: {path}. Fix or unset it (see README, 'Data'), "
            "or run `python -m emokit data fetch --dest` to that folder on a machine that is online.")
    tried = "; ".join(f"{src}: {p}" for src, p in candidates)
    raise FileNotFoundError(
        "no data root found (tried " + tried + "). Put the datasets in one folder (see README, "
        "'Data') and point EMOKIT_DATA_ROOT or params/profile.yaml:data_root at it, or run "
        "`python -m emokit data fetch` on a machine that is online.")


def artifacts_root() -> Path:
    """Where chapter outputs live: ``EMOKIT_ARTIFACTS`` (tests, smoke runs) or ``artifacts/``."""
    return Path(os.environ.get("EMOKIT_ARTIFACTS", REPO_ROOT / "artifacts"))


def artifacts_dir(chapter: str) -> Path:
    return artifacts_root() / chapter


def main() -> int:
    """``python -m emokit.config``: print the profile and data root (exit 2 with the reason if none)."""
    import sys

    try:
        profile = active_profile()
        root = data_root()
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"profile: {profile}\ndata root: {root}\nartifacts: {artifacts_root()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
