"""Run one chapter notebook with papermill, and the helpers notebooks use to write their outputs.

``python -m emokit.pipeline run 02_text`` is what each DVC stage calls. It reads the chapter's
parameters for the active profile (``params/``), creates ``artifacts/<chapter>/`` (DVC deletes a
stage's outputs before running it), executes ``notebooks/<chapter>.ipynb`` with the parameters
injected, and saves the executed copy as ``artifacts/<chapter>/<chapter>.ipynb``. After a successful
run it copies ``artifacts/<chapter>/metrics.json`` to ``artifacts/<chapter>.metrics.json`` beside the
folder: the file each stage declares under ``metrics:`` in ``dvc.yaml`` (``cache: false``, committed to
git), which ``dvc metrics show/diff`` and ``dvc exp show`` read. It cannot be the file inside the folder:
DVC refuses a metric that overlaps the stage's output folder.

Inside a notebook: ``params`` (dict) and ``out_dir`` (str) arrive through the parameters cell; the
notebook parses the dict into its typed parameters with ``load_params(<chapter>, given=params)``;
use :func:`save_figure` and :func:`write_metrics` so every chapter writes the same layout.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from .config import REPO_ROOT, artifacts_root, load_params

CHAPTERS = ("00_datasets", "01_vision", "02_text", "03_audio", "04_late_fusion",
            "05_hybrid_fusion", "06_empathic_chat")


def chapter_dir(chapter: str, root: Path | None = None) -> Path:
    return (root or artifacts_root()) / chapter


def run_notebook(chapter: str, profile: str | None = None, smoke: bool = False,
                 artifacts: Path | None = None, extra: Mapping[str, Any] | None = None,
                 timeout: int | None = None, notebook: Path | None = None) -> Path:
    """Execute ``notebooks/<chapter>.ipynb``; returns the executed notebook's path.

    Writes ``<artifacts>/<chapter>/run.json`` (profile, smoke, wall time, data root, git commit,
    ``status`` ``ok`` or ``failed``); on failure the partly executed notebook stays beside it (papermill
    marks the failing cell) and the error is raised. ``notebook`` overrides the source (tests).
    """
    import papermill as pm

    if chapter not in CHAPTERS and notebook is None:
        raise SystemExit(f"unknown chapter {chapter!r}; one of {CHAPTERS}")
    root = Path(artifacts or artifacts_root()).resolve()
    out = chapter_dir(chapter, root)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    # parsed and checked here (emokit.params): a bad key or value fails before the notebook starts
    params = load_params(chapter, profile=profile, smoke=smoke).to_dict() if notebook is None else \
        {"profile": profile or "demo", "smoke": bool(smoke), "data_root": None}
    if extra:
        params.update(extra)
    src = Path(notebook) if notebook is not None else REPO_ROOT / "notebooks" / f"{chapter}.ipynb"
    dst = out / f"{chapter}.ipynb"
    published = dvc_metrics_path(chapter, root)
    published.unlink(missing_ok=True)  # a failed run must not leave the previous run's numbers behind
    env_before = os.environ.get("EMOKIT_ARTIFACTS")
    os.environ["EMOKIT_ARTIFACTS"] = str(root)  # the kernel inherits it: later chapters find earlier ones
    audit = out / "f1_rule_audit.jsonl"   # which macro-F1s the one rule moved (emokit.eval.RULE_AUDIT_ENV)
    audit.unlink(missing_ok=True)
    audit_before = os.environ.get("EMOKIT_F1_RULE_AUDIT")
    os.environ["EMOKIT_F1_RULE_AUDIT"] = str(audit)
    t0 = time.time()
    status, error = "ok", None
    try:
        pm.execute_notebook(
            str(src), str(dst),
            parameters={"params": params, "out_dir": str(out), "artifacts_root": str(root)},
            kernel_name="python3", cwd=str(REPO_ROOT / "notebooks"), progress_bar=False,
            execution_timeout=timeout,
        )
    except BaseException as exc:
        status, error = "failed", _describe_error(exc)
        raise
    finally:
        if env_before is None:
            os.environ.pop("EMOKIT_ARTIFACTS", None)
        else:
            os.environ["EMOKIT_ARTIFACTS"] = env_before
        if audit_before is None:
            os.environ.pop("EMOKIT_F1_RULE_AUDIT", None)
        else:
            os.environ["EMOKIT_F1_RULE_AUDIT"] = audit_before
        (out / "run.json").write_text(json.dumps(
            {"chapter": chapter, "status": status, "error": error, "profile": params["profile"],
             "smoke": bool(smoke), "wall_time_s": round(time.time() - t0, 1),
             "data_root": _data_root_or_none(params), "git_commit": _git_commit(),
             "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            indent=2))
    publish_metrics(chapter, root)
    publish_plots(chapter, root)
    return dst


def dvc_metrics_path(chapter: str, root: Path | None = None) -> Path:
    """``<artifacts>/<chapter>.metrics.json``: the stage's DVC metrics file (beside its output folder)."""
    return (root or artifacts_root()) / f"{chapter}.metrics.json"


