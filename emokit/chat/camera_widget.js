// The app's camera widget (anywidget ESM) and the browser fast path it runs.
//
// One getUserMedia <video> stays open. On every new video frame the fast path runs face-api's tiny face
// detector (+ its expression net) in the browser and draws the box and a smoothed label over the video
// itself; a frame that arrives while the previous one is still being analysed is skipped, never queued.
// Independently, every 1/fps s a downscaled JPEG goes to the kernel (at most one in flight) for the
// fusion's face modality; the kernel answers each with its own box and probabilities ("ack").
// face-api's JS and weights come over the widget comm from the kernel (which reads them from the npm
// install under web/node_modules), never from a CDN. Without them, or when they fail to load, the
// overlay draws the kernel's box at the kernel's rate and the status line says why.
// The same module is imported by emokit/vision/browser.py's scoring page (backend E, chapter 01).

export const LABELS = ["Happy", "Sad", "Angry", "Fear", "Surprise", "Disgust", "Neutral"];
const FROM_API = { happy: "Happy", sad: "Sad", angry: "Angry", fearful: "Fear", surprised: "Surprise",
                   disgusted: "Disgust", neutral: "Neutral" };
export const COLOURS = { Happy: "#f4b400", Sad: "#4a6fa5", Angry: "#d93025", Fear: "#8e44ad",
                         Surprise: "#ff8c00", Disgust: "#2e8b57", Neutral: "#7f8c8d" };

/** face-api's expression object -> probabilities in LABELS order. */
export function toLabels7(expr) {
  const p = LABELS.map(() => 0);
  for (const [k, v] of Object.entries(expr || {})) {
    const i = LABELS.indexOf(FROM_API[k]);
    if (i >= 0) p[i] = v;
  }
  const s = p.reduce((a, b) => a + b, 0) || 1;
  return p.map((v) => v / s);
}

/** The renderer behind WebGL, or "" (a software renderer makes WebGL slower than wasm). */
function webglRenderer() {
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return null;
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  } catch (e) {
    return null;
  }
}

function decodeModel(tf, manifest, buffer) {
  const specs = [].concat(...manifest.map((g) => g.weights));
  return tf.io.decodeWeights(buffer, specs);
}

/** Load face-api from `src` = {lib: URL of face-api.esm.js, tiny: [manifest, ArrayBuffer],
 * expr: [manifest, ArrayBuffer], wasm: {file name: URL}}; pick the fastest backend that works:
 * WebGL on a hardware renderer, else wasm, else cpu. Returns {faceapi, backend, why}. */
export async function loadFaceApi(src, prefer) {
  const faceapi = await import(src.lib);
  const tf = faceapi.tf;
  const renderer = webglRenderer();
  const soft = renderer !== null && /swiftshader|llvmpipe|software/i.test(renderer);
  const order = prefer ? [prefer] : ["webgl", "wasm", "cpu"];
  const notes = [];
  if (renderer === null) notes.push("no WebGL");
  else if (soft) notes.push(`WebGL is software (${renderer.slice(0, 40)})`);
  let backend = null;
  for (const b of order) {
    if (b === "webgl" && !prefer && (renderer === null || soft)) continue;
    if (b === "wasm") {
      if (!src.wasm || !Object.keys(src.wasm).length) { notes.push("no wasm binaries"); continue; }
      tf.setWasmPaths(src.wasm);
    }
    try {
      if (await tf.setBackend(b)) { await tf.ready(); backend = b; break; }
      notes.push(`${b} refused`);
    } catch (e) {
      notes.push(`${b} failed: ${e}`);
    }
  }
  if (!backend) throw new Error("no TensorFlow.js backend works: " + notes.join("; "));
  faceapi.nets.tinyFaceDetector.loadFromWeightMap(decodeModel(tf, src.tiny[0], src.tiny[1]));
  faceapi.nets.faceExpressionNet.loadFromWeightMap(decodeModel(tf, src.expr[0], src.expr[1]));
  return { faceapi, backend, why: notes.join("; ") };
}

/** The live label: probabilities smoothed over time (exponential, time constant `tau_s`), a label that
 * only changes when another class leads it by `margin`, and "uncertain" when the top class is under
 * `min_conf` or within `margin` of the runner-up. */
