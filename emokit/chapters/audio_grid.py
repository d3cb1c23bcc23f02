"""The 16-run grid of report 3.3 (v3: learning rate x batch size x label smoothing) as its own DVC
stage, ``03_audio_grid``, run cell after cell by ``dvc repro`` or in parallel by DVC's experiment queue.

    python -m emokit.chapters.audio_grid run              # what the stage runs: every cell, one after the other
    python -m emokit.chapters.audio_grid queue --jobs 2   # one queued DVC experiment per cell, N queue workers,
                                                 # collected into artifacts/03_audio_grid, `dvc commit`ed
    make grid JOBS=2                             # the same

Why the experiment queue and not one ``foreach``/``matrix`` stage per cell: ``dvc repro`` runs the
stages of a pipeline one after the other (it has no ``--jobs``) and holds the repository lock while it
runs, so sixteen ``foreach`` stages still train one cell at a time. ``dvc exp run --queue`` +
``dvc exp run --run-all --jobs N`` (equivalently ``dvc queue start --jobs N``) is DVC's mechanism for
running experiments in parallel: every queued experiment runs in its own temporary copy of the
workspace, reads the shared cache (the log-mel features are computed once, before queueing), and is
saved as a git experiment ref whose outputs are in the cache, which is where :func:`collect` reads
them. ``dvc exp show`` then lists the cells as experiments with their params and metrics.

Params: ``params/03_audio.yaml: grid.*``; ``grid.cell`` (null = all) is an index into the product
``lr x batch_size x label_smoothing`` and is what the queue sets per experiment (``-S``). Outputs in
``artifacts/03_audio_grid/``: ``cells/<lr>_<batch>_<smoothing>.json`` (one row with its training
history), ``grid.csv`` (the rows, the table the chapter shows), ``grid_heatmap.png`` and ``grid.json``
(the fingerprint of the grid's settings and data, the cells present, how it was run, wall times);
the stage's DVC metrics file is ``artifacts/03_audio_grid.metrics.json``. Chapter 03 reads the rows
when their fingerprint matches its params, and trains them itself otherwise (smoke runs, a notebook
run by hand).
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STAGE = "03_audio_grid"
PARAMS_FILE = "params/03_audio.yaml"
CELL_KEY = "common.grid.cell"          # the key `dvc exp run -S` sets, one value per queued experiment


def combos(params: dict) -> list[tuple[float, int, float]]:
    """Every cell of the grid, in the order the chapter's table lists them."""
    g = params["grid"]
    return [(float(lr), int(bs), float(ls)) for lr, bs, ls in
            itertools.product(g["lr"], g["batch_size"], g["label_smoothing"])]


def cell_key(lr: float, bs: int, ls: float) -> str:
    return f"{lr:g}_{bs}_{ls:g}"


def selected(params: dict) -> list[int]:
    """Indices of the cells to run: ``grid.cell`` (one index) or all when it is null."""
    n = len(combos(params))
    cell = params["grid"]["cell"]
    if cell is None:
        return list(range(n))
    if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < n:
        raise ValueError(f"{PARAMS_FILE}: grid.cell must be null or an integer in 0..{n - 1} "
                         f"(the grid has {n} cells), got {cell!r}")
    return [cell]


