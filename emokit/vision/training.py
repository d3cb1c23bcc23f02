"""Training of the two backends the chapter trains: A (landmarks + SVC) and C (ResNet)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..labels import LABELS7
from .backends import LandmarkBackend, ResNetBackend, _resize_batch

log = logging.getLogger(__name__)


def train_landmarks(faces: Sequence[np.ndarray], labels: Sequence[str], C: float = 3.0, size: int = 144,
                    inset: float = 0.0, seed: int = 0) -> tuple[LandmarkBackend, dict[str, Any]]:
    t0 = time.perf_counter()
    b = LandmarkBackend(None, size=size, inset=inset)
    X = b.embed_faces(faces)
    t_feat = time.perf_counter() - t0
    b.clf = LandmarkBackend.fit(X, labels, C=C, seed=seed)
    info = {"n_train": len(labels), "feature_time_s": round(t_feat, 2),
            "train_time_s": round(time.perf_counter() - t0, 2), "params": {"C": C, "size": size, "inset": inset}}
    return b, info


def _augment(x, rng: np.random.Generator, shift: int, brightness: float):
    """x: (N, H, W) float in [0,1]; flips, shifts by up to ``shift`` px, brightness/contrast jitter."""
    n, h, w = x.shape
    out = np.empty_like(x)
    pad = np.pad(x, ((0, 0), (shift, shift), (shift, shift)), mode="edge")
    for i in range(n):
        dy, dx = rng.integers(0, 2 * shift + 1, size=2)
        img = pad[i, dy:dy + h, dx:dx + w]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        a = 1 + rng.uniform(-brightness, brightness)
        b = rng.uniform(-brightness, brightness) / 2
        out[i] = np.clip((img - 0.5) * a + 0.5 + b, 0, 1)
    return out


def train_resnet(faces: Sequence[np.ndarray], labels: Sequence[str], *, arch: dict[str, Any],
                 input_size: int = 48, epochs: int = 15, batch_size: int = 64, lr: float = 2e-3,
                 weight_decay: float = 5e-4, label_smoothing: float = 0.1, aug_shift: int = 4,
                 aug_brightness: float = 0.2, pretrained: str | None = None, threads: int = 2,
                 seed: int = 0, val: tuple[Sequence[np.ndarray], Sequence[str]] | None = None,
                 mean: float = 0.5, std: float = 0.25, device: str | None = None) -> tuple[ResNetBackend, dict[str, Any]]:
    """Train option C. ``pretrained``: a torchvision ResNet state-dict file (full profile, ImageNet);
    ``None`` starts from random initialisation (the demo: no ImageNet weights ship offline).
    ``device``: ``None`` = CUDA when available, else CPU; the returned model is on the CPU."""
    import torch
    import torch.nn.functional as F

    from .nets import ResNet

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, int(threads)))
    rng = np.random.default_rng(seed)
    net = ResNet(**arch)
    not_loaded: list[str] = []
    if pretrained:
        not_loaded = net.load_imagenet(pretrained)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net.to(dev)
    x = _resize_batch(faces, input_size) / 255.0
    y = torch.tensor([LABELS7.index(lbl) for lbl in labels], device=dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * int(np.ceil(len(x) / batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    history = []
    t0 = time.perf_counter()
    backend = ResNetBackend(net, input_size, mean, std, arch=arch)
    for ep in range(epochs):
        net.train()
        order = rng.permutation(len(x))
        total, correct, loss_sum = 0, 0, 0.0
        for s in range(0, len(x), batch_size):
            idx = order[s:s + batch_size]
            xb = _augment(x[idx], rng, aug_shift, aug_brightness)
            xb = torch.from_numpy(((xb - mean) / std).astype(np.float32))[:, None].expand(-1, 3, -1, -1).to(dev)
            logits = net(xb)
            loss = F.cross_entropy(logits, y[idx], label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            total += len(idx)
        rec = {"epoch": ep + 1, "train_loss": loss_sum / total, "train_acc": correct / total,
               "elapsed_s": round(time.perf_counter() - t0, 1)}
        if val is not None and len(val[0]):
            net.eval().cpu()
            pv = backend.predict_faces(val[0])
            net.to(dev)
            rec["val_acc"] = float(np.mean([LABELS7[i] == t for i, t in zip(pv.argmax(1), val[1])]))
        history.append(rec)
        log.info("resnet epoch %s", rec)
    net.eval().cpu()
    info = {"n_train": len(labels), "device": str(dev), "train_time_s": round(time.perf_counter() - t0, 1), "history": history,
            "init": f"ImageNet weights from {pretrained}" if pretrained else "random initialisation",
            "not_loaded": not_loaded,
            "params": {"arch": arch, "input_size": input_size, "epochs": epochs, "batch_size": batch_size,
                       "lr": lr, "weight_decay": weight_decay, "label_smoothing": label_smoothing,
                       "aug_shift": aug_shift, "aug_brightness": aug_brightness}}
    return backend, info


def write_best(models_dir: Path, selected_by: str, candidates: dict[str, float], reason: str = "",
               metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Choose the CLI default among ``candidates`` (backend -> validation score) and record it in
    ``<models_dir>/best.json`` (:mod:`emokit.artifacts`), with the backend's folder when it was
    trained here. ``selected_by`` must be a validation key: the test faces play no part."""
    from ..artifacts import choose_best, write_best as _write

    backend = choose_best(candidates, selected_by)
    path = backend if (Path(models_dir) / backend / "model_card.json").is_file() else None
    return _write(models_dir, backend, selected_by, candidates, path=path, reason=reason, metrics=metrics or {})