export class LabelSmoother {
  constructor({ tau_s = 0.8, margin = 0.1, min_conf = 0.45 } = {}) {
    this.tau = tau_s; this.margin = margin; this.minConf = min_conf;
    this.p = null; this.t = 0; this.label = null;
  }
  reset() { this.p = null; this.label = null; }
  update(probs, tMs) {
    if (!this.p) this.p = probs.slice();
    else {
      const a = 1 - Math.exp(-Math.max(0, tMs - this.t) / 1000 / Math.max(1e-3, this.tau));
      this.p = this.p.map((v, i) => (1 - a) * v + a * probs[i]);
    }
    this.t = tMs;
    const order = this.p.map((v, i) => i).sort((i, j) => this.p[j] - this.p[i]);
    const top = order[0];
    const cur = this.label === null ? -1 : LABELS.indexOf(this.label);
    if (cur < 0 || this.p[top] - this.p[cur] >= this.margin) this.label = LABELS[top];
    const li = LABELS.indexOf(this.label);
    const other = order[0] === li ? order[1] : order[0];
    const conf = this.p[li];
    return { label: this.label, conf, second: LABELS[other], second_conf: this.p[other],
             uncertain: conf < this.minConf || conf - this.p[other] < this.margin, probs: this.p.slice() };
  }
}

export function labelText(s) {
  if (!s || !s.label) return "";
  const pct = (v) => Math.round(v * 100) + "%";
  return s.uncertain ? `${s.label}? ${pct(s.conf)} · ${s.second} ${pct(s.second_conf)}` : `${s.label} ${pct(s.conf)}`;
}

/** Detection (+ expression) on every new video frame, skipping frames while one is in flight. When the
 * picture has not changed (mean absolute difference of a 32x24 grey thumbnail under `motion`, in grey
 * levels) the last result stands and nothing runs, except a refresh every `refresh_s` s. */
export class FastPath {
  constructor(faceapi, video, opts, onResult) {
    this.api = faceapi; this.video = video; this.onResult = onResult;
    this.o = Object.assign({ input_size: 160, score_threshold: 0.4, expression_every: 2, motion: 1.5,
                             refresh_s: 3.0, still_check_hz: 5 }, opts || {});
    this.det = new faceapi.TinyFaceDetectorOptions({ inputSize: this.o.input_size,
                                                     scoreThreshold: this.o.score_threshold });
    this.busy = false; this.running = false; this.n = 0;
    this.stats = { updates: 0, skipped_busy: 0, still: 0, faces: 0, ms: 0 };
    this.times = []; this.thumb = document.createElement("canvas");
    this.thumb.width = 32; this.thumb.height = 24;
    this.tctx = this.thumb.getContext("2d", { willReadFrequently: true });
    this.last = null; this.lastRun = 0; this.expr = null; this.still = false; this.lastCheck = 0;
  }
  start() {
    this.running = true;
    const v = this.video;
    const next = () => {
      if (!this.running) return;
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(() => { this.step(); next(); });
      else requestAnimationFrame(() => { this.step(); next(); });
    };
    next();
  }
  stop() { this.running = false; }
  updatesPerSecond() {
    const t = this.times;
    return t.length > 1 ? (t.length - 1) / ((t[t.length - 1] - t[0]) / 1000) : 0;
  }
  _changed(now) {
    const c = this.tctx;
    c.drawImage(this.video, 0, 0, 32, 24);
    const d = c.getImageData(0, 0, 32, 24).data;
    const g = new Float32Array(32 * 24);
    for (let i = 0; i < g.length; i++) g[i] = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
    let diff = Infinity;
    if (this.last) { diff = 0; for (let i = 0; i < g.length; i++) diff += Math.abs(g[i] - this.last[i]); diff /= g.length; }
    if (diff < this.o.motion && now - this.lastRun < this.o.refresh_s * 1000) return false;
    this.last = g;
    return true;
  }
  step() {
    const v = this.video;
    if (v.readyState < 2 || !v.videoWidth) return;
    if (this.busy) { this.stats.skipped_busy++; return; }     // skip, never queue
    const now = performance.now();
    // a still picture is looked at only still_check_hz times a second (idle CPU)
    if (this.still && now - this.lastCheck < 1000 / Math.max(1, this.o.still_check_hz)) { this.stats.still++; return; }
    this.lastCheck = now;
    this.still = !this._changed(now);
    if (this.still) { this.stats.still++; return; }
    this.busy = true; this.lastRun = now;
    this.analyse(now).catch((e) => { this.error = String(e); }).finally(() => { this.busy = false; });
  }
  async analyse(t0) {
    const api = this.api, tf = api.tf;
    const withExpr = this.n % Math.max(1, this.o.expression_every) === 0;
    this.n++;
    let box = null;
    const img = tf.browser.fromPixels(this.video);     // one read of the frame for both nets
    try {
      const d = await api.detectSingleFace(img, this.det);
      if (d) {
        box = d.box;
        if (withExpr) {
          const crops = await api.extractFaceTensors(img, [d]);
          try {
            this.expr = toLabels7(await api.nets.faceExpressionNet.predictExpressions(crops[0]));
          } finally {
            crops.forEach((t) => t.dispose());
          }
        }
      }
    } finally {
      img.dispose();
    }
    const done = performance.now();
    this.stats.updates++;
    this.stats.ms = this.stats.ms ? 0.8 * this.stats.ms + 0.2 * (done - t0) : done - t0;
    if (box) this.stats.faces++;
    this.times.push(done);
    while (this.times.length && done - this.times[0] > 3000) this.times.shift();
    this.onResult({ box: box ? [box.x, box.y, box.width, box.height] : null, probs: box ? this.expr : null,
                    ms: done - t0, t: done, width: this.video.videoWidth, height: this.video.videoHeight });
  }
}

