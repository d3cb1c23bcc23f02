"""``python -m emokit.chat.train_risk [train|score ...]``: the DVC stage ``06_risk_model`` (see
:mod:`emokit.chat.risk`). A separate entry module so that ``-m`` does not re-run a module the
package has already imported."""
from __future__ import annotations

import sys

from .risk import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["train"]))
