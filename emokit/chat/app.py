"""The live chat app in ipywidgets (report section 6), for JupyterLab and Voila.

Three columns:

- left sidebar: persona select, custom persona text (+ apply), who answers (LLM or the offline
  responder, said plainly), transcript export;
- centre perception panel: the live camera (:mod:`emokit.chat.camera_widget`: the face box and a
  smoothed label drawn in the browser on every video frame, a live chart of the browser's and the
  kernel's face probabilities), the workflow state (IDLE -> RECORDING -> PROCESSING),
  per-modality score bars updated each turn, and every intermediate result of the last turn;
- right chat window: bubbles with the emotion tag and confidence, a theme colour (glow) that
  follows the current emotion, a text box, and the hold-to-talk button.

The microphone comes through ipywebrtc (``CameraStream`` + ``AudioRecorder``: WebM/Opus, decoded by
PyAV). Camera frames come, by default (``camera="anywidget"``), from the camera widget, which keeps one
``getUserMedia`` <video> open, runs the browser fast path on it and pushes a downscaled JPEG every
1/fps s with at most one frame in flight (the kernel runs its vision backend on it for the fusion's face
modality and acks each with its result); the turn analyses the face the overlay showed
(:meth:`ChatApp.face_for_turn`). ``camera="ipywebrtc"`` uses ``CameraStream`` + ``ImageRecorder``
snapshots instead, which open a new <video> per frame (about 1 frame/s in headless Chromium here,
against 2.5 with the anywidget). The hold-to-talk button is an anywidget too (pointer down/up),
because ipywidgets' Button only knows clicks. The turn runs in a worker thread so the camera keeps updating meanwhile (the
report's fast and slow paths). Everything also works without a browser: :meth:`ChatApp.submit`
runs a turn synchronously (the notebook's scripted demo and the tests use it).
"""
from __future__ import annotations

import html
import io
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..labels import LABELS7
from . import prompts
from .session import ChatSession, Turn

log = logging.getLogger(__name__)


class PageLog(logging.Handler):
    """emokit's warnings while the app is the page (Voila): kept for the app's side panel. Without a handler
    on the ``emokit`` logger, Python prints them raw to stderr, which Voila puts above the app."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.on_change: Callable[[], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:   # a bad format string must not break the page
            msg = str(record.msg)
        if msg not in self.messages:
            self.messages.append(msg)
            if self.on_change is not None:
                self.on_change()


def install_page_log() -> PageLog:
    """Route the ``emokit`` logger's warnings into a :class:`PageLog` (once per process) and return it."""
    root = logging.getLogger("emokit")
    for h in root.handlers:
        if isinstance(h, PageLog):
            return h
    handler = PageLog()
    root.addHandler(handler)
    return handler

EMOTION_COLOURS = {"Happy": "#f4b400", "Sad": "#4a6fa5", "Angry": "#d93025", "Fear": "#8e44ad",
                   "Surprise": "#ff8c00", "Disgust": "#2e8b57", "Neutral": "#7f8c8d", None: "#9aa5b1"}
EMOJI = {"Happy": "😊", "Sad": "😢", "Angry": "😠", "Fear": "😨", "Surprise": "😲", "Disgust": "🤢",
         "Neutral": "😐", None: "❔"}
STATES = ("IDLE", "RECORDING", "PROCESSING")
CHAT_HEIGHT_PX = 560   # the chat window; with the camera, scores, steps and hold-to-talk it fits 1280x800
STATE_COLOURS = {"IDLE": "#2e7d32", "RECORDING": "#c62828", "PROCESSING": "#ef6c00"}

_HOLD_ESM = """
function render({ model, el }) {
  const btn = document.createElement("button");
  btn.className = "emokit-hold";
  btn.type = "button";
  btn.setAttribute("aria-label", "Hold to talk: press and hold, speak, release to send");
  btn.style.cssText = "width:100%;padding:10px;font-size:15px;border-radius:8px;border:none;display:flex;" +
    "align-items:center;justify-content:center;gap:8px;" +
    "background:#1565c0;color:white;cursor:pointer;user-select:none;touch-action:none";
  const MIC = '<svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor">' +
    '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08' +
    'A7 7 0 0 0 19 11h-2z"/></svg>';
  const label = document.createElement("span");
  btn.innerHTML = MIC; btn.appendChild(label);
  label.textContent = model.get("label");
  const down = (e) => { e.preventDefault(); if (!model.get("pressed")) { model.set("pressed", true); model.save_changes(); } };
  const up = (e) => { if (model.get("pressed")) { model.set("pressed", false); model.save_changes(); } };
  btn.addEventListener("pointerdown", down);
  btn.addEventListener("pointerup", up);
  btn.addEventListener("pointerleave", up);
  btn.addEventListener("pointercancel", up);
  // the keyboard: hold Space or Enter on the focused button
  btn.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) down(e); });
  btn.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") up(e); });
  const paint = () => {
    const p = model.get("pressed");
    btn.style.background = p ? "#c62828" : "#1565c0";
    label.textContent = p ? model.get("label_pressed") : model.get("label");
  };
  model.on("change:pressed", paint);
  let timer = null;
  const arm = () => {
    if (timer) clearInterval(timer);
    const fps = model.get("fps");
    if (fps > 0) timer = setInterval(() => { model.set("tick", model.get("tick") + 1); model.save_changes(); }, 1000 / fps);
  };
  model.on("change:fps", arm);
  arm();
  el.appendChild(btn);
  return () => { if (timer) clearInterval(timer); };
}
export default { render };
"""


def _hold_widget_class():
    import anywidget
    import traitlets

    class HoldToTalk(anywidget.AnyWidget):
        """A press-and-hold button (``pressed``) plus a frame ticker (``tick`` every 1/``fps`` s)."""

        _esm = _HOLD_ESM
        pressed = traitlets.Bool(False).tag(sync=True)
        tick = traitlets.Int(0).tag(sync=True)
        fps = traitlets.Float(4.0).tag(sync=True)
        label = traitlets.Unicode("Hold to talk").tag(sync=True)
        label_pressed = traitlets.Unicode("Recording... release to send").tag(sync=True)

    return HoldToTalk


