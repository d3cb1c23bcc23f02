"""Where things are, which profile runs, and the parameters of each chapter.

One switch chooses the profile for the whole pipeline: ``profile`` in ``params/profile.yaml``
(``demo`` or ``full``). ``EMOKIT_PROFILE`` overrides it for a single command-line call; DVC stages
always read the file, so a ``dvc repro`` is decided by what is committed.

A chapter's parameter file ``params/<chapter>.yaml`` has a ``common`` section and one section per
profile (``demo``, ``full``) plus ``smoke`` (the smallest sizes, for the notebook smoke tests,
applied on top of demo). :func:`load_params` deep-merges them in that order and parses the result into
the chapter's typed dataclass (:mod:`emokit.params`): every section is checked first, so an unknown or
misspelt key, a missing value or one out of range fails before anything runs, naming the file and the key.
Every value lives in the YAML; the dataclasses hold no defaults.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from .params import ConfigError  # noqa: F401 - defined beside the params schema (a leaf module), raised here too

PROFILES = ("demo", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = REPO_ROOT / "params"
ARTIFACTS_DIR = Path(os.environ.get("EMOKIT_ARTIFACTS", REPO_ROOT / "artifacts"))




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


def _shown(path: Path) -> str:
    """``params/x.yaml`` for the repository's files, the full path for others (tests)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def read_profile(params_dir: Path | None = None):
    """``params/profile.yaml`` parsed (:class:`emokit.params.ProfileParams`; an unknown key is an error)."""
    from .params import ProfileParams, parse

    path = (params_dir or PARAMS_DIR) / "profile.yaml"
    raw = read_yaml(path)
    if raw.get("profile") not in PROFILES:
        raise ConfigError(f"{_shown(path)}: profile must be one of {PROFILES}, got {raw.get('profile')!r}")
    return parse(ProfileParams, raw, _shown(path))


def active_profile(params_dir: Path | None = None) -> str:
    env = os.environ.get("EMOKIT_PROFILE")
    if env:
        if env not in PROFILES:
            raise ConfigError(f"EMOKIT_PROFILE: profile must be one of {PROFILES}, got {env!r}")
        return env
    return read_profile(params_dir).profile


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(chapter: str, profile: str | None = None, smoke: bool = False,
                params_dir: Path | None = None, given: Mapping[str, Any] | None = None):
    """The parameters of one chapter (e.g. ``"02_text"``) for a profile, parsed into its dataclass
    (:data:`emokit.params.SCHEMAS`; a read-only mapping too). Every section of the file is checked, and
    every profile's merge (demo, full, demo + smoke) is parsed, so a bad value anywhere fails now.

    ``given``: the plain dict a notebook received from papermill (already merged): parsed, not re-read.
    A chapter without a schema (tests' scratch files) gives the merged plain dict.
    """
    from .params import SCHEMAS, check_keys, parse

    schema = SCHEMAS.get(chapter)
    if given:
        if schema is None:
            return dict(given)
        return parse(schema, given, f"parameters given to notebooks/{chapter}.ipynb (from params/{chapter}.yaml)")
    params_dir = params_dir or PARAMS_DIR
    profile = profile or active_profile(params_dir)
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = params_dir / f"{chapter}.yaml"
    shown = _shown(path)
    raw = read_yaml(path)
    unknown = set(raw) - {"common", "smoke", *PROFILES}
    if unknown:
        raise ConfigError(f"{shown}: unknown top-level sections {sorted(unknown)}; "
                          f"expected common, {', '.join(PROFILES)}, smoke")
    for name, section in raw.items():
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(f"{shown}: {name}: expected a mapping, got {section!r}")
        if schema is not None:
            check_keys(schema, section or {}, shown, (name,))

    def merged(prof: str, smk: bool) -> dict[str, Any]:
        out = deep_merge(raw.get("common") or {}, raw.get(prof) or {})
        if smk:
            out = deep_merge(out, raw.get("smoke") or {})
        out.update(profile=prof, smoke=bool(smk), data_root=None)
        return out

    if schema is None:
        return merged(profile, smoke)
    wanted = None
    for prof, smk in (("demo", False), ("full", False), ("demo", True), (profile, smoke)):
        label = f"{shown} ({prof} profile{' + smoke' if smk else ''})"
        p = parse(schema, merged(prof, smk), label)
        if (prof, smk) == (profile, bool(smoke)):
            wanted = p
    return wanted


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
        cfg = read_profile().data_root
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
    """``python -m emokit.config [--params-only]``: check every params file, print the profile and data root
    (exit 2 with the reason when a params file is bad or no data root is found)."""
    import sys

    from .params import SCHEMAS

    try:
        profile = active_profile()
        for chapter in SCHEMAS:          # every params file, every profile: a bad key stops `make report` here
            load_params(chapter, profile=profile)
        if "--params-only" in sys.argv[1:]:
            print(f"profile: {profile}\nparams: {len(SCHEMAS)} chapter files checked")
            return 0
        root = data_root()
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"profile: {profile}\nparams: {len(SCHEMAS)} chapter files checked\ndata root: {root}\n"
          f"artifacts: {artifacts_root()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
