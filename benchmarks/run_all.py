"""Run every benchmark script in benchmarks/ (each writes benchmarks/results/<name>.json itself).

    python -m benchmarks.run_all            # all of them (what `make bench` runs)
    python -m benchmarks.run_all text audio # only scripts whose name contains one of these words
    python -m benchmarks.run_all --list

Each script runs in its own process (niced, with a timeout), one after another, so timings do not
disturb each other. A summary with the machine's description goes to benchmarks/results/run_all.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SKIP = {"run_all.py", "__init__.py"}

sys.path.insert(0, str(REPO))
from emokit.artifacts import machine_info  # noqa: E402  (the one machine description; benchmarks import it from here)


def _has_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def scripts(words: list[str] | None = None, gpu: bool | None = None) -> list[Path]:
    """Benchmark scripts: ``benchmarks/*.py`` with a ``__main__`` block (helpers have none).

    Scripts with ``gpu`` in the name run only on a machine with a GPU (or with ``gpu=True``), so a CPU
    run never overwrites their recorded GPU results with "skipped".
    """
    gpu = _has_gpu() if gpu is None else gpu
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")
                   and "__main__" in p.read_text(encoding="utf-8", errors="replace"))
    if not gpu:
        found = [p for p in found if "gpu" not in p.stem]
    if words:
        found = [p for p in found if any(w in p.stem for w in words)]
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    ap.add_argument("only", nargs="*", help="run only scripts whose name contains one of these words")
    ap.add_argument("--list", action="store_true", help="list the scripts and exit")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per script (default 1800)")
    ap.add_argument("--nice", type=int, default=10, help="niceness of each script (default 10)")
    ap.add_argument("--gpu", action="store_true", help="also run *gpu* scripts without a visible GPU")
    args = ap.parse_args(argv)
    todo = scripts(args.only, gpu=True if args.gpu else None)
    if args.list or not todo:
        print("\n".join(str(p.relative_to(REPO)) for p in todo) or "no benchmark scripts in benchmarks/")
        return 0
    results = []
    for path in todo:
        print(f"==> {path.relative_to(REPO)}", flush=True)
        t0 = time.time()
        cmd = [sys.executable, str(path)]
        if args.nice and hasattr(os, "nice"):
            cmd = ["nice", "-n", str(args.nice), *cmd]
        try:
            proc = subprocess.run(cmd, cwd=REPO, timeout=args.timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        out = HERE / "results" / f"{path.stem}.json"
        results.append({"script": str(path.relative_to(REPO)), "returncode": rc,
                        "wall_s": round(time.time() - t0, 1),
                        "result_file": str(out.relative_to(REPO)) if out.exists() else None})
        print(f"<== {path.name}: rc={rc} in {results[-1]['wall_s']} s", flush=True)
    summary = {"machine": machine_info(), "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "scripts": results}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "run_all.json").write_text(json.dumps(summary, indent=2))
    failed = [r["script"] for r in results if r["returncode"] != 0]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