_CHAT_ESM = """
// The chat window: ``value`` is the HTML of render_chat(). Repainting keeps the reader's place: a new
// bubble (or a reader already at the bottom) scrolls to the end; a reader who scrolled up to read stays
// there while a reply streams in. The glow plays once when the emotion changes, then stays still.
function render({ model, el }) {
  const paint = () => {
    const old = el.querySelector(".emokit-chat");
    const count = (box) => box ? box.querySelectorAll(".emokit-bubble:not(.emokit-pending)").length : 0;
    const atBottom = !old || old.scrollHeight - old.scrollTop - old.clientHeight < 40;
    const before = count(old), top = old ? old.scrollTop : 0, emotion = old ? old.dataset.emotion : null;
    el.innerHTML = model.get("value");
    const box = el.querySelector(".emokit-chat");
    if (!box) return;
    if (emotion !== null && emotion === box.dataset.emotion) box.classList.add("emokit-still");
    box.scrollTop = (atBottom || count(box) > before) ? box.scrollHeight : top;
  };
  model.on("change:value", paint);
  paint();
}
export default { render };
"""

_COMPOSER_ESM = """
// The text box: Enter (or the Send button) sends; leaving the box does not. ``value`` follows the typing
// (a hold-to-talk turn sends the draft with the recording). An IME composition's Enter does not send.
function render({ model, el }) {
  const row = document.createElement("div");
  row.style.cssText = "display:flex;gap:6px;width:100%";
  const input = document.createElement("input");
  input.type = "text"; input.className = "emokit-input";
  input.placeholder = model.get("placeholder");
  input.setAttribute("aria-label", "Message");
  input.style.cssText = "flex:1;min-width:0;padding:7px 8px;font-size:14px;border:1px solid #bbb;border-radius:6px";
  const send = document.createElement("button");
  send.type = "button"; send.className = "emokit-send"; send.textContent = "Send";
  send.style.cssText = "padding:7px 14px;font-size:14px;border:none;border-radius:6px;background:#1565c0;" +
    "color:white;cursor:pointer";
  const submit = () => {
    const text = input.value;
    if (!text.trim() || model.get("disabled")) return;
    model.send({ type: "submit", text });
    input.value = ""; model.set("value", ""); model.save_changes();
  };
  input.addEventListener("input", () => { model.set("value", input.value); model.save_changes(); });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.isComposing && !e.shiftKey) { e.preventDefault(); submit(); } });
  send.addEventListener("click", submit);
  const sync = () => {
    if (input.value !== model.get("value")) input.value = model.get("value");
    send.disabled = model.get("disabled"); send.style.opacity = model.get("disabled") ? "0.5" : "1";
  };
  model.on("change:value", sync); model.on("change:disabled", sync); sync();
  row.appendChild(input); row.appendChild(send); el.appendChild(row);
}
export default { render };
"""

_DOWNLOAD_ESM = """
// A button that asks the kernel for a file and hands it to the browser as a download (no server path).
function render({ model, el }) {
  const btn = document.createElement("button");
  btn.type = "button"; btn.className = "emokit-download";
  btn.innerHTML = '<svg width="14" height="14" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor">' +
    '<path d="M5 20h14v-2H5v2zm7-18v10.17l-3.59-3.58L7 10l5 5 5-5-1.41-1.41L13 12.17V2h-2z"/></svg> ';
  btn.appendChild(document.createTextNode(model.get("label")));
  btn.style.cssText = "width:100%;padding:6px;font-size:13px;border:1px solid #bbb;border-radius:6px;" +
    "background:#f6f8fa;cursor:pointer;display:flex;align-items:center;justify-content:center;gap:6px";
  btn.addEventListener("click", () => model.send({ type: "request" }));
  model.on("msg:custom", (msg) => {
    if (!msg || msg.type !== "file") return;
    const url = URL.createObjectURL(new Blob([msg.text], { type: msg.mime }));
    const a = document.createElement("a");
    a.href = url; a.download = msg.name; document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  el.appendChild(btn);
}
export default { render };
"""


def _chat_widget_class():
    import anywidget
    import traitlets

    class ChatView(anywidget.AnyWidget):
        """The chat window (``value``: render_chat's HTML), scrolled to new messages in the browser."""

        _esm = _CHAT_ESM
        value = traitlets.Unicode("").tag(sync=True)

    return ChatView


def _composer_widget_class():
    import anywidget
    import traitlets

    class Composer(anywidget.AnyWidget):
        """Text box + Send: a ``submit`` message on Enter or click (not on blur); ``value`` is the draft."""

        _esm = _COMPOSER_ESM
        value = traitlets.Unicode("").tag(sync=True)
        placeholder = traitlets.Unicode("Type a message and press Enter").tag(sync=True)
        disabled = traitlets.Bool(False).tag(sync=True)

    return Composer


def _download_widget_class():
    import anywidget
    import traitlets

    class DownloadButton(anywidget.AnyWidget):
        """A click asks the kernel (``request``); :meth:`deliver` sends the file to the browser's downloads."""

        _esm = _DOWNLOAD_ESM
        label = traitlets.Unicode("Download transcript").tag(sync=True)

        def deliver(self, name: str, text: str, mime: str = "text/markdown") -> None:
            self.send({"type": "file", "name": name, "text": text, "mime": mime})

    return DownloadButton


# --- HTML rendering (pure functions: tested without a browser) ------------------------------------

def md_to_html(text: str) -> str:
    """The little Markdown the replies use: **bold**, links, line breaks (everything else escaped)."""
    s = html.escape(text or "")
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"(https?://[^\s<)）]+)", r'<a href="\1" target="_blank">\1</a>', s)
    return s.replace("\n", "<br>")


