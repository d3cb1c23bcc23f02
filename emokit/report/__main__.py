"""``python -m emokit.report build [--artifacts DIR] [--out DIR] [--with-code]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emokit.report",
                                 description="Build the offline HTML report with the reproduction scorecard.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write <out>/index.html, scorecard.csv, scorecard.md, scorecard.json")
    b.add_argument("--artifacts", type=Path, default=None,
                   help="artifacts root holding the executed chapters (default: $EMOKIT_ARTIFACTS or artifacts/)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default: <artifacts>/report)")
    b.add_argument("--scorecard-dir", type=Path, default=None, help="rows (default: reference/scorecard)")
    b.add_argument("--with-code", action="store_true", help="show the notebooks' code cells too")
    args = ap.parse_args(argv)
    from .build import build_report
    from .scorecard import ScorecardError

    try:
        path = build_report(args.artifacts, args.out, scorecard_dir=args.scorecard_dir, with_code=args.with_code)
    except ScorecardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
