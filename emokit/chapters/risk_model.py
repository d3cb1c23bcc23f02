"""``python -m emokit.chapters.risk_model [train|score ...]``: the DVC stage ``06_risk_model``, the
learned crisis-risk detector of :mod:`emokit.chat.risk` (its training and selection live there)."""
from __future__ import annotations

import sys

from ..chat.risk import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["train"]))
