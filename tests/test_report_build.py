"""The HTML report and its reproduction scorecard, on tiny artifacts the tests write themselves."""
from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from emokit.pipeline import CHAPTERS
from emokit.report import ScorecardError, build_report, external_resources, load_rows, resolve_key
from emokit.report.build import make_offline

REPO = Path(__file__).resolve().parent.parent
# a 1x1 red PNG
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def _executed_notebook(path: Path, failed: bool = False) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"exception": failed}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Tiny chapter\nProse that explains the **figure**."))
    code = nbformat.v4.new_code_cell("fig = plot()", execution_count=1)
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(PNG).decode(),
                                                     "text/plain": "<Figure>"}),
        nbformat.v4.new_output("display_data", data={
            "text/html": '<div>widget</div><script src="https://cdn.jsdelivr.net/npm/x.js"></script>'
                         '<img src="https://example.org/remote.png">',
            "text/plain": "widget"}),
        nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.42\n"),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                         "version_minor": 0},
            "text/plain": "VBox(children=(...))"}),
    ]
    nb.cells.append(code)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture()
def fake_run(tmp_path: Path) -> dict[str, Path]:
    """00_datasets ran (notebook, metrics, run.json, figure); 01_vision failed; the rest did not run."""
    art = tmp_path / "artifacts"
    d0 = art / "00_datasets"
    _executed_notebook(d0 / "00_datasets.ipynb")
    (d0 / "figures").mkdir(parents=True)
    (d0 / "figures" / "label_distribution.png").write_bytes(PNG)
    (d0 / "metrics.json").write_text(json.dumps({"goemotions.single_label_rows": 17000,
                                                 "test.accuracy": 0.5, "profile": "demo"}))
    (d0 / "run.json").write_text(json.dumps({"chapter": "00_datasets", "status": "ok", "profile": "demo",
                                             "smoke": False, "wall_time_s": 3.2,
                                             "data_root": "/data/shared", "git_commit": "abc1234"}))
    d2 = art / "02_text"  # still running: notebook only
    _executed_notebook(d2 / "02_text.ipynb")
    d1 = art / "01_vision"
    _executed_notebook(d1 / "01_vision.ipynb", failed=True)
    (d1 / "run.json").write_text(json.dumps({"chapter": "01_vision", "status": "failed",
                                             "error": "RuntimeError: boom", "profile": "demo"}))
    sc = tmp_path / "scorecard"
    sc.mkdir()
    (sc / "00_datasets.yaml").write_text(yaml.safe_dump({"rows": [
        {"id": "data.goemotions.rows", "what": "GoEmotions single-label rows", "reference": 18098,
         "reference_key": "text.dataset_rows_after_cleaning", "chapter": "00_datasets",
         "metric": "goemotions.single_label_rows", "note": "subset", "data": "GoEmotions subset"},
        {"id": "data.tol", "what": "within tolerance", "reference_key": "text.runs[1].accuracy",
         "chapter": "00_datasets", "metric": "test.accuracy", "tolerance": 0.5},
        {"id": "data.absent", "what": "metric not written", "reference": 0.4678,
         "reference_key": "late_fusion.best_f1_weighted", "chapter": "00_datasets",
         "metric": "test.f1_weighted", "note": "needs fusion"},
        {"id": "data.wrongref", "what": "row copies a wrong number", "reference": 0.9,
         "reference_key": "text.runs[0].accuracy", "chapter": "00_datasets", "metric": "test.accuracy"},
        {"id": "data.strref", "what": "number replaced by words", "reference": "about 0.87",
         "reference_key": "text.runs[0].f1_weighted", "chapter": "00_datasets", "metric": "test.accuracy"},
        {"id": "data.badkey", "what": "key that does not exist", "reference": 1,
         "reference_key": "text.runs[7].accuracy", "chapter": "00_datasets", "metric": "test.accuracy"},
    ]}))
    (sc / "01_vision.yaml").write_text(yaml.safe_dump({"rows": [
        {"id": "vision.claim", "what": "DeepFace chosen", "reference": "DeepFace, the most stable",
         "reference_key": "vision.chosen",
         "chapter": "01_vision", "metric": "chosen.backend", "note": "qualitative"}]}))
    (sc / "04_late_fusion.yaml").write_text(yaml.safe_dump({"rows": [
        {"id": "fusion.f1", "what": "Late fusion weighted F1", "reference": 0.4678,
         "reference_key": "late_fusion.best_f1_weighted", "chapter": "04_late_fusion",
         "metric": "test.f1_weighted", "note": "MELD test subset"}]}))
    return {"artifacts": art, "scorecard": sc, "out": tmp_path / "report"}


