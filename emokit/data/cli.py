"""``python -m emokit data check [--json]`` and ``python -m emokit data fetch [--dest DIR]``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    ck = sub.add_parser("check", help="list what each reader finds under the data root, with label counts")
    ck.add_argument("--root", default=None, help="data root (default: EMOKIT_DATA_ROOT, params, ../shared/data)")
    ck.add_argument("--only", action="append", default=None, help="check only this corpus (repeatable)")
    ck.add_argument("--strict", action="store_true", help="fail on unknown labels instead of counting them")
    ck.add_argument("--json", action="store_true", help="one JSON object per corpus per line")
    fe = sub.add_parser("fetch", help="download GoEmotions, MELD CSVs, RAVDESS speech and EmoDB, verified")
    fe.add_argument("--dest", default=None,
                    help="where to put them (default: EMOKIT_DATA_ROOT, else ../shared/data beside the repo)")
    fe.add_argument("--only", action="append", default=None,
                    help="fetch only this dataset (goemotions, meld, ravdess, emodb; repeatable)")
    fe.add_argument("--timeout", type=float, default=10.0, help="network timeout in seconds")
    fe.add_argument("--json", action="store_true", help="print the result as one JSON object")
    fe.add_argument("--no-progress", action="store_true", help="no progress bars (they go to stderr)")


def _default_dest() -> Path:
    from ..config import REPO_ROOT

    env = os.environ.get("EMOKIT_DATA_ROOT")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def run(args: argparse.Namespace) -> int:
    if args.data_command == "check":
        return _check(args)
    if args.data_command == "fetch":
        return _fetch(args)
    raise SystemExit(f"unknown data command {args.data_command!r}")


def _check(args: argparse.Namespace) -> int:
    from ..config import data_root
    from .corpora import CORPORA
    from .fetch import WHERE_TO_GET
    from .inventory import inventory

    try:
        root = data_root(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.only:
        bad = [n for n in args.only if n not in CORPORA]
        if bad:
            print(f"error: unknown corpus {bad}; known: {sorted(CORPORA)}", file=sys.stderr)
            return 2
    found = inventory(root, args.only, strict=args.strict)
    if args.json:
        for c in found:
            print(json.dumps({"root": str(root), **c.to_dict()}, ensure_ascii=False))
    else:
        print(f"data root: {root}")
        for c in found:
            d = c.to_dict()
            if c.status == "ok":
                kept = ", ".join(f"{k} {v}" for k, v in d["kept"].items())
                line = f"  {c.name:<10} ok        {d['records']:>6} records, {d['groups']} groups: {kept}"
                if d["dropped"]:
                    line += "; dropped " + ", ".join(f"{k}={v}" for k, v in d["dropped"].items())
                if d["unknown"]:
                    line += "; UNKNOWN " + ", ".join(f"{k}={v}" for k, v in d["unknown"].items())
                if d["splits"]:
                    line += "; splits " + ", ".join(f"{k} {v}" for k, v in d["splits"].items())
            elif c.status == "missing":
                line = f"  {c.name:<10} missing   {c.path}  (get it: {WHERE_TO_GET.get(c.name.split('_')[0], '?')})"
            else:
                line = f"  {c.name:<10} {c.status:<9} {c.detail}"
            print(line)
    if any(c.status == "error" for c in found):
        return 1
    return 0 if any(c.status == "ok" for c in found) else 1


def _fetch(args: argparse.Namespace) -> int:
    from .fetch import FETCHABLE, FetchError, fetch

    dest = Path(args.dest) if args.dest else _default_dest()
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    try:
        result = fetch(dest, args.only or FETCHABLE, timeout=args.timeout, log=log, progress=not args.no_progress)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"dest": str(dest), "files": result}))
    else:
        for k, v in result.items():
            print(f"  {k}: {v}")
    return 0
