"""dvc.yaml stays true to the code: each stage's emokit modules are derived from what its command runs (the
notebook's imports for ``emokit.pipeline run <chapter>``, else the ``python -m`` module), followed through every
``import`` inside emokit (ast, lazy imports in functions included, parent packages' ``__init__`` too), and
compared with the stage's deps. A module the stage imports but does not list makes the stage miss changes
(stale outputs reported as current); a listed emokit path the stage never imports re-runs it for nothing.
"""
from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())


def _module_file(name: str) -> Path | None:
    """``emokit.audio.cache`` -> emokit/audio/cache.py (or the package's __init__.py); None if absent."""
    base = REPO.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _resolve(current: str, is_pkg: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    parts = current.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *( [module] if module else [])])


def _imports_of_source(src: str, current: str = "", is_pkg: bool = False) -> set[str]:
    """emokit module names imported by ``src`` (all imports, wherever they are)."""
    out: set[str] = set()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(current, is_pkg, node.level, node.module)
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}   # `from pkg import submodule`
    return {m for m in out if (m == "emokit" or m.startswith("emokit.")) and _module_file(m)}


@lru_cache(maxsize=None)
def _imports_of_module(name: str) -> frozenset[str]:
    path = _module_file(name)
    return frozenset(_imports_of_source(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))


def _closure(roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        m = todo.pop()
        parts = m.split(".")
        for i in range(1, len(parts) + 1):      # importing a.b.c runs a/__init__ and a/b/__init__ first
            sub = ".".join(parts[:i])
            if sub not in seen and _module_file(sub):
                seen.add(sub)
                todo += list(_imports_of_module(sub))
    return seen


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for c in cells:
        if c["cell_type"] == "code":
            src = "".join(c["source"])
            lines += [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def stage_modules(stage: dict) -> set[str]:
    """The emokit modules a stage's command runs, transitively."""
    roots: set[str] = set()
    for m in re.findall(r"python -m ([\w.]+)(?: run (\w+))?", stage["cmd"]):
        module, chapter = m
        roots.add(module)
        if module == "emokit.pipeline" and chapter:
            roots |= _imports_of_source(_notebook_source(REPO / "notebooks" / f"{chapter}.ipynb"))
        elif _module_file(module) and _module_file(module).name == "__init__.py" \
                and _module_file(module + ".__main__"):
            roots.add(module + ".__main__")
    assert roots, f"cannot tell what {stage['cmd']!r} runs"
    return _closure(roots)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


STAGES = [name for name, st in DVC["stages"].items() if "python -m emokit" in st["cmd"]]


@pytest.mark.parametrize("stage", STAGES)
def test_stage_deps_match_its_imports(stage):
    st = DVC["stages"][stage]
    deps = [d for d in st.get("deps", []) if d.startswith("emokit")]
    files = sorted({_rel(_module_file(m)) for m in stage_modules(st)})

    def covered(f: str) -> bool:
        return any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)

    missing = [f for f in files if not covered(f)]
    # a listed .py file or package folder the stage never imports (data files such as .js are exempt)
    unused = [d for d in deps if (d.endswith(".py") or (REPO / d).is_dir())
              and not any(f == d or f.startswith(d.rstrip("/") + "/") for f in files)]
    assert not missing, f"dvc.yaml stage {stage}: imports {missing} but does not list them in deps"
    assert not unused, f"dvc.yaml stage {stage}: lists {unused} in deps but never imports them"


def test_the_derivation_follows_lazy_and_relative_imports():
    """The derivation itself: a lazy relative import inside a function counts, and so do the parents."""
    mods = _closure({"emokit.audio.cache"})
    assert {"emokit", "emokit.audio", "emokit.audio.cache", "emokit.audio.features", "emokit.config"} <= mods
    src = "def f():\n    from emokit.fusion import late\n"
    assert "emokit.fusion.late" in _imports_of_source(src)
    assert _imports_of_source("import numpy\nfrom os import path\n") == set()


@pytest.mark.parametrize("stage", list(DVC["stages"]))
def test_stage_params_are_listed_by_key(stage):
    """No stage lists a whole params file, and none reads the smoke section: a smoke edit stales nothing."""
    for entry in DVC["stages"][stage].get("params", []):
        assert isinstance(entry, dict), f"dvc.yaml stage {stage}: {entry!r} should name its params file's keys"
        for path, keys in entry.items():
            assert keys, f"dvc.yaml stage {stage}: lists {path} whole; list the keys it reads"
            smoke = [k for k in keys if k == "smoke" or k.startswith("smoke.")]
            assert not smoke, f"dvc.yaml stage {stage}: reads {path}:{smoke}, the smoke test's section"
            raw = yaml.safe_load((REPO / path).read_text())
            for key in keys:
                node = raw
                for part in key.split("."):
                    assert isinstance(node, dict) and part in node, f"dvc.yaml stage {stage}: {path}:{key} is absent"
                    node = node[part]


# Stages whose outputs are expensive caches list single files (a change elsewhere in the package does not
# re-embed / re-extract); the others list each package they import as a folder (new modules are covered),
# except emokit/chapters, where each stage lists its own step module(s).
FILE_LEVEL = {"02_text_embeddings", "03_audio_features"}


def suggested_deps(stage: str) -> list[str]:
    """The emokit deps a stage should list under the rule above (``python tests/test_dvc_deps.py`` prints
    them; it rewrites dvc.yaml with ``--write``)."""
    files = sorted({_rel(_module_file(m)) for m in stage_modules(DVC["stages"][stage])})
    out: list[str] = []
    for f in files:
        parts = f.split("/")
        # emokit/chapters: only the stage's own step module(s) (the library never imports a chapter)
        entry = f if len(parts) == 2 or stage in FILE_LEVEL or parts[1] == "chapters" else "/".join(parts[:2])
        if entry not in out:
            out.append(entry)
    keep = [d for d in DVC["stages"][stage].get("deps", []) if d.startswith("emokit") and not d.endswith(".py")
            and not (REPO / d).is_dir() and not any(d.startswith(e + "/") for e in out)]
    return sorted(out + keep, key=lambda d: (d.count("/") == 1 and d.endswith(".py"), d))


def _write_dvc_yaml() -> None:
    lines = (REPO / "dvc.yaml").read_text().splitlines(keepends=True)
    out, stage, in_deps, done = [], None, False, False
    for ln in lines:
        m = re.match(r"^  (\w+):\s*$", ln)
        if m and m.group(1) in DVC["stages"]:
            stage, in_deps = m.group(1), False
        if re.match(r"^    deps:\s*$", ln):
            in_deps, done = True, False
        elif re.match(r"^    \w+:", ln):
            in_deps = False
        if in_deps and re.match(r"^      - emokit", ln):
            if not done and stage in STAGES:
                out += [f"      - {d}\n" for d in suggested_deps(stage)]
                done = True
            continue
        out.append(ln)
    (REPO / "dvc.yaml").write_text("".join(out))


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        _write_dvc_yaml()
    for s in STAGES:
        print(s, suggested_deps(s))