def test_report_builds_offline_with_scorecard(fake_run):
    index = build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"])
    page = index.read_text(encoding="utf-8")
    assert external_resources(page) == []
    assert "<script" not in page.lower()
    assert "cdn.jsdelivr" not in page and "cdnjs" not in page and "mathjax" not in page.lower().replace("mathjax-", "")
    assert "data:image/png;base64," in page  # the figure is embedded
    assert "Prose that explains" in page
    assert "fig = plot()" not in page  # code hidden by default
    # the scorecard comes before the first chapter
    assert page.index('id="scorecard"') < page.index('id="ch-00_datasets"')
    for ch in CHAPTERS:
        assert f'id="ch-{ch}"' in page
    assert "not run" in page and "not yet — needs fusion" in page and "failed" in page
    assert "label_distribution.png" in page
    assert "interactive widget" in page and "VBox(children" not in page


def test_report_with_code(fake_run):
    page = build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"],
                        with_code=True).read_text(encoding="utf-8")
    assert "plot" in page and external_resources(page) == []


def test_scorecard_files(fake_run):
    build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"])
    rows = {r["id"]: r for r in csv.DictReader(open(fake_run["out"] / "scorecard.csv", encoding="utf-8"))}
    assert set(rows) == {"data.goemotions.rows", "data.tol", "data.absent", "data.wrongref", "data.strref",
                         "data.badkey", "vision.claim", "fusion.f1"}
    assert "0.871" in rows["data.strref"]["reference_check"] and "runs[7]" in rows["data.badkey"]["reference_check"]
    assert rows["vision.claim"]["reference_check"] == ""  # a string claim may paraphrase the report
    r = rows["data.goemotions.rows"]
    assert (r["reference"], r["value"], r["status"], r["profile"]) == ("18098", "17000", "measured", "demo")
    assert float(r["difference"]) == -1098
    assert r["data_root"] == "/data/shared" and r["data"] == "GoEmotions subset"
    assert rows["data.tol"]["status"] == "reproduced"
    assert float(rows["data.tol"]["reference"]) == pytest.approx(0.8806)  # filled from reference_key
    assert rows["data.absent"]["status"] == "not yet" and rows["data.absent"]["value"] == ""
    assert "0.8751" in rows["data.wrongref"]["reference_check"]
    assert rows["vision.claim"]["status"] == "failed"
    assert rows["fusion.f1"]["status"] == "not run"
    md = (fake_run["out"] / "scorecard.md").read_text(encoding="utf-8")
    assert "| GoEmotions single-label rows | 18,098 | 17,000 | -1,098 | measured |" in md
    assert "not yet — needs fusion" in md and "| 04_late_fusion | not run |" in md
    assert "| 02_text | incomplete |" in md and "no run.json" in md
    js = json.loads((fake_run["out"] / "scorecard.json").read_text())
    keys = {u["key"] for u in js["unclaimed_reference_numbers"]}
    assert "text.runs[1].f1_weighted" in keys and "text.runs[1].accuracy" not in keys
    assert 'audio.v3_grid.best_val_accuracy["1e-4/32/0.1"]' in keys
    results, settings = md.split("## Report settings")
    assert "`text.runs[1].f1_weighted`" in results and "`text.runs[1].lr`" in settings
    assert "`audio.v2.v2_2_balanced.recall_change.Sad[0]`" in results  # a before/after result, not a setting


def test_empty_artifacts_every_chapter_not_run(tmp_path):
    index = build_report(tmp_path / "nothing", tmp_path / "out", scorecard_dir=tmp_path / "no_rows")
    md = (tmp_path / "out" / "scorecard.md").read_text()
    assert all(f"| {ch} | not run |" in md for ch in CHAPTERS)
    assert index.exists()


def test_unrenderable_notebook_does_not_stop_the_build(fake_run):
    (fake_run["artifacts"] / "00_datasets" / "00_datasets.ipynb").write_text("{not json")
    page = build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"]).read_text()
    assert "notebook not rendered" in page or "failed" in page


def test_resolve_key():
    ref = yaml.safe_load((REPO / "reference" / "reference_numbers.yaml").read_text())
    assert resolve_key(ref, "text.runs[1].accuracy") == 0.8806
    assert resolve_key(ref, 'audio.v3_grid.best_val_accuracy["1e-4/32/0.1"]') == 0.7667
    assert resolve_key(ref, "late_fusion.best_weights.text") == 0.66
    assert resolve_key(ref, "late_fusion.best_weights (the three weights)") == {"audio": 0.28, "text": 0.66,
                                                                              "vision": 0.06}
    with pytest.raises(KeyError, match="runs\\[9\\]"):
        resolve_key(ref, "text.runs[9].accuracy")
    with pytest.raises(KeyError):
        resolve_key(ref, "nope.x")


