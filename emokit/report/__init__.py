"""The HTML report with the reproduction scorecard (``python -m emokit.report build``)."""
from .build import build_report, external_resources
from .scorecard import ScorecardError, load_rows, resolve_key

__all__ = ["ScorecardError", "build_report", "external_resources", "load_rows", "resolve_key"]
