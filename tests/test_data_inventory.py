"""Chapter 00 helpers: inventory statuses, counts table, metrics keys, figures (tiny fixtures)."""
from __future__ import annotations

import wave
from pathlib import Path

import pytest

from emokit.data import plots
from emokit.data.inventory import inventory, inventory_metrics, label_counts_table
from emokit.labels import LABELS7


def _wav(p: Path) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0")


@pytest.fixture()
def root(tmp_path):
    for n in ("1001_DFA_ANG_XX", "1001_DFA_SAD_XX", "1002_DFA_SAD_XX"):
        _wav(tmp_path / "cremad" / "AudioWAV" / f"{n}.wav")
    for n in ("03a01Fa", "03a01La"):
        _wav(tmp_path / "emodb" / "wav" / f"{n}.wav")
    _wav(tmp_path / "tess" / "x" / "OAF_back_bored.wav")  # unknown label
    (tmp_path / "savee").mkdir()
    _wav(tmp_path / "savee" / "zz.wav")  # malformed name -> error status, not a crash
    return tmp_path


def test_inventory_statuses_and_metrics(root):
    st = {c.name: c for c in inventory(root, ["cremad", "emodb", "tess", "savee", "jl"])}
    assert {k: v.status for k, v in st.items()} == {"cremad": "ok", "emodb": "ok", "tess": "ok",
                                                    "savee": "error", "jl": "missing"}
    assert "zz.wav" in st["savee"].detail and st["tess"].report.unknown == {"bored": 1}
    m = inventory_metrics(list(st.values()))
    assert m["cremad.Sad"] == 2 and m["cremad.Angry"] == 1 and m["cremad.total"] == 3 and m["cremad.groups"] == 2
    assert m["emodb.dropped.L"] == 1 and m["tess.unknown.bored"] == 1 and m["tess.total"] == 0
    assert (m["datasets.available"], m["datasets.missing"], m["datasets.error"]) == (3, 1, 1)
    strict = {c.name: c for c in inventory(root, ["tess"], strict=True)}
    assert strict["tess"].status == "error" and "'bored'=1" in strict["tess"].detail
    over = {c.name: c for c in inventory(root, ["emodb"], options={"emodb": {"overrides": {"L": "Neutral"}}})}
    assert len(over["emodb"].records) == 2


def test_counts_table_and_figures(root, tmp_path):
    st = [c for c in inventory(root, ["cremad", "emodb"]) if c.status == "ok"]
    df = label_counts_table({c.name: c.records for c in st})
    assert list(df.columns) == [*LABELS7, "total"]
    assert df.loc["cremad", "Sad"] == 2 and df.loc["emodb", "total"] == 1
    figs = [plots.plot_label_grid(df), plots.plot_fused_distribution(df, ["cremad", "emodb", "absent"]),
            plots.plot_source_emotion_stack(df, ["cremad", "emodb"]),
            plots.plot_source_emotion_stack(df, ["cremad", "emodb"], normalise=True)]
    fused_title = figs[1].axes[0].get_title()
    assert "cremad + emodb" in fused_title and "n=4" in fused_title
    stack = figs[3].axes[0]
    tops = [p.get_y() + p.get_height() for p in stack.patches]
    assert max(tops) == pytest.approx(1.0)  # shares stack to 1 per corpus
    for i, f in enumerate(figs):
        f.savefig(tmp_path / f"f{i}.png")
        assert (tmp_path / f"f{i}.png").stat().st_size > 1000
