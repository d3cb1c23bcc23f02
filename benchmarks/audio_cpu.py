"""Audio chapter on CPU: log-mel extraction clips/s, inference latency per 3 s clip, training samples/s.

    .venv/bin/python benchmarks/audio_cpu.py [--clips 60] [--repeats 30]

* extraction: decode + 128-band log-mel of real RAVDESS/EmoDB clips (synthetic 3 s clips when
  ../shared/data is absent), one clip at a time as the cache builder does;
* latency: ``emokit.audio.predict`` style single-clip inference (log-mel + network, or the linear
  heads' feature extraction) on a 3.0 s clip for the demo v3 (from params), the report-size v3, the
  chapter's default model when ``artifacts/03_audio/models/best`` exists, and the eGeMAPS / Whisper
  feature extractors; median and p90 over ``--repeats`` warm calls;
* training: samples/s of forward+backward+AdamW at batch 32 on random log-mel tensors for the demo
  v3 and the report-size v3 (fp32, the configured threads).

Writes benchmarks/results/audio_cpu.json with the machine's description (load average included:
the CPU is shared, so numbers vary run to run).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402


def _stats(xs):
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 2), "p90_ms": round(xs[int(0.9 * (len(xs) - 1))] * 1000, 2),
            "min_ms": round(xs[0] * 1000, 2), "n": len(xs)}


def _time(fn, repeats, warm=5):
    for _ in range(warm):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return _stats(out)


def _train_rate(net, batch, steps):
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 128, 130)
    y = torch.randint(0, 7, (batch,))
    net.train()

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return round(batch * steps / (time.perf_counter() - t), 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "audio_cpu.json")
    args = ap.parse_args(argv)

    import torch

    from emokit.audio import features as feat
    from emokit.audio.model_io import load_folder
    from emokit.audio.models import build_model, n_params
    from emokit.config import artifacts_dir, load_params, offline_env

    offline_env()
    params = load_params("03_audio", profile="demo")
    torch.set_num_threads(int(params["threads"]))
    cfg = feat.LogMelConfig.from_params(params["logmel"])
    res = {"machine": machine_info(), "threads": torch.get_num_threads(), "logmel": cfg.to_dict()}

    # ---- extraction
    from emokit.data import load_audio

    try:
        from emokit.config import data_root

        root = data_root()
        files = sorted((root / "ravdess").glob("Actor_*/*.wav"))[: args.clips // 2] + \
            sorted((root / "emodb" / "wav").glob("*.wav"))[: args.clips // 2]
        src = "shared/data RAVDESS + EmoDB"
    except FileNotFoundError:
        files, src = [], "synthetic 3 s"
    feat.logmel(np.zeros(cfg.sr, np.float32), cfg)  # warm the mel basis
    t = time.perf_counter()
    if files:
        for f in files:
            feat.first_window(feat.logmel(load_audio(f, sr=cfg.sr), cfg), cfg)
        n = len(files)
    else:
        n = args.clips
        for i in range(n):
            feat.first_window(feat.logmel(np.random.default_rng(i).normal(0, 0.1, 3 * cfg.sr).astype(np.float32), cfg), cfg)
    res["extraction"] = {"clips": n, "source": src, "clips_per_s": round(n / (time.perf_counter() - t), 1),
                         "what": "decode (load_audio at 22,050 Hz) + log-mel + first window"}

    # ---- inference latency per 3 s clip
    clip = (0.3 * np.sin(2 * np.pi * 180 * np.arange(3 * cfg.sr) / cfg.sr)).astype(np.float32)
    clip16 = (0.3 * np.sin(2 * np.pi * 180 * np.arange(3 * 16000) / 16000)).astype(np.float32)
    lat = {}
    for name, ap_ in (("v3_demo", params["variants"]["v3"]["arch_params"]),
                      ("v3_report_size", load_params("03_audio", profile="full")["variants"]["v3"]["arch_params"])):
        net = build_model("v3", **ap_).eval()

        def run(net=net):
            w = feat.windows(feat.logmel(clip, cfg), cfg)
            with torch.no_grad():
                torch.softmax(net(torch.from_numpy(w).unsqueeze(1)), 1)

        lat[name] = {**_time(run, args.repeats), "params": n_params(net)}
    best = artifacts_dir("03_audio") / "models" / "best"
    if (best / "model_card.json").exists():
        m = load_folder(best)
        a = clip if m.kind == "crnn" else clip16
        lat["default_model"] = {**_time(lambda: m.predict_audio(a), args.repeats), "model": m.card.get("name"),
                                "chosen": m.card.get("selected_as_default", {}).get("chosen")}
    else:
        lat["default_model"] = "skipped: artifacts/03_audio/models/best not built (dvc repro 03_audio)"
    lat["egemaps_features"] = _time(lambda: feat.egemaps(clip16, 16000), max(5, args.repeats // 3))
    lat["whisper_embedding"] = _time(lambda: feat.whisper_embed(clip16), max(5, args.repeats // 3))
    res["latency_3s_clip"] = lat
    res["latency_goal_ms"] = 50

    # ---- training throughput
    res["train_samples_per_s_batch32"] = {
        "v3_demo": _train_rate(build_model("v3", **params["variants"]["v3"]["arch_params"]), 32, args.steps),
        "v3_report_size": _train_rate(build_model("v3", **load_params("03_audio", profile="full")["variants"]["v3"]["arch_params"]), 32, max(2, args.steps // 2)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
