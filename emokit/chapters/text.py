"""The steps of notebook 02 (text), so the notebook stays thin and every step is testable.

Every function takes plain params (``params/02_text.yaml``) and returns plain results; the notebook
draws the figures and writes ``metrics.json``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..artifacts import choose_best, update_card, write_best
from ..eval import confusion, metric_stats
from ..labels import LABELS7
from ..types import Record
from ..text import data as tdata
from ..text.data import EkmanData, TextData
from ..text.metrics import (char_error_rate, multilabel_macro_f1, multilabel_predict, tune_thresholds,
                      word_error_rate)




# --------------------------------------------------------------------------- fine-tuned stages
def forward_all(model_path: Path, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N×7) and mean-pooled embeddings (N×D) in one pass of a fine-tuned model."""
    import torch

    from ..text.classifier import TransformerClassifier

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
    from ..text.finetune import train

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


# --------------------------------------------------------------------------- Chinese sanity set
def chinese_eval(head, records: Sequence[Record] | None = None) -> tuple[dict, np.ndarray, list]:
    """Score a multilingual model on the hand-written Chinese set (no translation)."""
    records = list(records or tdata.read_zh_test())
    P = head.predict_proba([r.input for r in records])
    m, cm, pred = evaluate_probs(records, P, "zh")
    return m, cm, list(zip([r.input for r in records], [r.label for r in records], pred))


# --------------------------------------------------------------------------- zero-shot comparator
def zero_shot_nade(records: Sequence[Record], neutral_threshold: float = 0.0, prefix: str = "zero_shot.nade") -> tuple[dict, np.ndarray]:
    from ..text.comparator import nade_predict

    pred = nade_predict([r.input for r in records], neutral_threshold=neutral_threshold)
    y = [r.label for r in records]
    return metric_stats(y, pred, f"{prefix}.test"), confusion(y, pred)


# --------------------------------------------------------------------------- ASR
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


def ravdess_wer(root: Path, n_clips: int | None, seed: int = 42, model: str | None = None,
                prefix: str = "asr") -> tuple[dict, list[dict]]:
    """Word error rate of :func:`transcribe` on RAVDESS clips (known sentences, seeded sample).

    The shared clips are truncated to 2.389 s, so the last word(s) are often cut off: those show
    up as deletions (e.g. "by the-") and bound the WER from below for reasons not due to the ASR.
    """
    import random

    from ..data.readers import parse_ravdess_name, read_ravdess
    from ..text.asr import transcribe

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
    return ({f"{prefix}.wer": edits / max(words, 1), f"{prefix}.clips": float(len(rows)),
             f"{prefix}.seconds_per_clip": wall / max(len(rows), 1),
             f"{prefix}.clips_within_one_edit": float(exact_prefix)}, rows)


ZH_SPEECH = tdata.RESOURCES / "zh_speech"