def emotion_tag(label: str | None, conf: float | None) -> str:
    colour = EMOTION_COLOURS.get(label, EMOTION_COLOURS[None])
    text = f"{EMOJI.get(label, '❔')} {label or 'unknown'}" + (f" {conf:.0%}" if conf is not None else "")
    return (f'<span class="emokit-tag" style="background-color:{colour};color:white;border-radius:10px;'
            f'padding:1px 8px;font-size:11px">{html.escape(text)}</span>')


def render_chat(entries: list[dict[str, Any]], emotion: str | None, pending: str | None = None,
                height: int | None = CHAT_HEIGHT_PX) -> str:
    """The chat window's HTML: bubbles, the emotion glow; ``height=None`` grows to fit (a static picture)."""
    colour = EMOTION_COLOURS.get(emotion, EMOTION_COLOURS[None])
    rows = []
    for e in entries:
        if e["role"] == "user":
            rows.append(
                '<div style="display:flex;justify-content:flex-end;margin:6px 0">'
                '<div class="emokit-bubble emokit-user" style="max-width:80%;background-color:#e3f2fd;border-radius:12px 12px 2px 12px;'
                f'padding:8px 10px">{md_to_html(e["text"]) or "<i>(nothing said)</i>"}'
                f'<div style="margin-top:4px;text-align:right">{emotion_tag(e.get("emotion"), e.get("confidence"))}</div>'
                '</div></div>')
        else:
            border = "2px solid #c62828" if e.get("safety") else "1px solid #ddd"
            src = html.escape(e.get("source", ""))
            rows.append(
                '<div style="display:flex;justify-content:flex-start;margin:6px 0">'
                f'<div class="emokit-bubble emokit-assistant" style="max-width:85%;background-color:white;border:{border};'
                f'border-radius:12px 12px 12px 2px;padding:8px 10px">{md_to_html(e["text"])}'
                f'<div style="margin-top:4px;font-size:10px;color:#888">{src}</div></div></div>')
    if pending is not None:
        rows.append('<div class="emokit-bubble emokit-pending" style="margin:6px 0;color:#555">'
                    f'{md_to_html(pending) or "…"}<span style="opacity:.6"> ▍</span></div>')
    if not rows:
        rows.append('<div class="emokit-empty" style="color:#777;margin:8px">No messages yet.</div>')
    # the glow: a still shadow in the emotion's colour; it breathes twice when the emotion changes (the
    # browser view marks an unchanged repaint .emokit-still), so an idle window costs no repaints
    return (
        "<style>@keyframes emokit-breathe{0%{box-shadow:0 0 4px var(--emo)}50%{box-shadow:0 0 22px var(--emo)}"
        "100%{box-shadow:0 0 8px var(--emo)}}.emokit-chat.emokit-still{animation:none!important}</style>"
        f'<div class="emokit-chat" data-emotion="{html.escape(emotion or "none")}" '
        f'style="--emo:{colour};border:2px solid {colour};border-radius:14px;padding:8px;'
        + (f"height:{height}px;overflow-y:auto;" if height else "") +
        'box-sizing:border-box;box-shadow:0 0 8px var(--emo);'
        'animation:emokit-breathe 3s ease-in-out 2;background-color:#fafafa">'
        + "".join(rows) + "</div>")


def render_scores(perception: dict[str, Any] | None) -> str:
    """Per-modality (face, audio, text) and fused score bars; before the first turn, what to do."""
    if not perception:
        return ('<div class="emokit-scores-empty" style="font-size:12px;line-height:1.35;color:#666;padding:6px;background-color:#f6f8fa;'
                'border-radius:6px">No turn yet. Type a message and press Enter, or hold the button and speak: '
                'the face, voice and text scores of that turn appear here.</div>')
    p = perception
    mods = p.get("modalities") or {}
    series = [(name, (mods.get(name) or {}).get("probabilities"), (mods.get(name) or {}).get("status", "missing"))
              for name in prompts.MODALITIES]
    series.append(("fused", p.get("fused"), "ok" if p.get("fused") else "missing"))
    td = "padding:0 3px;font-size:10px;line-height:12px;white-space:nowrap"
    head = "".join(f'<th class="emokit-scores" data-modality="{name}" style="{td};text-align:left">{name}</th>'
                   for name, _, _ in series)
    rows = []
    for k in LABELS7:
        cells = []
        for _, probs, _ in series:
            if not probs:
                cells.append(f'<td style="{td}"></td>')
                continue
            v = float(probs.get(k, 0.0))
            cells.append(f'<td style="{td}"><span style="display:inline-block;height:8px;width:{max(1, int(v * 36))}px;'
                         f'background-color:{EMOTION_COLOURS[k]}"></span> {v:.2f}</td>')
        rows.append(f'<tr><td style="{td}">{k}</td>{"".join(cells)}</tr>')
    why = [f"{name}: {'not in this turn' if status == 'missing' else str(status).replace('_', ' ')}"
           for name, probs, status in series if not probs]
    note = f'<div style="font-size:10px;color:#888">{html.escape("; ".join(why))}</div>' if why else ""
    return (f'<table class="emokit-score-table" style="border-collapse:collapse;margin:0"><thead><tr><th></th>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}')


def render_steps(steps: list[tuple[str, str]]) -> str:
    if not steps:
        return ('<div class="emokit-steps emokit-steps-empty" style="font-size:11px;line-height:1.35;color:#666">Each turn is '
                'shown here step by step: speech-to-text, face, voice, text, fusion, the prompt line, safety, '
                'the reply.</div>')
    items = "".join(f'<li style="margin:0;line-height:1.3"><b>{html.escape(k)}</b>: {html.escape(v)}</li>'
                    for k, v in steps)
    return (f'<ol class="emokit-steps" style="font-size:11px;line-height:1.3;margin:2px 0 2px 18px;padding:0;'
            f'max-height:170px;overflow-y:auto;overflow-wrap:anywhere">{items}</ol>')


