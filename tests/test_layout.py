"""The package's shape, read from the source (nothing is imported): no import cycles, ``__init__`` files
that only re-export, chapter steps in ``emokit/chapters/`` (which the library never imports), and thin
notebooks."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.helpers.imports import cycles, imports, modules

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_CODE_LINES_MAX = 150
CHAPTER_STAGES = {"01_vision": "vision", "02_text": "text", "03_audio": "audio", "04_late_fusion": "late_fusion",
                  "05_hybrid_fusion": "hybrid_fusion", "06_empathic_chat": "empathic_chat"}


def _cycle_report(graph, comps) -> str:
    lines = []
    for comp in comps:
        lines.append(" <-> ".join(comp))
        lines += [f"    {a} imports {b} (line {graph[a][b]})" for a in comp for b in graph[a] if b in comp]
    return "\n".join(lines)


def test_import_graph_helper_finds_a_cycle(tmp_path):
    """The checker itself: a lazy import inside a function closes a cycle as much as a top-level one."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("from . import b\n\ndef f():\n    return b.g()\n")
    (pkg / "sub" / "b.py").write_text("def g():\n    from .a import f\n    return f\n")
    (pkg / "c.py").write_text("from .sub import a\nimport pkg.sub.b\n")
    g = imports(tmp_path, "pkg")
    assert g["pkg.c"] == {"pkg.sub.a": 1, "pkg.sub.b": 2}
    assert cycles(g) == [["pkg.sub.a", "pkg.sub.b"]]
    assert cycles(imports(tmp_path, "pkg", lazy=False)) == []


def test_no_import_cycles_in_emokit():
    """Every import counts, module level or inside a function: a lazy import only hides a cycle."""
    graph = imports(REPO)
    comps = cycles(graph)
    assert not comps, "import cycles in emokit:\n" + _cycle_report(graph, comps)


def test_init_files_are_faces():
    """``__init__.py`` re-exports (imports, ``__all__``, constants); its implementation lives in a named
    module. A module ``__getattr__`` that only forwards names lazily (PEP 562) is allowed."""
    bad = []
    for mod, path in modules(REPO).items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("__getattr__", "__dir__"):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno} defines {node.name}")
    assert not bad, "implementation in package __init__ files (move it to a named module):\n" + "\n".join(bad)


def test_library_never_imports_the_chapters():
    """Chapter modules call the library; the library (and the CLI, the app, the report) never calls a chapter.
    The only exception is the pre-flight check, which reads a chapter's params the way the stage does."""
    allowed = {"emokit.preflight"}
    bad = [f"{a} imports {b}" for a, deps in imports(REPO).items() if not a.startswith("emokit.chapters")
           and a not in allowed for b in deps if b.startswith("emokit.chapters")]
    assert not bad, "\n".join(bad)


def test_every_chapter_stage_has_its_module_and_its_notebook_uses_it():
    """One rule: stage ``NN_<name>`` -> ``emokit/chapters/<name>.py``; its notebook imports it (as ``ch``),
    and the DVC stage lists it as a dependency."""
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, name in CHAPTER_STAGES.items():
        assert (REPO / "emokit" / "chapters" / f"{name}.py").is_file(), f"{stage}: no emokit/chapters/{name}.py"
        src = "".join("".join(c["source"]) for c in json.loads((REPO / "notebooks" / f"{stage}.ipynb").read_text())["cells"]
                      if c["cell_type"] == "code")
        assert f"from emokit.chapters import {name} as ch" in src, f"notebooks/{stage}.ipynb does not import its chapter module"
        assert f"emokit/chapters/{name}.py" in stages[stage]["deps"], f"dvc.yaml {stage}: deps lack emokit/chapters/{name}.py"
    for stage, st in stages.items():  # helper stages run their module
        cmd = st["cmd"]
        if "emokit.chapters." in cmd:
            name = cmd.split("emokit.chapters.")[1].split()[0]
            assert stage.split("_", 1)[1] == name, f"{stage} runs emokit.chapters.{name}: the module is named after the stage"
            assert f"emokit/chapters/{name}.py" in st["deps"], f"dvc.yaml {stage}: deps lack emokit/chapters/{name}.py"


def code_lines(nb_path: Path) -> int:
    """Lines of code in a notebook's code cells: not blank, not only a comment."""
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code"
               for line in "".join(c["source"]).splitlines() if line.strip() and not line.strip().startswith("#"))


def test_code_lines_counts_code_only(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["# a\n", "b\n"]},
                    {"cell_type": "code", "source": ["x = 1\n", "\n", "# note\n", "y = 2  # two\n"]}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    assert code_lines(tmp_path / "n.ipynb") == 2


@pytest.mark.parametrize("nb", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_notebooks_are_thin(nb):
    """Notebooks hold parameters, calls into emokit, figures and prose; the logic lives in emokit/chapters/."""
    n = code_lines(REPO / "notebooks" / nb)
    assert n <= NOTEBOOK_CODE_LINES_MAX, (f"notebooks/{nb} has {n} code lines (at most {NOTEBOOK_CODE_LINES_MAX}): "
                                          "move its logic into its emokit/chapters/ module")
