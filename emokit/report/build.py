"""Build the self-contained HTML report: scorecard first, then every executed chapter notebook.

    python -m emokit.report build [--artifacts DIR] [--out DIR] [--with-code]

Reads only what the pipeline wrote under the artifacts root (``<chapter>/<chapter>.ipynb``,
``metrics.json``, ``run.json``, ``figures/``) plus ``reference/scorecard/*.yaml`` and
``reference/reference_numbers.yaml``. Writes ``<out>/index.html`` (one file, viewable offline: no
script, font or stylesheet from the network, images embedded as base64), ``scorecard.csv``,
``scorecard.md`` and ``scorecard.json``. A chapter without artifacts shows as "not run"; a notebook
that cannot be rendered shows the reason; neither stops the build.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..config import REPO_ROOT, artifacts_root
from ..pipeline import CHAPTERS
from .sanitize import sanitize_html
from .scorecard import (ChapterRun, ScoreRow, fmt, fmt_diff, is_setting, load_chapter, load_rows, score, to_markdown,
                        unclaimed_reference_numbers, write_csv)

SCORECARD_DIR = REPO_ROOT / "reference" / "scorecard"
REFERENCE_NUMBERS = REPO_ROOT / "reference" / "reference_numbers.yaml"

TITLES = {
    "00_datasets": "Datasets and labels",
    "01_vision": "Vision: facial expression",
    "02_text": "Text: GoEmotions fine-tuning",
    "03_audio": "Audio: speech emotion CRNN",
    "04_late_fusion": "Late fusion: weight grid on the simplex",
    "05_hybrid_fusion": "Hybrid fusion: cross-attention and gating",
    "06_empathic_chat": "Empathic chat",
}

SHORT_TITLES = {"00_datasets": "Data", "01_vision": "Vision", "02_text": "Text", "03_audio": "Audio",
                "04_late_fusion": "Late fusion", "05_hybrid_fusion": "Hybrid fusion", "06_empathic_chat": "Chat"}

_STATUS_CLASS = {"reproduced": "ok", "measured": "measured", "not yet": "notyet", "not run": "notrun",
                 "failed": "failed"}

PAGE_CSS = """
body.emokit { margin: 0 auto; max-width: 1200px; padding: 0 24px 48px; font-family: system-ui, -apple-system,
  'Segoe UI', Roboto, 'Noto Sans', 'Helvetica Neue', Arial, 'Noto Sans CJK SC', 'PingFang SC',
  'Microsoft YaHei', sans-serif; color: #1f2328; }
.emokit h1 { margin-top: 24px; }
.emokit .meta { color: #57606a; font-size: 0.9em; }
.emokit table.sc { border-collapse: collapse; width: 100%; font-size: 0.88em; margin: 8px 0 16px; }
.emokit table.sc th, .emokit table.sc td { border: 1px solid #d0d7de; padding: 4px 6px; vertical-align: top;
  text-align: left; }
.emokit table.sc th { background: #f6f8fa; }
.emokit td.num { text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.emokit table.main { table-layout: fixed; }
.emokit .widget-note { color: #57606a; font-style: italic; }
.emokit tr.grp th { background: #eef2f6; text-align: left; }
.emokit table.sc td { overflow-wrap: anywhere; }
.emokit .st { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.85em; white-space: nowrap; }
.emokit .st-ok { background: #dafbe1; color: #116329; }
.emokit .st-measured { background: #ddf4ff; color: #0550ae; }
.emokit .st-notyet { background: #fff8c5; color: #7d4e00; }
.emokit .st-notrun { background: #eaeef2; color: #57606a; }
.emokit .st-failed { background: #ffebe9; color: #a40e26; }
.emokit .refcheck { color: #a40e26; font-size: 0.85em; }
.emokit section.chapter { border-top: 3px solid #d0d7de; margin-top: 36px; padding-top: 8px; }
.emokit .chapter-missing { background: #f6f8fa; padding: 12px; border-radius: 6px; }
.emokit details { margin: 6px 0; }
.emokit nav.toc { position: sticky; top: 0; z-index: 10; background: rgba(255,255,255,0.97);
  border-bottom: 1px solid #d0d7de; padding: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 14px;
  font-size: 0.92em; }
.emokit a { color: #0969da; }
.emokit nav.toc a { text-decoration: none; white-space: nowrap; }
.emokit :target, .emokit section.chapter, .emokit #scorecard, .emokit details.sc-chapter { scroll-margin-top: 44px; }
.emokit h2.chapter-title { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.emokit a.totop { font-size: 0.55em; font-weight: normal; text-decoration: none; white-space: nowrap; }
.emokit p.back { font-size: 0.9em; text-align: right; }
.emokit table.summary { width: auto; }
.emokit table.summary td.num { min-width: 5em; }
.emokit details.sc-chapter { border: 1px solid #d0d7de; border-radius: 6px; padding: 2px 8px; }
.emokit details.sc-chapter > summary { cursor: pointer; padding: 4px 0; }
.emokit .chapter-body { max-width: 100%; overflow-wrap: anywhere; }
.emokit .chapter-body img { max-width: 100%; height: auto; }
.emokit .chapter-body .jp-OutputArea-output { max-width: 100%; overflow-x: auto; }
.emokit .chapter-body pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.emokit .chapter-body table { display: block; max-width: 100%; overflow-x: auto; }
.emokit .jp-Notebook { padding: 0; }
"""


def _render_notebook(nb_path: Path, with_code: bool) -> tuple[str, str, str | None]:
    """(css, body_html, title) of one executed notebook: scripts removed, images inline with alt text from
    the figure, the notebook's own ``# title`` taken out (the chapter heading shows it) and its other
    headings one level down, raw object reprs dropped."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    _replace_widgets(nb)
    _drop_reprs(nb)
    _alt_text(nb, nb_path.parent / "figures")
    title = _take_title(nb)
    exporter = HTMLExporter(template_name="lab", exclude_input=not with_code, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(nb_path.parent),
                                                                      "name": nb_path.stem}})
    head = body.split("<body", 1)[0]
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", head, flags=re.S))
    m = re.search(r"<body[^>]*>(.*)</body>", body, flags=re.S)
    inner = m.group(1) if m else body
    return css, make_offline(inner), title


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _replace_widgets(nb) -> None:
    """Live widgets need a kernel: in the static report each becomes a short note saying so."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_MIME in data:
                out["data"] = {"text/html": '<div class="widget-note">[interactive widget: it needs a running '
                                            'kernel, so open the notebook in JupyterLab or Voila to use it]</div>'}


# a cell's last expression echoed as a Python object repr: PosixPath('/...'), <Foo object at 0x7f...>
_REPR = re.compile(r"^\s*(?:(?:Posix|Windows|PurePosix|PureWindows)?Path\((['\"]).*\1\)"
                   r"|<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>)\s*$", flags=re.S)


def _drop_reprs(nb) -> None:
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"] = [o for o in cell.get("outputs", []) if not (
            o.get("output_type") == "execute_result" and set(o.get("data", {})) == {"text/plain"}
            and _REPR.match(o["data"]["text/plain"]))]


def _figure_names(figures_dir: Path) -> dict[str, str]:
    """base64 of each saved figure -> its name, for images displayed without a title."""
    import base64

    names = {}
    for f in sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []:
        names[base64.b64encode(f.read_bytes()).decode()] = f.stem.replace("_", " ")
    return names


def _alt_text(nb, figures_dir: Path) -> None:
    """Every image output becomes an <img> whose alt says what it shows: the ``alt`` that
    :func:`emokit.pipeline.save_figure` stores (the figure's titles), else the saved figure's name, else the
    heading of the section it sits in."""
    names = None
    heading = ""
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            hs = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", cell.get("source", ""), flags=re.M)
            heading = hs[-1] if hs else heading
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            mime = next((m for m in ("image/png", "image/jpeg") if m in data), None)
            if mime is None or "text/html" in data:
                continue
            b64 = "".join(data[mime]) if isinstance(data[mime], list) else str(data[mime])
            b64 = re.sub(r"\s+", "", b64)
            alt = ((out.get("metadata") or {}).get(mime) or {}).get("alt")
            if not alt:
                if names is None:
                    names = _figure_names(figures_dir)
                alt = f"Figure: {names[b64]}" if b64 in names else (f"Figure in “{heading}”" if heading else "Figure")
            out["data"] = {"text/html": f'<img class="figure" src="data:{mime};base64,{b64}" '
                                        f'alt="{html.escape(str(alt))}">'}


_HEADING = re.compile(r"^(#{1,5})(?=\s)", flags=re.M)


def _take_title(nb) -> str | None:
    """Remove the notebook's first ``# title`` line (returned) and move every Markdown heading one level
    down, so a chapter has one heading (the report's) with its sections under it."""
    title = None
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        if title is None:
            m = re.match(r"\s*#\s+(.+?)\s*(?:\n|$)", src)
            if m:
                title = m.group(1)
                src = src[m.end():]
        parts = re.split(r"(^```.*?^```)", src, flags=re.M | re.S)   # leave fenced code alone
        cell["source"] = "".join(p if p.startswith("```") else _HEADING.sub(r"#\1", p) for p in parts)
    return title


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", flags=re.S | re.I)
_EXT_LINK = re.compile(r"<link\b[^>]*href=[\"']?(?:https?:)?//[^>]*>", flags=re.I)
_EXT_IMPORT = re.compile(r"@import\s+url\(\s*[\"']?(?:https?:)?//[^)]*\)\s*;?", flags=re.I)
_EXT_SRC = re.compile(r"""\s(src)=(["'])(?:https?:)?//[^"']*\2""", flags=re.I)
_EXT_VOID = re.compile(r"""<(?:img|source|embed)\b[^>]*\ssrc=(["'])((?:https?:)?//[^"']*)\1[^>]*>""", flags=re.I)


def make_offline(fragment: str) -> str:
    """Remove everything that would fetch from the network: scripts, external stylesheets/imports/src."""
    out = _SCRIPT.sub("", fragment)
    out = _EXT_LINK.sub("", out)
    out = _EXT_IMPORT.sub("", out)
    out = _EXT_VOID.sub(lambda m: f'<span class="removed">[remote content not embedded: {html.escape(m.group(2))}]</span>',
                        out)
    out = _EXT_SRC.sub(r' data-removed-\1=""', out)
    return out


def external_resources(page: str) -> list[str]:
    """URLs the page would load from the network (script/img/iframe src, stylesheet links, CSS url())."""
    found = re.findall(r"""<(?:script|img|iframe|audio|video|source|embed)\b[^>]*\ssrc=["']?((?:https?:)?//[^"'\s>]+)""",
                       page, flags=re.I)
    found += re.findall(r"""<link\b[^>]*href=["']?((?:https?:)?//[^"'\s>]+)""", page, flags=re.I)
    found += re.findall(r"""url\(\s*["']?((?:https?:)?//[^"')]+)""", page, flags=re.I)
    return found


def _status_badge(status: str) -> str:
    return f'<span class="st st-{_STATUS_CLASS.get(status, "notrun")}">{html.escape(status)}</span>'


def _scorecard_html(rows: list[ScoreRow], runs: dict[str, ChapterRun], unclaimed: list[tuple[str, Any]]) -> str:
    e = html.escape
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no rows yet"
    out = [f'<h2 id="scorecard">Reproduction scorecard</h2>',
           f'<p class="meta">{len(rows)} rows from <code>reference/scorecard/*.yaml</code>: {e(summary)}. '
           'The report column is the number published in <code>reference/report_zh.md</code> '
           '(<code>reference/reference_numbers.yaml</code>); this run\'s column comes only from '
           '<code>artifacts/&lt;chapter&gt;/metrics.json</code>. <em>reproduced</em> = within the row\'s '
           'stated tolerance; <em>measured</em> = a number from this run (no tolerance, or outside it).</p>']
    by_chapter: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_chapter.setdefault(r.chapter, []).append(r)
    order = [s for s in ("reproduced", "measured", "not yet", "not run", "failed")]
    out.append('<table class="sc summary"><thead><tr><th>chapter</th><th>rows</th>'
               + "".join(f"<th>{_status_badge(s)}</th>" for s in order) + "</tr></thead><tbody>")
    for ch in [c for c in CHAPTERS if c in by_chapter] + [c for c in by_chapter if c not in CHAPTERS]:
        n = {s: sum(r.status == s for r in by_chapter[ch]) for s in order}
        out.append(f'<tr><td><a href="#sc-{e(ch)}">{e(ch)}</a> — {e(TITLES.get(ch, ch))}</td>'
                   f'<td class="num">{len(by_chapter[ch])}</td>'
                   + "".join(f'<td class="num">{n[s] or ""}</td>' for s in order) + "</tr>")
    out.append("</tbody></table>")
    out.append('<p class="meta">Each chapter\'s rows are folded below: open one to compare the numbers.</p>')
    colgroup = ('<colgroup><col style="width:22%"><col style="width:12%"><col style="width:12%">'
                '<col style="width:8%"><col style="width:8%"><col style="width:6%"><col style="width:12%">'
                '<col style="width:20%"></colgroup>')
    for ch, ch_rows in by_chapter.items():
        n = {s: sum(r.status == s for r in ch_rows) for s in order}
        counts_txt = ", ".join(f"{v} {s}" for s, v in n.items() if v)
        out.append(f'<details class="sc-chapter" id="sc-{e(ch)}"><summary><b>{e(ch)}</b> — '
                   f'{e(TITLES.get(ch, ch))} · {len(ch_rows)} rows: {e(counts_txt)} · '
                   f'<a href="#ch-{e(ch)}">chapter</a></summary>'
                   f'<table class="sc main">{colgroup}<thead><tr><th>what</th><th>report</th><th>this run</th>'
                   '<th>difference</th><th>status</th><th>profile</th><th>data</th><th>note</th></tr></thead><tbody>')
        for r in ch_rows:
            diff = "" if r.difference is None else fmt_diff(r.difference) + (
                f" ({r.relative:+.1%})" if r.relative is not None else "")
            data = r.data or (r.data_root or "")
            check = f'<div class="refcheck">reference check: {e(r.reference_check)}</div>' if r.reference_check else ""
            key = f'<div class="meta"><code>{e(r.chapter)}</code> · <code>{e(r.metric)}</code></div>'
            out.append(
                f'<tr id="row-{e(r.id)}"><td>{e(r.what)}{key}</td><td class="num">{e(fmt(r.reference))}</td>'
                f'<td class="num">{e(r.display_value)}</td>'
                f'<td class="num">{e(diff)}</td><td>{_status_badge(r.status)}</td><td>{e(r.profile or "")}</td>'
                f'<td>{e(data)}</td><td>{"" if r.value is None and r.status == "not yet" else e(r.note)}{check}</td>'
                '</tr>')
        out.append("</tbody></table></details>")
    out.append('<h3 id="chapters-status">Chapters of this run</h3><table class="sc"><thead><tr><th>chapter</th>'
               '<th>state</th><th>profile</th><th>wall time (s)</th><th>data root</th><th>commit</th>'
               '<th>detail</th></tr></thead><tbody>')
    for ch in CHAPTERS:
        run = runs[ch]
        state = {"ok": "measured", "failed": "failed", "incomplete": "not yet"}.get(run.state, "not run")
        label = "ran" if run.state == "ok" else run.state
        out.append(f'<tr><td><a href="#ch-{ch}">{ch}</a></td><td><span class="st st-{_STATUS_CLASS[state]}">'
                   f'{e(label)}</span></td><td>{e(run.profile or "")}</td>'
                   f'<td class="num">{e(fmt(run.run.get("wall_time_s")))}</td>'
                   f'<td>{e(run.run.get("data_root") or "")}</td><td>{e(run.run.get("git_commit") or "")}</td>'
                   f'<td>{e(run.detail)}</td></tr>')
    out.append("</tbody></table>")
    results = [(k, v) for k, v in unclaimed if not is_setting(k)]
    settings = [(k, v) for k, v in unclaimed if is_setting(k)]
    for summary_text, items in (
            (f"Report results that no scorecard row claims yet ({len(results)}): not yet — no chapter "
             "measures them so far", results),
            (f"Report settings ({len(settings)}): inputs of the report's runs (learning rates, batch sizes, "
             "...), copied through params/ rather than measured", settings)):
        if not items:
            continue
        out.append(f'<details><summary>{e(summary_text)}</summary><table class="sc"><thead><tr>'
                   '<th>reference key</th><th>report</th></tr></thead><tbody>')
        out += [f'<tr><td><code>{e(k)}</code></td><td class="num">{e(fmt(v))}</td></tr>' for k, v in items]
        out.append("</tbody></table></details>")
    return "\n".join(out)


_BACK_LINKS = ('<p class="back"><a href="#top">↑ back to the top</a> · '
               '<a href="#scorecard">scorecard</a></p>')


def _chapter_html(ch: str, run: ChapterRun, body: str | None, error: str | None, title: str | None = None) -> str:
    e = html.escape
    heading = title or f"{ch[:2]} · {TITLES.get(ch, ch)}"
    parts = [f'<section class="chapter" id="ch-{ch}"><h2 class="chapter-title">{e(heading)}'
             f' <a class="totop" href="#top" title="back to the top">↑ top</a></h2>']
    if run.state == "not run":
        parts.append(f'<div class="chapter-missing"><strong>not run</strong>: {e(run.detail or "no artifacts")}. '
                     f'Run <code>dvc repro {ch}</code> (or <code>make report</code>).</div></section>')
        return "\n".join(parts)
    meta = [f"chapter {ch}", f"profile {run.profile}" if run.profile else "", f"{fmt(run.run.get('wall_time_s'))} s"
            if run.run.get("wall_time_s") is not None else "", f"data {run.run.get('data_root')}"
            if run.run.get("data_root") else "", run.detail]
    parts.append(f'<p class="meta">{e(" · ".join(m for m in meta if m))}</p>')
    if run.state == "failed":
        parts.append(f'<div class="chapter-missing"><strong>failed</strong>: {e(run.detail)}</div>')
    if run.metrics:
        rows = "".join(f'<tr><td><code>{e(k)}</code></td><td class="num">{e(fmt(v))}</td></tr>'
                       for k, v in run.metrics.items())
        parts.append(f'<details><summary>metrics.json ({len(run.metrics)} values)</summary><table class="sc">'
                     f'<tbody>{rows}</tbody></table></details>')
    figs = sorted((Path(run.notebook).parent / "figures").glob("*.png")) if run.notebook else []
    if figs:
        parts.append('<p class="meta">figure files: ' + ", ".join(f"<code>{e(f.name)}</code>" for f in figs) + "</p>")
    if error:
        parts.append(f'<div class="chapter-missing"><strong>notebook not rendered</strong>: {e(error)}</div>')
    elif body is not None:
        parts.append(f'<div class="chapter-body">{body}</div>')
    else:
        parts.append('<div class="chapter-missing">no executed notebook</div>')
    parts.append(_BACK_LINKS)
    parts.append("</section>")
    return "\n".join(parts)


def build_report(artifacts: Path | None = None, out: Path | None = None, scorecard_dir: Path | None = None,
                 reference_path: Path | None = None, with_code: bool = False) -> Path:
    """Write ``<out>/index.html`` and the scorecard files; returns the HTML path."""
    artifacts = Path(artifacts or artifacts_root()).resolve()
    out = Path(out or artifacts / "report")
    out.mkdir(parents=True, exist_ok=True)
    reference = yaml.safe_load(Path(reference_path or REFERENCE_NUMBERS).read_text(encoding="utf-8")) or {}
    rows = load_rows(Path(scorecard_dir or SCORECARD_DIR))
    runs = {ch: load_chapter(ch, artifacts) for ch in CHAPTERS}
    score(rows, runs, reference)
    unclaimed = unclaimed_reference_numbers(rows, reference)

    write_csv(rows, out / "scorecard.csv")
    (out / "scorecard.md").write_text(to_markdown(rows, runs, unclaimed), encoding="utf-8")
    (out / "scorecard.json").write_text(json.dumps(
        {"rows": [r.to_dict() for r in rows],
         "chapters": {ch: {"state": r.state, "run": r.run, "detail": r.detail} for ch, r in runs.items()},
         "unclaimed_reference_numbers": [{"key": k, "value": v} for k, v in unclaimed]},
        indent=2, ensure_ascii=False, default=str), encoding="utf-8")

    css, sections = "", []
    for ch in CHAPTERS:
        run = runs[ch]
        body = error = title = None
        if run.notebook is not None:
            try:
                nb_css, body, title = _render_notebook(run.notebook, with_code)
                css = css or nb_css
            except Exception as exc:  # one bad notebook must not stop the report
                error = f"{type(exc).__name__}: {exc}"
        sections.append(_chapter_html(ch, run, body, error, title))

    profiles = sorted({r.run.get("profile") for r in runs.values() if r.run.get("profile")})
    commits = sorted({r.run.get("git_commit") for r in runs.values() if r.run.get("git_commit")})
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<a href="#ch-{ch}" title="{html.escape(TITLES.get(ch, ch))}">{ch[:2]} '
                  f'{html.escape(SHORT_TITLES.get(ch, ch))}</a>' for ch in CHAPTERS)
    body = f"""<header id="top">
<h1>emokit — multimodal emotion recognition, reproduced</h1>
<p class="meta">Built {now} from <code>{html.escape(str(artifacts))}</code> · profile(s): {html.escape(", ".join(profiles) or "none")}
· commit(s): {html.escape(", ".join(commits) or "unknown")}. Reproduces <code>reference/report_zh.md</code>
chapter by chapter; every number below comes from this run's files.</p></header>
<nav class="toc" aria-label="contents"><a href="#top">↑ top</a><a href="#scorecard">scorecard</a>{toc}</nav>
<main>
{_scorecard_html(rows, runs, unclaimed)}
{"".join(sections)}
</main>"""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>emokit — reproduction report</title>
<style>{make_offline(css)}</style>
<style>{PAGE_CSS}</style>
</head><body class="emokit jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{sanitize_html(body)}
</body></html>
"""
    leaks = external_resources(page)
    if leaks:  # make_offline should have removed them all; refuse to write a page that is not offline
        raise RuntimeError(f"report would load from the network: {leaks[:5]}")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
