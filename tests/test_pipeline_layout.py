"""The pipeline's shape: DVC stages = chapters, params files, clean notebooks, metrics and runner."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from emokit import config
from emokit.config import ConfigError, active_profile, load_params
from emokit.pipeline import CHAPTERS, read_metrics, run_notebook, save_figure, write_metrics

REPO = Path(__file__).resolve().parent.parent
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())


STAGES = list(DVC["stages"])
HELPERS = [s for s in STAGES if s not in (*CHAPTERS, "report")]


def _outs(stage: str) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for o in DVC["stages"][stage].get("outs", [])]


def test_dvc_stages_are_the_chapters_then_report():
    """Every chapter has its stage, in chapter order, and the report is last. Helper stages (e.g. a
    feature cache) may sit between them; they write only under artifacts/ and run no notebook."""
    assert [s for s in STAGES if s in CHAPTERS] == list(CHAPTERS)
    assert STAGES[-1] == "report"
    for h in HELPERS:
        assert "emokit.pipeline run" not in DVC["stages"][h]["cmd"], f"{h} runs a notebook but is no chapter"
        assert _outs(h) and all(o.startswith("artifacts/") for o in _outs(h)), f"helper stage {h}: outs"


def _producer(path: str) -> str | None:
    for st in STAGES:
        if any(path == o or path.startswith(o.rstrip("/") + "/") for o in _outs(st)):
            return st
    return None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_stage(chapter):
    st = DVC["stages"][chapter]
    assert st["cmd"] == f"python -m emokit.pipeline run {chapter}"
    assert st["outs"] == [f"artifacts/{chapter}"]
    assert f"notebooks/{chapter}.ipynb" in st["deps"]
    for dep in st["deps"]:
        if not dep.startswith("artifacts/"):
            assert (REPO / dep).exists(), f"{chapter}: dependency {dep} does not exist"
        else:  # depends only on outputs of stages listed before it
            producer = _producer(dep)
            assert producer is not None, f"{chapter}: no stage writes {dep}"
            assert STAGES.index(producer) < STAGES.index(chapter), f"{chapter}: {dep} comes from a later stage"
    files = {next(iter(p)) if isinstance(p, dict) else p for p in st["params"]}
    assert f"params/{chapter}.yaml" in files and "params/profile.yaml" in files


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_stage_declares_its_metrics_for_dvc(chapter):
    """`dvc metrics show/diff` and `dvc exp show` read the copy beside the output folder (a metric
    inside the folder would overlap the stage's output, which DVC refuses); it is small and in git."""
    st = DVC["stages"][chapter]
    assert st["metrics"] == [{f"artifacts/{chapter}.metrics.json": {"cache": False}}]
    from emokit.pipeline import dvc_metrics_path

    assert dvc_metrics_path(chapter, REPO / "artifacts") == REPO / "artifacts" / f"{chapter}.metrics.json"


def test_plots_are_git_tracked_copies_outside_the_output_folders():
    """Stages declare their plotted tables under ``plots:`` as ``artifacts/plots/<stage>/<file>``
    (cache: false, with template/x/y), copies of ``artifacts/<stage>/<file>`` that
    emokit.pipeline.publish_plots makes. No top-level plot points inside an output folder: DVC would
    have to open that folder's cache object, and `dvc exp run` fails wherever it is not cached."""
    from emokit.pipeline import declared_plots

    assert "plots" not in DVC, "top-level plots inside output folders break `dvc exp run` on a fresh clone"
    n = 0
    for name, st in DVC["stages"].items():
        for p in st.get("plots", []):
            path, spec = next(iter(p.items()))
            n += 1
            assert path.startswith(f"artifacts/plots/{name}/"), f"{name}: plot {path}"
            assert spec.get("cache") is False and {"x", "y", "template"} <= set(spec), f"{name}: plot {path}"
            assert _producer(path) is None, f"plot {path} lies inside a stage output"
        assert declared_plots(name) == [next(iter(p)) for p in st.get("plots", [])]
    assert n >= 5


def test_publish_plots_copies_what_the_run_wrote_and_drops_stale_copies(tmp_path):
    from emokit.pipeline import publish_plots

    (tmp_path / "01_vision").mkdir()
    (tmp_path / "01_vision" / "robustness.csv").write_text("level,accuracy\n0,0.5\n")
    (made,) = publish_plots("01_vision", tmp_path)
    assert made == tmp_path / "plots" / "01_vision" / "robustness.csv"
    assert made.read_text() == "level,accuracy\n0,0.5\n"
    (tmp_path / "01_vision" / "robustness.csv").unlink()
    assert publish_plots("01_vision", tmp_path) == [] and not made.exists()


def test_report_stage_depends_on_every_chapter():
    st = DVC["stages"]["report"]
    assert st["cmd"].startswith("python -m emokit.report build")
    assert st["outs"] == ["artifacts/report"]
    assert {f"artifacts/{ch}" for ch in CHAPTERS} <= set(st["deps"])
    assert "reference" in st["deps"] and "emokit/report" in st["deps"]


def test_profile_keys_named_in_dvc_exist():
    profile = yaml.safe_load((REPO / "params" / "profile.yaml").read_text())
    assert profile["profile"] in config.PROFILES
    for name, st in DVC["stages"].items():
        for p in st.get("params", []):
            if isinstance(p, dict) and "params/profile.yaml" in p:
                for key in p["params/profile.yaml"]:
                    assert key in profile, f"stage {name} names params/profile.yaml:{key}, which is absent"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_params_file_sections(chapter):
    raw = yaml.safe_load((REPO / "params" / f"{chapter}.yaml").read_text()) or {}
    assert set(raw) <= {"common", "demo", "full", "smoke"}, f"params/{chapter}.yaml: {sorted(raw)}"
    for section, value in raw.items():
        assert value is None or isinstance(value, dict), f"params/{chapter}.yaml:{section} is not a mapping"
    for profile in config.PROFILES:
        p = load_params(chapter, profile=profile)
        assert p["profile"] == profile and p["smoke"] is False
    assert load_params(chapter, profile="demo", smoke=True)["smoke"] is True


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_source_notebook_is_clean_and_parameterised(chapter):
    nb = nbformat.read(str(REPO / "notebooks" / f"{chapter}.ipynb"), as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"notebooks/{chapter}.ipynb: code cells {dirty} have outputs; commit it cleared"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"notebooks/{chapter}.ipynb: needs exactly one cell tagged 'parameters'"
    src = tagged[0].source
    for name in ("params", "out_dir", "artifacts_root"):
        assert re.search(rf"^{name}\s*=", src, flags=re.M), \
            f"notebooks/{chapter}.ipynb: parameters cell does not define {name}"
    later = "\n".join(c.source for c in nb.cells[nb.cells.index(tagged[0]) + 1:] if c.cell_type == "code")
    assert f'load_params("{chapter}", given=params)' in later, \
        f"notebooks/{chapter}.ipynb: should parse its parameters with load_params({chapter!r}, given=params) " \
        "after the parameters cell (the file when none were given)"


def test_profile_switch(monkeypatch, tmp_path):
    (tmp_path / "profile.yaml").write_text("profile: full\ndata_root: null\n")
    (tmp_path / "x.yaml").write_text("common: {a: 1, n: {b: 2, c: 3}}\ndemo: {a: 5}\nfull: {n: {b: 20}}\n"
                                     "smoke: {n: {c: 0}}\n")
    monkeypatch.delenv("EMOKIT_PROFILE", raising=False)
    assert active_profile(tmp_path) == "full"
    p = load_params("x", params_dir=tmp_path)
    assert (p["a"], p["n"], p["profile"]) == (1, {"b": 20, "c": 3}, "full")
    p = load_params("x", profile="demo", smoke=True, params_dir=tmp_path)
    assert (p["a"], p["n"]) == (5, {"b": 2, "c": 0})
    monkeypatch.setenv("EMOKIT_PROFILE", "demo")
    assert active_profile(tmp_path) == "demo"
    monkeypatch.setenv("EMOKIT_PROFILE", "huge")
    with pytest.raises(ConfigError, match="EMOKIT_PROFILE"):
        active_profile(tmp_path)
    (tmp_path / "bad.yaml").write_text("common: {}\nextra: {}\n")
    with pytest.raises(ConfigError, match="unknown top-level sections"):
        load_params("bad", profile="demo", params_dir=tmp_path)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(tmp_path))
    assert config.data_root() == tmp_path.resolve()
    assert config.data_root(tmp_path / "..") == tmp_path.parent.resolve()
    # a setting naming a missing folder is an error, even when the default exists
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo" / "params").mkdir(parents=True)
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "repo" / "params")
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="EMOKIT_DATA_ROOT does not exist"):
        config.data_root()
    monkeypatch.delenv("EMOKIT_DATA_ROOT")
    (tmp_path / "repo" / "params" / "profile.yaml").write_text("profile: demo\ndata_root: ../elsewhere\n")
    with pytest.raises(FileNotFoundError, match="params/profile.yaml does not exist"):
        config.data_root()
    (tmp_path / "repo" / "params" / "profile.yaml").write_text("profile: demo\ndata_root: null\n")
    assert config.data_root() == (tmp_path / "shared" / "data").resolve()  # the default
    (tmp_path / "shared" / "data").rmdir()
    with pytest.raises(FileNotFoundError, match="no data root found"):
        config.data_root()


