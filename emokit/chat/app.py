"""The live chat app in ipywidgets (report section 6), for JupyterLab and Voila.

Three columns:

- left sidebar: persona select, custom persona text (+ apply), who answers (LLM or the offline
  responder, said plainly), transcript export;
- centre perception panel: the live camera frame with the face box and label drawn by the vision
  backend at a steady frame rate (``fps``), the workflow state (IDLE -> RECORDING -> PROCESSING),
  per-modality score bars updated each turn, and every intermediate result of the last turn;
- right chat window: bubbles with the emotion tag and confidence, a theme colour (glow) that
  follows the current emotion, a text box, and the hold-to-talk button.

The microphone comes through ipywebrtc (``CameraStream`` + ``AudioRecorder``: WebM/Opus, decoded by
PyAV). Camera frames come, by default (``camera="anywidget"``), from a small anywidget that keeps one
``getUserMedia`` <video> open and pushes a downscaled JPEG every 1/fps s with at most one frame in
flight (the kernel acks each); ``camera="ipywebrtc"`` uses ``CameraStream`` + ``ImageRecorder``
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
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..labels import LABELS7
from . import prompts
from .session import ChatSession, Turn

log = logging.getLogger(__name__)

EMOTION_COLOURS = {"Happy": "#f4b400", "Sad": "#4a6fa5", "Angry": "#d93025", "Fear": "#8e44ad",
                   "Surprise": "#ff8c00", "Disgust": "#2e8b57", "Neutral": "#7f8c8d", None: "#9aa5b1"}
EMOJI = {"Happy": "😊", "Sad": "😢", "Angry": "😠", "Fear": "😨", "Surprise": "😲", "Disgust": "🤢",
         "Neutral": "😐", None: "❔"}
STATES = ("IDLE", "RECORDING", "PROCESSING")
STATE_COLOURS = {"IDLE": "#2e7d32", "RECORDING": "#c62828", "PROCESSING": "#ef6c00"}

_HOLD_ESM = """
function render({ model, el }) {
  const btn = document.createElement("button");
  btn.className = "emokit-hold";
  btn.textContent = model.get("label");
  btn.style.cssText = "width:100%;padding:10px;font-size:15px;border-radius:8px;border:none;" +
    "background:#1565c0;color:white;cursor:pointer;user-select:none;touch-action:none";
  const down = (e) => { e.preventDefault(); if (!model.get("pressed")) { model.set("pressed", true); model.save_changes(); } };
  const up = (e) => { if (model.get("pressed")) { model.set("pressed", false); model.save_changes(); } };
  btn.addEventListener("pointerdown", down);
  btn.addEventListener("pointerup", up);
  btn.addEventListener("pointerleave", up);
  btn.addEventListener("pointercancel", up);
  const paint = () => {
    const p = model.get("pressed");
    btn.style.background = p ? "#c62828" : "#1565c0";
    btn.textContent = p ? model.get("label_pressed") : model.get("label");
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


_CAMERA_ESM = """
function render({ model, el }) {
  const video = document.createElement("video");
  video.autoplay = true; video.muted = true; video.playsInline = true;
  video.style.cssText = "width:160px;height:120px;border-radius:6px;background:#222;display:" +
    (model.get("preview") ? "block" : "none");
  const status = document.createElement("div");
  status.className = "emokit-cam-status";
  status.style.cssText = "font-size:10px;color:#777";
  el.appendChild(video); el.appendChild(status);
  const canvas = document.createElement("canvas");
  let busySince = 0, timer = null, stream = null, sent = 0;
  model.on("msg:custom", (msg) => { if (msg && msg.type === "ack") busySince = 0; });
  const tick = () => {
    const now = performance.now();
    if (busySince && now - busySince < 5000) return;          // back-pressure: one frame in flight
    if (video.readyState < 2 || !video.videoWidth) return;
    const w = model.get("width"), h = Math.round(w * video.videoHeight / video.videoWidth);
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    busySince = now;
    canvas.toBlob((blob) => blob.arrayBuffer().then((buf) => {
      sent += 1; status.textContent = "frames sent: " + sent;
      model.send({ type: "frame", width: w, height: h }, undefined, [buf]);
    }), "image/jpeg", 0.85);
  };
  const start = () => {
    if (timer) clearInterval(timer);
    timer = setInterval(tick, 1000 / Math.max(0.5, model.get("fps")));
  };
  navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false })
    .then((s) => { stream = s; video.srcObject = s; video.play(); start(); })
    .catch((e) => { status.textContent = "camera unavailable: " + e; model.set("error", String(e)); model.save_changes(); });
  model.on("change:fps", start);
  return () => { if (timer) clearInterval(timer); if (stream) stream.getTracks().forEach((t) => t.stop()); };
}
export default { render };
"""


def _camera_widget_class():
    import anywidget
    import traitlets

    class CameraFrames(anywidget.AnyWidget):
        """getUserMedia in one persistent <video>; every 1/``fps`` s a JPEG frame ``width`` px wide goes
        to the kernel as a custom message, at most one in flight (the kernel acks each)."""

        _esm = _CAMERA_ESM
        fps = traitlets.Float(4.0).tag(sync=True)
        width = traitlets.Int(320).tag(sync=True)
        preview = traitlets.Bool(False).tag(sync=True)
        error = traitlets.Unicode("").tag(sync=True)

    return CameraFrames


def _hold_widget_class():
    import anywidget
    import traitlets

    class HoldToTalk(anywidget.AnyWidget):
        """A press-and-hold button (``pressed``) plus a frame ticker (``tick`` every 1/``fps`` s)."""

        _esm = _HOLD_ESM
        pressed = traitlets.Bool(False).tag(sync=True)
        tick = traitlets.Int(0).tag(sync=True)
        fps = traitlets.Float(4.0).tag(sync=True)
        label = traitlets.Unicode("🎤 Hold to talk").tag(sync=True)
        label_pressed = traitlets.Unicode("● Recording... release to send").tag(sync=True)

    return HoldToTalk


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
    return (f'<span class="emokit-tag" style="background:{colour};color:white;border-radius:10px;'
            f'padding:1px 8px;font-size:11px">{html.escape(text)}</span>')


def render_chat(entries: list[dict[str, Any]], emotion: str | None, pending: str | None = None) -> str:
    colour = EMOTION_COLOURS.get(emotion, EMOTION_COLOURS[None])
    rows = []
    for e in entries:
        if e["role"] == "user":
            rows.append(
                '<div style="display:flex;justify-content:flex-end;margin:6px 0">'
                '<div class="emokit-bubble emokit-user" style="max-width:80%;background:#e3f2fd;border-radius:12px 12px 2px 12px;'
                f'padding:8px 10px">{md_to_html(e["text"]) or "<i>(nothing said)</i>"}'
                f'<div style="margin-top:4px;text-align:right">{emotion_tag(e.get("emotion"), e.get("confidence"))}</div>'
                '</div></div>')
        else:
            border = "2px solid #c62828" if e.get("safety") else "1px solid #ddd"
            src = html.escape(e.get("source", ""))
            rows.append(
                '<div style="display:flex;justify-content:flex-start;margin:6px 0">'
                f'<div class="emokit-bubble emokit-assistant" style="max-width:85%;background:white;border:{border};'
                f'border-radius:12px 12px 12px 2px;padding:8px 10px">{md_to_html(e["text"])}'
                f'<div style="margin-top:4px;font-size:10px;color:#888">{src}</div></div></div>')
    if pending is not None:
        rows.append('<div class="emokit-bubble emokit-pending" style="margin:6px 0;color:#555">'
                    f'{md_to_html(pending) or "…"}<span style="opacity:.6"> ▍</span></div>')
    return (
        "<style>@keyframes emokit-breathe{0%{box-shadow:0 0 4px var(--emo)}50%{box-shadow:0 0 22px var(--emo)}"
        "100%{box-shadow:0 0 4px var(--emo)}}</style>"
        f'<div class="emokit-chat" data-emotion="{html.escape(emotion or "none")}" '
        f'style="--emo:{colour};border:2px solid {colour};border-radius:14px;padding:8px;height:430px;'
        'overflow-y:auto;animation:emokit-breathe 3s ease-in-out infinite;background:#fafafa">'
        + "".join(rows) + "</div>")


def render_scores(perception: dict[str, Any] | None) -> str:
    """Per-modality (face, audio, text) and fused score bars."""
    p = perception or {}
    mods = p.get("modalities") or {}
    blocks = []
    series = [(name, (mods.get(name) or {}).get("probabilities"), (mods.get(name) or {}).get("status", "missing"))
              for name in prompts.MODALITIES]
    series.append(("fused", p.get("fused"), "ok" if p.get("fused") else "missing"))
    for name, probs, status in series:
        if not probs:
            body = f'<div style="color:#999;font-size:11px">{html.escape(str(status))}</div>'
        else:
            bars = []
            for k in LABELS7:
                v = float(probs.get(k, 0.0))
                bars.append(
                    f'<div style="display:flex;align-items:center;font-size:10px;height:13px">'
                    f'<span style="width:52px">{k}</span><span style="display:inline-block;height:9px;'
                    f'width:{max(1, int(v * 100))}px;background:{EMOTION_COLOURS[k]}"></span>'
                    f'<span style="margin-left:4px">{v:.2f}</span></div>')
            body = "".join(bars)
        blocks.append(f'<div class="emokit-scores" data-modality="{name}" style="display:inline-block;'
                      f'vertical-align:top;width:170px;margin:2px"><b style="font-size:12px">{name}</b>{body}</div>')
    return "<div>" + "".join(blocks) + "</div>"


def render_steps(steps: list[tuple[str, str]]) -> str:
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in steps)
    return f'<ol class="emokit-steps" style="font-size:11px;margin:2px 0 2px 14px;padding:0">{items}</ol>'


def render_state(state: str, detail: str = "") -> str:
    c = STATE_COLOURS.get(state, "#555")
    spin = ('<span style="display:inline-block;animation:emokit-spin 1s linear infinite">⟳</span> '
            if state == "PROCESSING" else "")
    return ("<style>@keyframes emokit-spin{from{transform:rotate(0)}to{transform:rotate(360deg)}}</style>"
            f'<div class="emokit-state" data-state="{state}" style="display:inline-block;padding:3px 10px;'
            f'border-radius:10px;background:{c};color:white;font-weight:bold">{spin}{state}</div>'
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
        ("safety", "TRIGGERED: crisis resources added" if t.safety_triggered else "ok"),
        ("reply", f"{t.source}{' (interrupted)' if t.interrupted else ''}, {t.timings.get('total_s', 0):.2f} s"),
        *([("notes", "; ".join(t.notes))] if t.notes else []),
    ]


class ChatApp:
    """The widgets app. ``session`` (a :class:`ChatSession`) does the work; ``live`` is a callable
    ``rgb -> Prediction-like`` for camera frames (default: ``emokit.vision.LiveAnalyzer().process``,
    loaded on the first frame)."""

    def __init__(self, session: ChatSession | None = None, live: Callable[[Any], Any] | None = None,
                 fps: float = 4.0, media: bool = True, workdir: str | Path | None = None,
                 camera: str = "anywidget", frame_width: int = 320):
        import ipywidgets as W

        self.session = session or ChatSession()
        self._live = live
        self.fps = float(fps)
        if camera not in ("anywidget", "ipywebrtc"):
            raise ValueError(f"camera must be 'anywidget' or 'ipywebrtc', got {camera!r}")
        self.camera_kind = camera
        self.frame_width = int(frame_width)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="emokit-chat-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
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

        # left sidebar
        options = [(prompts.PERSONAS[k].title, k) for k in prompts.PERSONAS] + [("User-defined", prompts.USER_DEFINED)]
        self.persona = W.Dropdown(options=options, value=self.session.persona, description="Persona",
                                  layout=W.Layout(width="98%"))
        self.custom = W.Textarea(placeholder="Describe your own persona, e.g. 'a tsundere cat girl who loves puns'",
                                 layout=W.Layout(width="98%", height="90px"))
        self.apply_custom = W.Button(description="Use this persona", layout=W.Layout(width="98%"))
        self.responder = W.HTML()
        self.export_btn = W.Button(description="Export transcript", icon="download", layout=W.Layout(width="98%"))
        self.export_out = W.HTML()
        self.persona.observe(self._on_persona, names="value")
        self.apply_custom.on_click(lambda _: self._switch(prompts.USER_DEFINED))
        self.export_btn.on_click(lambda _: self._export())
        sidebar = W.VBox([W.HTML("<h3 style='margin:4px 0'>emokit chat</h3>"), self.persona, self.custom,
                          self.apply_custom, self.responder, self.export_btn, self.export_out],
                         layout=W.Layout(width="230px", padding="6px", border="1px solid #eee"))

        # centre perception panel
        self.live_img = W.Image(format="jpeg", layout=W.Layout(width="320px", height="240px",
                                                                border="1px solid #ccc"))
        self.live_info = W.HTML("<span style='font-size:11px;color:#777'>camera: waiting for frames</span>")
        self.state_html = W.HTML(render_state("IDLE"))
        self.scores = W.HTML(render_scores(None))
        self.steps = W.HTML(render_steps([]))
        self.camera = self.mic = self.frame_rec = self.audio_rec = self.hold = self.cam = None
        media_widgets: list[Any] = []
        if media:
            self._build_media(W)
            media_widgets = [w for w in (self.frame_rec, self.audio_rec) if w is not None]
        centre = W.VBox([self.state_html, self.live_img, self.live_info, *([self.cam] if self.cam is not None else []),
                         W.HTML("<b style='font-size:12px'>Scores (last turn)</b>"), self.scores,
                         W.HTML("<b style='font-size:12px'>Last turn, step by step</b>"), self.steps,
                         W.Box(media_widgets, layout=W.Layout(display="none"))],
                        layout=W.Layout(width="390px", padding="6px"))

        # right chat window
        self.chat = W.HTML(render_chat([], None))
        self.text = W.Text(placeholder="Type a message (Enter to send)", layout=W.Layout(width="70%"))
        self.send = W.Button(description="Send", button_style="primary", layout=W.Layout(width="25%"))
        self.send.on_click(lambda _: self._send_typed())
        self.text.continuous_update = False   # Enter (or leaving the box) sends
        self.text.observe(lambda ch: self._send_typed() if ch["new"].strip() else None, names="value")
        right_children = [self.chat, W.HBox([self.text, self.send])]
        if self.hold is not None:
            right_children.append(self.hold)
        right = W.VBox(right_children, layout=W.Layout(width="420px", padding="6px"))
        self.root = W.HBox([sidebar, centre, right], layout=W.Layout(align_items="flex-start"))
        self.root.add_class("emokit-app")
        self._refresh_responder()
        # opening greeting in the current persona's voice
        greeting = self.session.set_persona(self.session.persona, self.session.custom_persona) or ""
        self._add_assistant(greeting, self.session.greetings[-1]["source"])

    def warm_up(self) -> threading.Thread:
        """Load the live vision backend and the speech-to-text model in the background, so the first
        frame and the first spoken turn do not wait for them (failures only leave a log line)."""
        def work():
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
            self.cam = _camera_widget_class()(fps=self.fps, width=self.frame_width)
            self.cam.on_msg(self._on_cam_msg)
            tick_fps = 0.0
        self.hold = _hold_widget_class()(fps=tick_fps)
        self.hold.observe(self._on_tick, names="tick")
        self.hold.observe(self._on_press, names="pressed")

    def _on_tick(self, change) -> None:
        if self.frame_rec is not None and not self.frame_rec.recording and not self._frame_busy:
            self.frame_rec.recording = True      # one snapshot; the frontend resets it to False

    def _on_cam_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "frame":
            return
        try:
            if buffers:
                self.process_frame(_decode_image(bytes(buffers[0])))
        except Exception as exc:  # noqa: BLE001 - the live view must keep going
            self.live_info.value = f"<span style='color:#c62828;font-size:11px'>camera frame failed: {html.escape(str(exc))}</span>"
        finally:
            widget.send({"type": "ack"})

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

    def process_frame(self, rgb) -> dict[str, Any]:
        """Run the live vision backend on one RGB frame and show the annotated frame."""
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
        self.last_live = {"label": label, "confidence": conf, "box": box, "status": d.get("status", "ok")}
        self.live_img.value = draw_box(rgb, box, label, conf)
        now = time.perf_counter()
        self.frame_times = [t for t in self.frame_times if now - t < 5.0] + [now]
        self.frames_processed += 1
        fps = (len(self.frame_times) - 1) / (self.frame_times[-1] - self.frame_times[0]) if len(self.frame_times) > 1 else 0.0
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
        self.submit(text=typed, audio=audio, face=self._face_snapshot(),
                    note=None if got else "no recording arrived within 10 s")

    # -- the turn ---------------------------------------------------------------------------------
    def _face_snapshot(self) -> str | None:
        if self.last_frame is None:
            return None
        from PIL import Image

        path = self.workdir / f"turn{len(self.session.turns) + 1:03d}_face.png"
        Image.fromarray(self.last_frame).save(path)
        return str(path)

    def _send_typed(self) -> None:
        text = self.text.value
        if not text.strip() or self.state != "IDLE":
            return
        self.text.value = ""
        self._set_state("PROCESSING", "thinking")
        face = self._face_snapshot()
        self._worker = threading.Thread(target=self.submit, kwargs={"text": text, "face": face}, daemon=True)
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
        self._add_assistant(t.reply, t.source, safety=t.safety_triggered)
        self.scores.value = render_scores(t.perception)
        self.steps.value = render_steps(steps_of_turn(t))
        self._set_state("IDLE", f"last turn {t.timings.get('total_s', 0):.2f} s")
        return t

    # -- sidebar ----------------------------------------------------------------------------------
    def _on_persona(self, change) -> None:
        if change["new"] == prompts.USER_DEFINED:
            if self.custom.value.strip():
                self._switch(prompts.USER_DEFINED)
            return
        self._switch(change["new"])

    def _switch(self, key: str) -> str | None:
        try:
            greeting = self.session.set_persona(key, self.custom.value if key == prompts.USER_DEFINED else None)
        except ValueError as exc:
            self.export_out.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return None
        if key == prompts.USER_DEFINED and self.persona.value != key:
            self.persona.value = key
        self._add_assistant(greeting or "", self.session.greetings[-1]["source"] if self.session.greetings else "greeting")
        self._refresh_responder()
        return greeting

    def _refresh_responder(self) -> None:
        s = self.session
        if s.llm_active:
            txt = f"<div class='emokit-responder' data-mode='llm' style='font-size:11px'>Replies: <b>LLM</b> {html.escape(s.llm.model)}</div>"
        else:
            txt = ("<div class='emokit-responder' data-mode='offline' style='font-size:11px;background:#fff3e0;"
                   "padding:4px;border-radius:6px'><b>Offline responder</b>: no LLM key is set "
                   "(DEEPSEEK_API_KEY), so replies are templates from the persona and the perception, "
                   "not an LLM.</div>")
        self.responder.value = txt + f"<div style='font-size:11px;color:#777'>persona: {html.escape(s.persona)}</div>"

    def _export(self) -> dict[str, Path]:
        paths = self.session.export(self.workdir, stem="transcript")
        self.export_out.value = (f"<span style='font-size:11px'>saved {html.escape(str(paths['markdown']))} "
                                 f"and .json</span>")
        return paths

    def _add_assistant(self, text: str, source: str, safety: bool = False) -> None:
        if text:
            self.entries.append({"role": "assistant", "text": text, "source": source, "safety": safety})
        self.chat.value = render_chat(self.entries, self.emotion)

    def _set_state(self, state: str, detail: str = "") -> None:
        assert state in STATES, state
        self.state = state
        self.state_html.value = render_state(state, detail)


def _decode_image(data: bytes):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def build_app(params: dict[str, Any] | None = None, **kwargs: Any) -> ChatApp:
    """The app with the defaults of ``params/06_empathic_chat.yaml`` (``app`` section)."""
    p = dict((params or {}).get("app") or {})
    session = kwargs.pop("session", None) or ChatSession(persona=p.get("persona", prompts.DEFAULT_PERSONA))
    kwargs.setdefault("camera", p.get("camera", "anywidget"))
    kwargs.setdefault("frame_width", int(p.get("frame_width", 320)))
    return ChatApp(session=session, fps=float(kwargs.pop("fps", p.get("live_fps", 4.0))), **kwargs)
