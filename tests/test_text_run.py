"""`python -m emokit.text.run`: the text stages' own entry point (the one `accelerate launch` / `torchrun`
start on N GPUs; tests/test_distributed.py runs its trainer under two processes)."""
from __future__ import annotations

import json

import pytest

from emokit.text import run as R

TINY = {"model_type": "roberta", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 40}


def test_demo_has_no_stages_and_unknown_names_are_refused(capsys):
    assert R.main(["--profile", "demo"]) == 2
    assert "no fine-tuned stages" in capsys.readouterr().err
    assert R.main(["stage9", "--profile", "full"]) == 2
    assert "unknown stage 'stage9'; known: stage1_distilbert, stage2_roberta_large, stage3_roberta_large" in capsys.readouterr().err


@pytest.mark.integration
def test_trains_the_named_stage_on_goemotions(shared_data, tmp_path, monkeypatch, capsys):
    """The full profile's stage 2 with a tiny random-weight RoBERTa (no download) on 70 GoEmotions rows."""
    from emokit import config

    real = config.load_params

    def tiny(chapter, profile=None, smoke=False, params_dir=None):
        p = real(chapter, profile=profile, smoke=smoke, params_dir=params_dir).to_dict()   # a copy to shrink
        p["data"] = {"n_train": 70, "n_val": 35, "n_test": 35}
        for s in p["stages"]:
            s.update(random_init=TINY, max_steps=3, max_len=32, logging_steps=1, threads=1)
        return p

    monkeypatch.setattr(config, "load_params", tiny)
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(shared_data))
    assert R.main(["stage2_roberta_large", "--profile", "full", "--out", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("stage2_roberta_large: val.") and "1 process(es)" in line
    card = json.loads((tmp_path / "models" / "stage2_roberta_large" / "model_card.json").read_text())
    assert card["world_size"] == 1 and not (tmp_path / "models" / "stage1_distilbert").exists()