def test_write_metrics_flat_merged_and_strict(tmp_path):
    write_metrics(tmp_path, {"test": {"accuracy": 0.5, "recall": {"Sad": 0.25}}, "n": 3})
    write_metrics(tmp_path, {"test.f1_macro": 0.4})
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m == {"n": 3, "test.accuracy": 0.5, "test.f1_macro": 0.4, "test.recall.Sad": 0.25}
    with pytest.raises(ValueError, match="leave it out"):
        write_metrics(tmp_path, {"x": math.nan})
    with pytest.raises(TypeError, match="numbers, strings or booleans"):
        write_metrics(tmp_path, {"x": [1, 2]})
    assert read_metrics(tmp_path.name, tmp_path.parent)["n"] == 3


def test_save_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    path = save_figure(fig, tmp_path, "line")
    plt.close(fig)
    assert path == tmp_path / "figures" / "line.png" and path.read_bytes()[:4] == b"\x89PNG"


def _tiny_notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell('params = {}\nout_dir = "x"\nartifacts_root = "y"')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


def test_run_notebook_injects_params_and_records_the_run(tmp_path):
    src = _tiny_notebook(tmp_path / "t.ipynb", (
        "import os\nfrom emokit.pipeline import write_metrics\n"
        "assert params['k'] == 7 and os.environ['EMOKIT_ARTIFACTS'] == artifacts_root\n"
        "write_metrics(out_dir, {'k': params['k'], 'profile': params['profile']})\n"
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from emokit.pipeline import save_figure\nfig, ax = plt.subplots(figsize=(1, 1))\n"
        "save_figure(fig, out_dir, 'tiny_fig')\n"
        "1 / 0 if params.get('fail') else None"))
    art = tmp_path / "art"
    dst = run_notebook("tiny", artifacts=art, notebook=src, extra={"k": 7})
    assert dst == art / "tiny" / "tiny.ipynb" and dst.exists()
    assert json.loads((art / "tiny" / "metrics.json").read_text()) == {"k": 7, "profile": "demo"}
    # the DVC metrics file beside the folder is the same content
    assert (art / "tiny.metrics.json").read_text() == (art / "tiny" / "metrics.json").read_text()
    assert (art / "tiny" / "figures" / "tiny_fig.png").exists()
    pngs = [o for c in nbformat.read(str(dst), as_version=4).cells for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, "save_figure shows the figure exactly once, even under the Agg backend"
    run = json.loads((art / "tiny" / "run.json").read_text())
    assert run["status"] == "ok" and run["chapter"] == "tiny" and run["wall_time_s"] >= 0
    with pytest.raises(Exception, match="ZeroDivisionError"):
        run_notebook("tiny", artifacts=art, notebook=src, extra={"k": 7, "fail": True})
    run = json.loads((art / "tiny" / "run.json").read_text())
    assert run["status"] == "failed" and run["error"].startswith("ZeroDivisionError")
    assert not (art / "tiny.metrics.json").exists(), "a failed run must not leave the previous numbers"


def test_pipeline_cli_rejects_unknown_chapter():
    proc = subprocess.run([sys.executable, "-m", "emokit.pipeline", "run", "99_x"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode != 0 and "invalid choice" in proc.stderr


def test_python_caches_are_not_stage_inputs():
    """emokit/<pkg> folders are stage deps: __pycache__ in them would make every stage look changed."""
    ignored = (REPO / ".dvcignore").read_text().split()
    assert "__pycache__/" in ignored and "*.pyc" in ignored


def test_benchmark_runner_discovers_scripts():
    from benchmarks import run_all

    cpu = run_all.scripts(gpu=False)
    assert all("__main__" in p.read_text() and "gpu" not in p.stem for p in cpu)
    assert not {p.name for p in cpu} & {"run_all.py", "__init__.py"}
    assert {p.name for p in cpu} <= {p.name for p in run_all.scripts(gpu=True)}
    info = run_all.machine_info()
    assert info["nproc"] >= 1 and info["torch"] and "cpu_model" in info


def test_env_profile_ignored_under_dvc(monkeypatch, capsys):
    from emokit import pipeline

    monkeypatch.setenv("EMOKIT_PROFILE", "full")
    monkeypatch.delenv("DVC_STAGE", raising=False)
    pipeline._ignore_env_profile_under_dvc()
    assert active_profile() == "full"  # outside DVC the variable wins (CLI, manual runs)
    monkeypatch.setenv("DVC_STAGE", "02_text")
    pipeline._ignore_env_profile_under_dvc()
    assert "EMOKIT_PROFILE" not in __import__("os").environ
    assert active_profile() == yaml.safe_load((REPO / "params" / "profile.yaml").read_text())["profile"]
    assert "ignored under dvc repro" in capsys.readouterr().err


def test_config_check_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(tmp_path))
    assert config.main() == 0
    assert f"data root: {tmp_path.resolve()}" in capsys.readouterr().out
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(tmp_path / "absent"))
    assert config.main() == 2
    assert "does not exist" in capsys.readouterr().err