def zh_speech_cer(n_clips: int | None = None, model: str | None = None, prefix: str = "asr_zh") -> tuple[dict, list[dict]]:
    """Character error rate of :func:`transcribe` on the synthesised Chinese clips
    (``resources/zh_speech``, made by ``scripts/make_zh_speech.py`` with espeak-ng's Mandarin voice).

    First with Whisper's own language identification (restricted to English/Chinese, as the CLI and
    the app run it): how often it hears Chinese, the CER, and whether the transcript then goes to the
    Chinese text model; then, for the clips it did not hear as Chinese, again with ``language="zh"``
    (the CER of the recogniser itself, ``<prefix>.cer_forced_zh``)."""
    import csv as _csv

    from ..text.asr import transcribe
    from ..text.language import detect

    with (ZH_SPEECH / "transcripts.tsv").open(encoding="utf-8") as fh:
        clips = list(_csv.DictReader(fh, delimiter="\t"))
    clips = clips[: n_clips] if n_clips else clips
    rows, t0 = [], time.time()
    for c in clips:
        path = ZH_SPEECH / c["file"]
        tr = transcribe(path, model=model)
        e, n = char_error_rate(c["text"], tr.text)
        row = {"clip": c["file"], "label": c["label"], "reference": c["text"], "hypothesis": tr.text,
               "language": tr.language, "language_probability": tr.language_probability, "edits": e, "chars": n,
               "text_route": detect(tr.text).route if tr.text.strip() else "none"}
        if tr.language != "zh":
            trf = transcribe(path, model=model, language="zh")
            row["hypothesis_forced_zh"] = trf.text
            row["edits_forced_zh"] = char_error_rate(c["text"], trf.text)[0]
        else:
            row["edits_forced_zh"] = e
        rows.append(row)
    n = max(sum(r["chars"] for r in rows), 1)
    m = {f"{prefix}.cer": sum(r["edits"] for r in rows) / n,
         f"{prefix}.cer_forced_zh": sum(r["edits_forced_zh"] for r in rows) / n,
         f"{prefix}.detected_zh": float(sum(r["language"] == "zh" for r in rows)),
         f"{prefix}.routed_to_zh_model": float(sum(r["text_route"] == "zh" for r in rows)),
         f"{prefix}.clips": float(len(rows)), f"{prefix}.seconds_per_clip": (time.time() - t0) / max(len(rows), 1)}
    return m, rows


def select_best(candidates: Sequence[Mapping[str, Any]], models_dir: Path, key: str = "val.accuracy",
                multilingual: str | None = None, routing: Mapping | None = None) -> dict:
    """Pick the candidate with the best validation score (:func:`emokit.artifacts.choose_best`) and
    write ``models/best.json`` (the CLI default). ``multilingual`` names the model used for Chinese and
    other non-English input; ``routing`` the language-routing settings (:data:`emokit.text.language.DEFAULTS`)."""
    scores = {c["name"]: c["val"][key] for c in candidates}
    chosen = choose_best(scores, key)
    path = next(Path(c["path"]).name for c in candidates if c["name"] == chosen)
    extra = {"routing": dict(routing)} if routing else {}
    return write_best(models_dir, chosen, key, scores, path=path, multilingual=multilingual, **extra)


# --------------------------------------------------------------------------- heads on cached embeddings
def embed_records(encoder: str, texts: Sequence[str], cache_root: Path | None, stats: dict | None = None) -> np.ndarray:
    """Embeddings from the ``02_text_embeddings`` cache (computing, in memory, only what it lacks)."""
    from ..text.embeddings import embed_cached, load_store

    store = load_store(Path(cache_root), encoder) if cache_root else {}
    return embed_cached(encoder, list(texts), store=store, stats=stats)