def fingerprint(params: dict, data) -> str:
    """What a grid row depends on besides the code: the grid's and training settings, the split, the
    collapse thresholds and the feature cache (its key hashes the clip list and log-mel settings).
    ``grid.cell`` is left out: it chooses cells, it does not change one."""
    g = {k: v for k, v in params["grid"].items() if k != "cell"}
    blob = {"grid": g, "train": params["train"], "split": params["split"],
            "collapse_share": params["collapse_share"],
            "collapse_min_loss_drop": params["collapse_min_loss_drop"],
            "features": Path(data.cache.folder).name, "n_clips": len(data.records)}
    return hashlib.sha1(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_cells(params: dict, data, indices: list[int] | None = None, progress: bool = True) -> list[dict]:
    """Train the chosen cells (all by default) with :func:`emokit.audio.experiments.run_grid`; each
    row carries its ``cell`` index and ``key``."""
    from .audio import run_grid

    cs = combos(params)
    indices = list(range(len(cs))) if indices is None else indices
    it = indices
    if progress and len(indices) > 1:
        from tqdm.auto import tqdm

        it = tqdm(indices, desc="grid", unit="run")
    rows = []
    for i in it:
        lr, bs, ls = cs[i]
        p = copy.deepcopy(params)
        p["grid"].update({"lr": [lr], "batch_size": [bs], "label_smoothing": [ls]})
        (row,) = run_grid(p, data, progress=False)
        rows.append({"cell": i, "key": cell_key(lr, bs, ls), **row})
    return rows


def table_rows(rows: list[dict]) -> list[dict]:
    """The rows without their training histories (what grid.csv and the chapter's table show)."""
    return [{k: v for k, v in r.items() if k not in ("history", "cell", "key")} for r in rows]


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(type(o).__name__)


def metrics(rows: list[dict], info: dict) -> dict[str, Any]:
    m: dict[str, Any] = {"grid.cells": len(rows), "grid.complete": bool(info["complete"]),
                         "grid.wall_s": round(float(info["wall_s"]), 1)}
    for r in rows:
        k = f"grid.{r['key']}"
        m.update({f"{k}.best_val_accuracy": r["best_val_accuracy"], f"{k}.test_accuracy": r["test_accuracy"],
                  f"{k}.collapsed": bool(r["collapsed"]), f"{k}.one_class": bool(r["one_class"]),
                  f"{k}.train_s": round(float(r["wall_s"]), 2)})
    if rows:
        best = max(rows, key=lambda r: r["best_val_accuracy"])  # chosen on validation
        m.update({"grid.best.lr": best["lr"], "grid.best.batch_size": best["batch_size"],
                  "grid.best.label_smoothing": best["label_smoothing"],
                  "grid.best.val_accuracy": best["best_val_accuracy"],
                  "grid.collapsed_runs": int(sum(bool(r["collapsed"]) for r in rows))})
    return m


def write(folder: Path, rows: list[dict], params: dict, fp: str, info: dict) -> Path:
    """Replace ``folder`` with these rows; also publish the stage's DVC metrics file beside it."""
    from ..pipeline import publish_metrics, publish_plots, write_metrics

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "cells").mkdir(parents=True)
    rows = sorted(rows, key=lambda r: r["cell"])
    for r in rows:
        (folder / "cells" / f"{r['key']}.json").write_text(json.dumps(r, indent=1, default=_json_default))
    trows = table_rows(rows)
    with (folder / "grid.csv").open("w", newline="", encoding="utf-8") as fh:
        if trows:
            w = csv.DictWriter(fh, fieldnames=list(trows[0]))
            w.writeheader()
            w.writerows(trows)
    n = len(combos(params))
    info = {**info, "complete": len(rows) == n}
    meta = {"fingerprint": fp, "profile": params.get("profile"), "n_cells_total": n,
            "cells": [r["key"] for r in rows], **info}
    (folder / "grid.json").write_text(json.dumps(meta, indent=2, default=_json_default))
    write_metrics(folder, metrics(rows, info), merge=False)
    if rows:  # the chapter's heatmap of these rows (chapter 03 draws the same from them)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .audio import grid_frame, grid_heatmap

        fig = grid_heatmap(grid_frame(rows), params["grid"].get("train", {}).get("epochs"))
        fig.savefig(folder / "grid_heatmap.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    publish_metrics(STAGE, folder.parent)
    publish_plots(STAGE, folder.parent)
    return folder


def load(folder: Path, params: dict, data) -> list[dict] | None:
    """The stored rows of every selected cell when ``folder`` holds them for these settings and data
    (same fingerprint), in grid order; None otherwise (absent, other settings, cells missing)."""
    meta_path = Path(folder) / "grid.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("fingerprint") != fingerprint(params, data):
        return None
    cs = combos(params)
    rows = []
    for i in selected(params):
        p = Path(folder) / "cells" / f"{cell_key(*cs[i])}.json"
        if not p.exists():
            return None
        rows.append(json.loads(p.read_text()))
    return rows


def rows_for_chapter(params: dict, data, folder: Path) -> tuple[list[dict], str]:
    """Chapter 03's grid: the ``03_audio_grid`` stage's rows when they match (the DVC path), else
    trained here. Returns (rows, where they came from)."""
    rows = load(folder, params, data)
    if rows is not None:
        meta = json.loads((Path(folder) / "grid.json").read_text())
        return rows, f"read from {folder} (stage {STAGE}: {meta.get('mode')}, {meta.get('wall_s', 0):.0f} s)"
    return run_cells(params, data), "trained in this notebook (no matching stage output)"


# --------------------------------------------------------------------------------------------- stage

def run_stage(params: dict, out: Path, progress: bool = True) -> Path:
    from ..audio.data import prepare

    t0 = time.perf_counter()
    data = prepare(params, progress=progress)
    idx = selected(params)
    rows = run_cells(params, data, idx, progress=progress)
    info = {"mode": "sequential (dvc repro)" if len(idx) > 1 else f"one cell ({idx[0]})",
            "wall_s": time.perf_counter() - t0}
    return write(out, rows, params, fingerprint(params, data), info)


# --------------------------------------------------------------------------------------------- queue

def _sh(cmd: list[str], cwd: Path, env: dict, capture: bool = False) -> str:
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=capture)
    if r.returncode:
        tail = ((r.stdout or "") + (r.stderr or ""))[-3000:] if capture else ""
        raise RuntimeError(f"`{' '.join(cmd)}` failed with exit code {r.returncode} in {cwd}\n{tail}")
    return r.stdout if capture else ""


