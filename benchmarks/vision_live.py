"""Live-frame throughput of emokit.vision.LiveAnalyzer at 640×480 on one CPU core.

    .venv/bin/python benchmarks/vision_live.py [--frames 300] [--backend mini_xception]

Frames: a real FER2013 face (from ../shared/data), up-scaled to 200 px and pasted on a 640×480 grey
canvas, drifting a few pixels per frame (as a webcam user moves). Only faces the Haar cascade finds
on the first frame are used, so detection and tracking both have something to do. The process is
pinned to one core (``os.sched_setaffinity``) with one torch thread. Timed: grey conversion,
tracking or detection, emotion inference and smoothing, i.e. all of ``process(frame)``; frame
synthesis is outside the timer. ``fps`` is wall-clock; ``fps_cpu_time`` divides by the process's CPU
time, i.e. what one core delivers when it is not shared (this machine is shared by several jobs: the
load average is recorded). Results go to ``benchmarks/results/vision_live.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def machine() -> dict:
    from benchmarks.run_all import machine_info

    info = machine_info()
    info["loadavg_1m_at_start"] = os.getloadavg()[0]
    return info


def make_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    import cv2

    from emokit.config import data_root
    from emokit.data.readers import read_fer2013_folders
    from emokit.vision.faces import detect_boxes
    from emokit.testing.synthetic_faces import face_on_canvas

    recs, _ = read_fer2013_folders(data_root())
    rng = np.random.default_rng(seed)
    faces = []
    for i in rng.permutation(len(recs)):
        g = cv2.imread(recs[i].input, cv2.IMREAD_GRAYSCALE)
        fr, _ = face_on_canvas(g, (480, 640), 200)
        if detect_boxes(fr[..., 0], max_side=240, min_side=0, min_face_frac=0.15):
            faces.append(g)
        if len(faces) == 4:
            break
    frames = []
    for t in range(n):
        g = faces[(t // 75) % len(faces)]  # a new person every 2.5 s at 30 fps
        x = 220 + int(40 * np.sin(t / 20))
        y = 140 + int(20 * np.cos(t / 25))
        frames.append(face_on_canvas(g, (480, 640), 200, xy=(x, y))[0])
    return frames


def run(backend: str, frames, detect_every: int) -> dict:
    from emokit.vision import LiveAnalyzer

    la = LiveAnalyzer(backend=backend, detect_every=detect_every)
    for f in frames[:10]:  # warm-up
        la.process(f)
    la.reset()
    ts, ok = [], 0
    c0 = time.process_time()
    for f in frames:
        t0 = time.perf_counter()
        p = la.process(f)
        ts.append(time.perf_counter() - t0)
        ok += p.ok
    cpu = time.process_time() - c0
    ts = np.asarray(ts)
    return {"backend": backend, "detect_every": detect_every, "frames": len(frames), "frames_with_face": ok,
            "fps": round(len(ts) / ts.sum(), 1), "fps_cpu_time": round(len(ts) / cpu, 1),
            "ms_median": round(float(np.median(ts)) * 1000, 2),
            "ms_p90": round(float(np.percentile(ts, 90)) * 1000, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--backend", action="append", default=None,
                    help="backend(s) to time (default: mini_xception and the chapter's default)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "vision_live.json")
    args = ap.parse_args(argv)
    from emokit.config import offline_env

    offline_env()
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    import torch

    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)
    from emokit.vision import default_backend

    backends = args.backend or list(dict.fromkeys(["mini_xception", default_backend()[0]]))
    frames = make_frames(args.frames)
    results = {"machine": machine(), "resolution": "640x480", "cores_used": 1, "runs": []}
    for b in backends:
        for de in (1, 5):
            r = run(b, frames, de)
            print(json.dumps(r))
            results["runs"].append(r)
    results["machine"]["loadavg_1m_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