def train_english_head(d: TextData, p: Mapping[str, Any], out_dir: Path, profile: str,
                       cache_root: Path | None, log=print) -> dict:
    """The demo's English model: a class-balanced head on the cached sentence embeddings of every
    single-label train row; head kind and per-class offsets chosen on the dev rows (macro-F1)."""
    from ..text.heads import EmbeddingHead, TfidfScorer, _idx, fit_best, macro_f1, mix, softmax, tune_offsets

    enc = p["embeddings"]["english_encoder"]
    hp = p["heads"]
    seed = int(p["seed"])
    stats: dict = {}
    t0 = time.time()
    Etr = embed_records(enc, [r.input for r in d.train], cache_root, stats)
    Eva = embed_records(enc, [r.input for r in d.val], cache_root)
    Ete = embed_records(enc, [r.input for r in d.test], cache_root)
    embed_s = time.time() - t0
    t0 = time.time()
    scorer, table = fit_best(Etr, [r.label for r in d.train], Eva, [r.label for r in d.val], hp["candidates"],
                             seed=seed, log=log)
    yv = _idx([r.label for r in d.val])
    Pe = scorer.proba(Eva)
    tfs, w = None, 1.0
    if hp["tfidf"]:                              # null: no TF-IDF scorer
        tfs = TfidfScorer.from_params(hp["tfidf"], seed=seed).fit([r.input for r in d.train],
                                                                  _idx([r.label for r in d.train]))
        Ptf = tfs.proba_texts([r.input for r in d.val])
        table.append({"head": tfs.describe() + " alone", "val.f1_macro": macro_f1(yv, Ptf.argmax(1)), "fit_s": None})
        best_w = (macro_f1(yv, Pe.argmax(1)), 1.0)
        for tw in hp["text_weights"]:
            f = macro_f1(yv, mix(Pe, Ptf, 1 - float(tw)).argmax(1))
            table.append({"head": f"{scorer.describe()} x TF-IDF, TF-IDF weight {tw}", "val.f1_macro": f, "fit_s": None})
            log(f"  TF-IDF weight {tw}: val macro-F1 {f:.4f}")
            if f > best_w[0]:
                best_w = (f, 1 - float(tw))
        w = best_w[1]
        Pe = mix(Pe, Ptf, w)
    offsets = tune_offsets(Pe, yv) if hp["tune_offsets"] else np.zeros(len(LABELS7))
    head = EmbeddingHead(enc, scorer, offsets, text_scorer=tfs if w < 1 else None, w=w,
                         card={"name": hp["name"]})
    fit_s = time.time() - t0
    Pv = head.proba_from(Eva, [r.input for r in d.val])
    Pt = head.proba_from(Ete, [r.input for r in d.test])
    val_m, _, _ = evaluate_probs(d.val, Pv, "val")
    test_m, cm, pred = evaluate_probs(d.test, Pt, "test")
    val_raw, _, _ = evaluate_probs(d.val, softmax(np.log(np.clip(Pv, 1e-12, 1)) - offsets), "val_before_offsets")
    path = Path(out_dir) / "models" / head.name
    head.save(path, card={"profile": profile, "head": scorer.describe(),
                          "text_scorer": tfs.describe() if tfs is not None and w < 1 else None, "candidates": table,
                          "data": {"train_rows": len(d.train), "val_rows": len(d.val), "test_rows": len(d.test),
                                   "note": "GoEmotions official splits, single-label rows mapped to 7 classes; "
                                           "head and offsets chosen on dev"},
                          "metrics": {**val_m, **val_raw, **test_m}, "fit_s": round(fit_s, 1)})
    return {"name": head.name, "path": path, "head": head, "val": val_m, "val_before_offsets": val_raw,
            "text_weight": 1 - w,
            "test": test_m, "confusion": cm, "test_pred": pred, "test_probs": Pt, "candidates": table,
            "embed_s": embed_s, "fit_s": fit_s, "cache": stats, "E": (Etr, Eva, Ete)}