def publish_metrics(chapter: str, root: Path | None = None) -> Path:
    """Copy ``<chapter>/metrics.json`` to :func:`dvc_metrics_path` (``{}`` when the chapter wrote none,
    so the declared DVC output always exists). Returns the published path."""
    src = chapter_dir(chapter, root) / "metrics.json"
    dst = dvc_metrics_path(chapter, root)
    dst.write_text(src.read_text(encoding="utf-8") if src.exists() else "{}\n", encoding="utf-8")
    return dst


PLOTS = "plots"


def declared_plots(stage: str) -> list[str]:
    """The files ``dvc.yaml`` declares under the stage's ``plots:`` (``artifacts/plots/<stage>/...``)."""
    import yaml

    spec = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"].get(stage, {})
    return [next(iter(p)) if isinstance(p, dict) else p for p in spec.get("plots", [])]


def publish_plots(stage: str, root: Path | None = None) -> list[Path]:
    """Copy the tables the stage declares as DVC plots, ``artifacts/plots/<stage>/<file>``, from its
    output folder ``artifacts/<stage>/<file>`` (small CSVs kept in git, so `dvc plots diff` and
    `dvc exp show` never need the output folders' cache). A file the run did not write is removed, not
    kept from an earlier run; DVC then reports the missing output. Returns the copies made."""
    import shutil

    root = Path(root or artifacts_root())
    made = []
    for declared in declared_plots(stage):
        rel = Path(declared).relative_to(f"artifacts/{PLOTS}/{stage}")
        src, dst = chapter_dir(stage, root) / rel, root / PLOTS / stage / rel
        dst.unlink(missing_ok=True)
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            made.append(dst)
    return made


def _describe_error(exc: BaseException) -> str:
    """One line: the notebook's own exception (papermill) or the first line of the message."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"[:2000]
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().strip("-")]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:2000]


def _data_root_or_none(params: Mapping[str, Any]) -> str | None:
    """The data folder this run read (None when none was found: chapters that need none)."""
    from .config import data_root

    try:
        return str(data_root(params.get("data_root")))
    except FileNotFoundError:
        return None


def _git_commit() -> str | None:
    """The repository's commit (with ``-dirty`` when the tree has changes), or None outside git."""
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


class _SavedPath(type(Path())):  # type: ignore[misc]
    """A Path that a notebook cell ending in ``save_figure(...)`` does not echo (the figure is shown)."""

    def _ipython_display_(self) -> None:
        pass


