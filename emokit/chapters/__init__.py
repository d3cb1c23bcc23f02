"""The steps each DVC stage runs, one module per stage: stage ``NN_<name>`` -> ``emokit.chapters.<name>``.

Notebook stages: :mod:`.vision` (01), :mod:`.text` (02), :mod:`.audio` (03), :mod:`.late_fusion` (04),
:mod:`.hybrid_fusion` (05), :mod:`.empathic_chat` (06); ``00_datasets`` calls :mod:`emokit.data` only.
Helper stages, each run as ``python -m emokit.chapters.<name>``: :mod:`.text_embeddings`,
:mod:`.audio_features`, :mod:`.risk_model`.

A chapter module holds what its notebook does (subsets, splits, grids, model choice, the numbers it
reports) and returns plain dicts/arrays; reusable code stays in the modality packages, which never
import this package. Nothing is imported here, so ``import emokit.chapters.text`` loads one chapter.
"""
