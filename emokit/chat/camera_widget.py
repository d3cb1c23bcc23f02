"""The app's camera widget: the browser fast path (face box + smoothed label drawn over the live video on
every frame) and frames for the kernel's face modality (report section 6's fast and slow paths).

``CameraWidget`` (an anywidget; JS in ``camera_widget.js``, CSS in ``camera_widget.css``) keeps one
``getUserMedia`` <video> open. In the browser it runs face-api's tiny face detector and expression net
(:mod:`emokit.vision.browser`, backend E of chapter 01) on every new video frame and draws the box and
label itself, skipping frames while one is being analysed. Every 1/``fps`` s it also pushes a
downscaled JPEG to the kernel with the box it is showing (at most one frame in flight); the kernel
answers each with its own result (``ack``), which the widget's live chart shows beside the browser's
and which becomes the overlay's box when the browser model is unavailable.

face-api's JS, weights and wasm binaries travel over the widget comm on request, read from the npm
install in ``web/node_modules`` (see :func:`emokit.vision.browser.asset_paths`): nothing comes from a
CDN. Every failure has a status line in the widget: no camera permission, no WebGL (wasm or cpu
backend), a slow machine (frames skipped), the model failing to load (the kernel draws the box).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# fast-path options (the JS defaults; params/06_empathic_chat.yaml app.fast_path overrides them)
FAST_DEFAULTS = {"input_size": 160, "score_threshold": 0.4, "expression_every": 2, "motion": 1.5,
                 "refresh_s": 3.0, "still_check_hz": 5}


def fast_options(fast_path: dict[str, Any] | None) -> dict[str, Any]:
    """The fast path's JS options from ``params/06_empathic_chat.yaml: app.fast_path`` (defaults filled)."""
    fp = fast_path or {}
    return {**FAST_DEFAULTS, **{k: fp[k] for k in FAST_DEFAULTS if k in fp}}


def asset_message() -> tuple[dict[str, Any], list[bytes]]:
    """The ``assets`` reply: face-api's ESM build, both models (manifest + weights), the wasm binaries.
    On a missing file the reply carries ``error`` (the widget then says so and uses the kernel path)."""
    import json

    from ..vision import browser

    try:
        p = browser.asset_paths()
    except browser.AssetsMissing as exc:
        return {"type": "assets", "error": str(exc)}, []
    buffers = [p["lib"].read_bytes(), p["tiny"].read_bytes(), p["expr"].read_bytes()]
    buffers += [p[w].read_bytes() for w in browser.WASM_FILES]
    msg = {"type": "assets", "version": browser.FACE_API_VERSION, "lib": 0, "tiny": 1, "expr": 2,
           "tiny_manifest": json.loads(p["tiny_manifest"].read_text()),
           "expr_manifest": json.loads(p["expr_manifest"].read_text()),
           "wasm": list(browser.WASM_FILES), "wasm_index": [3 + i for i in range(len(browser.WASM_FILES))]}
    return msg, buffers


def camera_widget_class():
    import anywidget
    import traitlets

    class CameraWidget(anywidget.AnyWidget):
        """The live camera with the browser fast path (see the module doc).

        ``on_frame(jpeg_bytes, meta) -> dict`` is called in the kernel for each pushed frame (``meta``: the
        box, label and probabilities the browser showed for it, its mode and updates/s); its return value
        (``box``, ``probs``, ``label``, ``conf``, ``kfps``, or ``error``) goes back with the ack."""

        _esm = HERE / "camera_widget.js"
        _css = HERE / "camera_widget.css"
        fps = traitlets.Float(4.0).tag(sync=True)            # frames/s pushed to the kernel
        width = traitlets.Int(320).tag(sync=True)            # their width in pixels
        view_width = traitlets.Int(320).tag(sync=True)       # the video on the page
        capture = traitlets.List([320, 240]).tag(sync=True)  # camera resolution asked for (ideal)
        slow_ups = traitlets.Float(15.0).tag(sync=True)      # under this many updates/s (moving) -> "slow machine"
        fast_path = traitlets.Bool(True).tag(sync=True)      # face-api in the browser
        tf_backend = traitlets.Unicode("").tag(sync=True)    # force webgl / wasm / cpu ("" = best that works)
        fast_options = traitlets.Dict(dict(FAST_DEFAULTS)).tag(sync=True)
        smooth_tau_s = traitlets.Float(0.8).tag(sync=True)   # live label: time constant of the smoothing
        label_margin = traitlets.Float(0.1).tag(sync=True)   # lead another class needs to take the label
        min_confidence = traitlets.Float(0.45).tag(sync=True)  # below it the label reads "Happy? 38% · ..."
        chart_hz = traitlets.Float(5.0).tag(sync=True)       # live chart refreshes per second at most
        kernel_still_s = traitlets.Float(1.0).tag(sync=True)  # still picture: a kernel frame this often (0 = fps)
        error = traitlets.Unicode("").tag(sync=True)          # camera error from the browser

        def __init__(self, on_frame: Callable[[bytes, dict[str, Any]], dict[str, Any] | None] | None = None, **kw):
            super().__init__(**kw)
            self.on_frame = on_frame
            self.fast_status: dict[str, Any] = {}   # the browser's report on its model (ok, backend, why / error)
            self.last_meta: dict[str, Any] = {}     # what the browser showed with the last frame
            self.on_msg(self._on_msg)

        def _on_msg(self, _w, content, buffers) -> None:
            if not isinstance(content, dict):
                return
            kind = content.get("type")
            if kind == "assets":
                msg, bufs = asset_message()
                if msg.get("error"):
                    log.warning("camera widget: %s", msg["error"])
                self.send(msg, bufs)
            elif kind == "fast_path":
                self.fast_status = dict(content)
            elif kind == "frame":
                reply: dict[str, Any] = {}
                try:
                    self.last_meta = {k: v for k, v in content.items() if k != "type"}
                    if buffers and self.on_frame is not None:
                        reply = self.on_frame(bytes(buffers[0]), self.last_meta) or {}
                except Exception as exc:  # noqa: BLE001 - the live view must keep going
                    log.warning("camera frame failed: %s", exc)
                    reply = {"error": str(exc)}
                finally:
                    self.send({"type": "ack", **_jsonable(reply)})

    return CameraWidget


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        elif isinstance(v, (list, tuple)):
            v = [x.item() if isinstance(x, (np.floating, np.integer)) else x for x in v]
        out[k] = v
    return out
