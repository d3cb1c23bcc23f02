"""The 03_audio_grid stage (emokit/chapters/audio_grid.py) on real demo clips: cells chosen by
``grid.cell``, rows written and read back only under the same fingerprint, the chapter falls back to
training when they do not match, and a bad cell index is refused with the params file named."""
from __future__ import annotations

import copy
import json

import pytest

from emokit.config import load_params

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(shared_data, tmp_path_factory):
    from emokit.audio.data import prepare

    p = load_params("03_audio", profile="demo", smoke=True).to_dict()   # a copy this test changes
    p["data_root"] = str(shared_data)
    p["max_per_speaker"] = 2
    p["feature_sets"] = ["logmel"]
    data = prepare(p, cache_root=tmp_path_factory.mktemp("cache"), progress=False)
    return p, data


def test_cells_run_write_and_load_under_the_same_fingerprint_only(setup, tmp_path):
    from emokit.chapters import audio_grid as ag

    p, data = setup
    assert ag.combos(p) == [(0.0005, 16, 0.1), (0.0008, 16, 0.1)]       # the smoke grid: 2 cells
    rows = ag.run_cells(p, data, progress=False)
    assert [r["key"] for r in rows] == ["0.0005_16_0.1", "0.0008_16_0.1"]
    folder = ag.write(tmp_path / ag.STAGE, rows, p, ag.fingerprint(p, data), {"mode": "test", "wall_s": 1.0})
    meta = json.loads((folder / "grid.json").read_text())
    assert meta["complete"] and meta["cells"] == ["0.0005_16_0.1", "0.0008_16_0.1"]
    assert (folder / "grid_heatmap.png").stat().st_size > 1000
    m = json.loads((tmp_path / f"{ag.STAGE}.metrics.json").read_text())
    assert m["grid.cells"] == 2 and m["grid.0.0005_16_0.1.best_val_accuracy"] == rows[0]["best_val_accuracy"]
    assert (tmp_path / "plots" / ag.STAGE / "grid.csv").read_text() == (folder / "grid.csv").read_text()

    back = ag.load(folder, p, data)
    assert [r["best_val_accuracy"] for r in back] == [r["best_val_accuracy"] for r in rows]
    assert back[0]["history"] == json.loads(json.dumps(rows[0]["history"]))
    got, source = ag.rows_for_chapter(p, data, folder)
    assert "read from" in source and len(got) == 2

    other = copy.deepcopy(p)
    other["grid"]["train"] = {**other["grid"]["train"], "mixup_alpha": 0.0}     # another setting
    assert ag.load(folder, other, data) is None
    one = copy.deepcopy(p)
    one["grid"]["cell"] = 1                       # what a queued experiment sets: same fingerprint
    assert ag.fingerprint(one, data) == ag.fingerprint(p, data)
    assert [r["key"] for r in ag.load(folder, one, data)] == ["0.0008_16_0.1"]


def test_one_cell_and_bad_cell_values(setup):
    from emokit.chapters import audio_grid as ag

    p, data = setup
    one = copy.deepcopy(p)
    one["grid"]["cell"] = 0
    assert ag.selected(one) == [0]
    for bad in (2, -1, "0", True, 0.5):
        one["grid"]["cell"] = bad
        with pytest.raises(ValueError, match=r"params/03_audio.yaml: grid.cell must be null or an integer in 0..1"):
            ag.selected(one)


def test_the_stage_declares_what_the_module_reads():
    """dvc.yaml's 03_audio_grid: its params keys exist in params/03_audio.yaml, chapter 03 depends on
    its output, and the queue's -S key is the one the stage declares."""
    import yaml

    from emokit.chapters import audio_grid as ag
    from emokit.config import REPO_ROOT

    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    st = dvc[ag.STAGE]
    assert st["cmd"] == "python -m emokit.chapters.audio_grid run" and st["outs"] == [f"artifacts/{ag.STAGE}"]
    raw = yaml.safe_load((REPO_ROOT / ag.PARAMS_FILE).read_text())
    keys = next(p[ag.PARAMS_FILE] for p in st["params"] if isinstance(p, dict) and ag.PARAMS_FILE in p)
    for key in keys:
        node = raw
        for part in key.split("."):
            assert part in node, f"{ag.STAGE} names {ag.PARAMS_FILE}:{key}, which is absent"
            node = node[part]
    assert ag.CELL_KEY.rsplit(".", 1)[0] in keys and raw["common"]["grid"]["cell"] is None
    assert f"artifacts/{ag.STAGE}" in dvc["03_audio"]["deps"]
