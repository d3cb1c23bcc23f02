"""Every reader on tiny fixture trees the tests create (silent 10-ms wavs, tiny TSV/CSV/JSON)."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from emokit.data import (DataError, read_corpus, read_cremad, read_emodb, read_esd, read_fer2013_folders,
                         read_goemotions, read_iemocap, read_jl, read_m3ed, read_meld, read_meld_raw,
                         read_ravdess, read_savee, read_tess)
from emokit.data.corpora import CORPORA, meld_clips_dir
from emokit.labels import LABELS7


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 160)
    return path


def labels_of(records):
    return sorted(r.label for r in records)


# ----------------------------------------------------------------------------- CREMA-D
def test_cremad(tmp_path):
    for name in ("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_NEU_XX", "1091_TSI_SAD_LO"):
        wav(tmp_path / "cremad" / "AudioWAV" / f"{name}.wav")
    recs, rep = read_cremad(tmp_path)
    assert labels_of(recs) == ["Angry", "Happy", "Neutral", "Sad"]
    assert {r.group for r in recs} == {"cremad-1001", "cremad-1002", "cremad-1091"}
    assert all(r.source == "cremad" and Path(r.input).exists() for r in recs)
    assert recs[0].extra["intensity"] == "XX"
    assert rep.kept["Angry"] == 1 and not rep.dropped and not rep.unknown


def test_cremad_malformed_name_names_file(tmp_path):
    wav(tmp_path / "cremad" / "AudioWAV" / "1001_DFA_ANG.wav")
    with pytest.raises(DataError, match=r"1001_DFA_ANG\.wav.*AAAA_SSS_EEE_II"):
        read_cremad(tmp_path)


def test_cremad_unknown_label_counted_then_raised(tmp_path):
    wav(tmp_path / "cremad" / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    wav(tmp_path / "cremad" / "AudioWAV" / "1001_DFA_CON_XX.wav")
    wav(tmp_path / "cremad" / "AudioWAV" / "1002_DFA_CON_XX.wav")
    with pytest.raises(DataError, match=r"'CON'=2.*1001_DFA_CON_XX"):
        read_cremad(tmp_path)
    recs, rep = read_cremad(tmp_path, strict=False)
    assert labels_of(recs) == ["Angry"] and rep.unknown == {"CON": 2}


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match=r"cremad/AudioWAV: CREMA-D AudioWAV folder not found"):
        read_cremad(tmp_path)
    (tmp_path / "cremad" / "AudioWAV").mkdir(parents=True)
    with pytest.raises(DataError, match="no .wav files"):
        read_cremad(tmp_path)


# ----------------------------------------------------------------------------- TESS
def test_tess(tmp_path):
    wav(tmp_path / "tess" / "OAF_angry" / "OAF_back_angry.wav")
    wav(tmp_path / "tess" / "OAF_Pleasant_surprise" / "OAF_dog_ps.wav")
    wav(tmp_path / "tess" / "YAF_neutral" / "YAF_bath_neutral.wav")
    wav(tmp_path / "tess" / "YAF_fear" / "YAF_chair_Fear.wav")
    recs, rep = read_tess(tmp_path)
    assert labels_of(recs) == ["Angry", "Fear", "Neutral", "Surprise"]
    assert {r.group for r in recs} == {"tess-OAF", "tess-YAF"}
    wav(tmp_path / "tess" / "bad" / "back_angry.wav")
    with pytest.raises(DataError, match="back_angry.wav.*OAF_back_angry"):
        read_tess(tmp_path)


# ----------------------------------------------------------------------------- SAVEE
def test_savee_both_layouts(tmp_path):
    for n in ("DC_a01", "DC_sa02", "JE_su15", "KL_n30"):
        wav(tmp_path / "savee" / "ALL" / f"{n}.wav")
    for n in ("h01", "d03", "f05"):
        wav(tmp_path / "savee" / "JK" / f"{n}.wav")
    recs, _ = read_savee(tmp_path)
    assert labels_of(recs) == sorted(["Angry", "Sad", "Surprise", "Neutral", "Happy", "Disgust", "Fear"])
    assert {r.group for r in recs} == {"savee-DC", "savee-JE", "savee-KL", "savee-JK"}
    by_input = {Path(r.input).name: r for r in recs}
    assert by_input["DC_sa02.wav"].label == "Sad" and by_input["JE_su15.wav"].label == "Surprise"


def test_savee_bad_speaker_and_name(tmp_path):
    wav(tmp_path / "savee" / "XX" / "a01.wav")
    with pytest.raises(DataError, match="speaker 'XX'"):
        read_savee(tmp_path)
    (tmp_path / "savee" / "XX" / "a01.wav").unlink()
    wav(tmp_path / "savee" / "ALL" / "DC_x01.wav")
    with pytest.raises(DataError, match="DC_x01.wav"):
        read_savee(tmp_path)


# ----------------------------------------------------------------------------- JL-Corpus
def test_jl_primary_kept_secondary_dropped_and_counted(tmp_path):
    for n in ("female1_angry_1a_1", "female1_excited_2b_2", "male2_neutral_5b_2", "male1_anxious_10a_1",
              "male1_apologetic_3a_2"):
        wav(tmp_path / "jl" / "Raw JL corpus" / f"{n}.wav")
    recs, rep = read_jl(tmp_path)
    assert labels_of(recs) == ["Angry", "Happy", "Neutral"]
    assert rep.dropped == {"anxious": 1, "apologetic": 1}
    assert {r.group for r in recs} == {"jl-female1", "jl-male2"}
    recs, _ = read_jl(tmp_path, keep_dropped=True)
    assert sum(r.label is None for r in recs) == 2
    recs, _ = read_jl(tmp_path, overrides={"anxious": "Fear"})
    assert "Fear" in labels_of(recs)


# ----------------------------------------------------------------------------- ESD
def test_esd_with_and_without_official_subfolders(tmp_path):
    wav(tmp_path / "esd" / "0001" / "Angry" / "train" / "0001_000351.wav")
    wav(tmp_path / "esd" / "0001" / "Happy" / "evaluation" / "0001_000721.wav")
    wav(tmp_path / "esd" / "0015" / "Surprise" / "0015_001401.wav")
    wav(tmp_path / "esd" / "0015" / "Neutral" / "test" / "0015_000001.wav")
    recs, _ = read_esd(tmp_path)
    by = {Path(r.input).name: r for r in recs}
    assert by["0001_000351.wav"].label == "Angry" and by["0001_000351.wav"].extra["official_split"] == "train"
    assert by["0001_000721.wav"].extra["official_split"] == "val"
    assert by["0015_001401.wav"].extra["official_split"] is None
    assert by["0015_001401.wav"].extra["language"] == "en" and by["0001_000351.wav"].extra["language"] == "zh"
    assert {r.group for r in recs} == {"esd-0001", "esd-0015"}


def test_esd_bad_layouts(tmp_path):
    wav(tmp_path / "esd" / "0001" / "Angry" / "0002_000001.wav")
    with pytest.raises(DataError, match="<spk>/<Emotion>"):
        read_esd(tmp_path)
    (tmp_path / "esd" / "0001" / "Angry" / "0002_000001.wav").unlink()
    wav(tmp_path / "esd" / "0001" / "Bored" / "0001_000001.wav")
    with pytest.raises(DataError, match="'Bored'=1"):
        read_esd(tmp_path)


# ----------------------------------------------------------------------------- IEMOCAP
IEMOCAP_TXT = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\tfru\t[2.0000, 3.5000, 3.5000]

[14.8872 - 18.0175]\tSes01F_impro01_F001\texc\t[3.5000, 3.5000, 3.0000]
"""


