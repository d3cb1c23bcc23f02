"""The vision package's errors, below every backend (so a backend module never imports the registry)."""
from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend whose model files are missing; the message says exactly which file and where."""