def ekman_from_embeddings(ek: EkmanData, encoder: str, cache_root: Path | None, seed: int = 42,
                          C: float = 1.0, head: Mapping[str, Any] | None = None) -> dict:
    """The standard Ekman task (multi-label, 6 + neutral, macro-F1 over 7 on every official test row)
    on the cached embeddings: ``head`` ``{"kind": "mlp", ...}`` (one multi-label network) or
    ``{"kind": "linear"}`` (one balanced logistic regression per label, inverse strength ``C``);
    with ``head["tfidf"]`` its scores are averaged with per-label word TF-IDF logistic regressions,
    the weight chosen among ``head["text_weights"]`` on dev; per-label thresholds tuned on dev."""
    from sklearn.metrics import f1_score

    head = dict(head or {"kind": "linear"})
    tfidf, text_weights = head.pop("tfidf", None), head.pop("text_weights", None)
    Etr = embed_records(encoder, [x.text for x in ek.train], cache_root)
    Edv = embed_records(encoder, [x.text for x in ek.dev], cache_root)
    Ete = embed_records(encoder, [x.text for x in ek.test], cache_root)
    Ytr, Ydv, Yte = (tdata.ekman_matrix(x) for x in (ek.train, ek.dev, ek.test))
    S = {"dev": np.zeros((len(Edv), Ytr.shape[1])), "test": np.zeros((len(Ete), Ytr.shape[1]))}
    C = float(head.pop("C", C))
    if head.pop("kind", "linear") == "mlp":
        from ..text.heads import MultiLabelMLP

        net = MultiLabelMLP(seed=seed, **head).fit(Etr, Ytr, Edv, Ydv)
        S["dev"], S["test"] = net.scores(Edv), net.scores(Ete)
        desc = f"multi-label MLP, {net.hidden} hidden ({len(net.history)} epochs)"
    else:
        from sklearn.linear_model import LogisticRegression

        mu, sd = Etr.mean(0), Etr.std(0) + 1e-6
        for j in range(Ytr.shape[1]):
            if Ytr[:, j].min() == Ytr[:, j].max():
                continue  # a label absent from (tiny) training data: scores stay 0
            clf = LogisticRegression(C=C, max_iter=500, random_state=seed, class_weight="balanced")
            clf.fit((Etr - mu) / sd, Ytr[:, j])
            S["dev"][:, j] = clf.predict_proba((Edv - mu) / sd)[:, 1]
            S["test"][:, j] = clf.predict_proba((Ete - mu) / sd)[:, 1]
        desc = f"one balanced logistic regression per label (C={C})"
    text_w = 0.0
    if tfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(analyzer=tfidf["analyzer"], ngram_range=tuple(tfidf["ngram"]),
                              min_df=int(tfidf["min_df"]), max_features=int(tfidf["max_features"]),
                              sublinear_tf=True)
        Xtr = vec.fit_transform([x.text for x in ek.train])
        Xdv, Xte = vec.transform([x.text for x in ek.dev]), vec.transform([x.text for x in ek.test])
        T = {"dev": np.zeros_like(S["dev"]), "test": np.zeros_like(S["test"])}
        for j in range(Ytr.shape[1]):
            if Ytr[:, j].min() == Ytr[:, j].max():
                continue
            clf = LogisticRegression(C=float(tfidf["C"]), max_iter=1000, class_weight="balanced",
                                     solver="liblinear", random_state=seed).fit(Xtr, Ytr[:, j])
            T["dev"][:, j], T["test"][:, j] = clf.predict_proba(Xdv)[:, 1], clf.predict_proba(Xte)[:, 1]
        best = (-1.0, 0.0)
        for tw in text_weights or [0.0]:
            Sd = (1 - tw) * S["dev"] + tw * T["dev"]
            f = multilabel_macro_f1(Ydv, multilabel_predict(Sd, tune_thresholds(Ydv, Sd)))
            if f > best[0]:
                best = (f, float(tw))
        text_w = best[1]
        S = {k: (1 - text_w) * S[k] + text_w * T[k] for k in S}
        desc += f" x word TF-IDF per label (weight {text_w}, chosen on dev)"
    th = tune_thresholds(Ydv, S["dev"])
    pred = multilabel_predict(S["test"], th)
    per = f1_score(Yte, pred, average=None, zero_division=0)
    out = {"ekman.test.f1_macro": multilabel_macro_f1(Yte, pred), "ekman.text_weight": text_w,
           "ekman.dev.f1_macro": multilabel_macro_f1(Ydv, multilabel_predict(S["dev"], th)),
           "ekman.test.n": float(len(Yte)), "ekman.train.n": float(len(Ytr)), "ekman.head": desc}
    for lab, f in zip(tdata.EKMAN_LABELS, per):
        out[f"ekman.test.f1.{lab}"] = float(f)
    return out