def render_state(state: str, detail: str = "") -> str:
    c = STATE_COLOURS.get(state, "#555")
    spin = ('<span style="display:inline-block;animation:emokit-spin 1s linear infinite">⟳</span> '
            if state == "PROCESSING" else "")
    return ("<style>@keyframes emokit-spin{from{transform:rotate(0)}to{transform:rotate(360deg)}}</style>"
            f'<div class="emokit-state" data-state="{state}" style="display:inline-block;padding:3px 10px;'
            f'border-radius:10px;background-color:{c};color:white;font-weight:bold">{spin}{state}</div>'
            f'<span style="margin-left:8px;font-size:11px;color:#555">{html.escape(detail)}</span>')


def draw_box(rgb, box, label: str | None, conf: float | None, fmt: str = "jpeg") -> bytes:
    """Encode an RGB frame with the face box and label drawn (PIL)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    if box is not None:
        x, y, w, h = (int(v) for v in box)
        colour = EMOTION_COLOURS.get(label, "#00e676")
        d = ImageDraw.Draw(img)
        d.rectangle([x, y, x + w, y + h], outline=colour, width=3)
        text = f"{label or '?'} {conf:.0%}" if conf is not None else (label or "face")
        d.rectangle([x, max(0, y - 16), x + 8 * len(text) + 6, max(16, y)], fill=colour)
        d.text((x + 3, max(0, y - 15)), text, fill="white")
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if fmt == "jpeg" else "PNG", quality=85)
    return buf.getvalue()


def steps_of_turn(t: Turn) -> list[tuple[str, str]]:
    p = t.perception
    mods = p.get("modalities") or {}

    def one(name):
        m = mods.get(name) or {}
        if m.get("status") == "ok":
            return f"{m.get('label')} {m.get('confidence') or 0:.2f}"
        return f"absent ({m.get('status')}{': ' + m['detail'] if m.get('detail') else ''})"
    fused = f"{p.get('top')} {p.get('confidence'):.2f}" if p.get("top") and p.get("confidence") is not None else "none"
    return [
        ("speech-to-text", t.transcript or ("(no recording)" if not t.inputs.get("audio") else "(no speech)")),
        ("user text", t.user_text or "(empty)"),
        ("face", one("face")), ("audio", one("audio")), ("text model", one("text")),
        ("fusion", fused), ("prompt payload", prompts.perception_payload(p)),
        ("safety", "TRIGGERED: crisis resources added" if t.safety_triggered else
         ("CHECK-IN: gentle check-in, resources offered" if t.safety_level == "check_in" else "ok")
         + (f" (risk model {t.risk['score']:.2f})" if t.risk.get("score") is not None else " (keyword screen only)")),
        ("reply", f"{t.source}{' (interrupted)' if t.interrupted else ''}, {t.timings.get('total_s', 0):.2f} s"),
        *([("notes", "; ".join(t.notes))] if t.notes else []),
    ]


class ChatApp:
    """The widgets app. ``session`` (a :class:`ChatSession`) does the work; ``live`` is a callable
    ``rgb -> Prediction-like`` for camera frames (default: ``emokit.vision.LiveAnalyzer().process``,
    loaded on the first frame)."""

    def __init__(self, session: ChatSession | None = None, live: Callable[[Any], Any] | None = None,
                 fps: float = 4.0, media: bool = True, workdir: str | Path | None = None,
                 camera: str = "anywidget", frame_width: int = 320, export_dir: str | Path | None = None,
                 fast_path: dict[str, Any] | None = None, page_log: PageLog | None = None):
        import ipywidgets as W

        self.session = session or ChatSession()
        self._live = live
        self.fps = float(fps)
        if camera not in ("anywidget", "ipywebrtc"):
            raise ValueError(f"camera must be 'anywidget' or 'ipywebrtc', got {camera!r}")
        self.camera_kind = camera
        self.frame_width = int(frame_width)
        self.fast_path = dict(fast_path or {})   # the browser fast path's settings (params app.fast_path)
        self.last_browser: dict[str, Any] = {}   # what the browser overlay showed with the last frame
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="emokit-chat-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.export_dir = Path(export_dir).expanduser() if export_dir else self.workdir / "exports"   # server copies
        self.entries: list[dict[str, Any]] = []
        self.emotion: str | None = None
        self.state = "IDLE"
        self.last_frame = None          # latest RGB camera frame (numpy)
        self.last_live: dict[str, Any] = {}
        self.frames_processed = 0
        self.frame_times: list[float] = []
        self._lock = threading.Lock()
        self._frame_busy = False
        self._worker: threading.Thread | None = None
        self._pending_audio = threading.Event()
        self._audio_path: str | None = None
        self.page_log = page_log    # warnings shown in the side panel (under Voila), not above the app

        self.root = W.HBox([self._build_sidebar(W), self._build_centre(W, media), self._build_chat(W)],
                           layout=W.Layout(align_items="flex-start", width="100%", max_width="1260px"))
        self.root.add_class("emokit-app")
        self._refresh_responder()
        if self.page_log is not None:
            self.page_log.on_change = self._refresh_responder
        # opening greeting in the current persona's voice
        greeting = self.session.set_persona(self.session.persona, self.session.custom_persona) or ""
        self._add_assistant(greeting, self.session.greetings[-1]["source"])

    # -- layout: three columns, each built in one place -------------------------------------------
    def _build_sidebar(self, W):
        """Persona, who answers, transcript download (and the optional server copy), how to use it."""
        options = [(prompts.PERSONAS[k].title, k) for k in prompts.PERSONAS] + [("User-defined", prompts.USER_DEFINED)]
        self.persona = W.Dropdown(options=options, value=self.session.persona, layout=W.Layout(width="auto"))
        self.custom = W.Textarea(placeholder="Describe your own persona, e.g. 'a calm old sea captain who loves puns'",
                                 layout=W.Layout(width="auto", height="64px"))
        self.apply_custom = W.Button(description="Use this persona", layout=W.Layout(width="auto"))
        self.persona_msg = W.HTML()
        self.responder = W.HTML()
        self.export_btn = _download_widget_class()()
        self.export_btn.on_msg(self._on_download_request)
        self.export_server = W.Checkbox(value=False, indent=False, layout=W.Layout(width="auto"),
                                        description="also save a copy on the server")
        self.export_out = W.HTML()
        self.persona.observe(self._on_persona, names="value")
        self.apply_custom.on_click(lambda _: self._switch(prompts.USER_DEFINED))
        self.help = W.HTML(
            "<details class='emokit-help' style='font-size:11px;color:#444'><summary>How to use it</summary>"
            "<ol style='margin:4px 0 0 16px;padding:0'><li>Allow the camera and microphone when the browser "
            "asks.</li><li>Type a message and press Enter, or hold the blue button (or Space on it), speak, "
            "and let go.</li><li>The centre shows what the face, voice and words said, step by step.</li>"
            "</ol></details>")
        return W.VBox([W.HTML("<div style='font-size:17px;font-weight:600;margin:2px 0 4px'>emokit chat</div>"),
                       self.responder, W.HTML("<b style='font-size:12px'>Persona</b>"), self.persona, self.custom,
                       self.apply_custom, self.persona_msg, W.HTML("<b style='font-size:12px'>Transcript</b>"),
                       self.export_btn, self.export_server, self.export_out, self.help],
                      layout=W.Layout(width="240px", min_width="240px", padding="6px", border="1px solid #eee"))

    def _build_centre(self, W, media: bool):
        """State, the camera (see :meth:`_build_media`), the last turn's scores and steps."""
        self.live_img = W.Image(format="jpeg", layout=W.Layout(width="320px", height="240px",
                                                                border="1px solid #ccc", display="none"))
        self.live_empty = W.HTML(
            "<div class='emokit-cam-empty' style='width:320px;height:240px;box-sizing:border-box;border:1px dashed "
            "#bbb;border-radius:6px;display:flex;align-items:center;justify-content:center;text-align:center;"
            "padding:20px;color:#666;font-size:13px;background-color:#f6f8fa'>" + (
                "Camera starting. Allow the camera when the browser asks: your face, with a box and the emotion "
                "it shows, appears here." if media else "No camera in this view (the app was built without "
                "media). Typed messages still work.") + "</div>")
        self.live_info = W.HTML("<span style='font-size:11px;color:#777'>camera: waiting for frames</span>")
        self.state_html = W.HTML(render_state("IDLE"))
        self.scores = W.HTML(render_scores(None))
        self.steps = W.HTML(render_steps([]))
        self.camera = self.mic = self.frame_rec = self.audio_rec = self.hold = self.cam = None
        media_widgets: list[Any] = []
        if media:
            self._build_media(W)
            media_widgets = [w for w in (self.frame_rec, self.audio_rec) if w is not None]
        return W.VBox([self.state_html, *([self.cam] if self.cam is not None else [self.live_empty, self.live_img]),
                       self.live_info,
                       W.HTML("<b style='font-size:12px'>Last turn: scores</b>"), self.scores,
                       W.HTML("<b style='font-size:12px'>Last turn, step by step</b>"), self.steps,
                       W.Box(media_widgets, layout=W.Layout(display="none"))],
                      layout=W.Layout(width="360px", min_width="340px", padding="6px"))

    def _build_chat(self, W):
        """The chat window, the text box (Enter sends) and the hold-to-talk button."""
        self.chat = _chat_widget_class()(value=render_chat([], None))
        self.text = _composer_widget_class()()
        self.text.on_msg(self._on_composer_msg)
        children = [self.chat, self.text]
        if self.hold is not None:
            children.append(self.hold)
        return W.VBox(children, layout=W.Layout(flex="1 1 auto", min_width="420px", max_width="640px",
                                                padding="6px", grid_gap="6px"))

    def snapshot_html(self) -> str:
        """A static picture of the app as it stands (the report shows it: live widgets need a kernel): the
        last camera frame with its box, the state, the last turn's scores and steps, the whole chat."""
        import base64

        if not self.live_img.value and self.last_frame is not None:   # the camera widget drew the live view
            lv = self.last_live
            self.live_img.value = draw_box(self.last_frame, lv.get("box"), lv.get("label"), lv.get("confidence"))
        if self.live_img.value:
            b64 = base64.b64encode(bytes(self.live_img.value)).decode()
            label = self.last_live.get("label") or "no face found"
            cam = (f'<img src="data:image/jpeg;base64,{b64}" style="width:320px;border:1px solid #ccc" '
                   f'alt="The last camera frame, with the face box and the live label ({html.escape(str(label))})">')
        else:
            cam = self.live_empty.value
        return ('<div class="emokit-snapshot" style="display:flex;gap:12px;align-items:flex-start;max-width:100%;'
                'overflow-x:auto;font-size:13px">'
                f'<div style="width:340px;min-width:340px">{self.state_html.value}<div>{cam}</div>'
                f'<b style="font-size:12px">Last turn: scores</b>{self.scores.value}'
                f'<b style="font-size:12px">Last turn, step by step</b>{self.steps.value}</div>'
                f'<div style="flex:1;min-width:320px">{render_chat(self.entries, self.emotion, height=None)}</div></div>')

    def warm_up(self) -> threading.Thread:
        """Load the live vision backend and the speech-to-text model in the background, so the first
        frame and the first spoken turn do not wait for them (failures only leave a log line)."""
        def work():
            # the local model first: llama.cpp loads and processes every persona's prefix into its
            # own slot in its own process while the vision and speech models load here
            prewarm = self.session.prewarm_personas() if self.session.voice == "local" else None
            try:
                self.session.risk.warm_up()   # the risk model's sentence encoder, before the first message
            except Exception as exc:  # noqa: BLE001
                log.warning("warm-up: risk model: %s", exc)
            try:
                if self._live is None:
                    from ..vision import LiveAnalyzer

                    self._live = LiveAnalyzer().process
            except Exception as exc:  # noqa: BLE001
                log.warning("warm-up: live vision unavailable: %s", exc)
            try:
                if self.session.transcribe is not None:
                    import numpy as np

                    self.session.transcribe(np.zeros(8000, dtype=np.float32))
            except Exception as exc:  # noqa: BLE001
                log.warning("warm-up: speech-to-text unavailable: %s", exc)
            if prewarm is not None:
                prewarm.join()
                self._refresh_responder()

        t = threading.Thread(target=work, name="emokit-chat-warmup", daemon=True)
        t.start()
        return t

    # -- media (ipywebrtc + anywidget) ------------------------------------------------------------
    def _build_media(self, W) -> None:
        from ipywebrtc import AudioRecorder, CameraStream, ImageRecorder

        self.mic = CameraStream(constraints={"audio": True, "video": False})
        self.audio_rec = AudioRecorder(stream=self.mic, format="webm")
        self.audio_rec.audio.observe(self._on_audio, names="value")
        if self.camera_kind == "ipywebrtc":   # ImageRecorder snapshots, requested by the ticker
            self.camera = CameraStream(constraints={"audio": False, "video": {"width": 640, "height": 480}})
            self.frame_rec = ImageRecorder(stream=self.camera, format="jpeg")
            self.frame_rec.image.observe(self._on_frame, names="value")
            tick_fps = self.fps
        else:                                 # frames pushed from one persistent <video>
            from .camera_widget import camera_widget_class, fast_options

            fp = self.fast_path
            smooth = {k: float(fp[k]) for k in ("smooth_tau_s", "label_margin", "min_confidence", "chart_hz",
                                                 "kernel_still_s", "slow_ups") if k in fp}
            self.cam = camera_widget_class()(on_frame=self._on_cam_frame, fps=self.fps, width=self.frame_width,
                                             fast_path=bool(fp.get("enabled", True)),
                                             tf_backend=str(fp.get("tf_backend") or ""),
                                             fast_options=fast_options(fp), **smooth)
            tick_fps = 0.0
        self.hold = _hold_widget_class()(fps=tick_fps)
        self.hold.observe(self._on_tick, names="tick")
        self.hold.observe(self._on_press, names="pressed")

    def _on_tick(self, change) -> None:
        if self.frame_rec is not None and not self.frame_rec.recording and not self._frame_busy:
            self.frame_rec.recording = True      # one snapshot; the frontend resets it to False

    def _on_cam_frame(self, jpeg: bytes, meta: dict[str, Any]) -> dict[str, Any]:
        """A frame pushed by the camera widget, with what the browser overlay showed for it: run the
        kernel's vision backend on it (the fusion's face modality) and answer with its result."""
        try:
            rgb = _decode_image(jpeg)
            self.last_browser = dict(meta or {})
            live = self.process_frame(rgb, draw=False)
        except Exception as exc:  # noqa: BLE001 - the live view must keep going
            self.live_info.value = f"<span style='color:#c62828;font-size:11px'>camera frame failed: {html.escape(str(exc))}</span>"
            return {"error": str(exc), "kfps": self.kernel_fps()}
        return {"box": live["box"], "probs": live.get("probs"), "label": live["label"], "conf": live["confidence"],
                "kfps": self.kernel_fps()}

    def kernel_fps(self) -> float:
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def _on_frame(self, change) -> None:
        data = change["new"]
        if not data:
            return
        self._frame_busy = True
        try:
            self.process_frame(_decode_image(bytes(data)))
        except Exception as exc:  # noqa: BLE001 - the live view must keep going
            self.live_info.value = f"<span style='color:#c62828;font-size:11px'>camera frame failed: {html.escape(str(exc))}</span>"
        finally:
            # identical frames (a still scene, a fake camera) would not fire the next change event
            self.frame_rec.image.value = b""
            self._frame_busy = False

    def process_frame(self, rgb, draw: bool = True) -> dict[str, Any]:
        """Run the live vision backend on one RGB frame; ``draw``: show the annotated frame in ``live_img``
        (the camera widget draws its own overlay, so it passes ``draw=False``)."""
        t0 = time.perf_counter()
        if self._live is None:
            from ..vision import LiveAnalyzer

            self._live = LiveAnalyzer().process
        pred = self._live(rgb)
        d = pred.to_dict() if hasattr(pred, "to_dict") else dict(pred)
        label = d.get("label") if d.get("status", "ok") == "ok" else None
        conf = d.get("confidence") if label else None
        box = d.get("box")
        self.last_frame = rgb
        probs = d.get("probabilities") if label else None
        self.last_live = {"label": label, "confidence": conf, "box": box, "status": d.get("status", "ok"),
                          "probs": [float(probs[c]) for c in LABELS7] if isinstance(probs, dict) else None}
        self.live_img.value = draw_box(rgb, box, label, conf) if draw else b""
        if self.live_img.layout.display == "none":   # the first frame replaces the empty state
            self.live_img.layout.display = None
            self.live_empty.layout.display = "none"
        now = time.perf_counter()
        self.frame_times = [t for t in self.frame_times if now - t < 5.0] + [now]
        self.frames_processed += 1
        fps = self.kernel_fps()
        shown = f"{label} {conf:.0%}" if label else d.get("status", "no face")
        self.live_info.value = (f"<span class='emokit-live' data-label='{html.escape(str(label))}' "
                                f"data-box='{html.escape(str(box))}' style='font-size:11px;color:#555'>"
                                f"camera: {html.escape(str(shown))} | {fps:.1f} fps | "
                                f"{(now - t0) * 1000:.0f} ms/frame</span>")
        return self.last_live

    def _on_press(self, change) -> None:
        if change["new"]:
            if self.state != "IDLE":
                return
            self._pending_audio.clear()
            self._set_state("RECORDING", "release to send")
            self.audio_rec.recording = True
        else:
            if self.state != "RECORDING":
                return
            self._set_state("PROCESSING", "waiting for the recording")
            self.audio_rec.recording = False
            threading.Thread(target=self._await_audio_then_turn, daemon=True).start()

    def _on_audio(self, change) -> None:
        data = change["new"]
        if data:
            path = self.workdir / f"turn{len(self.session.turns) + 1:03d}.webm"
            path.write_bytes(bytes(data))
            self._audio_path = str(path)
            self._pending_audio.set()

    def _await_audio_then_turn(self) -> None:
        got = self._pending_audio.wait(timeout=10.0)
        audio = self._audio_path if got else None
        typed = self.text.value
        self.text.value = ""
        face, face_note = self.face_for_turn()
        self.submit(text=typed, audio=audio, face=face,
                    note=face_note if got else f"no recording arrived within 10 s; {face_note}")

    # -- the turn ---------------------------------------------------------------------------------
    def _face_snapshot(self) -> str | None:
        return self.face_for_turn()[0]

    def face_for_turn(self, margin: float = 0.1, max_side: int = 96) -> tuple[str | None, str]:
        """The face the turn analyses: the last camera frame cropped to the box the overlay showed with it
        (the browser's, else the kernel's), scaled to at most ``max_side`` px so that the vision backend
        takes the crop whole when its own detector misses it. Returns (image path or None, a note saying
        which face was used, or why none)."""
        if self.last_frame is None:
            return None, "face: no camera frame has reached the kernel"
        from PIL import Image

        rgb = self.last_frame
        b = self.last_browser or {}
        if b.get("mode") == "browser" and b.get("box"):
            box, who = b["box"], "the box the overlay showed (browser fast path"
            who += f", {b['label']} {float(b['conf']):.0%})" if b.get("label") and b.get("conf") is not None else ")"
        elif self.last_live.get("box"):
            box, who = self.last_live["box"], "the kernel's box (the browser fast path is not running)"
        else:
            box, who = None, None
        path = self.workdir / f"turn{len(self.session.turns) + 1:03d}_face.png"
        if box is None:
            Image.fromarray(rgb).save(path)
            return str(path), "face: no face box on screen, so the whole frame goes to the vision backend"
        H, W = rgb.shape[:2]
        x, y, w, h = (float(v) for v in box)
        m = margin * max(w, h)
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(W, int(x + w + m)), min(H, int(y + h + m))
        if x1 - x0 < 8 or y1 - y0 < 8:
            Image.fromarray(rgb).save(path)
            return str(path), f"face: the box {box} is too small, so the whole frame goes to the vision backend"
        im = Image.fromarray(rgb[y0:y1, x0:x1])
        if max(im.size) > max_side:
            k = max_side / max(im.size)
            im = im.resize((max(1, round(im.size[0] * k)), max(1, round(im.size[1] * k))), Image.BILINEAR)
        im.save(path)
        return str(path), f"face: {who} at {[round(v) for v in box]} in the {W}x{H} frame"

    def _on_composer_msg(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "submit":
            self._send_typed(str(content.get("text") or ""))

    def _send_typed(self, text: str | None = None) -> None:
        """Send ``text`` (default: the draft in the box) as a typed turn, in a worker thread."""
        text = self.text.value if text is None else text
        if not text.strip() or self.state != "IDLE":
            return
        self.text.value = ""
        self._set_state("PROCESSING", "thinking")
        face, face_note = self.face_for_turn()
        self._worker = threading.Thread(target=self.submit, kwargs={"text": text, "face": face, "note": face_note},
                                        daemon=True)
        self._worker.start()

    def submit(self, text: str | None = None, face: str | None = None, audio: str | None = None,
               note: str | None = None) -> Turn:
        """One whole turn, synchronously (the UI calls it from a worker thread)."""
        self._set_state("PROCESSING", "analysing")
        steps: list[tuple[str, str]] = [("input", f"text={bool((text or '').strip())} face={bool(face)} audio={bool(audio)}")]
        if note:
            steps.append(("note", note))
        pending = {"text": ""}
        last = {"t": 0.0}

        def on_stage(name, data):
            if name == "transcript":
                steps.append(("speech-to-text", data or "(none)"))
            elif name == "perception":
                steps.append(("fusion", prompts.perception_payload(data)))
                self.scores.value = render_scores(data)
            elif name in ("transcribe", "analyze", "llm"):
                self._set_state("PROCESSING", {"transcribe": "speech-to-text", "analyze": "perception + fusion",
                                               "llm": "the LLM is replying"}[name])
            self.steps.value = render_steps(steps)

        def on_token(piece):
            pending["text"] += piece
            now = time.perf_counter()
            if now - last["t"] > 0.1:
                last["t"] = now
                self.chat.value = render_chat(self.entries, self.emotion, pending["text"])

        try:
            t = self.session.turn(text=text, face=face, audio=audio, on_stage=on_stage, on_token=on_token)
        except Exception as exc:  # noqa: BLE001 - the UI must return to IDLE
            log.exception("turn failed")
            self._set_state("IDLE", f"turn failed: {exc}")
            raise
        self.emotion = t.emotion
        self.entries.append({"role": "user", "text": t.user_text, "emotion": t.emotion, "confidence": t.confidence})
        self._add_assistant(t.reply, t.source, safety=t.safety_triggered or t.safety_level == "check_in")
        self.scores.value = render_scores(t.perception)
        final = steps_of_turn(t)
        if note:   # e.g. which face the turn analysed (the overlay's box, or why not)
            final.insert(next(i for i, (k, _) in enumerate(final) if k == "face"), ("note", note))
        self.steps.value = render_steps(final)
        self._set_state("IDLE", f"last turn {t.timings.get('total_s', 0):.2f} s")
        return t

    # -- sidebar ----------------------------------------------------------------------------------
    def _on_persona(self, change) -> None:
        if change["new"] == self.session.persona:   # _switch set the dropdown itself: switched already
            return
        if change["new"] == prompts.USER_DEFINED and not self.custom.value.strip():
            self._persona_note("Write a description of your persona in the box below, then press "
                               f"\u201cUse this persona\u201d. Until then the persona stays {self.session.persona}.",
                               error=True)
            return
        self._switch(change["new"])

    def _persona_note(self, text: str, error: bool = False) -> None:
        colour = "#c62828" if error else "#555"
        self.persona_msg.value = (f"<div class='emokit-persona-msg' data-error='{str(error).lower()}' "
                                  f"style='font-size:11px;color:{colour}'>{html.escape(text)}</div>")

    def _switch(self, key: str) -> str | None:
        if key == prompts.USER_DEFINED and not self.custom.value.strip():
            self._persona_note("A user-defined persona needs a description: write one in the box first.", error=True)
            return None
        try:
            greeting = self.session.set_persona(key, self.custom.value if key == prompts.USER_DEFINED else None)
        except ValueError as exc:
            self._persona_note(str(exc), error=True)
            return None
        if self.persona.value != key:
            self.persona.value = key
        self.persona_msg.value = ""
        self._add_assistant(greeting or "", self.session.greetings[-1]["source"] if self.session.greetings else "greeting")
        self._refresh_responder()
        return greeting

    def _refresh_responder(self) -> None:
        s = self.session
        if s.voice == "local":
            txt = (f"<div class='emokit-responder' data-mode='local' style='font-size:11px'>Replies: <b>local LLM</b> "
                   f"{html.escape(s.llm.model)} (llama.cpp on this machine, no key)</div>")
        elif s.llm_active:
            txt = f"<div class='emokit-responder' data-mode='llm' style='font-size:11px'>Replies: <b>LLM</b> {html.escape(s.llm.model)}</div>"
        else:
            txt = ("<div class='emokit-responder' data-mode='offline' style='font-size:11px;line-height:1.35;background-color:#fff3e0;"
                   "padding:4px;border-radius:6px'><b>Offline responder</b>: no LLM key is set "
                   "(DEEPSEEK_API_KEY) and no local model is available, so replies are templates from the "
                   "persona and the perception, not an LLM.</div>")
            why = getattr(s.llm, "unavailable_reason", "")
            if why:
                txt += f"<div style='font-size:10px;color:#c62828'>local model: {html.escape(why)}</div>"
        if s.safety_warning:
            txt += ("<div class='emokit-safety-warning' style='font-size:11px;background:#ffebee;color:#b71c1c;"
                    f"padding:4px;border-radius:6px;margin-top:4px'><b>Safety</b>: {html.escape(s.safety_warning)}</div>")
        notes = [m for m in (self.page_log.messages if self.page_log else []) if m != s.safety_warning]
        if notes:   # folded: a teacher sees that something is degraded without a wall of text
            items = "".join(f"<li>{html.escape(m)}</li>" for m in notes)
            txt += (f"<details class='emokit-notices' style='font-size:10px;color:#8d6e63;margin-top:4px'>"
                    f"<summary>{len(notes)} note{'s' if len(notes) > 1 else ''} from the models</summary>"
                    f"<ul style='padding-left:14px;margin:2px 0'>{items}</ul></details>")
        self.responder.value = txt + f"<div style='font-size:11px;color:#777'>persona: {html.escape(s.persona)}</div>"

    def _export(self, server: bool | None = None) -> dict[str, Path]:
        """Write transcript-<time>.md/.json into ``export_dir`` on the server (a new name each time, so no
        earlier export is overwritten)."""
        stem = time.strftime("transcript-%Y%m%d-%H%M%S")
        n = 1
        while (self.export_dir / f"{stem}.md").exists():
            n += 1
            stem = time.strftime("transcript-%Y%m%d-%H%M%S") + f"-{n}"
        paths = self.session.export(self.export_dir, stem=stem)
        self.export_out.value = (f"<span style='font-size:11px'>saved on the server: "
                                 f"{html.escape(str(paths['markdown']))} and .json</span>")
        return paths

    def _on_download_request(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "request":
            return
        text = self.session.transcript_markdown()
        widget.deliver(time.strftime("emokit-transcript-%Y%m%d-%H%M%S.md"), text)
        note = "downloaded by the browser"
        if self.export_server.value:
            paths = self._export()
            note += f"; a copy is on the server: {paths['markdown']}"
        self.export_out.value = f"<span class='emokit-export-note' style='font-size:11px'>{html.escape(note)}</span>"

    def _add_assistant(self, text: str, source: str, safety: bool = False) -> None:
        if text:
            self.entries.append({"role": "assistant", "text": text, "source": source, "safety": safety})
        self.chat.value = render_chat(self.entries, self.emotion)

    def _set_state(self, state: str, detail: str = "") -> None:
        assert state in STATES, state
        self.state = state
        self.state_html.value = render_state(state, detail)
        if getattr(self, "text", None) is not None:
            self.text.disabled = state != "IDLE"


def _decode_image(data: bytes):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def build_app(params: Mapping[str, Any] | None = None, **kwargs: Any) -> ChatApp:
    """The app as ``params`` (chapter 06's parameters; default: ``load_params("06_empathic_chat")``, so
    every setting comes from ``params/06_empathic_chat.yaml``, ``app`` section) set it up."""
    if params is None:
        from ..config import load_params

        params = load_params("06_empathic_chat")
    p = params["app"]
    session = kwargs.pop("session", None) or ChatSession(persona=p["persona"])
    kwargs.setdefault("camera", p["camera"])
    kwargs.setdefault("frame_width", int(p["frame_width"]))
    kwargs.setdefault("fast_path", dict(p["fast_path"]))
    export_dir = os.environ.get("EMOKIT_CHAT_EXPORT_DIR") or p["export_dir"]   # the env var wins (tests)
    if export_dir:
        kwargs.setdefault("export_dir", export_dir)
    return ChatApp(session=session, fps=float(kwargs.pop("fps", p["live_fps"])), **kwargs)
