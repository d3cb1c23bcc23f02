"""GPU check: training throughput of a RoBERTa-large-sized text classifier and of the report-size
ACRNN v3 at the report's batch sizes, fp32 and mixed precision, and one DDP step on every visible GPU.

    python -m benchmarks.gpu_check            # on a GPU machine: <= 8 min, writes benchmarks/results/gpu_check.json
    python -m benchmarks.gpu_check --tiny     # small models on the CPU, DDP over 2 gloo processes (the test)

What it measures (random weights and random inputs: no hub is reachable, and throughput does not
depend on the values):

* **text**: ``RobertaForSequenceClassification`` built from a ``RobertaConfig`` with roberta-large's
  sizes (24 layers, hidden 1024, 16 heads, FFN 4096, vocab 50,265; ~355 M parameters), 7 labels,
  sequences of 128 tokens (report 3.2.4: ``max_len`` 128), AdamW; physical batch 4 (the report's
  RoBERTa-large stages: batch 4 x grad-accum 4 = 16) and 16 (its DistilBERT stage, and the effective
  batch), fp32 and autocast (bf16 where the GPU supports it, else fp16 with a GradScaler).
* **audio**: ``emokit.audio.models.build_model("v3", ...)`` with ``params/03_audio.yaml``
  ``common.variants.v3.arch_params`` (widths 64-512, BiLSTM 2x128, 4 heads; ~6.6 M parameters) on
  (B, 1, 128, 130) log-mel windows, batch 32 (v3_1) and 16 (the grid's other batch), fp32 and autocast.
* **ddp**: when more than one GPU is visible, ``torch.multiprocessing.spawn`` one process per GPU
  (NCCL), the v3 model in ``DistributedDataParallel``, batch 32 per GPU: a few timed steps, and a check
  that the parameters are identical on every rank after the step (the all-reduce happened).

Every entry records samples/s, ms per optimizer step and peak GPU memory, and the epoch time that
implies on the report's data (GoEmotions' 43,410 train rows for text; ~43k clips for audio). A
time budget (``--budget-s``, default 420 s) skips what would not fit, saying so. Without a GPU (and
without ``--tiny``) it prints ``skipped: no GPU``, records that unless the file already holds a GPU
run, and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = HERE / "results" / "gpu_check.json"
GOEMOTIONS_TRAIN_ROWS = 43_410      # GoEmotions train split (the report's text model trained on it)
AUDIO_CLIPS = 43_000                # the report's eight merged speech corpora, about 43k clips

ROBERTA_LARGE = dict(vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                     intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1)
ROBERTA_TINY = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=128, max_position_embeddings=130, type_vocab_size=1)
V3_TINY = dict(widths=[8, 16, 24, 32], stem_stride=2, pool=[[2, 2], [2, 1], [2, 1], [2, 1]], proj=32,
               lstm_hidden=16, heads=2, mlp_hidden=16)


def v3_report_arch() -> dict:
    """The report's v3 (v3_1) sizes, from params/03_audio.yaml ``common.variants.v3.arch_params``."""
    import yaml

    raw = yaml.safe_load((ROOT / "params" / "03_audio.yaml").read_text())
    return dict(raw["common"]["variants"]["v3"]["arch_params"])


