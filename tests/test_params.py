"""The typed parameters (emokit/params.py): every file parses, and a bad key or value fails naming the file
and the key, before a stage runs."""
from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path

import pytest
import yaml

from emokit import config, params as schema
from emokit.config import ConfigError, load_params
from emokit.pipeline import CHAPTERS

REPO = Path(__file__).resolve().parent.parent


def _sections():
    seen, todo = set(), [schema.ProfileParams, *schema.SCHEMAS.values()]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for tp in typing.get_type_hints(cls).values():
            todo += [s for _, s in schema._section_types(tp)]
    return sorted(seen, key=lambda c: c.__name__)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A copy of params/ that a test may break; the loader reads it instead of the real one."""
    dst = tmp_path / "params"
    shutil.copytree(REPO / "params", dst)
    monkeypatch.setattr(config, "PARAMS_DIR", dst)
    monkeypatch.delenv("EMOKIT_PROFILE", raising=False)
    return dst


def _edit(folder: Path, chapter: str, section: str, dotted: str, value) -> None:
    path = folder / f"{chapter}.yaml"
    raw = yaml.safe_load(path.read_text())
    node = raw.setdefault(section, {}) or {}
    raw[section] = node
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


_DELETE = object()


def test_every_chapter_has_a_schema():
    assert set(schema.SCHEMAS) == set(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_profile_parses(chapter):
    for profile, smoke in (("demo", False), ("full", False), ("demo", True)):
        p = load_params(chapter, profile=profile, smoke=smoke)
        assert isinstance(p, schema.SCHEMAS[chapter])
        assert (p.profile, p.smoke, p["profile"]) == (profile, smoke, profile)
        # the dict papermill injects parses back to the same parameters (the notebook's copy)
        again = load_params(chapter, given=p.to_dict())
        assert again == p and again.to_dict() == p.to_dict()


def test_sections_read_like_mappings():
    p = load_params("03_audio", profile="demo", smoke=True)
    assert p.train.lr == p["train"]["lr"] == dict(**p.train)["lr"]
    assert p.variants["v3"].train["epochs"] == 2          # smoke over demo over common
    assert p.variants["v3"].arch_params["widths"] == [8, 16, 32, 64]
    with pytest.raises(KeyError, match="did you mean 'lr'"):
        p.train["lrr"]
    import copy
    import json

    assert isinstance(p.split, dict) and json.loads(json.dumps(p.split)) == p.split.to_dict()   # model cards
    import pickle

    assert type(pickle.loads(pickle.dumps(p)).train) is schema.AudioTrain and pickle.loads(pickle.dumps(p)) == p
    c = copy.deepcopy(p)                                  # a copy to change: plain dicts
    assert c == p and type(c) is dict and type(c["train"]) is dict
    c["train"]["lr"] = 1.0
    assert p.train.lr != 1.0
    with pytest.raises(TypeError, match="read-only"):
        p.train["lr"] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.train.lr = 1.0
    d = p.to_dict()
    d["train"]["lr"] = 1.0                               # a plain copy may change
    assert type(d["train"]) is dict and p.train.lr != 1.0


def test_no_defaults_in_the_schema_but_optional_slots():
    """Every value lives in the YAML: a field may have a default only when it is an optional slot whose
    absence means nothing (None or an empty list), never a number or a name."""
    for cls in _sections():
        for fl in dataclasses.fields(cls):
            assert fl.metadata.get("help"), f"{cls.__name__}.{fl.name}: no help text"
            if fl.default is not dataclasses.MISSING:
                assert fl.default is None, f"{cls.__name__}.{fl.name}: default {fl.default!r} duplicates the YAML"
            if fl.default_factory is not dataclasses.MISSING:
                assert fl.default_factory() == [], f"{cls.__name__}.{fl.name}: default factory"


@pytest.mark.parametrize("chapter,section,dotted,value,match", [
    ("03_audio", "smoke", "train.epoch", 1, r"03_audio.yaml: smoke\.train\.epoch: unknown key \(did you mean 'epochs'\?\)"),
    ("03_audio", "demo", "variants.v3.train.lrate", 0.1, r"03_audio.yaml \(demo profile\): variants\.v3\.train\.lrate: unknown key"),
    ("01_vision", "common", "robustnes", {}, r"01_vision.yaml: common\.robustnes: unknown key \(did you mean 'robustness'\?\)"),
    ("02_text", "full", "stages", [{"name": "x", "model": "m", "lr": 1e-5, "weight_decay": 0.0, "epochs": 1, "batch": 4,
                                    "grad_accum": 1, "warmup": 0.1, "scheduler": "linear", "max_len": 64, "seed": 1,
                                    "bf16": "auto", "logging_step": 5}],
     r"02_text.yaml: full\.stages\[0\]\.logging_step: unknown key \(did you mean 'logging_steps'\?\)"),
    ("06_empathic_chat", "common", "app.fast_path.input_sise", 160, r"common\.app\.fast_path\.input_sise: unknown key"),
    ("04_late_fusion", "common", "profile", "full", r"04_late_fusion.yaml: common\.profile: set by the loader"),
])
def test_unknown_key_names_file_and_key(scratch, chapter, section, dotted, value, match):
    _edit(scratch, chapter, section, dotted, value)
    with pytest.raises(ConfigError, match=match):
        load_params(chapter, profile="demo")


@pytest.mark.parametrize("chapter,section,dotted,value,match", [
    ("03_audio", "common", "train.epochs", _DELETE, r"03_audio.yaml \(demo profile\): train\.epochs: missing"),
    ("03_audio", "common", "train.lr", "fast", r"train\.lr: expected float, got 'fast'"),
    ("03_audio", "common", "split.fractions", [0.5, 0.2, 0.2], r"split\.fractions: must be 3 shares"),
    ("03_audio", "smoke", "run_variants", ["v1", "v4"], r"\(demo profile \+ smoke\): run_variants: unknown variant 'v4'"),
    ("01_vision", "common", "data.split_mode", "offical", r"data\.split_mode: expected one of .*\(did you mean 'official'\?\)"),
    ("01_vision", "common", "data.test_size", 1.5, r"data\.test_size: must be in \(0, 1\)"),
    ("02_text", "common", "select_by", "test.f1_macro", r"select_by: models are chosen on validation only"),
    ("02_text", "smoke", "heads.candidates", [{"kind": "linear", "C": 0.1, "hiden": 3}], r"heads\.candidates\[0\]\.hiden: unknown key"),
    ("05_hybrid_fusion", "smoke", "model.heads", 3, r"model\.d_model: 32 is not divisible by heads 3"),
    ("06_empathic_chat", "full", "app.live_fps", "15", r"\(full profile\): app\.live_fps: expected float"),
])
def test_bad_value_names_file_and_key(scratch, chapter, section, dotted, value, match):
    """Every profile's merge is checked, whichever profile runs (a broken full value fails a demo run)."""
    _edit(scratch, chapter, section, dotted, value)
    with pytest.raises(ConfigError, match=match):
        load_params(chapter, profile="demo")