@pytest.mark.parametrize("rows, match", [
    ([{"id": "a", "what": "x", "chapter": "02_text"}], "missing metric"),
    ([{"id": "a", "what": "x", "chapter": "99_nope", "metric": "m"}], "not one of"),
    ([{"id": "a", "what": "x", "chapter": "02_text", "metric": "m", "colour": 1}], "unknown fields"),
    ([{"id": "a", "what": "x", "chapter": "02_text", "metric": "m"}] * 2, "already used"),
])
def test_malformed_rows_are_named(tmp_path, rows, match):
    (tmp_path / "02_text.yaml").write_text(yaml.safe_dump({"rows": rows}))
    with pytest.raises(ScorecardError, match=match) as info:
        load_rows(tmp_path)
    assert "02_text.yaml row" in str(info.value)


def test_committed_scorecard_rows_are_valid():
    """Every row the chapters committed parses, and its reference matches reference_numbers.yaml."""
    from emokit.report.scorecard import score

    rows = load_rows(REPO / "reference" / "scorecard")
    ref = yaml.safe_load((REPO / "reference" / "reference_numbers.yaml").read_text())
    score(rows, {}, ref)
    bad = [(r.id, r.reference_check) for r in rows if r.reference_check]
    assert not bad, f"scorecard rows whose reference disagrees with reference_numbers.yaml: {bad}"


def test_make_offline_strips_network_loads():
    frag = ('<script src="https://x/y.js"></script><link rel="stylesheet" href="https://f/c.css">'
            '<style>@import url("https://fonts.example/f.css");</style><img src="//h/i.png"><a href="https://ok">l</a>')
    clean = make_offline(frag)
    assert external_resources(clean) == []
    assert "remote content not embedded: //h/i.png" in clean and "<script" not in clean
    assert '<a href="https://ok">' in clean  # ordinary links stay


