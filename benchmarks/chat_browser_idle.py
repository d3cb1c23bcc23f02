"""The chat app's idle cost in the browser: CPU of headless Chromium showing the app under Voila with the
camera on (a fake camera: a still FER2013 face in a 320x240 Y4M file) and nobody doing anything.

    .venv/bin/python benchmarks/chat_browser_idle.py [--seconds 15] [--stock-template]

Starts ``python -m emokit.chat.serve``'s Voila command on 127.0.0.1, opens the app in Debian's Chromium
(``--disable-gpu``: software rendering, as on these machines), waits for the first face box and then 8 s
(the glow's two breaths after the first emotion), and measures the CPU time of Chromium's whole process
tree (browser, renderer, GPU and utility processes) over ``--seconds``. The kernel's own CPU (the vision
backend on each frame) is recorded apart. Needs ../shared/data (the face) and Chromium. Results go to
``benchmarks/results/chat_browser_idle.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _cpu(procs) -> float:
    total = 0.0
    for p in procs:
        try:
            c = p.cpu_times()
            total += c.user + c.system
        except Exception:  # noqa: BLE001 - a process that ended
            pass
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--stock-template", action="store_true", help="Voila's lab template instead of emokit's")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "chat_browser_idle.json")
    args = ap.parse_args(argv)

    import psutil
    from playwright.sync_api import sync_playwright

    from benchmarks.run_all import machine_info
    from emokit.chat.serve import voila_command
    from test_chat_browser import FACE_CANDIDATES, _free_port

    from emokit.vision.browser import write_y4m
    from emokit.testing.synthetic_faces import face_on_canvas

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: Chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="emokit-idle-"))
    video = tmp / "face.y4m"     # a still face (nobody doing anything), 320x240 as the camera widget asks
    face = next((Path(args.data) / "fer2013" / "train" / r for r in FACE_CANDIDATES
                 if (Path(args.data) / "fer2013" / "train" / r).is_file()), None)
    if face is None:
        print(f"error: none of {FACE_CANDIDATES} is under {args.data}/fer2013/train", file=sys.stderr)
        return 2
    import numpy as np
    from PIL import Image

    frame, _ = face_on_canvas(np.asarray(Image.open(face).convert("L")), (240, 320), 140, xy=(90, 50), background=110)
    write_y4m([frame] * 10, video)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", EMOKIT_CHAT_LIVE="1")
    cmd, env = voila_command(port, env=env)
    if args.stock_template:
        cmd = [c for c in cmd if not c.startswith("--template")]
    server = subprocess.Popen(cmd, cwd=REPO / "notebooks", env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    result: dict = {}
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            profile = tmp / "profile"
            ctx = pw.chromium.launch_persistent_context(
                str(profile), executable_path=chromium, headless=True, viewport={"width": 1280, "height": 800},
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-video-capture={video}", "--autoplay-policy=no-user-gesture-required"])
            try:
                page = ctx.new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
                page.wait_for_selector(".emokit-app", timeout=180_000)
                page.wait_for_function("() => { const e = document.querySelector('.emokit-live');"
                                       " return e && e.dataset.box && e.dataset.box.startsWith('['); }",
                                       timeout=90_000)
                page.wait_for_timeout(8000)
                mains = [p for p in psutil.process_iter(["cmdline"])
                         if any(str(profile) in a for a in (p.info["cmdline"] or []))
                         and not any(a.startswith("--type=") for a in (p.info["cmdline"] or []))]
                browser = [q for m in mains for q in [m, *m.children(recursive=True)]]
                kernel = [q for q in psutil.Process(server.pid).children(recursive=True)]
                frames0 = page.evaluate("() => (document.querySelector('.emokit-cam-status') || {}).textContent || ''")
                b0, k0, t0 = _cpu(browser), _cpu(kernel), time.time()
                page.wait_for_timeout(int(args.seconds * 1000))
                b1, k1, dt = _cpu(browser), _cpu(kernel), time.time() - t0
                frames1 = page.evaluate("() => (document.querySelector('.emokit-cam-status') || {}).textContent || ''")
                running = page.evaluate("() => document.getAnimations().filter(a => a.playState === 'running').length")
            finally:
                ctx.close()
        result = {
            "template": "voila lab (stock)" if args.stock_template else "emokit",
            "seconds": round(dt, 2),
            "browser_cpu_percent_of_one_core": round(100 * (b1 - b0) / dt, 1),
            "kernel_cpu_percent_of_one_core": round(100 * (k1 - k0) / dt, 1),
            "browser_processes": len(browser),
            "running_animations_when_idle": running,
            "camera_status_before_after": [frames0, frames1],
            "load_average": os.getloadavg(),
            "machine": machine_info(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
