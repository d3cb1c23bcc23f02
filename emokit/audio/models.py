"""The speech-emotion networks of report 3.3 (input: log-mel ``(B, 1, 128, 130)``), widths from params.

* ``v1``: a simple CRNN: ``len(widths)`` × (Conv 3×3, BN, ReLU, MaxPool 2×2), a GRU over time and
  additive attention pooling, then a linear classifier.
* ``v2``: the v1 family made deeper (BiGRU, dropout); the v2 *variants* (baseline / clean / balanced /
  wider / smooth) differ in data and training settings, and "wider" in ``widths``.
* ``v3`` (ACRNN_v3): stem (Conv 3×3, BN, ReLU, MaxPool) → four Dynamic ResBlocks (Conv-BN-ReLU-Conv-BN,
  CBAM channel + spatial attention, residual shortcut with a 1×1 projection when the width changes,
  ReLU) each followed by MaxPool; widths [64, 128, 256, 512] in the report → permute/reshape to
  (B, T, C·F) → Linear projection → 2-layer BiLSTM (hidden 128 per direction: the 256-d embedding)
  → multi-head self-attention (+ residual, LayerNorm) → mean over time → MLP head (Linear, ReLU,
  Dropout, Linear).

"Dynamic" is not defined further in the report; here it means the block adapts its shortcut (identity
or 1×1 conv + BN) to the change of width. The pooling after each block is ``pool`` (default 2×2 for
the first two blocks and 2×1, frequency only, for the last two, so 130 frames keep 16 time steps for
the BiLSTM; the report only says "MaxPool after each block").
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

N_CLASSES = 7


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AttentionPool(nn.Module):
    """Additive attention over time: softmax(w·tanh(W h_t)) weighted sum."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, D)
        w = torch.softmax(self.score(h), dim=1)
        return (w * h).sum(dim=1)


class CRNN(nn.Module):
    """v1 / v2: conv blocks → (Bi)GRU → attention pooling → classifier."""

    def __init__(self, widths=(16, 32, 64), rnn_hidden: int = 64, bidirectional: bool = False,
                 dropout: float = 0.0, n_mels: int = 128, n_classes: int = N_CLASSES):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            layers += [_conv_bn(cin, w), nn.MaxPool2d(2)]
            cin = w
        self.cnn = nn.Sequential(*layers)
        f = n_mels // (2 ** len(widths))
        self.rnn = nn.GRU(cin * f, rnn_hidden, batch_first=True, bidirectional=bidirectional)
        d = rnn_hidden * (2 if bidirectional else 1)
        self.pool = AttentionPool(d)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(d, n_classes)
        self.embed_dim = d

    def features(self, x: torch.Tensor) -> torch.Tensor:
        z = self.cnn(x)  # (B, C, F, T)
        b, c, f, t = z.shape
        z = z.permute(0, 3, 1, 2).reshape(b, t, c * f)
        h, _ = self.rnn(z)
        return self.pool(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.features(x)))


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention."""

    def __init__(self, ch: int, reduction: int = 8, kernel: int = 7):
        super().__init__()
        hid = max(ch // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(ch, hid, 1), nn.ReLU(inplace=True), nn.Conv2d(hid, ch, 1))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ca = torch.sigmoid(self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True)))
        x = x * ca
        sa = torch.sigmoid(self.spatial(torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)))
        return x * sa


class DynamicResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, pool=(2, 2)):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.cbam = CBAM(cout)
        self.short = (nn.Identity() if cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)))
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(tuple(pool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.cbam(self.body(x)) + self.short(x)))


class ACRNNv3(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512), stem: int | None = None,
                 pool=((2, 2), (2, 2), (2, 1), (2, 1)), proj: int = 256, lstm_hidden: int = 128,
                 lstm_layers: int = 2, heads: int = 4, mlp_hidden: int = 128, dropout: float = 0.3,
                 stem_stride: int = 1, n_mels: int = 128, n_classes: int = N_CLASSES):
        super().__init__()
        stem = stem or widths[0]
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, stride=stem_stride, padding=1, bias=False),
                                  nn.BatchNorm2d(stem),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(2))
        blocks, cin = [], stem
        for w, p in zip(widths, pool):
            blocks.append(DynamicResBlock(cin, w, p))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        f = -(-n_mels // stem_stride) // 2
        for p in pool[: len(widths)]:
            f //= p[0]
        self.proj = nn.Linear(cin * f, proj)
        self.lstm = nn.LSTM(proj, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if lstm_layers > 1 else 0.0)
        d = 2 * lstm_hidden
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, mlp_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(mlp_hidden, n_classes))
        self.embed_dim = d

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        z = self.blocks(self.stem(x))  # (B, C, F, T)
        b, c, f, t = z.shape
        z = z.permute(0, 3, 1, 2).reshape(b, t, c * f)
        h, _ = self.lstm(self.proj(z))  # (B, T, 2·hidden)
        return h

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The 256-d BiLSTM embedding (mean over time of the BiLSTM output), for hybrid fusion."""
        return self.sequence(x).mean(dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sequence(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.norm(h + a).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(arch: str, **cfg: Any) -> nn.Module:
    """``arch`` in {v1, v2, v3}; ``cfg`` holds the constructor arguments (from params)."""
    if arch == "v1":
        return CRNN(**{"bidirectional": False, **cfg})
    if arch == "v2":
        return CRNN(**{"bidirectional": True, "dropout": 0.3, **cfg})
    if arch == "v3":
        cfg = dict(cfg)
        if "pool" in cfg:
            cfg["pool"] = tuple(tuple(p) for p in cfg["pool"])
        return ACRNNv3(**cfg)
    raise ValueError(f"unknown audio architecture {arch!r}; expected v1, v2 or v3")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