def test_cli_build(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "emokit.report", "build", "--artifacts", str(tmp_path),
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("index.html")
    assert (tmp_path / "r" / "scorecard.csv").exists()


# the usual payloads: event handlers, iframe srcdoc, javascript: URLs, SVG, forms, styles, meta refresh
PAYLOADS = [
    '<img src=x onerror="alert(1)">', '<svg onload=alert(1)><circle r=1></svg>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>', '<a href="javascript:alert(1)">click</a>',
    '<body onload=alert(1)>', '<details open ontoggle=alert(1)>x</details>',
    '<form action="https://evil.example/"><input name=p></form>', '<object data="x.swf"></object>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<div style="background:url(javascript:alert(1))" onmouseover="alert(1)">hover</div>',
    '<style>body{display:none}</style>', '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">m',
    '"><script>alert(1)</script>', '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
]
FORBIDDEN_TAGS = {"script", "iframe", "svg", "object", "embed", "form", "meta", "math", "style", "link", "base",
                  "frame", "frameset", "template", "noscript", "button", "textarea", "select"}


def _dangerous(fragment: str) -> list[str]:
    """What a browser would run or fetch in ``fragment``, parsed as HTML (escaped text does not count)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in FORBIDDEN_TAGS:
                found.append(f"<{tag}>")
            for k, v in attrs:
                v = (v or "").strip().lower()
                if k.startswith("on") or k in ("srcdoc", "formaction", "xlink:href", "action"):
                    found.append(f"{tag}@{k}")
                elif k in ("href", "src") and (v.startswith(("javascript:", "vbscript:", "data:text"))
                                               or (k == "src" and not v.startswith(("data:image/png", "data:image/jpeg")))):
                    found.append(f"{tag}@{k}={v[:40]}")
                elif k == "style" and ("url(" in v or "expression(" in v):
                    found.append(f"{tag}@style={v[:40]}")

    P().feed(fragment)
    return found


def _body(page: str) -> str:
    return page.split("<body", 1)[1]   # the head holds only the report's own and nbconvert's CSS


def test_report_sanitises_notebook_outputs(fake_run):
    """Payloads in every kind of output a notebook can hold (HTML, Markdown, plain text, a cell's Markdown)
    reach the page as inert text or not at all; figures, tables, links and headings stay."""
    nb_path = fake_run["artifacts"] / "00_datasets" / "00_datasets.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    joined = "\n".join(PAYLOADS)
    cell = nbformat.v4.new_code_cell("show()", execution_count=2)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": joined + "<table><tr><td>kept</td></tr></table>"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": joined + "\n\n[a link](https://example.org)"}),
        nbformat.v4.new_output("stream", name="stdout", text=joined),
        nbformat.v4.new_output("execute_result", data={"text/plain": "PosixPath('/x/artifacts/00_datasets/metrics.json')"},
                               execution_count=2),
    ]
    nb.cells += [nbformat.v4.new_markdown_cell("## Section\n" + joined), cell]
    nbformat.write(nb, str(nb_path))
    page = build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"]).read_text()
    body = _body(page)
    assert len(_dangerous(joined)) >= 12   # the check itself sees the payloads
    assert _dangerous(body) == []
    assert external_resources(page) == []
    assert "<td>kept</td>" in body and 'href="https://example.org"' in body and "data:image/png;base64," in body
    assert "&lt;img src=x" in body or "&lt;img src=" in body          # the plain-text stream shows it as text
    assert "PosixPath(" not in page                                      # a cell's echoed Path is not shown
    assert '<h3 id="Section"' in body or ">Section<" in body
    # one heading per chapter: the notebook's own "# Tiny chapter" title becomes it, its sections go one down
    sec = body.split('id="ch-00_datasets"')[1].split("<section")[0]
    assert sec.count("Tiny chapter") == 1 and 'class="chapter-title">Tiny chapter' in sec and "<h1" not in sec


def test_figure_alt_text_and_navigation(fake_run):
    nb_path = fake_run["artifacts"] / "02_text" / "02_text.ipynb"   # as save_figure displays it
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[1].outputs[0]["metadata"] = {"image/png": {"alt": "Figure: Confusion matrix (test set)"}}
    nbformat.write(nb, str(nb_path))
    page = build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"]).read_text()
    alts = re.findall(r'<img[^>]*alt="([^"]*)"', page)
    # the saved figure's name (00), the section heading (01: no figures/ folder), the figure's own titles (02)
    assert alts == ["Figure: label distribution", "Figure in “Tiny chapter”",
                    "Figure: Confusion matrix (test set)"], alts
    assert "No description has been provided" not in page
    nav = re.search(r'<nav class="toc"[^>]*>(.*?)</nav>', page, flags=re.S).group(1)
    assert all(f'href="#ch-{ch}"' in nav for ch in CHAPTERS) and 'href="#top"' in nav
    assert "position: sticky" in page and page.count("back to the top") >= 2
    # the scorecard opens with a per-chapter summary; each chapter's rows are folded under it
    assert page.index('class="sc summary"') < page.index('class="sc-chapter"')
    assert re.search(r'<details class="sc-chapter" id="sc-00_datasets"><summary>.*?6 rows', page)


def test_transcript_text_is_escaped_where_it_is_written(tmp_path):
    """User and model text in transcript.md renders as text, not markup (nbconvert's Markdown renderer)."""
    import mistune

    from emokit.chat.session import ChatSession

    s = ChatSession(analyze=None, transcribe=None, use_llm=False)
    for p in PAYLOADS[:4] + ["![x](https://evil.example/p.png) **b** `c` [l](javascript:alert(1))\n# heading\n1. item"]:
        s.turn(text=p)
    s.turns[0].reply = "<img src=x onerror=alert(2)> and ![y](https://evil.example/q.png)"
    md = s.export(tmp_path)["markdown"].read_text()
    rendered = mistune.html(md)
    user_html = rendered.split("Turn 1", 1)[1]
    assert _dangerous(user_html) == [] and "<img" not in user_html and "<a " not in user_html
    assert "&lt;img src=x onerror=" in rendered and "<h1>heading" not in rendered
    s._secrets = lambda: ["sk_live_SECRET_1"]   # a key with Markdown characters is redacted before escaping
    s.turns[1].reply = "echo: Bearer sk_live_SECRET_1"
    assert "SECRET" not in s.transcript_markdown()


def test_figure_alt_comes_from_the_figure_titles():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emokit.pipeline import figure_alt

    fig, axes = plt.subplots(1, 2)
    fig.suptitle("Recall per class")
    axes[0].set_title("face\nmodel")
    assert figure_alt(fig, "recall_per_class") == "Figure: Recall per class; face model"
    plt.close(fig)
    fig, _ = plt.subplots()
    assert figure_alt(fig, "label_distribution") == "Figure: label distribution"
    plt.close(fig)