// ---------------------------------------------------------------------------------------------------
// The widget

function fetchAssets(model, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the kernel sent no face-api assets within " + timeoutMs / 1000 + " s")), timeoutMs);
    const onMsg = (msg, buffers) => {
      if (!msg || msg.type !== "assets") return;
      clearTimeout(timer);
      model.off("msg:custom", onMsg);
      if (msg.error) return reject(new Error(msg.error));
      const buf = (i) => buffers[i].buffer.slice(buffers[i].byteOffset, buffers[i].byteOffset + buffers[i].byteLength);
      const url = (i, type) => URL.createObjectURL(new Blob([buffers[i]], { type }));
      const wasm = {};
      msg.wasm.forEach((name, k) => { wasm[name] = url(msg.wasm_index[k], "application/wasm"); });
      resolve({ lib: url(msg.lib, "text/javascript"), version: msg.version,
                tiny: [msg.tiny_manifest, buf(msg.tiny)], expr: [msg.expr_manifest, buf(msg.expr)], wasm });
    };
    model.on("msg:custom", onMsg);
    model.send({ type: "assets" });
  });
}

function loadOnce(model) {
  // one face-api per page, shared by every view of the widget
  const g = globalThis;
  if (!g.__emokitFaceApi) {
    g.__emokitFaceApi = fetchAssets(model, 30000).then((src) => loadFaceApi(src, model.get("tf_backend") || null));
    g.__emokitFaceApi.catch(() => { g.__emokitFaceApi = null; });
  }
  return g.__emokitFaceApi;
}

