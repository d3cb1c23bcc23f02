"""The chat notebook as a Voila app on 127.0.0.1, driven by Playwright in Debian's headless Chromium
with a fake camera (a FER2013 face from ../shared/data as a Y4M video) and a fake microphone (a
RAVDESS speech clip): the face box is drawn, a hold-to-talk turn goes IDLE -> RECORDING ->
PROCESSING -> IDLE, and an emotion-tagged bubble appears. Screenshots go to the test's tmp dir
(EMOKIT_UPDATE_DOC_IMAGES=1 also refreshes docs/img/). Installs Debian chromium when missing and allowed; otherwise skips, saying
why. Never runs ``playwright install``."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "06_empathic_chat.ipynb"
# FER2013 faces that OpenCV's Haar detector finds at 200-320 px, raw and JPEG-recompressed
FACE_CANDIDATES = ("happy/Training_11542190.jpg", "happy/Training_14646317.jpg", "happy/Training_14946849.jpg")
SPEECH = "ravdess/Actor_01/03-01-03-02-01-01-01.wav"   # happy, strong, "Kids are talking by the door"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Chromium not installed and cannot install it (needs root + apt-get: apt-get install -y chromium)")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, timeout=170)
    path = shutil.which("chromium")
    if not path:
        pytest.skip(f"apt-get install chromium failed: {r.stderr[-300:]}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_y4m(path: Path, rgb: np.ndarray, n_frames: int = 10, fps: int = 10) -> None:
    """An uncompressed 4:2:0 Y4M (what Chromium's fake capture reads)."""
    h, w, _ = rgb.shape
    f = rgb.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    u = (f[..., 2] - y) * 0.564 + 128
    v = (f[..., 0] - y) * 0.713 + 128
    sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    planes = b"".join(np.clip(p, 0, 255).astype(np.uint8).tobytes() for p in (y, sub(u), sub(v)))
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(n_frames):
            fh.write(b"FRAME\n" + planes)


def _face_frame(data: Path) -> np.ndarray:
    from PIL import Image

    for rel in FACE_CANDIDATES:
        p = data / "fer2013" / "train" / rel
        if p.is_file():
            face = Image.open(p).convert("RGB").resize((280, 280), Image.BICUBIC)
            frame = Image.new("RGB", (640, 480), (90, 90, 90))
            frame.paste(face, (180, 100))
            return np.asarray(frame)
    pytest.skip("none of the FER2013 face images used for the fake camera is in ../shared/data")


def _wav(data: Path, out: Path) -> Path:
    import soundfile as sf

    from emokit.data.media import load_audio

    src = data / SPEECH
    if not src.is_file():
        pytest.skip(f"{src} not in ../shared/data")
    audio = load_audio(src, sr=48000)
    pad = np.zeros(48000 // 2, np.float32)
    sf.write(out, np.concatenate([pad, audio, pad]), 48000, subtype="PCM_16")
    return out


def test_voila_chat_hold_to_talk(shared_data, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    voila = shutil.which("voila", path=str(Path(sys.executable).parent)) or shutil.which("voila")
    if voila is None:
        pytest.skip("voila is not installed in this environment")
    chromium = _chromium()
    data = Path(shared_data)
    video = tmp_path / "face.y4m"
    _write_y4m(video, _face_frame(data))
    audio = _wav(data, tmp_path / "speech.wav")

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="2", EMOKIT_CHAT_LIVE="1")
    log = (tmp_path / "voila.log").open("w")
    server = subprocess.Popen([voila, str(NOTEBOOK), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                               "--ServerApp.ip=127.0.0.1", "--show_tracebacks=True"],
                              cwd=REPO / "notebooks", env=env, stdout=log, stderr=subprocess.STDOUT)
    shots: dict[str, Path] = {}
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "voila.log").read_text()[-2000:]
                time.sleep(0.5)
        with sync_api.sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True,
                viewport={"width": 1280, "height": 900},
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}",
                      "--autoplay-policy=no-user-gesture-required"])
            try:
                page = ctx.new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
                page.wait_for_selector(".emokit-app", timeout=120_000)
                page.locator(".emokit-app").scroll_into_view_if_needed()
                # the live camera: frames reach the kernel, the vision backend draws the box
                try:
                    page.wait_for_function(
                        "() => { const e = document.querySelector('.emokit-live');"
                        " return e && e.dataset.box && e.dataset.box.startsWith('['); }", timeout=60_000)
                except sync_api.TimeoutError:
                    page.screenshot(path=str(tmp_path / "no_box.png"))
                    info = page.locator(".emokit-live").all_inner_texts() or ["no frame reached the kernel"]
                    raise AssertionError(f"no face box within 60 s: {info}; screenshot {tmp_path / 'no_box.png'}")
                live = page.locator(".emokit-live").first
                box, label = live.get_attribute("data-box"), live.get_attribute("data-label")
                shots["camera"] = tmp_path / "chat_camera.png"
                page.screenshot(path=str(shots["camera"]))
                n_before = page.locator(".emokit-assistant").count()
                # hold to talk
                page.locator(".emokit-hold").hover()
                page.mouse.down()
                page.wait_for_selector('.emokit-state[data-state="RECORDING"]', timeout=10_000)
                page.wait_for_timeout(2500)
                page.mouse.up()
                page.wait_for_selector('.emokit-state[data-state="PROCESSING"]', timeout=10_000)
                page.wait_for_selector(".emokit-user .emokit-tag", timeout=120_000)
                page.wait_for_selector('.emokit-state[data-state="IDLE"]', timeout=60_000)
                tag = page.locator(".emokit-user .emokit-tag").last.inner_text()
                user_text = page.locator(".emokit-user").last.inner_text()
                steps = page.locator(".emokit-steps").inner_text()
                n_after = page.locator(".emokit-assistant").count()
                theme = page.locator(".emokit-chat").get_attribute("data-emotion")
                live_text = page.locator(".emokit-live").first.inner_text()   # "... | 3.1 fps | 40 ms/frame"
                shots["turn"] = tmp_path / "chat_turn.png"
                page.screenshot(path=str(shots["turn"]))
            finally:
                ctx.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    fps = float(live_text.split(" fps")[0].split("|")[-1])
    print(f"box={box} label={label} fps={fps} tag={tag!r} theme={theme} user={user_text!r}\n{steps}")
    assert box.startswith("[") and label not in (None, "None")
    assert n_after == n_before + 1
    assert tag.strip() and "speech-to-text" in steps and "reply" in steps
    assert fps > 0.5, live_text   # frames keep flowing during and after the turn
    assert theme  # the glow follows the current emotion (or 'none' when no perception came through)
    # Screenshots stay in the test's tmp dir; EMOKIT_UPDATE_DOC_IMAGES=1 refreshes docs/img/ on purpose
    # (a plain test run must never modify tracked files).
    docs_img = REPO / "docs" / "img"
    for name, p in shots.items():
        assert p.stat().st_size > 10_000
        if os.environ.get("EMOKIT_UPDATE_DOC_IMAGES") == "1" and p.stat().st_size < 300_000:
            docs_img.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, docs_img / p.name)