def test_iemocap(tmp_path):
    ev = tmp_path / "iemocap" / "Session1" / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses01F_impro01.txt").write_text(IEMOCAP_TXT)
    wav(tmp_path / "iemocap" / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    recs, rep = read_iemocap(tmp_path)
    assert labels_of(recs) == ["Happy", "Neutral"]
    assert rep.dropped == {"fru": 1}
    neu = next(r for r in recs if r.label == "Neutral")
    assert neu.group == "iemocap-Ses01F" and neu.extra["wav_exists"] and neu.extra["start"] == pytest.approx(6.2901)
    assert not next(r for r in recs if r.label == "Happy").extra["wav_exists"]
    recs, _ = read_iemocap(tmp_path, overrides={"fru": "Angry"})
    assert {r.group for r in recs} == {"iemocap-Ses01F", "iemocap-Ses01M"}


def test_iemocap_malformed_row(tmp_path):
    ev = tmp_path / "iemocap" / "Session2" / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses02F_script01_1.txt").write_text("[1.0 - 2.0] Ses02F_script01_1_F000 neu\n")
    with pytest.raises(DataError, match=r"Ses02F_script01_1\.txt, row 1"):
        read_iemocap(tmp_path)


# ----------------------------------------------------------------------------- MELD (+ raw clips)
MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"


def make_meld(root: Path, split: str, rows: list[tuple[str, str, int, int]]) -> None:
    d = root / "meld" / "csv"
    d.mkdir(parents=True, exist_ok=True)
    lines = [MELD_HEADER] + [f'{i},"{t}",Joey,{e},neutral,{dia},{utt},1,1,00:00:01,00:00:02\n'
                             for i, (t, e, dia, utt) in enumerate(rows, 1)]
    name = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}[split]
    (d / name).write_text("".join(lines), encoding="utf-8")


