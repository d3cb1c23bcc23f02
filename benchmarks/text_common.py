"""Shared helpers of the text benchmarks: the machine description stored beside every result."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run_all import machine_info  # noqa: E402  (one description for every benchmark)

__all__ = ["machine_info"]
