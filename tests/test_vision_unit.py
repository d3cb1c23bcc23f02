"""Vision chapter: unit tests on tiny fixtures made here (no shared data needed)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emokit.labels import LABELS7
from tests.helpers.fixtures import one_torch_thread  # noqa: F401  (the fixture, used through pytestmark)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _face_like(size=48, seed=0):
    """A crude face drawing (ellipse, eyes, mouth): enough for shapes, not for detectors."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((size, size), 60, np.uint8)
    c = size // 2
    cv2.ellipse(img, (c, c), (size * 3 // 8, size * 7 // 16), 0, 0, 360, 180, -1)
    for dx in (-size // 6, size // 6):
        cv2.circle(img, (c + dx, c - size // 8), max(1, size // 16), 30, -1)
    cv2.ellipse(img, (c, c + size // 5), (size // 6, size // 14), 0, 0, 180, 40, 2)
    return np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)


def test_backend_names_and_label_order():
    from emokit.vision.backends import FER_NAMES, canonical_name, fer_to_canonical

    assert canonical_name("B") == canonical_name("fer") == "mini_xception"
    assert canonical_name("A") == "landmarks" and canonical_name("d") == "deepface"
    with pytest.raises(ValueError, match="unknown vision backend"):
        canonical_name("vgg")
    onehot = np.eye(7)[FER_NAMES.index("happy")]
    assert LABELS7[int(fer_to_canonical(onehot).argmax())] == "Happy"
    onehot = np.eye(7)[FER_NAMES.index("neutral")]
    assert LABELS7[int(fer_to_canonical(onehot).argmax())] == "Neutral"


def test_metrics_and_neutral_bias():
    from emokit.vision.evaluate import metrics

    y = ["Happy", "Sad", "Neutral", "Neutral"]
    probs = np.eye(7)[[LABELS7.index("Neutral")] * 4]
    m = metrics(y, probs)
    assert m["accuracy"] == 0.5
    assert m["neutral_pred_share"] == 1.0 and m["neutral_true_share"] == 0.5 and m["neutral_bias"] == 2.0
    assert m["recall"]["Neutral"] == 1.0 and m["recall"]["Happy"] == 0.0
    perfect = metrics(y, np.eye(7)[[LABELS7.index(c) for c in y]])
    assert perfect["accuracy"] == perfect["f1_macro"] == 1.0


def test_perturbations_change_what_they_should():
    from emokit.vision.evaluate import perturb

    g = _face_like()
    assert np.array_equal(perturb(g, "brightness", 0), g)
    assert np.array_equal(perturb(g, "contrast", 1), g)
    assert perturb(g, "brightness", 0.3).mean() > g.mean() + 30
    assert perturb(g, "contrast", 0.3).std() < g.std() * 0.5
    assert perturb(g, "blur", 2.0).astype(float).var() < g.astype(float).var()
    occ = perturb(g, "occlusion", 0.5)
    assert (occ[24:] == 127).all() and np.array_equal(occ[:24], g[:24])
    assert perturb(g, "rotation", 30).shape == g.shape and not np.array_equal(perturb(g, "rotation", 30), g)
    with pytest.raises(ValueError):
        perturb(g, "fog", 1)


def test_resnet_imagenet_naming_and_missing_file(tmp_path):
    import torch

    from emokit.vision.nets import ResNet

    src = ResNet(layers=(1, 1, 1, 1), width=8, num_classes=1000, stem="imagenet")
    sd = src.state_dict()
    torch.save(sd, tmp_path / "r.pth")
    dst = ResNet(layers=(1, 1, 1, 1), width=8, num_classes=7, stem="imagenet")
    assert dst.load_imagenet(tmp_path / "r.pth") == []
    assert torch.equal(dst.conv1.weight, src.conv1.weight)
    assert torch.equal(dst.layer4[0].conv2.weight, src.layer4[0].conv2.weight)
    # torchvision's resnet18 key names are exactly these
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "fc.weight"} <= set(sd)
    with pytest.raises(FileNotFoundError, match="resnet18"):
        dst.load_imagenet(tmp_path / "absent.pth")


def test_resnet_fast_dev_run_save_load(tmp_path):
    from emokit.vision.backends import ResNetBackend, load_from_dir
    from emokit.vision.training import train_resnet

    faces = [_face_like(48, s) for s in range(14)]
    labels = [LABELS7[i % 7] for i in range(14)]
    bk, info = train_resnet(faces, labels, arch=dict(layers=(1, 1, 1, 1), width=4), epochs=1, batch_size=7,
                            threads=1, val=(faces[:3], labels[:3]))
    assert info["init"] == "random initialisation" and len(info["history"]) == 1
    p = bk.predict_faces(faces[:3])
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1)
    assert bk.embed_faces(faces[:2]).shape == (2, 32)
    bk.save(tmp_path / "resnet", {"note": "test"})
    bk2 = load_from_dir(tmp_path / "resnet")
    assert isinstance(bk2, ResNetBackend)
    assert np.allclose(bk2.predict_faces(faces[:3]), p, atol=1e-6)


def test_landmark_features_width():
    from emokit.vision import landmarks as L

    f = L.features(_face_like())
    assert f.shape == (L.N_FEATURES,) and np.isfinite(f).all()


def test_predict_contract_bad_and_odd_inputs(tmp_path):
    from PIL import Image

    from emokit import vision

    small = tmp_path / "crop.png"  # a small image no detector calls a face and no face check passes
    Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))).save(small)
    big = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(big)
    notimg = tmp_path / "notes.jpg"
    notimg.write_text("not an image")
    face = tmp_path / "face.png"
    Image.fromarray(_face_like(48)).save(face)
    preds = vision.predict([str(small), str(tmp_path / "missing.jpg"), str(big), str(notimg), str(face)], backend="B")
    assert [p.input for p in preds] == [str(small), str(tmp_path / "missing.jpg"), str(big), str(notimg), str(face)]
    grad, missing, wall, bad, ok = preds
    assert grad.status == "no_face" and "face check" in grad.detail
    assert ok.status == "ok" and len(ok.probabilities) == 7 and ok.extra["box"]
    assert missing.status == "error" and "missing.jpg" in missing.detail and "not found" in missing.detail
    assert wall.status == "no_face" and "no face" in wall.detail
    assert bad.status == "error" and "notes.jpg" in bad.detail
    d = json.loads(ok.to_json())
    assert set(d["probabilities"]) == set(LABELS7) and d["box"] == ok.extra["box"]
    # arrays are accepted too, and rotated / odd-sized images do not break anything
    arr = np.rot90(np.repeat(_face_like(61)[..., None], 3, 2)).copy()
    assert vision.predict([arr], backend="B")[0].ok


def test_embed_shapes_and_nan_rows(tmp_path):
    from PIL import Image

    from emokit import vision

    p = tmp_path / "f.png"
    Image.fromarray(_face_like()).save(p)
    E = vision.embed([str(p), str(tmp_path / "missing.png")], backend="mini_xception")
    assert E.shape == (2, 128) and np.isfinite(E[0]).all() and np.isnan(E[1]).all()


def test_default_backend_falls_back_then_reads_best_json(tmp_artifacts):
    from emokit.vision import default_backend
    from emokit.vision.training import write_best

    name, why = default_backend()
    assert name == "mini_xception" and "dvc repro 01_vision" in why
    write_best(tmp_artifacts / "01_vision" / "models", "val.f1_macro", {"mini_xception": 0.2, "landmarks": 0.3})
    assert default_backend()[0] == "landmarks"
    with pytest.raises(ValueError, match="validation"):
        write_best(tmp_artifacts / "01_vision" / "models", "test.f1_macro", {"landmarks": 0.3})


def test_trained_backend_missing_says_how_to_make_it(tmp_artifacts):
    from emokit.vision.backends import BackendUnavailable, backend_status, build

    with pytest.raises(BackendUnavailable, match="dvc repro 01_vision"):
        build("resnet")
    ok, why = backend_status("landmarks")
    assert not ok and "dvc repro 01_vision" in why


def test_deepface_missing_weights_names_the_file(tmp_path, monkeypatch):
    from emokit.vision.backends import BackendUnavailable, DeepFaceBackend

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "pytorch")
    with pytest.raises(BackendUnavailable) as exc:
        DeepFaceBackend()
    assert str(tmp_path / ".deepface" / "weights" / "facial_expression_model_weights.pth") in str(exc.value)


def test_deepface_real_call_with_local_untrained_weights(tmp_path, monkeypatch):
    """The real DeepFace.analyze path, offline, on weights of its own architecture saved here."""
    import torch

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "pytorch")
    from deepface.models.demography.pytorch.Emotion import EmotionModel

    wdir = tmp_path / ".deepface" / "weights"
    wdir.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(EmotionModel().state_dict(), wdir / "facial_expression_model_weights.pth")
    from emokit.vision.backends import DeepFaceBackend

    bk = DeepFaceBackend()
    faces = [_face_like(48, 1), _face_like(64, 2)]
    p = bk.predict_faces(faces)
    assert p.shape == (2, 7) and np.allclose(p.sum(1), 1) and (p > 0).all()
    assert bk.embed_faces(faces).shape == (2, 1024)
    preds = __import__("emokit.vision", fromlist=["predict"]).predict([np.repeat(faces[0][..., None], 3, 2)], backend=bk)
    assert preds[0].ok and preds[0].extra["backend"] == "deepface"
    # VGG-Face embeddings (full profile) need their own file: the error names it
    from emokit.vision.backends import BackendUnavailable, build

    with pytest.raises(BackendUnavailable, match=str(wdir / "vgg_face_weights.pth")):
        build("deepface_vggface")