def save_figure(fig, out_dir: str | Path, name: str, dpi: int = 110, show: bool = True) -> Path:
    """Save a matplotlib figure as ``<out_dir>/figures/<name>.png`` and show it once in the notebook.

    Inside a Jupyter kernel the saved PNG is displayed as the cell's output (so it reaches the
    executed notebook and the HTML report whatever the matplotlib backend, Agg included) and the
    figure is closed in pyplot so the inline backend does not show it a second time. The ``fig``
    object stays usable. Outside a kernel (scripts, tests) it is only saved.
    """
    path = _SavedPath(Path(out_dir) / "figures" / f"{name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if show and _in_kernel():
        from IPython.display import Image, display

        # the report uses it as the image's alt text
        display(Image(filename=str(path)), metadata={"image/png": {"alt": figure_alt(fig, name)}})
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:  # noqa: BLE001 - a figure pyplot does not manage needs no closing
            pass
    return path


def show_table(rows, cols=None, fmt: str = "{:.4f}") -> str:
    """A markdown table from a list of dicts (floats through ``fmt``, None as an en dash), displayed in
    a kernel (the executed notebook and the report show it) and returned."""
    cols = list(cols or rows[0])

    def cell(v) -> str:
        return fmt.format(v) if isinstance(v, float) else ("–" if v is None else str(v))

    text = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n" + \
        "\n".join("| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows)
    if _in_kernel():
        from IPython.display import Markdown, display

        display(Markdown(text))
    return text


def figure_alt(fig, name: str) -> str:
    """What a figure shows, in words, from its titles (suptitle, then each axes' title): the alt text of
    its image in the notebook and the report. Falls back on the file name."""
    titles = []
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text().strip():
        titles.append(sup.get_text().strip())
    for ax in getattr(fig, "axes", []):
        t = ax.get_title().strip() or ax.get_title(loc="left").strip()
        if t and t not in titles:
            titles.append(t)
    text = "; ".join(titles[:6]) or name.replace("_", " ")
    return f"Figure: {' '.join(text.split())}"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def write_metrics(out_dir: str | Path, metrics: Mapping[str, Any], merge: bool = True) -> Path:
    """Write (or merge into) ``<out_dir>/metrics.json`` with flat dotted keys.

    Values must be numbers, strings or booleans; NaN is refused (a metric that could not be
    computed is left out, and the scorecard says "not yet").
    """
    path = Path(out_dir) / "metrics.json"
    flat = _flatten(metrics)
    for k, v in flat.items():
        if hasattr(v, "item"):
            v = v.item()
            flat[k] = v
        if not isinstance(v, (int, float, str, bool)):
            raise TypeError(f"metric {k!r} has type {type(v).__name__}; use numbers, strings or booleans")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"metric {k!r} is {v}; leave it out instead")
    current = json.loads(path.read_text()) if merge and path.exists() else {}
    current.update(flat)
    path.write_text(json.dumps(dict(sorted(current.items())), indent=2, ensure_ascii=False))
    return path


def read_metrics(chapter: str, root: Path | None = None) -> dict[str, Any]:
    path = chapter_dir(chapter, root) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emokit.pipeline", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute one chapter notebook")
    r.add_argument("chapter", choices=CHAPTERS)
    r.add_argument("--profile", choices=("demo", "full"), default=None,
                   help="override params/profile.yaml for this run")
    r.add_argument("--smoke", action="store_true", help="smallest sizes (tests)")
    r.add_argument("--artifacts", type=Path, default=None, help="artifacts root (default artifacts/)")
    args = ap.parse_args(argv)
    _ignore_env_profile_under_dvc()
    dst = run_notebook(args.chapter, profile=args.profile, smoke=args.smoke, artifacts=args.artifacts)
    print(dst)
    return 0


def _ignore_env_profile_under_dvc() -> None:
    """Under ``dvc repro`` (DVC sets DVC_STAGE) the profile must be the one DVC tracks, i.e.
    ``params/profile.yaml``; an EMOKIT_PROFILE left in the shell would make dvc.lock lie."""
    if os.environ.get("DVC_STAGE") and os.environ.get("EMOKIT_PROFILE"):
        print(f"note: EMOKIT_PROFILE={os.environ['EMOKIT_PROFILE']} ignored under dvc repro; "
              "the profile comes from params/profile.yaml", file=sys.stderr)
        del os.environ["EMOKIT_PROFILE"]


if __name__ == "__main__":
    sys.exit(main())