def experiment_refs(root: Path, env: dict | None = None) -> list[tuple[str, str, int]]:
    """(ref, commit, unix time) of the DVC experiments based on the current commit (HEAD)."""
    env = env or os.environ.copy()
    head = _sh(["git", "rev-parse", "HEAD"], root, env, capture=True).strip()
    out = _sh(["git", "for-each-ref", "--format=%(refname) %(objectname) %(committerdate:unix)",
               f"refs/exps/{head[:2]}/{head[2:]}/"], root, env, capture=True)
    refs = []
    for line in out.splitlines():
        ref, sha, ts = line.split()
        refs.append((ref, sha, int(ts)))
    return refs


def collect(root: Path, params: dict, data, refs: list[tuple[str, str, int]] | None = None) -> dict[int, dict]:
    """Rows of the grid's cells from DVC experiments: every experiment of HEAD whose
    ``artifacts/03_audio_grid/grid.json`` has this grid's fingerprint; its cell rows are read from the
    experiment's outputs in the DVC cache. The newest experiment wins when a cell ran twice."""
    from dvc.fs import DVCFileSystem

    fp = fingerprint(params, data)
    want = {cell_key(*c): i for i, c in enumerate(combos(params))}
    found: dict[int, tuple[int, dict]] = {}
    for _ref, sha, ts in sorted(refs if refs is not None else experiment_refs(root), key=lambda t: t[2]):
        fs = DVCFileSystem(repo=str(root), rev=sha)
        try:
            meta = json.loads(fs.read_text(f"artifacts/{STAGE}/grid.json"))
        except FileNotFoundError:
            continue
        if meta.get("fingerprint") != fp:
            continue
        for key in meta.get("cells", []):
            if key in want:
                row = json.loads(fs.read_text(f"artifacts/{STAGE}/cells/{key}.json"))
                found[want[key]] = (ts, row)
    return {i: row for i, (_, row) in found.items()}


