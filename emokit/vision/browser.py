"""Backend E: the browser's face model (``@vladmandic/face-api``), run in headless Chromium from Python.

The app's camera widget (:mod:`emokit.chat.camera_widget`) runs face-api's tiny face detector and
expression net in the browser on every video frame (the report's fast path). This module measures the
same model the same way chapter 01 measures backends A-D:

- :class:`BrowserBackend` (``backend="browser"`` / ``"E"``) sends grey face crops to a headless Chromium
  page that imports the widget's own JS (``emokit/chat/camera_widget.js``) and face-api, and returns the
  expression net's 7 probabilities in :data:`~emokit.labels.LABELS7` order;
- :meth:`BrowserSession.widget` renders the app's camera widget itself (its kernel side stood in for)
  on Chromium's fake camera playing a Y4M video: the fast path (detection + expression on every video
  frame, frames skipped while one is in flight) end to end, with the overlay's updates per second and
  the boxes it drew; chapter 01's figure from it is :func:`emokit.chapters.vision.browser_check`.

Where the files come from: face-api 1.7.15 and ``@tensorflow/tfjs-backend-wasm`` 4.22.0 (its wasm
binaries) are npm packages installed at setup by ``scripts/setup_web.sh`` (``npm ci`` in ``web/``,
versions and sha512 integrity locked in ``web/package-lock.json``) into ``web/node_modules``;
``EMOKIT_WEB_DIR`` points elsewhere. Nothing is fetched at run time: the page is served from
127.0.0.1 by a server that knows only those files.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..labels import LABELS7
from .errors import BackendUnavailable

FACE_API_VERSION = "1.7.15"
REPO = Path(__file__).resolve().parents[2]
WIDGET_JS = Path(__file__).resolve().parents[1] / "chat" / "camera_widget.js"
WIDGET_CSS = WIDGET_JS.with_suffix(".css")
WASM_FILES = ("tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm")
MODELS = {"tiny": "tiny_face_detector_model", "expr": "face_expression_model"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


class AssetsMissing(RuntimeError):
    """face-api's files are not installed; the message says where they were looked for and how to fix it."""


def web_dir() -> Path:
    return Path(os.environ.get("EMOKIT_WEB_DIR") or REPO / "web")


def asset_paths() -> dict[str, Path]:
    """The files the browser needs: face-api's ESM build (TensorFlow.js bundled), the two models'
    manifests and weights, and the wasm binaries. Raises :class:`AssetsMissing` naming the first missing."""
    nm = web_dir() / "node_modules"
    fa = nm / "@vladmandic" / "face-api"
    paths = {"package": fa / "package.json", "lib": fa / "dist" / "face-api.esm.js"}
    for k, stem in MODELS.items():
        paths[f"{k}_manifest"] = fa / "model" / f"{stem}-weights_manifest.json"
        paths[k] = fa / "model" / f"{stem}.bin"
    for w in WASM_FILES:
        paths[w] = nm / "@tensorflow" / "tfjs-backend-wasm" / "dist" / w
    for k, p in paths.items():
        if not p.is_file():
            raise AssetsMissing(f"browser face model file missing: {p} (install it with scripts/setup_web.sh, "
                                f"i.e. `npm ci --prefix web`; or set EMOKIT_WEB_DIR)")
    version = json.loads(paths["package"].read_text()).get("version")
    if version != FACE_API_VERSION:
        raise AssetsMissing(f"{paths['package']}: face-api {version} installed, {FACE_API_VERSION} expected "
                            "(web/package-lock.json): run scripts/setup_web.sh")
    return paths


