"""The app's camera in the browser: overlay updates/s, kernel frames/s and idle CPU, in Voila.

    .venv/bin/python benchmarks/camera_browser.py [--seconds 10] [--runs 2]

Serves notebooks/06_empathic_chat.ipynb with Voila on 127.0.0.1 (``emokit.chat.serve``'s command and
template) and opens it in Debian's headless Chromium (Playwright, the flags of tests/test_chat_browser.py) with the fake camera playing a Y4M clip
made from a FER2013 face in ../shared/data:

- ``moving``: the face travels left -> right -> left across a 320x240 frame (2 s per journey):
  the browser fast path's overlay updates per second (``data-updates`` of the overlay canvas), the
  kernel's frames per second (the widget's ``data-kfps``) and the browser's CPU;
- ``still``: the same face, not moving (the camera on and nothing happening): the browser's CPU, once
  as the page is and once with CSS animations switched off (``animation: none``), which separates the
  chat's glow animation (not the camera's) from the camera loop.

CPU is the user+system time of the Chromium process tree (from /proc) over ``--seconds``, as a share of
one core. The machine is shared: its load average is recorded with the results, which go to
``benchmarks/results/camera_browser.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FACE = "happy/Training_14646317.jpg"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


def _tree_cpu_s(root: int) -> float:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids.setdefault(int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except OSError:
                pass
    todo, total = [root], 0
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _browser_pid(video: Path) -> int:
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline").read()
            except OSError:
                continue
            if str(video) in cmd and "--type=" not in cmd:
                return int(d)
    raise RuntimeError("the Chromium browser process was not found")


def run_once(video: Path, scene: str, seconds: float, chromium: str, port: int) -> dict:
    from playwright.sync_api import sync_playwright

    status_js = ("() => { const s = document.querySelector('.emokit-cam-status'), o = document.querySelector('.emokit-overlay');"
                 " return Object.assign({}, s.dataset, {text: s.textContent, updates: Number(o.dataset.updates || 0)}); }")
    out: dict = {"scene": scene}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True,
                               args=ARGS + [f"--use-file-for-fake-video-capture={video}"])
        try:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
            page.wait_for_function("() => { const s = document.querySelector('.emokit-cam-status');"
                                   " return s && ['browser', 'kernel', 'no-camera'].includes(s.dataset.mode); }",
                                   timeout=120_000)
            page.wait_for_timeout(8000)   # past the glow's two breaths after the first emotion
            pid = _browser_pid(video)
            variants = [("as_is", None)] + ([("no_css_animation", "*{animation:none !important}")] if scene == "still" else [])
            for name, css in variants:
                if css:
                    page.add_style_tag(content=css)
                    page.wait_for_timeout(1000)
                s0, c0, t0 = page.evaluate(status_js), _tree_cpu_s(pid), time.time()
                page.wait_for_timeout(int(seconds * 1000))
                s1, c1, t1 = page.evaluate(status_js), _tree_cpu_s(pid), time.time()
                out[name] = {"browser_cpu_share_of_one_core": round((c1 - c0) / (t1 - t0), 3),
                             "overlay_updates_per_s": round((s1["updates"] - s0["updates"]) / (t1 - t0), 2),
                             "kernel_frames_per_s": float(s1.get("kfps") or 0), "mode": s1.get("mode"),
                             "tf_backend": s1.get("backend"), "status": s1.get("text")}
        finally:
            b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "camera_browser.json")
    args = ap.parse_args()
    import tempfile

    from PIL import Image

    from benchmarks.run_all import machine_info
    from emokit.chat.serve import voila_command
    from emokit.config import data_root
    from emokit.vision import browser
    from emokit.testing.synthetic_faces import face_on_canvas

    ok, why = browser.status()
    if not ok:
        sys.exit(f"camera_browser: cannot run: {why}")
    gray = np.asarray(Image.open(data_root() / "fer2013" / "train" / FACE).convert("L"))
    results = {"machine": machine_info(), "face": FACE, "seconds": args.seconds, "runs": []}
    with tempfile.TemporaryDirectory(prefix="emokit-bench-") as tmp:
        moving, _ = browser.moving_face_video(gray, Path(tmp) / "moving.y4m", seconds=2.0, face_px=140)
        frame, _ = face_on_canvas(gray, (240, 320), 140, xy=(90, 50), background=110)
        still = browser.write_y4m([frame] * 30, Path(tmp) / "still.y4m")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")}
        env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", EMOKIT_CHAT_LIVE="1")
        cmd, env = voila_command(port, env=env)
        log = open(Path(tmp) / "voila.log", "w")
        server = subprocess.Popen(cmd, cwd=REPO / "notebooks", env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(120):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            for _ in range(args.runs):
                for scene, video in (("moving", moving), ("still", still)):
                    r = run_once(video, scene, args.seconds, browser.chromium_path(), port)
                    r["loadavg_1m"] = round(os.getloadavg()[0], 2)
                    print(json.dumps(r))
                    results["runs"].append(r)
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
    results["machine"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