function render({ model, el }) {
  el.classList.add("emokit-camera");
  const wrap = document.createElement("div");
  wrap.className = "emokit-cam-view";
  const W = model.get("view_width"), H = Math.round(W * 3 / 4);
  wrap.style.width = W + "px"; wrap.style.height = H + "px";
  const video = document.createElement("video");
  video.autoplay = true; video.muted = true; video.playsInline = true;
  const overlay = document.createElement("canvas");
  overlay.className = "emokit-overlay";
  overlay.width = W; overlay.height = H;
  const empty = document.createElement("div");
  empty.className = "emokit-cam-wait";
  empty.textContent = "Starting the camera… (allow camera access when the browser asks)";
  wrap.append(video, overlay, empty);
  const status = document.createElement("div");
  status.className = "emokit-cam-status";
  const chart = document.createElement("div");
  chart.className = "emokit-live-chart";
  chart.innerHTML = "<div class='emokit-chart-head'><span>Live face</span><span class='emokit-key-b'>browser</span>" +
    "<span class='emokit-key-k'>kernel</span></div>" + LABELS.map((l) =>
    `<div class="emokit-chart-row" data-label="${l}"><span class="emokit-chart-name">${l}</span>` +
    `<span class="emokit-chart-track"><i class="emokit-bar-b"></i><i class="emokit-bar-k"></i></span>` +
    `<span class="emokit-chart-val">–</span></div>`).join("");
  el.append(wrap, status, chart);
  const ctx = overlay.getContext("2d");
  const smoother = new LabelSmoother({ tau_s: model.get("smooth_tau_s"), margin: model.get("label_margin"),
                                       min_conf: model.get("min_confidence") });
  const kernelSmoother = new LabelSmoother({ tau_s: model.get("smooth_tau_s"), margin: model.get("label_margin"),
                                             min_conf: model.get("min_confidence") });
  const st = { mode: "starting", backend: "", why: "", browser: null, kernel: null, kfps: 0, sent: 0,
               fast: null, camera: "", lastChart: 0, lastStatus: 0 };
  let canvas = document.createElement("canvas"), busySince = 0, timer = null, stream = null, dead = false;

  const scale = () => {
    const vw = video.videoWidth || 640;
    return W / vw;
  };
  const drawBox = (box, text, colour, dashed) => {
    ctx.clearRect(0, 0, W, H);
    if (!box) return;
    const s = scale();
    const [x, y, w, h] = box.map((v) => v * s);
    ctx.lineWidth = 3; ctx.strokeStyle = colour; ctx.setLineDash(dashed ? [6, 4] : []);
    ctx.strokeRect(x, y, w, h);
    if (text) {
      ctx.font = "bold 13px sans-serif";
      const tw = ctx.measureText(text).width + 10;
      ctx.fillStyle = colour; ctx.fillRect(x, Math.max(0, y - 20), tw, 20);
      ctx.fillStyle = "white"; ctx.fillText(text, x + 5, Math.max(14, y - 6));
    }
  };
  const setStatus = (force) => {
    const now = performance.now();
    if (!force && now - st.lastStatus < 500) return;
    st.lastStatus = now;
    const ups = st.fast ? st.fast.updatesPerSecond() : 0;
    let text;
    if (st.mode === "browser") {
      text = `fast path: face-api on ${st.backend} · ${ups.toFixed(1)} updates/s` +
        (st.fast && !st.fast.still && st.fast.stats.updates > 5 && ups < model.get("slow_ups") ?
          " · slow machine: frames are skipped, not queued" : "");
    } else if (st.mode === "kernel") {
      text = `kernel path: the box comes from the kernel at ${st.kfps.toFixed(1)} frames/s (${st.why})`;
    } else if (st.mode === "no-camera") {
      text = st.why;
    } else {
      text = "loading the browser face model…";
    }
    if (st.mode !== "no-camera") text += ` · kernel ${st.kfps.toFixed(1)} frames/s`;
    if (st.kernelError) text += ` · kernel frame failed: ${st.kernelError}`;
    if (st.mode === "browser" && st.why) text += ` · ${st.backend} because ${st.why}`;
    status.textContent = text;
    status.dataset.mode = st.mode;
    status.dataset.backend = st.backend;
    status.dataset.ups = ups.toFixed(2);
    status.dataset.kfps = st.kfps.toFixed(2);
    if (st.fast) {
      status.dataset.updates = st.fast.stats.updates;
      status.dataset.skipped = st.fast.stats.skipped_busy;
      status.dataset.still = st.fast.stats.still;
      status.dataset.ms = st.fast.stats.ms.toFixed(1);
    }
  };
  const setChart = (force) => {
    const now = performance.now();
    if (!force && now - st.lastChart < 1000 / Math.max(1, model.get("chart_hz"))) return;
    st.lastChart = now;
    const b = st.browser && st.browser.probs, k = st.kernel && st.kernel.probs;
    chart.querySelectorAll(".emokit-chart-row").forEach((row, i) => {
      row.querySelector(".emokit-bar-b").style.width = b ? (b[i] * 100).toFixed(0) + "%" : "0";
      row.querySelector(".emokit-bar-k").style.width = k ? (k[i] * 100).toFixed(0) + "%" : "0";
      const v = b || k;
      row.querySelector(".emokit-chart-val").textContent = v ? (v[i] * 100).toFixed(0) + "%" : "–";
    });
  };

  const onFast = (r) => {
    if (dead) return;
    if (r.box && r.probs) st.browser = smoother.update(r.probs, r.t);
    else if (!r.box) { st.browser = null; smoother.reset(); }
    st.box = r.box;
    const lbl = st.browser && st.browser.label;
    drawBox(r.box, lbl ? labelText(st.browser) : (r.box ? "face" : ""), COLOURS[lbl] || "#1565c0", false);
    overlay.dataset.box = r.box ? r.box.map((v) => Math.round(v)).join(",") : "";
    overlay.dataset.label = lbl || "";
    overlay.dataset.source = "browser";
    overlay.dataset.updates = (Number(overlay.dataset.updates || 0) + 1);
    setChart(); setStatus();
  };
  const onAck = (msg) => {
    busySince = 0;
    st.kernelError = msg.error || "";
    if (msg.kfps !== undefined) st.kfps = msg.kfps;
    st.kernel = msg.probs ? kernelSmoother.update(msg.probs, performance.now()) : null;
    if (!msg.probs) kernelSmoother.reset();
    if (st.mode === "kernel" || st.mode === "starting") {   // fallback: the kernel draws the box at its rate
      const lbl = st.kernel && st.kernel.label;
      drawBox(msg.box, lbl ? labelText(st.kernel) : "", COLOURS[lbl] || "#555", true);
      overlay.dataset.box = msg.box ? msg.box.map((v) => Math.round(v)).join(",") : "";
      overlay.dataset.label = lbl || "";
      overlay.dataset.source = "kernel";
    }
    setChart(true); setStatus();
  };
  model.on("msg:custom", (msg) => { if (msg && msg.type === "ack") onAck(msg); });

  let lastSent = 0;
  const tick = () => {   // a frame for the kernel, at most one in flight
    const now = performance.now();
    if (busySince && now - busySince < 5000) return;
    if (video.readyState < 2 || !video.videoWidth) return;
    // while the fast path sees a still picture the kernel already has it: one frame per kernel_still_s
    const still_s = model.get("kernel_still_s");
    if (st.fast && st.fast.still && still_s > 0 && now - lastSent < still_s * 1000) return;
    lastSent = now;
    const w = model.get("width"), h = Math.round(w * video.videoHeight / video.videoWidth);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    busySince = now;
    const f = w / video.videoWidth;
    const meta = { type: "frame", width: w, height: h, mode: st.mode, backend: st.backend,
                   ups: st.fast ? st.fast.updatesPerSecond() : 0,
                   box: st.mode === "browser" && st.box ? st.box.map((v) => v * f) : null,
                   label: st.browser ? st.browser.label : null, conf: st.browser ? st.browser.conf : null,
                   uncertain: st.browser ? st.browser.uncertain : null,
                   probs: st.browser ? st.browser.probs : null };
    canvas.toBlob((blob) => blob.arrayBuffer().then((buf) => {
      st.sent += 1;
      model.send(meta, undefined, [buf]);
    }), "image/jpeg", 0.85);
  };
  const startTicks = () => {
    if (timer) clearInterval(timer);
    timer = setInterval(tick, 1000 / Math.max(0.5, model.get("fps")));
  };
  const startFast = () => {
    if (!model.get("fast_path")) { st.mode = "kernel"; st.why = "the browser fast path is off (fast_path=False)"; setStatus(true); return; }
    loadOnce(model).then(({ faceapi, backend, why }) => {
      if (dead) return;
      st.backend = backend; st.why = why; st.mode = "browser";
      st.fast = new FastPath(faceapi, video, model.get("fast_options"), onFast);
      st.fast.start();
      setStatus(true);
      model.send({ type: "fast_path", ok: true, backend, why });
    }).catch((e) => {
      st.mode = "kernel"; st.why = "the browser face model did not load: " + (e && e.message ? e.message : e);
      setStatus(true);
      model.send({ type: "fast_path", ok: false, error: st.why });
    });
  };
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) {
    st.mode = "no-camera";
    st.why = "no camera API in this browser (it needs a secure context: http://localhost or https)";
    empty.textContent = "No camera: " + st.why; setStatus(true);
  } else {
    const [cw, ch] = model.get("capture");
    md.getUserMedia({ video: { width: { ideal: cw }, height: { ideal: ch }, frameRate: { ideal: 30 } }, audio: false })
      .then((s) => {
        stream = s; video.srcObject = s; video.play(); empty.style.display = "none";
        startTicks(); startFast();
      })
      .catch((e) => {
        st.mode = "no-camera";
        st.why = (e && e.name === "NotAllowedError") ? "camera permission denied: allow the camera for this page " +
          "and reload (text and voice still work)" : "camera unavailable: " + e;
        empty.textContent = st.why; setStatus(true);
        model.set("error", String(e)); model.save_changes();
      });
  }
  model.on("change:fps", startTicks);
  return () => {
    dead = true;
    if (timer) clearInterval(timer);
    if (st.fast) st.fast.stop();
    if (stream) stream.getTracks().forEach((t) => t.stop());
  };
}

export default { render };