def amp_mode(device) -> str | None:
    """'bf16' / 'fp16' on a GPU, None on the CPU (autocast there measures nothing useful)."""
    import torch

    if device.type != "cuda":
        return None
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_throughput(make_model, make_batch, batch: int, device, amp: str | None, steps: int,
                     warmup: int, lr: float) -> dict:
    """Samples/s of forward + backward + AdamW at ``batch`` (after ``warmup`` steps)."""
    import torch

    torch.manual_seed(0)
    with torch.device(device):      # initialise on the device: a 355 M-parameter init on the host is slow
        model = make_model().train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    x, y = make_batch(batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        last = step()
    _sync(device)
    dt = time.perf_counter() - t
    out = {"batch": batch, "precision": amp or "fp32", "steps": steps, "samples_per_s": round(batch * steps / dt, 1),
           "ms_per_step": round(1000 * dt / steps, 1), "finite_loss": bool(last == last and abs(last) < 1e6),
           "n_params": sum(p.numel() for p in model.parameters())}
    if device.type == "cuda":
        out["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    del model, opt
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def text_model(cfg: dict):
    def make():
        from transformers import RobertaConfig, RobertaForSequenceClassification

        class Logits(RobertaForSequenceClassification):
            def forward(self, input_ids):  # the logits only: the loss is computed outside, like the audio net
                return super().forward(input_ids=input_ids).logits

        return Logits(RobertaConfig(num_labels=7, **cfg))
    return make


def text_batch(cfg: dict, seq_len: int):
    def make(batch, device):
        import torch

        g = torch.Generator().manual_seed(1)
        ids = torch.randint(3, cfg["vocab_size"], (batch, seq_len), generator=g)
        ids[:, 0] = 0  # <s>
        return ids.to(device), torch.randint(0, 7, (batch,), generator=g).to(device)
    return make


def audio_model(arch: dict):
    def make():
        from emokit.audio.models import build_model

        return build_model("v3", **arch)
    return make


def audio_batch(batch, device):
    import torch

    g = torch.Generator().manual_seed(2)
    x = torch.rand(batch, 1, 128, 130, generator=g) * 2 - 1
    return x.to(device), torch.randint(0, 7, (batch,), generator=g).to(device)


# ------------------------------------------------------------------------------------------------ DDP

def _ddp_worker(rank: int, world: int, port: int, arch: dict, batch: int, steps: int, backend: str,
                result_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "gloo":
        torch.set_num_threads(1)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.manual_seed(0)                      # the same initial weights on every rank
        model = DDP(audio_model(arch)().to(device).train(), device_ids=[rank] if device.type == "cuda" else None)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        g = torch.Generator().manual_seed(100 + rank)  # a different shard of data per rank
        x = (torch.rand(batch, 1, 128, 130, generator=g) * 2 - 1).to(device)
        y = torch.randint(0, 7, (batch,), generator=g).to(device)
        amp = amp_mode(device)
        dtype = torch.bfloat16 if amp == "bf16" else None

        def step():
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        step()                                    # the one DDP step (and warm-up)
        _sync(device)
        dist.barrier()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        dt = time.perf_counter() - t
        flat = torch.cat([p.detach().float().flatten() for p in model.module.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, 0)
        max_diff = float((flat - ref).abs().max())
        if rank == 0 or True:
            Path(result_dir, f"rank{rank}.json").write_text(json.dumps({
                "rank": rank, "device": str(device), "precision": amp or "fp32",
                "samples_per_s_this_rank": round(batch * steps / dt, 1) if steps else None,
                "ms_per_step": round(1000 * dt / steps, 1) if steps else None,
                "max_param_diff_vs_rank0": max_diff}))
    finally:
        dist.destroy_process_group()


def ddp_check(world: int, arch: dict, batch: int, steps: int, backend: str) -> dict:
    import socket
    import tempfile

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        # CUDA needs fresh (spawned) processes; on the CPU (gloo, --tiny) fork skips re-importing torch
        mp.start_processes(_ddp_worker, args=(world, port, arch, batch, steps, backend, d), nprocs=world,
                           join=True, start_method="spawn" if backend == "nccl" else "fork")
        wall = time.perf_counter() - t
        ranks = [json.loads(Path(d, f"rank{r}.json").read_text()) for r in range(world)]
    per = [r["samples_per_s_this_rank"] for r in ranks if r["samples_per_s_this_rank"]]
    return {"world_size": world, "backend": backend, "batch_per_rank": batch, "steps_timed": steps,
            "global_samples_per_s": round(sum(per), 1) if per else None,
            "params_identical_on_all_ranks": all(r["max_param_diff_vs_rank0"] == 0.0 for r in ranks),
            "max_param_diff": max(r["max_param_diff_vs_rank0"] for r in ranks),
            "wall_s_including_spawn": round(wall, 1), "ranks": ranks}


# ----------------------------------------------------------------------------------------------- main

def run(tiny: bool, budget_s: float, steps: int | None = None) -> dict:
    import torch

    from emokit.artifacts import machine_info

    t0 = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    amp = amp_mode(device)
    steps = steps or (2 if tiny else 20)
    warmup = 1 if tiny else 5
    res: dict = {"script": "python -m benchmarks.gpu_check" + (" --tiny" if tiny else ""),
                 "machine": machine_info(), "device": str(device), "mixed_precision": amp,
                 "settings": {"steps_timed": steps, "warmup_steps": warmup, "text_seq_len": 16 if tiny else 128,
                              "budget_s": budget_s}}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(0)
        res["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        res["gpu_mem_gb"] = round(p.total_memory / 2**30, 1)
        res["cuda"] = torch.version.cuda
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False   # fp32 means fp32 here; autocast is the fast path
        torch.backends.cudnn.allow_tf32 = False
    tcfg = ROBERTA_TINY if tiny else ROBERTA_LARGE
    seq = res["settings"]["text_seq_len"]
    arch = V3_TINY if tiny else v3_report_arch()
    precisions = [None] + ([amp] if amp else [])
    plan = [("text", "roberta_large" if not tiny else "roberta_tiny", b, pr, text_model(tcfg), text_batch(tcfg, seq), 1e-5)
            for b in ((4,) if tiny else (4, 16)) for pr in precisions]
    plan += [("audio", "acrnn_v3" if not tiny else "acrnn_v3_tiny", b, pr, audio_model(arch), audio_batch, 1e-4)
             for b in ((8,) if tiny else (32, 16)) for pr in precisions]
    res["text"], res["audio"] = {}, {}
    for kind, name, batch, pr, mk, mb, lr in plan:
        key = f"{name}_b{batch}_{pr or 'fp32'}"
        if time.perf_counter() - t0 > budget_s:
            res[kind][key] = "skipped: time budget"
            continue
        try:
            r = train_throughput(mk, mb, batch, device, pr, steps, warmup, lr)
        except Exception as exc:  # e.g. out of memory on a small GPU: record and go on
            r = f"failed: {type(exc).__name__}: {exc}"[:300]
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if isinstance(r, dict):
            rows = GOEMOTIONS_TRAIN_ROWS if kind == "text" else AUDIO_CLIPS
            r["epoch_minutes_at_this_rate"] = round(rows / r["samples_per_s"] / 60, 1)
        res[kind][key] = r
        print(f"{kind:5s} {key:28s} {r['samples_per_s'] if isinstance(r, dict) else r}", flush=True)
    n_gpu = torch.cuda.device_count() if device.type == "cuda" else 0
    if tiny:
        res["ddp"] = ddp_check(2, arch, 4, 1, "gloo")
    elif n_gpu > 1:
        if time.perf_counter() - t0 > budget_s:
            res["ddp"] = "skipped: time budget"
        else:
            try:
                res["ddp"] = ddp_check(n_gpu, arch, 32, 10, "nccl")
            except Exception as exc:
                res["ddp"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    else:
        res["ddp"] = f"skipped: {n_gpu} GPU visible (needs 2 or more)"
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["status"] = "ok"
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="small models on the CPU + 2-process gloo DDP (tests)")
    ap.add_argument("--out", type=Path, default=None, help=f"result file (default {OUT.relative_to(ROOT)}; "
                                                             "--tiny writes nothing unless given)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip measurements that start after this")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20; tiny 2)")
    args = ap.parse_args(argv)
    import torch

    out = args.out or (None if args.tiny else OUT)
    if not args.tiny and not torch.cuda.is_available():
        print("skipped: no GPU")
        if out is not None:
            old = json.loads(out.read_text()) if out.exists() else {}
            if old.get("status") == "ok":
                print(f"{out} keeps the GPU run of {old.get('machine', {}).get('utc')}")
                return 0
            from emokit.artifacts import machine_info

            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"script": "python -m benchmarks.gpu_check", "machine": machine_info(),
                                       "status": "skipped: no GPU"}, indent=2) + "\n")
        return 0
    res = run(args.tiny, args.budget_s, args.steps)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"-> {out}")
    print(json.dumps({k: res[k] for k in ("device", "mixed_precision", "wall_s", "status")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
