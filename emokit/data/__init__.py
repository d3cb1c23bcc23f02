"""Dataset readers (one Record schema), group-disjoint splits, the fetcher and shared media I/O.

Importing this package is cheap: no model, no pandas/matplotlib until a table is asked for.
"""
from .corpora import (CORPORA, CORPUS_FOLDERS, meld_clips_dir, read_corpus, read_cremad, read_esd,
                      read_iemocap, read_jl, read_m3ed, read_meld_raw, read_savee, read_tess)
from .media import MediaError, load_audio, read_image, sample_video_frames
from .readers import (DataError, label_counts, read_emodb, read_fer2013_folders, read_goemotions,
                      read_goemotions_raw, read_m3ed_splits, read_meld, read_ravdess, read_zh_text)
from .splits import check_group_disjoint, speaker_independent_split

__all__ = [
    "CORPORA", "CORPUS_FOLDERS", "DataError", "MediaError", "check_group_disjoint", "label_counts",
    "load_audio", "meld_clips_dir", "read_corpus", "read_cremad", "read_emodb", "read_esd",
    "read_fer2013_folders", "read_goemotions", "read_goemotions_raw", "read_iemocap", "read_image",
    "read_jl", "read_m3ed", "read_m3ed_splits", "read_meld", "read_meld_raw", "read_ravdess",
    "read_savee", "read_tess", "read_zh_text", "sample_video_frames", "speaker_independent_split",
]