def train_zh_head(z, d: TextData, p: Mapping[str, Any], out_dir: Path, profile: str, cache_root: Path | None,
                  log=print) -> dict:
    """The Chinese route: a balanced head on e5 (multilingual) embeddings of the Weibo training rows,
    optionally with English GoEmotions rows added, mixed with a TF-IDF character n-gram scorer; the
    English rows, the mixing weight and the offsets are chosen on the Chinese val split. Scored on
    our own test split, overall and per source (over the classes each source has)."""
    from ..text import zh as zhmod
    from ..text.heads import EmbeddingHead, LinearScorer, TfidfScorer, _idx, macro_f1, mix, tune_offsets

    zp = p["zh_head"]
    seed = int(p["zh"]["seed"])
    t0 = time.time()
    Etr = embed_records("e5", [r.input for r in z.train_e5], cache_root)
    Eva = embed_records("e5", [r.input for r in z.val], cache_root)
    Ete = embed_records("e5", [r.input for r in z.test], cache_root)
    eng = zhmod.english_rows(d, p)
    Een = embed_records("e5", [r.input for r in eng], cache_root)
    embed_s = time.time() - t0
    yv = _idx([r.label for r in z.val])
    table = []
    best = None
    hc = zp["e5_head"]
    for n_en in zp["english_choices"]:
        n_en = min(int(n_en), len(eng))
        X = np.concatenate([Etr, Een[:n_en]]) if n_en else Etr
        y = [r.label for r in z.train_e5] + [r.label for r in eng[:n_en]]
        s = LinearScorer(C=float(hc["C"]), seed=seed).fit(X, _idx(y))
        f = macro_f1(yv, s.proba(Eva).argmax(1))
        table.append({"scorer": "e5 head", "english_rows": n_en, "val.f1_macro": f})
        log(f"  e5 head + {n_en} English rows: val macro-F1 {f:.4f}")
        if best is None or f > best[0]:
            best = (f, n_en, s)
    _, n_en, e5s = best
    tfs = TfidfScorer.from_params(zp["tfidf"], seed=seed)
    tfs.fit([r.input for r in z.train], _idx([r.label for r in z.train]))
    Pe, Pt_tf = e5s.proba(Eva), tfs.proba_texts([r.input for r in z.val])
    table.append({"scorer": "TF-IDF alone", "english_rows": 0, "val.f1_macro": macro_f1(yv, Pt_tf.argmax(1))})
    best_w = None
    for tw in zp["text_weights"]:
        f = macro_f1(yv, mix(Pe, Pt_tf, 1 - float(tw)).argmax(1))
        table.append({"scorer": f"e5 head x TF-IDF, TF-IDF weight {tw}", "english_rows": n_en, "val.f1_macro": f})
        log(f"  TF-IDF weight {tw}: val macro-F1 {f:.4f}")
        if best_w is None or f > best_w[0]:
            best_w = (f, 1 - float(tw))
    w = best_w[1]
    offsets = tune_offsets(mix(Pe, Pt_tf, w), yv)
    head = EmbeddingHead("e5", e5s, offsets, text_scorer=tfs if w < 1 else None, w=w,
                         card={"name": zp["name"]}, multilingual=True, max_length=512)
    fit_s = time.time() - t0 - embed_s
    Pv = head.proba_from(Eva, [r.input for r in z.val])
    Pt = head.proba_from(Ete, [r.input for r in z.test])
    val_m, _, _ = evaluate_probs(z.val, Pv, "zh.val")
    test_m, cm, pred = evaluate_probs(z.test, Pt, "zh.test")
    per_source = {}
    for src in sorted({r.source for r in z.test}):
        idx = [i for i, r in enumerate(z.test) if r.source == src]
        m, _, _ = evaluate_probs([z.test[i] for i in idx], Pt[idx], f"zh.test.{src}")
        per_source.update(m)
    # the English rows through this head (what an English sentence on the multilingual route gets)
    path = Path(out_dir) / "models" / head.name
    head.save(path, card={"profile": profile, "head": e5s.describe(), "text_scorer": tfs.describe(),
                          "english_rows_added": n_en, "choices": table,
                          "data": {"train_rows": len(z.train), "train_rows_e5": len(z.train_e5),
                                   "val_rows": len(z.val), "test_rows": len(z.test),
                                   "note": "zh_text Weibo posts (SMP2020-EWECT usual/virus, CLUEmotion2020), our "
                                           "seeded split by text; CLUE 'like' -> Happy"},
                          "metrics": {**val_m, **test_m, **per_source}})
    return {"name": head.name, "path": path, "head": head, "val": val_m, "test": test_m, "per_source": per_source,
            "confusion": cm, "choices": table, "english_rows": n_en, "text_weight": 1 - w,
            "embed_s": embed_s, "fit_s": fit_s}