def chromium_path() -> str | None:
    return os.environ.get("EMOKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def status() -> tuple[bool, str]:
    """(available, why) for backend E: the npm files, Playwright and a Chromium binary."""
    try:
        asset_paths()
    except AssetsMissing as exc:
        return False, str(exc)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "the playwright Python package is not installed (pip install playwright==1.65.2)"
    if chromium_path() is None:
        return False, "no Chromium binary (Debian: apt-get install -y chromium; or set EMOKIT_CHROMIUM)"
    return True, f"face-api {FACE_API_VERSION} in headless Chromium ({chromium_path()})"


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>emokit backend E</title>
<link rel="stylesheet" href="/camera_widget.css"></head>
<body style="font-family:sans-serif;margin:8px">
<script type="module">
import { loadFaceApi, toLabels7 } from "/camera_widget.js";
const bin = async (u) => (await fetch(u)).arrayBuffer();
const json = async (u) => (await fetch(u)).json();
let api = null;
window.emokit = {
  async init(prefer) {
    const m = await json("/assets.json");
    const wasm = {}; for (const w of m.wasm) wasm[w] = "/wasm/" + w;
    const src = { lib: "/face-api.esm.js", tiny: [await json("/model/tiny.json"), await bin("/model/tiny.bin")],
                  expr: [await json("/model/expr.json"), await bin("/model/expr.bin")], wasm };
    const r = await loadFaceApi(src, prefer || null);
    api = r.faceapi;
    return { backend: r.backend, why: r.why, tfjs: api.tf.version_core, faceapi: api.version };
  },
  async expressions(b64, n, size) {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const tf = api.tf, out = [], ms = [];
    for (let i = 0; i < n; i++) {
      const g = raw.subarray(i * size * size, (i + 1) * size * size);
      const t = tf.tidy(() => tf.tensor3d(g, [size, size, 1], "int32").toFloat().tile([1, 1, 3]));
      const t0 = performance.now();
      const e = await api.nets.faceExpressionNet.predictExpressions(t);
      ms.push(performance.now() - t0);
      t.dispose();
      out.push(toLabels7(e));
    }
    return { probs: out, ms };
  },
  async detect(b64, n, h, w, size) {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const tf = api.tf, out = [];
    const opt = new api.TinyFaceDetectorOptions({ inputSize: size || 160, scoreThreshold: 0.4 });
    for (let i = 0; i < n; i++) {
      const g = raw.subarray(i * h * w, (i + 1) * h * w);
      const t = tf.tidy(() => tf.tensor3d(g, [h, w, 1], "int32").tile([1, 1, 3]));
      const d = await api.detectSingleFace(t, opt);
      t.dispose();
      out.push(d ? { score: d.score, box: [d.box.x, d.box.y, d.box.width, d.box.height] } : null);
    }
    return out;
  },
  // The app's camera widget itself, rendered with a stand-in for the kernel side of the comm: assets
  // come from this server, each kernel frame is acked at once. Measures the overlay's updates/s.
  async widget(seconds, traits, warm_s) {
    const mod = await import("/camera_widget.js");
    const t = Object.assign({ fps: 4, width: 320, view_width: 320, capture: [320, 240], fast_path: true,
      tf_backend: "", fast_options: {}, smooth_tau_s: 0.8, label_margin: 0.1, min_confidence: 0.45, chart_hz: 5,
      kernel_still_s: 1.0, slow_ups: 15, error: "" }, traits || {});
    const handlers = {}, emit = (ev, msg, bufs) => (handlers[ev] || []).slice().forEach((f) => f(msg, bufs));
    let kernelFrames = 0;
    const kTimes = [];
    const model = {
      get: (k) => t[k], set: (k, v) => { t[k] = v; }, save_changes() {},
      on(ev, f) { (handlers[ev] = handlers[ev] || []).push(f); },
      off(ev, f) { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
      async send(msg, cb, buffers) {
        if (msg.type === "assets" && t.assets_error) {
          setTimeout(() => emit("msg:custom", { type: "assets", error: t.assets_error }, []), 0);
        } else if (msg.type === "assets") {
          const m = await json("/assets.json");
          const bufs = [await bin("/face-api.esm.js"), await bin("/model/tiny.bin"), await bin("/model/expr.bin")];
          for (const w of m.wasm) bufs.push(await bin("/wasm/" + w));
          setTimeout(async () => emit("msg:custom", { type: "assets", version: "", lib: 0, tiny: 1, expr: 2,
            tiny_manifest: await json("/model/tiny.json"), expr_manifest: await json("/model/expr.json"),
            wasm: m.wasm, wasm_index: m.wasm.map((w, i) => 3 + i) }, bufs.map((b) => new Uint8Array(b))), 0);
        } else if (msg.type === "frame") {
          kernelFrames++;
          const now = performance.now();
          kTimes.push(now);
          while (kTimes.length && now - kTimes[0] > 3000) kTimes.shift();
          const kfps = kTimes.length > 1 ? (kTimes.length - 1) / ((now - kTimes[0]) / 1000) : 0;
          setTimeout(() => emit("msg:custom", { type: "ack", kfps, box: t.kernel_box || null }), 0);
        }
      },
    };
    const el = document.createElement("div");
    el.style.cssText = "width:340px;padding:6px;display:inline-block";   // the app's centre column
    document.body.appendChild(el);
    const dispose = mod.default.render({ model, el });
    const status = el.querySelector(".emokit-cam-status"), overlay = el.querySelector(".emokit-overlay");
    const t_start = performance.now();
    while (!["browser", "kernel", "no-camera"].includes(status.dataset.mode) && performance.now() - t_start < 60000)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, (warm_s || 0) * 1000));
    const boxes = [];
    const obs = new MutationObserver(() => boxes.push([performance.now(), overlay.dataset.box, overlay.dataset.label]));
    obs.observe(overlay, { attributes: true, attributeFilter: ["data-updates", "data-box"] });
    const u0 = Number(overlay.dataset.updates || 0), k0 = kernelFrames, t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const dt = (performance.now() - t0) / 1000;
    obs.disconnect();
    const out = { mode: status.dataset.mode, backend: status.dataset.backend, status: status.textContent,
                  ms_per_update: Number(status.dataset.ms || 0), skipped_busy: Number(status.dataset.skipped || 0),
                  seconds: dt, updates: Number(overlay.dataset.updates || 0) - u0, kernel_frames: kernelFrames - k0,
                  boxes: boxes.map(([tt, b, l]) => [(tt - t0) / 1000, b ? b.split(",").map(Number) : null, l || null]),
                  load_s: (t0 - t_start) / 1000 - (warm_s || 0) };
    window.emokitDispose = dispose;
    return out;
  },
};
window.emokitReady = true;
</script></body></html>
"""


def _handler(routes: dict[str, tuple[Path | bytes, str]]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            item = routes.get(self.path.split("?")[0])
            if item is None:
                self.send_error(404)
                return
            body, ctype = item
            data = body.read_bytes() if isinstance(body, Path) else body
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):  # quiet
            pass

    return Handler


class BrowserSession:
    """Headless Chromium with the scoring page loaded and face-api initialised (a context manager).

    ``video``: a Y4M file for Chromium's fake camera (needed by :meth:`live` and :meth:`widget`).
    Playwright's sync API runs on a thread of its own, so this works inside a Jupyter kernel (which
    runs an asyncio loop) too."""

    def __init__(self, video: str | Path | None = None, prefer: str | None = None, timeout_s: float = 60.0,
                 camera_permission: bool = True):
        ok, why = status()
        if not ok:
            raise BackendUnavailable(why)
        self.video, self.prefer, self.timeout_s = video, prefer, timeout_s
        self.camera_permission = camera_permission
        self._pw = self._browser = self.page = self._srv = None
        self.info: dict[str, Any] = {}
        self._ex = None

    def _call(self, fn, *a):
        from concurrent.futures import ThreadPoolExecutor

        if self._ex is None:
            self._ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emokit-playwright")
        return self._ex.submit(fn, *a).result()

    def __enter__(self) -> "BrowserSession":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self._call(self._start)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        p = asset_paths()
        routes: dict[str, tuple[Path | bytes, str]] = {
            "/": (_PAGE.encode(), "text/html"), "/camera_widget.js": (WIDGET_JS, "text/javascript"),
            "/camera_widget.css": (WIDGET_CSS, "text/css"),
            "/face-api.esm.js": (p["lib"], "text/javascript"),
            "/assets.json": (json.dumps({"wasm": list(WASM_FILES)}).encode(), "application/json")}
        for k in MODELS:
            routes[f"/model/{k}.json"] = (p[f"{k}_manifest"], "application/json")
            routes[f"/model/{k}.bin"] = (p[k], "application/octet-stream")
        for w in WASM_FILES:
            routes[f"/wasm/{w}"] = (p[w], "application/wasm")
        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
        threading.Thread(target=self._srv.serve_forever, name="emokit-backend-e", daemon=True).start()
        args = list(CHROMIUM_ARGS)
        if self.video is not None:
            args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={self.video}"]
            if self.camera_permission:   # without it the permission request is denied (headless: no prompt)
                args.append("--use-fake-ui-for-media-stream")
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
            self.page = self._browser.new_page()
            self.page.set_default_timeout(self.timeout_s * 1000)
            self.page.goto(f"http://127.0.0.1:{self._srv.server_address[1]}/")
            self.page.wait_for_function("window.emokitReady === true")
            t0 = time.perf_counter()
            self.info = self.page.evaluate("(p) => window.emokit.init(p)", self.prefer)
            self.info["load_s"] = round(time.perf_counter() - t0, 3)
        except Exception:
            self._close()
            raise

    def close(self) -> None:
        if self._ex is not None:
            self._call(self._close)
            self._ex.shutdown(wait=True)
            self._ex = None

    def _close(self) -> None:
        for closer in (lambda: self._browser and self._browser.close(), lambda: self._pw and self._pw.stop(),
                       lambda: self._srv and (self._srv.shutdown(), self._srv.server_close())):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._browser = self._pw = self._srv = self.page = None

    def screenshot(self, path: str | Path, selector: str | None = None) -> Path:
        """A PNG of the page, or of the first element matching ``selector``."""
        if selector:
            self._call(lambda: self.page.locator(selector).first.screenshot(path=str(path)))
        else:
            self._call(lambda: self.page.screenshot(path=str(path)))
        return Path(path)

    def expressions(self, faces: Sequence[np.ndarray], size: int = 112, chunk: int = 256) -> tuple[np.ndarray, list[float]]:
        """(N, 7) probabilities in LABELS7 order and the in-browser ms per face (the net alone)."""
        import cv2

        probs, ms = [], []
        for i in range(0, len(faces), chunk):
            part = [cv2.resize(np.ascontiguousarray(f, dtype=np.uint8) if f.ndim == 2 else
                               cv2.cvtColor(np.ascontiguousarray(f, dtype=np.uint8), cv2.COLOR_RGB2GRAY),
                               (size, size), interpolation=cv2.INTER_LINEAR) for f in faces[i:i + chunk]]
            b64 = base64.b64encode(np.stack(part).tobytes()).decode()
            r = self._call(self.page.evaluate, "([b, n, s]) => window.emokit.expressions(b, n, s)", [b64, len(part), size])
            probs += r["probs"]
            ms += r["ms"]
        return np.asarray(probs, dtype=np.float64).reshape(-1, len(LABELS7)), ms

    def detect(self, frames: Sequence[np.ndarray], input_size: int = 160) -> list[dict[str, Any] | None]:
        """The tiny face detector on grey frames (all the same size): score and box per frame, or None."""
        g = [np.ascontiguousarray(f if f.ndim == 2 else f[..., 0], dtype=np.uint8) for f in frames]
        h, w = g[0].shape
        b64 = base64.b64encode(np.stack(g).tobytes()).decode()
        return self._call(self.page.evaluate, "([b, n, h, w, s]) => window.emokit.detect(b, n, h, w, s)",
                          [b64, len(g), h, w, int(input_size)])

    def widget(self, seconds: float = 5.0, traits: dict[str, Any] | None = None, warm_s: float = 1.0) -> dict[str, Any]:
        """The app's camera widget itself on the fake camera (its kernel side stood in for: assets served
        here, frames acked at once): overlay updates/s, kernel frames/s, the boxes it drew, its status."""
        if self.video is None:
            raise ValueError("BrowserSession(video=...) is needed for the widget measurement (a fake camera)")
        r = self._call(self.page.evaluate, "([s, t, w]) => window.emokit.widget(s, t, w)",
                       [float(seconds), traits or {}, float(warm_s)])
        return _widget_summary(r)


def _widget_summary(r: dict[str, Any]) -> dict[str, Any]:
    r["updates_per_s"] = r["updates"] / r["seconds"] if r["seconds"] else 0.0
    r["kernel_frames_per_s"] = r["kernel_frames"] / r["seconds"] if r["seconds"] else 0.0
    seen = [b for b in r["boxes"] if b[1]]
    r["face_rate"] = len(seen) / len(r["boxes"]) if r["boxes"] else 0.0
    xs = [b[1][0] + b[1][2] / 2 for b in seen]
    r["box_center_x_min"] = float(min(xs)) if xs else None
    r["box_center_x_max"] = float(max(xs)) if xs else None
    return r


class BrowserBackend:
    """Backend E behind the chapter's interface (``predict_faces``); one Chromium for its lifetime."""

    name = "browser"
    embed_dim = 0

    def __init__(self, prefer: str | None = None):
        self.session = BrowserSession(prefer=prefer)
        self.session.start()
        self.ms_log: list[float] = []   # in-browser ms per face (the net alone), every call

    def predict_faces(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, len(LABELS7)))
        p, ms = self.session.expressions(list(faces))
        self.ms_log += ms
        return p

    def embed_faces(self, faces):
        raise BackendUnavailable("backend E (face-api in the browser) exposes no embeddings")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "embed_dim": 0, "face_api": FACE_API_VERSION, **self.session.info}

    def close(self) -> None:
        self.session.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------- fake-camera videos