def test_meld_groups_are_dialogues_per_split(tmp_path):
    make_meld(tmp_path, "train", [("Hi, there", "joy", 0, 0), ("Oh no", "sadness", 0, 1), ("Hm", "neutral", 1, 0)])
    make_meld(tmp_path, "test", [("What?", "surprise", 0, 0)])
    make_meld(tmp_path, "dev", [("Ew", "disgust", 0, 0)])
    recs, rep = read_corpus("meld", tmp_path)
    assert len(recs) == 5 and rep.kept["Happy"] == 1
    groups = {(r.split, r.group) for r in recs}
    # dialogue 0 exists in every split: the groups must differ, or a split leaks
    assert {"meld-train-dia0", "meld-test-dia0", "meld-dev-dia0", "meld-train-dia1"} == {g for _, g in groups}
    assert recs[0].input == "Hi, there"


def test_meld_raw_clips(tmp_path):
    make_meld(tmp_path, "test", [("What?", "surprise", 0, 0), ("No!", "anger", 0, 1)])
    clips = tmp_path / "meld" / "MELD.Raw" / "output_repeated_splits_test"
    clips.mkdir(parents=True)
    (clips / "dia0_utt0.mp4").write_bytes(b"")
    assert meld_clips_dir(tmp_path, "test") == clips
    recs, rep = read_meld_raw(tmp_path, splits=("test",))
    assert [r.extra["clip"] for r in recs] == [str(clips / "dia0_utt0.mp4")]
    assert rep.dropped["<clip-missing>"] == 1 and rep.kept == {"Surprise": 1}
    with pytest.raises(DataError, match="no clip folder for MELD dev"):
        read_meld_raw(tmp_path, splits=("dev",))


def test_meld_bad_csv(tmp_path):
    (tmp_path / "meld" / "csv").mkdir(parents=True)
    (tmp_path / "meld" / "csv" / "test_sent_emo.csv").write_text("Utterance,Emotion\nhi,joy\n")
    with pytest.raises(DataError, match="missing columns"):
        read_meld(tmp_path, "test")
    make_meld(tmp_path, "test", [("Hm", "bored", 0, 0)])
    with pytest.raises(DataError, match=r"test_sent_emo\.csv, row 2.*'bored'"):
        read_meld(tmp_path, "test")


# ----------------------------------------------------------------------------- M3ED
def make_m3ed(root: Path, ann: dict | str) -> None:
    si = root / "m3ed" / "splitInfo"
    si.mkdir(parents=True, exist_ok=True)
    for split, series in (("train", ["anjia"]), ("val", ["huanlesong"]), ("test", ["doulaoban"])):
        (si / f"movie_list_{split}.txt").write_text("\n".join(series) + "\n")
    (root / "m3ed" / "annotation.json").write_text(ann if isinstance(ann, str) else json.dumps(ann, ensure_ascii=False))


def utt(spk, text, emo):
    return {"Speaker": spk, "Text": text, "StartTime": "0", "EndTime": "1",
            "EmoAnnotation": {"final_main_emo": emo, "final_mul_emo": [emo]}}


def test_m3ed(tmp_path):
    make_m3ed(tmp_path, {
        "anjia": {"anjia_1": {"SpeakerInfo": {"A": {"Name": "房似锦"}},
                              "Dialog": {"anjia_1_1": utt("A", "你好", "Happy"),
                                         "anjia_1_2": utt("B", "嗯", "Anger")}}},
        "doulaoban": {"doulaoban_3": {"SpeakerInfo": {}, "Dialog": {"doulaoban_3_1": utt("A", "啊?", "Surprise")}}},
    })
    wav(tmp_path / "m3ed" / "modality_speech" / "A_anjia_1_1.wav")
    recs, rep = read_m3ed(tmp_path)
    assert [(r.label, r.split, r.group) for r in recs] == [
        ("Happy", "train", "m3ed-anjia"), ("Angry", "train", "m3ed-anjia"), ("Surprise", "test", "m3ed-doulaoban")]
    assert recs[0].input == "你好" and recs[0].extra["speaker_name"] == "房似锦"
    assert recs[0].extra["audio"].endswith("A_anjia_1_1.wav") and recs[1].extra["audio"] is None
    assert rep.kept == {"Happy": 1, "Angry": 1, "Surprise": 1}


