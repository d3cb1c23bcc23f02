"""Zero-shot comparators: pretrained emotion classifiers whose label set does not match the 7.

As the report did with a 6-class model lacking Neutral and Disgust (3.2.4, 32.17 %), their
labels are mapped as well as they can be and scored on the same test rows.

- ``nade`` (offline, MIT): 8 Plutchik emotions, independent scores in [0, 1], **no Neutral**.
  Mapping: joy→Happy, sadness→Sad, anger→Angry, fear→Fear, surprise→Surprise, disgust→Disgust;
  trust and anticipation have no counterpart and are dropped. Neutral is predicted when no mapped
  score reaches ``neutral_threshold`` (0 disables it: the model then never says Neutral, like
  the report's comparator).
- ``hf:<model id>`` (full profile, needs the model downloaded): a Hugging Face text-classification
  pipeline, its labels mapped by name (e.g. ``bhadresh-savani/distilbert-base-uncased-emotion``:
  the 6 DAIR-AI Emotion classes, love → Happy, no Neutral or Disgust, like the report's comparator).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..labels import LABELS7, PLUTCHIK_TO_7

_NADE = None


def nade_model():
    global _NADE
    if _NADE is None:
        import warnings

        from nade import Nade

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "unpack <label> model" on first use
            _NADE = Nade()
    return _NADE


def nade_scores(texts: Sequence[str]) -> np.ndarray:
    """N×8 raw Plutchik scores in nade's label order."""
    m = nade_model()
    raw = m.predict(list(texts))
    return np.stack([np.asarray(raw[l].to_pylist(), dtype=float) for l in m.labels], axis=1)


def nade_to_7(scores: np.ndarray, labels: Sequence[str], neutral_threshold: float = 0.0) -> list[str]:
    """Map Plutchik scores onto the 7 classes (argmax over the mapped ones; Neutral by threshold)."""
    cols = [(j, PLUTCHIK_TO_7[l]) for j, l in enumerate(labels) if PLUTCHIK_TO_7.get(l)]
    out = []
    for row in scores:
        j, target = max(cols, key=lambda c: row[c[0]])
        out.append("Neutral" if neutral_threshold > 0 and row[j] < neutral_threshold else target)
    return out


def nade_predict(texts: Sequence[str], neutral_threshold: float = 0.0) -> list[str]:
    return nade_to_7(nade_scores(texts), nade_model().labels, neutral_threshold)


# Label names of common HF emotion models onto the 7 (lower-cased).
HF_NAME_TO_7 = {
    "joy": "Happy", "happy": "Happy", "happiness": "Happy", "love": "Happy", "sadness": "Sad", "sad": "Sad",
    "anger": "Angry", "angry": "Angry", "fear": "Fear", "surprise": "Surprise", "disgust": "Disgust",
    "neutral": "Neutral",
}


def hf_predict(texts: Sequence[str], model_id: str, batch_size: int = 32) -> list[str | None]:
    """Full profile: a hub text-classification model, labels mapped by name (None if unmapped)."""
    from transformers import pipeline

    clf = pipeline("text-classification", model=model_id, truncation=True)
    return [HF_NAME_TO_7.get(r["label"].lower()) for r in clf(list(texts), batch_size=batch_size)]