# --------------------------------------------------------------------------- what the notebook reports
def data_metrics(d: TextData) -> dict[str, Any]:
    """``data.*``: the cleaning's row counts, the rows used, and the class counts of each official split."""
    m: dict[str, Any] = {f"data.rows.{k}": v for k, v in d.counts.items()}
    m.update({"data.used.train": len(d.train), "data.used.val": len(d.val), "data.used.test": len(d.test),
              "data.report_rows": 18098})
    for split in ("train", "dev", "test"):
        for lab in LABELS7:
            m[f"data.class.{split}.{lab}"] = sum(1 for r in d.full[split] if r.label == lab)
    return m


def label_distribution_figure(d: TextData):
    """Class counts of the official splits after mapping to the 7 classes."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=False)
    for ax, split in zip(axes, ("train", "dev", "test")):
        c = [sum(1 for r in d.full[split] if r.label == lab) for lab in LABELS7]
        ax.bar(LABELS7, c, color="#4477aa")
        ax.set_title(f"{split}: {sum(c):,} single-label rows")
        ax.tick_params(axis="x", rotation=45)
        for i, v in enumerate(c):
            ax.text(i, v, f"{v}", ha="center", va="bottom", fontsize=7)
    fig.suptitle("GoEmotions mapped to the 7 classes (official splits)")
    fig.tight_layout()
    return fig


def english_metrics(en: Mapping[str, Any]) -> dict[str, Any]:
    """``english.*``: the English head's validation and test metrics, and dev macro-F1 before the offsets."""
    return {**{f"english.{k}": v for k, v in {**en["val"], **en["test"]}.items()},
            "english.val_before_offsets.f1_macro": en["val_before_offsets"]["val_before_offsets.f1_macro"]}