def write_y4m(frames: Sequence[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """RGB uint8 frames (even width and height) -> an uncompressed 4:2:0 Y4M, what Chromium's
    ``--use-file-for-fake-video-capture`` plays (in a loop)."""
    path = Path(path)
    h, w, _ = frames[0].shape
    sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f = rgb.astype(np.float32)
            y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
            u = (f[..., 2] - y) * 0.564 + 128
            v = (f[..., 0] - y) * 0.713 + 128
            fh.write(b"FRAME\n" + b"".join(np.clip(p, 0, 255).astype(np.uint8).tobytes() for p in (y, sub(u), sub(v))))
    return path


def moving_face_video(gray_face: np.ndarray, path: str | Path, seconds: float = 2.0, fps: int = 30,
                      size=(240, 320), face_px: int = 120, background: int = 110) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """A Y4M clip in which ``gray_face`` travels left -> right -> left across the frame (a triangle wave,
    one loop per clip, so Chromium's looping playback is seamless). Returns the path and the true box
    (x, y, w, h) of every frame."""
    from ..testing.synthetic_faces import face_on_canvas

    H, W = size
    n = max(2, int(seconds * fps))
    x0, x1, y = 10, W - face_px - 10, (H - face_px) // 2
    frames, boxes = [], []
    for i in range(n):
        ph = 2 * i / n
        x = int(round(x0 + (x1 - x0) * (ph if ph <= 1 else 2 - ph)))
        fr, box = face_on_canvas(gray_face, (H, W), face_px, xy=(x, y), background=background)
        frames.append(fr)
        boxes.append(box)
    return write_y4m(frames, path, fps=fps), boxes