def test_m3ed_errors(tmp_path):
    make_m3ed(tmp_path, {"unknown_series": {}})
    with pytest.raises(DataError, match="'unknown_series' is in no splitInfo list"):
        read_m3ed(tmp_path)
    make_m3ed(tmp_path, {"anjia": {"anjia_1": {"Dialog": {"u1": {"Speaker": "A"}}}}})
    with pytest.raises(DataError, match=r"anjia/anjia_1, utterance u1: expected fields"):
        read_m3ed(tmp_path)
    make_m3ed(tmp_path, "{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_m3ed(tmp_path)
    make_m3ed(tmp_path, {"anjia": {"anjia_1": {"Dialog": {"u1": utt("A", "x", "Contempt")}}}})
    with pytest.raises(DataError, match="'Contempt'=1"):
        read_m3ed(tmp_path)


# ----------------------------------------------------------------------------- demo-layout readers
def test_ravdess_emodb_fer_goemotions_small(tmp_path):
    for name in ("03-01-01-01-01-01-01", "03-01-02-01-01-01-01", "03-01-08-02-02-01-02"):
        wav(tmp_path / "ravdess" / f"Actor_{name[-2:]}" / f"{name}.wav")
    recs, rep = read_ravdess(tmp_path)
    assert labels_of(recs) == ["Neutral", "Surprise"] and rep.dropped == {"02": 1}
    assert {r.group for r in recs} == {"ravdess-01", "ravdess-02"}
    assert recs[0].extra["gender"] == "male"

    for name in ("03a01Fa", "03a01Lb", "16b10Tb"):
        wav(tmp_path / "emodb" / "wav" / f"{name}.wav")
    recs, rep = read_emodb(tmp_path)
    assert labels_of(recs) == ["Happy", "Sad"] and rep.dropped == {"L": 1}
    recs, _ = read_emodb(tmp_path, overrides={"L": "Neutral"})
    assert "Neutral" in labels_of(recs)
    wav(tmp_path / "emodb" / "wav" / "3a01Fa.wav")
    with pytest.raises(DataError, match="3a01Fa.wav.*SSTttEv"):
        read_emodb(tmp_path)

    for emo in ("happy", "disgust"):
        p = tmp_path / "fer2013" / "train" / emo / f"Training_{emo}.jpg"
        p.parent.mkdir(parents=True)
        p.write_bytes(b"")
    recs, _ = read_fer2013_folders(tmp_path)
    assert labels_of(recs) == ["Disgust", "Happy"] and recs[0].extra["official_split"] == "train"

    d = tmp_path / "goemotions" / "original"
    d.mkdir(parents=True)
    (d / "train.tsv").write_text("great!\t17\ta1\nmeh\t27\ta2\nboth\t17,25\ta3\nagree\t17,18\ta4\n")
    recs, rep = read_goemotions(tmp_path, "train")
    assert labels_of(recs) == ["Happy", "Neutral"] and rep.dropped == {"<multi-label>": 2}
    recs, _ = read_goemotions(tmp_path, "train", single_label=False)
    assert labels_of(recs) == ["Happy", "Happy", "Neutral"]  # joy+love agree; joy+sadness conflict
    (d / "dev.tsv").write_text("bad\t28\tb1\n")
    with pytest.raises(DataError, match=r"dev\.tsv, row 1.*0\.\.27"):
        read_goemotions(tmp_path, "dev")


def test_read_corpus_dispatch(tmp_path):
    wav(tmp_path / "cremad" / "AudioWAV" / "1001_DFA_FEA_XX.wav")
    recs, _ = read_corpus("cremad", tmp_path)
    assert recs[0].label == "Fear"
    with pytest.raises(DataError, match="unknown corpus 'nope'"):
        read_corpus("nope", tmp_path)
    assert {"goemotions", "meld", "meld_raw", "ravdess", "emodb", "fer2013", "cremad", "tess", "savee", "jl",
            "esd", "iemocap", "m3ed", "zh_text"} == set(CORPORA)
    assert all(r.label in LABELS7 for r in recs)