def test_profile_file_is_typed(scratch):
    (scratch / "profile.yaml").write_text("profile: demo\ndata_root: null\nseed: 42\n")
    with pytest.raises(ConfigError, match=r"profile.yaml: seed: unknown key"):
        config.active_profile()
    (scratch / "profile.yaml").write_text("profile: demo\n")
    with pytest.raises(ConfigError, match=r"profile.yaml: data_root: missing"):
        config.active_profile()


def test_bad_params_fail_before_the_notebook_runs(scratch, tmp_path):
    from emokit.pipeline import run_notebook

    _edit(scratch, "05_hybrid_fusion", "common", "train.epocs", 3)
    with pytest.raises(ConfigError, match=r"05_hybrid_fusion.yaml: common\.train\.epocs: unknown key"):
        run_notebook("05_hybrid_fusion", artifacts=tmp_path / "art")
    assert not (tmp_path / "art" / "05_hybrid_fusion" / "05_hybrid_fusion.ipynb").exists()
    assert not (tmp_path / "art" / "05_hybrid_fusion" / "run.json").exists()


def test_schema_matches_the_library_configs():
    """Sections handed to a library config take exactly the keys that config has (the library's own
    defaults serve callers outside the pipeline, e.g. the CLI; the YAML sets every one it names)."""
    from emokit.audio.features import LogMelConfig
    from emokit.audio.training import TrainConfig
    from emokit.chat import local_llm
    from emokit.chat.camera_widget import FAST_DEFAULTS
    from emokit.text.language import DEFAULTS as ROUTING

    assert set(schema.LogMel.field_names()) <= set(LogMelConfig.__dataclass_fields__)
    assert set(schema.AudioTrain.field_names()) <= set(TrainConfig.__dataclass_fields__)
    assert set(schema.Routing.field_names()) == set(ROUTING)
    assert set(FAST_DEFAULTS) <= set(schema.FastPath.field_names())
    assert set(schema.LocalLLMParams.field_names()) - {"enabled"} == set(local_llm.DEFAULTS)
    # where a library keeps a default for callers outside the pipeline (the CLI, the app without params),
    # it is the YAML's value: the pipeline reads the YAML, and the two cannot drift apart unseen
    text, chat, audio = (load_params(c) for c in ("02_text", "06_empathic_chat", "03_audio"))
    assert dict(text.routing) == ROUTING
    assert {k: chat.app.fast_path[k] for k in FAST_DEFAULTS} == FAST_DEFAULTS
    logmel = dataclasses.asdict(LogMelConfig())
    assert {k: logmel[k] for k in audio.logmel} == dict(audio.logmel)


def test_names_in_the_params_exist():
    """Names the YAML hands to a registry (kept out of emokit/params.py, which imports nothing from the
    chapters, so that every stage does not depend on them)."""
    from emokit.chat import prompts
    from emokit.data.corpora import CORPORA

    for profile, smoke in (("demo", False), ("full", False), ("demo", True)):
        d = load_params("00_datasets", profile=profile, smoke=smoke)
        assert set(d.corpora) <= set(CORPORA) and set(d.fused_sources) <= set(CORPORA)
        c = load_params("06_empathic_chat", profile=profile, smoke=smoke)
        assert c.app.persona in prompts.PERSONAS
        for turn in c.script:
            assert turn.persona is None or turn.persona in prompts.persona_keys()
            assert turn.persona != prompts.USER_DEFINED or turn.custom


def test_config_check_stops_on_a_bad_params_file(scratch, capsys):
    """``python -m emokit.config`` (the first step of ``make report``) checks every params file."""
    assert config.main() == 0 and "7 chapter files checked" in capsys.readouterr().out
    _edit(scratch, "02_text", "full", "zero_shot.hf_modle", "x")
    assert config.main() == 2
    assert "02_text.yaml: full.zero_shot.hf_modle: unknown key (did you mean 'hf_model'?)" in capsys.readouterr().err
