"""Training loop for the log-mel networks: seeded, early stopping on validation, best checkpoint,
mixup, class weights, label smoothing, ReduceLROnPlateau, AMP (bf16) and device auto-detection on GPU,
resumable from ``<ckpt_dir>/last.pt``, and data-parallel under ``torchrun`` (one process per GPU;
each rank trains on its share of every batch, gradients are averaged by DDP; the history's training
loss/accuracy are summed over ranks, validation runs on every rank on the whole split, so every rank
takes the same early-stopping decision (BatchNorm running statistics are averaged over ranks after each
epoch); only rank 0 writes checkpoints). On CPU the backend is gloo
(``tests/test_distributed.py`` runs two processes). BatchNorm statistics stay per rank (no SyncBatchNorm,
which needs a GPU), so two processes match one only within a tolerance.

The features stay in one tensor on the training device (no DataLoader workers): on a GPU that
removes the host-to-device copy per step, on the CPU it avoids worker start-up for a few hundred clips.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..eval import class_weights
from ..labels import LABELS7


@dataclass
class TrainConfig:
    epochs: int = 24
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    class_weights: bool = False
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    early_stop_patience: int = 8
    spec_augment: bool = False
    freq_mask: int = 12
    time_mask: int = 16
    seed: int = 42
    device: str = "auto"
    amp: bool = True
    threads: int = 2
    resume: bool = False
    checkpoint: bool = False        # write <ckpt_dir>/last.pt every epoch (implied by resume)
    grad_clip: float = 5.0

    @classmethod
    def from_params(cls, p: dict | None) -> "TrainConfig":
        p = dict(p or {})
        return cls(**{k: v for k, v in p.items() if k in cls.__dataclass_fields__})


@dataclass
class FitResult:
    history: list[dict]
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    best_state: dict
    val_pred_counts: list[int]
    wall_s: float
    train_samples_per_s: float
    device: str
    extra: dict = field(default_factory=dict)


def pick_device(pref: str = "auto") -> torch.device:
    if pref != "auto":
        return torch.device(pref)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device(f"cuda:{local}")
    return torch.device("cpu")


def _dist() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _spec_augment(x: torch.Tensor, fmask: int, tmask: int, gen: torch.Generator) -> torch.Tensor:
    b, _, nf, nt = x.shape
    x = x.clone()
    floor = x.amin()
    for i in range(b):
        f = int(torch.randint(0, fmask + 1, (1,), generator=gen))
        f0 = int(torch.randint(0, max(nf - f, 1), (1,), generator=gen))
        t = int(torch.randint(0, tmask + 1, (1,), generator=gen))
        t0 = int(torch.randint(0, max(nt - t, 1), (1,), generator=gen))
        x[i, :, f0:f0 + f, :] = floor
        x[i, :, :, t0:t0 + t] = floor
    return x


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: np.ndarray | torch.Tensor, batch: int = 128,
                   device: torch.device | None = None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    xt = torch.as_tensor(x)
    out = []
    for i in range(0, len(xt), batch):
        xb = xt[i:i + batch].to(device, torch.float32)
        if xb.dim() == 3:
            xb = xb.unsqueeze(1)
        out.append(model(xb).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(LABELS7)), np.float32)


def fit(model: torch.nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
        y_val: np.ndarray, cfg: TrainConfig, ckpt_dir: str | Path | None = None,
        progress: bool = False) -> FitResult:
    """Train ``model``; returns the history and the best-on-validation weights (also in ``model``)."""
    rank, world = _dist()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    use_amp = bool(cfg.amp) and device.type == "cuda"
    model = model.to(device)
    xt = torch.as_tensor(x_train).to(device, torch.float32).unsqueeze(1)
    yt = torch.as_tensor(y_train, dtype=torch.long).to(device)
    xv = torch.as_tensor(x_val).to(device, torch.float32).unsqueeze(1)
    yv_np = np.asarray(y_val)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    weight = (torch.as_tensor(class_weights(np.asarray(y_train), "balanced"), dtype=torch.float32, device=device)
              if cfg.class_weights else None)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.plateau_factor,
                                                       patience=cfg.plateau_patience)
    history: list[dict] = []
    best = {"acc": -1.0, "loss": math.inf, "epoch": -1, "state": None, "counts": []}
    start_epoch, since_best = 0, 0
    ckpt = Path(ckpt_dir) / "last.pt" if ckpt_dir else None
    if cfg.resume and ckpt is not None and ckpt.exists():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        history, best, since_best = st["history"], st["best"], st["since_best"]
        start_epoch = st["epoch"] + 1
        rng = st["rng"]
        gen.set_state(st["gen"])
    t0 = time.perf_counter()
    seen, train_time = 0, 0.0
    n = len(xt)
    bs = int(cfg.batch_size)
    epochs = range(start_epoch, int(cfg.epochs))
    if progress and rank == 0:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="epochs", leave=False)
    for epoch in epochs:
        net.train()
        perm = rng.permutation(n)
        tot_loss, tot_correct, tot = 0.0, 0, 0
        te = time.perf_counter()
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            # BatchNorm needs two samples per process; every rank takes the same decision (a rank that
            # skipped a step its peers take would leave DDP's gradient all-reduce waiting forever)
            if len(idx) < 2 * world:
                continue
            if world > 1:
                idx = idx[rank::world]
            ib = torch.as_tensor(idx, device=device)
            xb, yb = xt[ib], yt[ib]
            if cfg.spec_augment:
                xb = _spec_augment(xb, cfg.freq_mask, cfg.time_mask, gen)
            lam, yb2 = 1.0, yb
            if cfg.mixup_alpha > 0:
                lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
                j = torch.as_tensor(rng.permutation(len(idx)), device=device)
                xb, yb2 = lam * xb + (1 - lam) * xb[j], yb[j]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = net(xb)
            logits = logits.float()
            loss = lam * F.cross_entropy(logits, yb, weight=weight, label_smoothing=cfg.label_smoothing)
            if lam < 1.0:
                loss = loss + (1 - lam) * F.cross_entropy(logits, yb2, weight=weight,
                                                          label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            tot_loss += float(loss.detach()) * len(idx)
            tot_correct += int((logits.argmax(1) == yb).sum())
            tot += len(idx)
        train_time += time.perf_counter() - te
        if world > 1:  # the epoch's training numbers over all ranks, so every rank logs the same history
            import torch.distributed as dist

            agg = torch.tensor([tot_loss, float(tot_correct), float(tot)], dtype=torch.float64, device=device)
            dist.all_reduce(agg)
            tot_loss, tot_correct, tot = (float(v) for v in agg.cpu())
            tot_correct, tot = int(tot_correct), int(tot)
            # BatchNorm running statistics were updated from each rank's own half-batches: average them,
            # so every rank evaluates the same model and takes the same early-stopping decision
            for buf in model.buffers():
                if buf.is_floating_point():
                    dist.all_reduce(buf)
                    buf /= world
        seen += tot
        logits_v = predict_logits(model, xv, device=device)
        val_loss = float(F.cross_entropy(torch.as_tensor(logits_v), torch.as_tensor(yv_np, dtype=torch.long)))
        pred_v = logits_v.argmax(1)
        val_acc = float((pred_v == yv_np).mean()) if len(yv_np) else 0.0
        sched.step(val_acc)
        history.append({"epoch": epoch, "train_loss": tot_loss / max(tot, 1), "train_accuracy": tot_correct / max(tot, 1),
                        "val_loss": val_loss, "val_accuracy": val_acc, "lr": opt.param_groups[0]["lr"]})
        if val_acc > best["acc"] or (val_acc == best["acc"] and val_loss < best["loss"] - 1e-4):
            best = {"acc": val_acc, "loss": val_loss, "epoch": epoch,
                    "state": copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}),
                    "counts": np.bincount(pred_v, minlength=len(LABELS7)).tolist()}
            since_best = 0
        else:
            since_best += 1
        if ckpt is not None and rank == 0:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "history": history, "best": best, "since_best": since_best, "epoch": epoch,
                        "rng": rng, "gen": gen.get_state()}, ckpt)
        if since_best >= cfg.early_stop_patience:
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return FitResult(history=history, best_epoch=best["epoch"], best_val_accuracy=best["acc"],
                     best_val_loss=best["loss"], best_state=best["state"] or {}, val_pred_counts=best["counts"],
                     wall_s=time.perf_counter() - t0, train_samples_per_s=seen / train_time if train_time else 0.0,
                     device=str(device))


def is_collapsed(pred_counts: list[int], share: float = 0.95) -> bool:
    """A run has collapsed when (at its best epoch) one class takes ``share`` of all predictions."""
    total = sum(pred_counts)
    return total > 0 and max(pred_counts) / total >= share
