"""GPU training throughput of the report-size ACRNN_v3 (widths 64-128-256-512, BiLSTM 2x128, MHA).

    .venv/bin/python benchmarks/audio_gpu_train.py [--steps 50] [--clips 43000]

The issue's reference on one H100: random tensors, ~1,580 samples/s at batch 32 fp32 and ~5,700 at
batch 256 bf16; at batch 32 the step is launch-bound (torch.compile + bf16 + channels-last measured
slower, 1,107/s). Measured here:

(a) random tensors, batch 32, fp32, eager (the reference setting);
(b) random tensors, batch 256, bf16 autocast;
(c) "real loader": a cached feature set of ``--clips`` log-mel windows (float16) kept *on the GPU*,
    shuffled by a GPU permutation and gathered per step (no host copy), batch 32, fp32, eager;
(d) the same as (c) with the whole step (gather into static buffers, forward, backward, AdamW with
    ``capturable=True``) captured once in a CUDA graph and replayed: removes the launch overhead.

Without a GPU it records ``skipped: no GPU`` and exits 0. Writes benchmarks/results/audio_gpu_train.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402

OUT = HERE / "results" / "audio_gpu_train.json"
REPORT_V3 = dict(widths=[64, 128, 256, 512], pool=[[2, 2], [2, 2], [2, 1], [2, 1]], proj=256, lstm_hidden=128,
                 heads=4, mlp_hidden=128, dropout=0.3)


def _model(dev):
    from emokit.audio.models import build_model

    return build_model("v3", **REPORT_V3).to(dev)


def eager(dev, batch, steps, bf16=False, data=None):
    import torch
    import torch.nn.functional as F

    net = _model(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)
    if data is None:
        x = torch.randn(batch, 1, 128, 130, device=dev)
        y = torch.randint(0, 7, (batch,), device=dev)
    else:
        X, Y = data
        perm = torch.randperm(len(X), device=dev)

    def step(i):
        nonlocal x, y
        if data is not None:
            idx = perm[(i * batch) % (len(X) - batch):][:batch]
            x, y = X.index_select(0, idx).float().unsqueeze(1), Y.index_select(0, idx)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if data is not None:
        x = y = None
    for i in range(5):
        step(i)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    return round(batch * steps / (time.perf_counter() - t), 1)


def graphed(dev, batch, steps, data):
    import torch
    import torch.nn.functional as F

    X, Y = data
    net = _model(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, capturable=True)
    sidx = torch.zeros(batch, dtype=torch.long, device=dev)

    def body():
        x = X.index_select(0, sidx).float().unsqueeze(1)
        y = Y.index_select(0, sidx)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            opt.zero_grad(set_to_none=False)
            body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=False)
    with torch.cuda.graph(g):
        body()
    perm = torch.randperm(len(X), device=dev)

    def step(i):
        sidx.copy_(perm[(i * batch) % (len(X) - batch):][:batch])
        for p in net.parameters():  # grads are accumulated in place by the graph: zero them
            p.grad.zero_()
        g.replay()

    for i in range(5):
        step(i)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    return round(batch * steps / (time.perf_counter() - t), 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--clips", type=int, default=43000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import torch

    res = {"machine": machine_info(), "reference_h100": {"b32_fp32_random": 1580, "b256_bf16_random": 5700,
                                                          "b32_compile_bf16_channels_last": 1107}}
    if not torch.cuda.is_available():
        res["status"] = "skipped: no GPU"
    else:
        dev = torch.device("cuda")
        res["gpu"] = torch.cuda.get_device_name(0)
        torch.backends.cudnn.benchmark = True
        X = torch.randn(args.clips, 128, 130, device=dev).clamp_(-1, 1).half()
        Y = torch.randint(0, 7, (args.clips,), device=dev)
        runs = {"a_b32_fp32_random": lambda: eager(dev, 32, args.steps),
                "b_b256_bf16_random": lambda: eager(dev, 256, args.steps, bf16=True),
                "c_b32_fp32_gpu_resident_loader": lambda: eager(dev, 32, args.steps, data=(X, Y)),
                "d_b32_fp32_gpu_loader_cuda_graph": lambda: graphed(dev, 32, args.steps, (X, Y))}
        res["samples_per_s"] = {}
        for k, fn in runs.items():
            try:
                res["samples_per_s"][k] = fn()
            except Exception as exc:  # record, keep measuring the others
                res["samples_per_s"][k] = f"failed: {type(exc).__name__}: {exc}"[:300]
        res["status"] = "ok"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