def queue(jobs: int, root: Path | None = None, keep_going: bool = False, force: bool = False) -> dict:
    """Run the grid as one DVC queued experiment per cell on ``jobs`` workers, collect the rows into
    the stage's output folder and ``dvc commit`` the stage. Returns the timings.

    A cell whose code, params and features are unchanged is restored from DVC's run cache instead of
    trained again (as under ``dvc repro``); ``force`` trains every cell (``dvc exp run -f -s``)."""
    from ..config import REPO_ROOT, data_root, load_params
    from ..audio.data import prepare

    root = Path(root or REPO_ROOT)
    params = load_params("03_audio")
    if params["grid"]["cell"] is not None:
        raise ValueError(f"{PARAMS_FILE}: grid.cell is {params['grid']['cell']!r}; the queue sets it per "
                         "experiment, leave it null")
    n = len(combos(params))
    env = os.environ.copy()
    env.pop("EMOKIT_ARTIFACTS", None)         # the experiments write their own workspace's artifacts/
    # the experiments run in .dvc/tmp/exps/<tmp>/, where "../shared/data beside the repository" is not
    env["EMOKIT_DATA_ROOT"] = str(data_root(params.get("data_root")))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    t = {"jobs": int(jobs), "cells": n}
    t0 = time.perf_counter()
    # the log-mel features every cell reads: computed (or checked) once here, in the shared cache
    _sh(["dvc", "repro", "03_audio_features"], root, env)
    t["features_s"] = time.perf_counter() - t0
    before = {ref for ref, _, _ in experiment_refs(root, env)}
    t1 = time.perf_counter()
    _sh(["dvc", "exp", "run", "--queue", *(["--force", "--single-item"] if force else []), STAGE,
         "-S", f"{PARAMS_FILE}:{CELL_KEY}=" + ",".join(map(str, range(n)))], root, env)
    t["queue_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    try:
        _sh(["dvc", "exp", "run", "--run-all", "--jobs", str(int(jobs))], root, env)
    except RuntimeError:
        if not keep_going:
            raise
    t["run_all_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    data = prepare(params, progress=False)
    refs = [r for r in experiment_refs(root, env) if r[0] not in before]
    rows = collect(root, params, data, refs)
    missing = [cell_key(*combos(params)[i]) for i in range(n) if i not in rows]
    if missing:
        raise RuntimeError(f"the queue finished without the cells {missing} (see `dvc queue status` and "
                           "`dvc queue logs <name>`); nothing was committed")
    t["collect_s"] = time.perf_counter() - t3
    t["grid_wall_s"] = time.perf_counter() - t1
    info = {"mode": f"dvc experiment queue, {jobs} worker(s)" + (", forced" if force else ""),
            "wall_s": t["grid_wall_s"], "timings": t,
            "experiments": sorted(r[0].rsplit("/", 1)[-1] for r in refs)}
    write(root / "artifacts" / STAGE, [rows[i] for i in range(n)], params, fingerprint(params, data), info)
    _sh(["dvc", "commit", "-f", "-q", STAGE], root, env)
    t["total_s"] = time.perf_counter() - t0
    return t


def main(argv=None) -> int:
    from ..config import artifacts_dir, load_params, offline_env

    offline_env()
    ap = argparse.ArgumentParser(prog="python -m emokit.chapters.audio_grid", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the grid's cells (params grid.cell: one, null: all); the DVC stage")
    r.add_argument("--smoke", action="store_true")
    r.add_argument("--out", default=None, help=f"output folder (default artifacts/{STAGE})")
    q = sub.add_parser("queue", help="one DVC queued experiment per cell, run by N workers, collected and committed")
    q.add_argument("--jobs", "-j", type=int, default=2)
    q.add_argument("--keep-going", action="store_true", help="collect what finished when a cell fails")
    q.add_argument("--force", action="store_true", help="train every cell, even those DVC's run cache holds")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        params = load_params("03_audio", smoke=args.smoke)
        import torch

        torch.set_num_threads(int(params["threads"]))
        out = Path(args.out) if args.out else artifacts_dir(STAGE)
        folder = run_stage(params, out)
        meta = json.loads((folder / "grid.json").read_text())
        print(f"{len(meta['cells'])} of {meta['n_cells_total']} cells -> {folder} ({meta['wall_s']:.1f} s)")
        return 0
    try:
        t = queue(args.jobs, keep_going=args.keep_going, force=args.force)
    except (RuntimeError, ValueError) as e:
        print(f"grid queue: {e}", file=sys.stderr)
        return 1
    print("grid queue timings (s):", json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in t.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
