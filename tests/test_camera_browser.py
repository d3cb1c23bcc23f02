"""The app's camera widget in Debian's headless Chromium (Playwright), with its kernel side stood in for
(emokit.vision.browser.BrowserSession.widget): Chromium's fake camera plays a FER2013 face from
../shared/data travelling left -> right -> left across a 320x240 frame.

- the browser fast path runs (face-api on wasm: WebGL is software here), the overlay updates at a
  video rate and its box follows the face across the frame, while frames still go to the kernel;
- backend E scores faces (7 probabilities per face);
- the degraded modes show a status: the model failing to load (the kernel's box is drawn instead)
  and no camera permission.
Skips, saying why, without Chromium, Playwright, the npm files (scripts/setup_web.sh) or the data."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# FER2013 faces that face-api's tiny face detector finds at 120 px in a 320x240 frame
FACES = ("happy/Training_10139297.jpg", "happy/Training_10220224.jpg", "happy/Training_11185664.jpg")
MIN_UPDATES_PER_S = 10   # the target is 25+ (24-28 measured here at load 7-9, 12-13 at load 11-12: see
                         # benchmarks/camera_browser.py); this floor holds on a shared 2-core box under heavy
                         # load; beside it the loop must keep up with what the machine lets it do (below)


def _face(shared_data) -> np.ndarray:
    from PIL import Image

    for rel in FACES:
        p = Path(shared_data) / "fer2013" / "train" / rel
        if p.is_file():
            return np.asarray(Image.open(p).convert("L"))
    pytest.skip(f"none of {FACES} is in {shared_data}/fer2013/train")


def _need_browser():
    from emokit.vision import browser

    ok, why = browser.status()
    if not ok:
        pytest.skip(why)
    return browser


@pytest.fixture(scope="module")
def moving(shared_data, tmp_path_factory):
    browser = _need_browser()
    path, truth = browser.moving_face_video(_face(shared_data), tmp_path_factory.mktemp("cam") / "moving.y4m",
                                            seconds=2.0, face_px=120)
    return browser, path, truth, _face(shared_data)


def test_fast_path_follows_a_moving_face(moving, tmp_path):
    browser, path, truth, face = moving
    with browser.BrowserSession(video=path) as s:
        r = s.widget(4.0, {"fps": 4, "fast_options": {"input_size": 160, "expression_every": 2}}, warm_s=1.0)
        shot = s.screenshot(tmp_path / "camera_widget.png", selector=".emokit-camera")
        probs, ms = s.expressions([face, face[:, ::-1], face[4:-4, 4:-4]])   # backend E on three crops
    print({k: v for k, v in r.items() if k != "boxes"}, f"E: {np.median(ms):.1f} ms/face", shot)
    assert r["mode"] == "browser" and r["backend"] in ("webgl", "wasm", "cpu"), r["status"]
    assert r["updates_per_s"] >= MIN_UPDATES_PER_S, r["status"]
    # ... at least half of min(camera fps, 1000 / ms per analysis): frames are skipped, nothing stalls or queues
    assert r["updates_per_s"] >= 0.5 * min(30.0, 1000.0 / max(r["ms_per_update"], 1e-3)), r
    assert r["kernel_frames_per_s"] >= 1.5          # the kernel keeps getting frames meanwhile (fps=4)
    assert r["face_rate"] >= 0.9
    # the box follows the face: its centre travels most of the face's journey, at the face's height
    true_x = [b[0] + b[2] / 2 for b in truth]
    travel = (r["box_center_x_max"] - r["box_center_x_min"]) / (max(true_x) - min(true_x))
    assert travel >= 0.7, travel
    true_y = truth[0][1] + truth[0][3] / 2
    ys = [b[1][1] + b[1][3] / 2 for b in r["boxes"] if b[1]]
    assert max(abs(y - true_y) for y in ys) < 25
    # and it moves with it: consecutive boxes step by at most a few face widths, both ways
    xs = [b[1][0] for b in r["boxes"] if b[1]]
    steps = np.diff(xs)
    assert (steps > 2).sum() >= 5 and (steps < -2).sum() >= 5 and np.abs(steps).max() < 120
    assert probs.shape == (3, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-4) and 0 < np.median(ms) < 500
    assert shot.stat().st_size > 3_000
    if os.environ.get("EMOKIT_UPDATE_DOC_IMAGES") == "1":
        import shutil

        shutil.copy(shot, Path(__file__).resolve().parent.parent / "docs" / "img" / "camera_widget.png")


def test_model_failing_to_load_falls_back_to_the_kernel_box(moving):
    browser, path, _, _ = moving
    with browser.BrowserSession(video=path) as s:
        r = s.widget(1.5, {"assets_error": "face_api.esm.js: missing (test)", "kernel_box": [40, 50, 100, 100]},
                     warm_s=0.5)
    assert r["mode"] == "kernel" and "did not load" in r["status"] and "missing (test)" in r["status"]
    assert any(b[1] == [40, 50, 100, 100] for b in r["boxes"])     # the kernel's box is drawn


def test_no_camera_permission_is_said(moving):
    browser, path, _, _ = moving
    with browser.BrowserSession(video=path, camera_permission=False) as s:
        r = s.widget(0.2, {}, warm_s=0)
    assert r["mode"] == "no-camera" and "permission" in r["status"], r["status"]


def test_without_webgl_or_wasm_the_cpu_backend_still_draws(moving):
    browser, path, _, _ = moving
    with browser.BrowserSession(video=path) as s:
        r = s.widget(2.0, {"tf_backend": "cpu"}, warm_s=0.5)
    assert r["mode"] == "browser" and r["backend"] == "cpu", r["status"]
    assert r["updates"] >= 1 and "face-api on cpu" in r["status"]