def stage_metrics(stages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``stage.<name>.*`` of the fine-tuned stages, and stage 2's recall gain over stage 1 on Sad and Fear
    (percentage points) when both ran."""
    m: dict[str, Any] = {}
    for s in stages:
        for k, v in {**s["val"], **s["test"]}.items():
            m[f"stage.{s['name']}.{k}"] = v
        m[f"stage.{s['name']}.wall_time_s"] = s["wall_time_s"]
    by = {s["name"].split("_")[0]: s for s in stages}
    if "stage1" in by and "stage2" in by:
        for c in ("Sad", "Fear"):
            m[f"recall_gain.stage2_vs_stage1.{c}"] = 100 * (by["stage2"]["test"][f"test.recall.{c}"]
                                                            - by["stage1"]["test"][f"test.recall.{c}"])
    return m


def zh_source_counts(z) -> tuple[list[str], list[dict[str, Any]]]:
    """The Chinese sources of the test split, and one row per source with its class counts (all splits)."""
    from collections import Counter

    cnt = Counter((r.source, r.label) for r in z.train + z.val + z.test)
    srcs = sorted({r.source for r in z.test})
    return srcs, [{"source": s, **{lab: cnt.get((s, lab), 0) for lab in LABELS7}} for s in srcs]


def zh_source_rows(per_source: Mapping[str, Any], srcs: Sequence[str]) -> list[dict[str, Any]]:
    return [{"source": s, "n": per_source[f"zh.test.{s}.n"], "accuracy": per_source[f"zh.test.{s}.accuracy"],
             "macro F1": per_source[f"zh.test.{s}.f1_macro"],
             **{f"recall {lab}": per_source.get(f"zh.test.{s}.recall.{lab}") for lab in LABELS7}} for s in srcs]


def stage_table_rows(reference_runs: Sequence[Mapping[str, Any]], stages: Sequence[Mapping[str, Any]],
                     en: Mapping[str, Any], nade_m: Mapping[str, float], encoder: str) -> list[dict[str, Any]]:
    """Report 3.2.4's stage table beside this run's stages, the embedding head and the zero-shot comparator."""
    rows = []
    for r in reference_runs:
        st = f"stage{r['stage']}" if r["stage"] != "zero_shot" else "zero_shot"
        ours = next((s for s in stages if s["name"].startswith(st + "_")), None)
        rows.append({"stage": str(r["stage"]), "model": r["model"], "lr/decay": f"{r.get('lr', '-')}/{r.get('weight_decay', '-')}",
                     "report acc": r["accuracy"], "report F1w": r["f1_weighted"], "report time": r.get("train_time", "-"),
                     "ours acc": ours["test"]["test.accuracy"] if ours else None,
                     "ours F1w": ours["test"]["test.f1_weighted"] if ours else None,
                     "ours time": f"{ours['wall_time_s']:.0f} s" if ours else "not run on this profile"})
    card = en["head"].card
    rows.append({"stage": en["name"], "model": f"{encoder} embeddings + {card['head']}"
                 + (f" x {card['text_scorer']}" if card.get("text_scorer") else ""),
                 "lr/decay": "-", "report acc": None, "report F1w": None, "report time": "-",
                 "ours acc": en["test"]["test.accuracy"], "ours F1w": en["test"]["test.f1_weighted"],
                 "ours time": f"{en['fit_s']:.0f} s fit (+ cached embeddings)"})
    rows.append({"stage": "zero-shot (ours: nade)", "model": "nade 0.3.1 (Plutchik 8)", "lr/decay": "-",
                 "report acc": None, "report F1w": None, "report time": "-",
                 "ours acc": nade_m["zero_shot.nade.test.accuracy"], "ours F1w": nade_m["zero_shot.nade.test.f1_weighted"],
                 "ours time": "N/A"})
    return rows


def asr_eval(root: Path, a: Mapping[str, Any], seed: int = 42) -> tuple[dict[str, float], list[dict], list[dict]]:
    """English WER on RAVDESS (the default model and each of ``a["compare"]``), how many transcripts miss
    the statement's last word, and Chinese CER: ``(metrics, english rows, chinese rows)``."""
    m, rows = ravdess_wer(root, a["n_clips"], seed=seed, model=a["model"])
    m["asr.clips_last_word_missing"] = float(sum(1 for r in rows if not r["hypothesis"].lower().rstrip(" .!-").endswith("door")))
    for other in a["compare"]:
        m.update(ravdess_wer(root, a["n_clips"], seed=seed, model=other, prefix=f"asr_{other.replace('.', '_')}")[0])
    zh_m, zh_rows = zh_speech_cer(a["n_zh_clips"], model=a["model"])
    m.update(zh_m)
    return m, rows, zh_rows


API_SAMPLES = ["I can't believe you did this for me, thank you so much!", "", "   ",
               "😂😂😂", "我今天特别难过。", "今天的meeting让我很angry", "Je suis très en colère contre toi.", "x " * 5000,
               b"caf\xe9 is closed"]


def api_rows(preds) -> list[dict[str, Any]]:
    """One row per ``emokit.text.predict`` answer: input (cut at 36 characters), status, label, route,
    language, model and the detail or warning."""
    return [{"input": (p.input[:36] + "…") if len(p.input) > 36 else p.input, "status": p.status, "label": p.label,
             "route": p.extra.get("route"), "language": p.extra.get("language"), "model": p.extra.get("model"),
             "note": (p.detail or p.extra.get("warning", ""))[:70]} for p in preds]


def latency(predict, sets: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Median and p90 milliseconds of one-sentence ``predict`` calls per language (after one warm-up call)."""
    lm: dict[str, float] = {}
    for name, sents in sets.items():
        predict(list(sents[:1]))
        lat = []
        for s in sents:
            t = time.perf_counter()
            predict([s])
            lat.append(time.perf_counter() - t)
        lm[f"latency.{name}.single_ms.median"] = 1000 * float(np.median(lat))
        lm[f"latency.{name}.single_ms.p90"] = 1000 * float(np.percentile(lat, 90))
    lm["latency.single_ms.median"] = lm["latency.en.single_ms.median"]
    return lm


SUMMARY_KEYS = ("test.accuracy", "test.f1_weighted", "test.f1_macro", "ekman.test.f1_macro",
                "zero_shot.nade.test.accuracy", "zh.test.f1_macro", "zh.test.accuracy",
                "asr.wer", "asr_tiny_en.wer", "asr_zh.cer", "asr_zh.cer_forced_zh", "plain_en.accuracy",
                "latency.en.single_ms.median", "latency.zh.single_ms.median", "time.total_s", "time.kernel_cpu_s")


def timing_metrics(timings: Mapping[str, float], cache_root: Path) -> dict[str, float]:
    """``time.*``: the notebook's step timings, this kernel's CPU seconds (on a shared machine wall time
    depends on the other jobs, CPU time less so), the load average, and the embedding stage's seconds."""
    import json
    import os
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    t = {**timings, "kernel_cpu_s": ru.ru_utime + ru.ru_stime}
    m = {f"time.{k}": round(v, 1) for k, v in t.items()}
    m["time.load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    manifest = Path(cache_root) / "manifest.json"
    if manifest.exists():
        for enc_name, info in json.loads(manifest.read_text()).get("encoders", {}).items():
            if info.get("seconds") is not None:
                m[f"time.embeddings.{enc_name}_s"] = info["seconds"]
    return m


def ekman_all(ek: EkmanData, stages: Sequence[Mapping[str, Any]], p: Mapping[str, Any], cache_root: Path | None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The GoEmotions Ekman task: the head on cached embeddings (``english.*`` metrics, and the plain
    result), then a probe on each fine-tuned stage's embeddings (``stage.<name>.*``)."""
    seed, C = int(p["seed"]), float(p["ekman"]["C"])
    ekm = ekman_from_embeddings(ek, p["embeddings"]["english_encoder"], cache_root, seed=seed, C=C, head=p["ekman_head"])
    m = {f"english.{k}": v for k, v in ekm.items()}
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in ekm.items()})
    for s in stages:
        r = ekman_probe(s["path"], ek, s.get("ekman_test_emb"), seed=seed, C=C)
        m.update({f"stage.{s['name']}.{k}": v for k, v in r.items()})
        print(s["name"], {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    return ekm, m


def choose_default(en: Mapping[str, Any], stages: Sequence[Mapping[str, Any]], multilingual: str,
                   p: Mapping[str, Any], models_dir: Path) -> tuple[dict, Mapping[str, Any]]:
    """``models/best.json`` among the English head and the fine-tuned stages, by ``select_by`` on
    validation; returns it and the chosen candidate (its ``test`` metrics and ``confusion``)."""
    cands = [{"name": en["name"], "path": en["path"], "val": en["val"]}]
    cands += [{"name": s["name"], "path": s["path"], "val": s["val"]} for s in stages]
    best = select_best(cands, models_dir, key=p["select_by"], multilingual=multilingual, routing=p["routing"])
    chosen = next((s for s in stages if s["name"] == Path(best["path"]).name), None)
    return best, chosen or en


def zero_shot(test: Sequence[Record], zs: Mapping[str, Any]) -> tuple[dict[str, float], np.ndarray]:
    """The nade comparator (no Neutral) at two Neutral thresholds: metrics, and the confusion at the first."""
    m, cm = zero_shot_nade(test, float(zs["nade_neutral_threshold"]))
    m.update(zero_shot_nade(test, float(zs["nade_neutral_threshold_alt"]), prefix="zero_shot.nade_thr")[0])
    return m, cm


def zero_shot_hf(test: Sequence[Record], model: str) -> dict[str, float]:
    """A Hugging Face zero-shot model (the full profile's ``zero_shot.hf_model``) on the test rows."""
    from ..text.comparator import hf_predict

    return metric_stats([r.label for r in test], hf_predict([r.input for r in test], model), "zero_shot.hf.test")
