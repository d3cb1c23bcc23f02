"""The bad-input table: runs each hostile input through the real command line (`predict text|audio|face`,
`chat`) with the default models under the artifacts root, and writes the status each one gets.

    .venv/bin/python scripts/bad_inputs.py [--out docs/bad_inputs.md] [--artifacts DIR]

Inputs are generated in a temporary folder (noise, tones, black squares, GBK files, broken session
files ...); where ../shared/data is present a real RAVDESS voice and a FER2013 face are used for the
"speech/face hidden in something" cases, else the generated stand-ins (emokit.data.speech.synthetic_vowels).
Each row: the case, the status (for chat: the exit code and what happened to the turn), the detail or
warning (shortened), and the wall time of that call on this machine (models already loaded). Needs the
trained default models (`make report`); the chat rows run offline and against emokit.testing.fake_openai_server.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from emokit import cli  # noqa: E402
from emokit.config import offline_env  # noqa: E402

SR = 16000
SENTINEL = "sk-sentinel-BAD-INPUTS-0123456789"


def _run(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
            err.write(str(exc.code))
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - t0


def _short(s: str, n: int = 110) -> str:
    s = " ".join(str(s).split()).replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def _predict_rows(modality: str, cases: list[tuple[str, list[str]]], tmp: Path) -> list[dict]:
    rows = []
    for name, args in cases:
        rc, out, err, took = _run(["predict", modality, *args, "--json"])
        preds = [json.loads(x) for x in out.splitlines() if x.strip().startswith("{")]
        for k, p in enumerate(preds):
            detail = p.get("detail") or p.get("warning") or (
                f"{p['label']} {p['confidence']:.2f}" if p.get("label") else "")
            extra = []
            for key in ("windows", "speech_s", "truncated", "chars_used", "face_source", "frames_used"):
                if p.get(key) not in (None, False):
                    extra.append(f"{key}={p[key]}")
            rows.append({"case": name if len(preds) == 1 else f"{name} [{k + 1}]", "status": p["status"],
                         "detail": _short(str(detail).replace(str(tmp) + "/", "")),
                         "extra": ", ".join(extra), "time_s": took / max(len(preds), 1)})
        if not preds:
            rows.append({"case": name, "status": f"exit {rc}", "detail": _short(err.replace(str(tmp) + "/", "")),
                         "extra": "", "time_s": took})
    return rows


def text_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    zh = "我今天很开心，因为考试通过了。\n我很难过，我的猫死了。\n"
    (tmp / "gbk.txt").write_bytes(zh.encode("gbk"))
    (tmp / "gbk_short.txt").write_bytes("我很生气\n".encode("gbk"))
    (tmp / "latin1.txt").write_bytes("I love this café\n".encode("latin-1"))
    (tmp / "utf16.txt").write_bytes("I am scared of tomorrow\n".encode("utf-16"))
    (tmp / "nul.txt").write_bytes(b"\x00\n")
    (tmp / "random.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp / "zh100k.txt").write_text("我今天很开心因为考试通过了" * 7700, encoding="utf-8")
    (tmp / "en10k.txt").write_text("I really do not know what to say about all of this " * 1000, encoding="utf-8")
    (tmp / "folder").mkdir()
    return [("empty string", [""]), ("whitespace only", ["  \t "]), ("zero-width spaces only", ["\u200b\u200b"]),
            ("emoji only", ["😀😀😀"]), ("NUL-only line (--file)", ["--file", str(tmp / "nul.txt")]),
            ("GBK file, 2 lines (--file)", ["--file", str(tmp / "gbk.txt")]),
            ("GBK file, 4 characters", ["--file", str(tmp / "gbk_short.txt")]),
            ("Latin-1 file", ["--file", str(tmp / "latin1.txt")]), ("UTF-16 file with BOM", ["--file", str(tmp / "utf16.txt")]),
            ("random bytes file", ["--file", str(tmp / "random.bin")]), ("--file is a folder", ["--file", str(tmp / "folder")]),
            ("--file missing (batch goes on)", ["hello", "--file", str(tmp / "missing.txt")]),
            ("100,000 Chinese characters", ["--file", str(tmp / "zh100k.txt")]),
            ("52,000-character English text", ["--file", str(tmp / "en10k.txt")])]


def _speech(shared: Path | None) -> tuple[np.ndarray, str]:
    from emokit.data.media import load_audio
    from emokit.data.speech import synthetic_vowels

    if shared is not None:
        clips = sorted((shared / "ravdess").glob("Actor_*/03-01-*.wav"))
        if clips:
            return load_audio(clips[0], sr=SR), "RAVDESS speech"
    return synthetic_vowels(2.5), "generated vowels"


def audio_cases(tmp: Path, shared: Path | None) -> list[tuple[str, list[str]]]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    sp, what = _speech(shared)
    t = np.arange(3 * SR) / SR

    def w(name: str, a: np.ndarray) -> str:
        p = tmp / f"{name}.wav"
        sf.write(p, np.asarray(a, np.float32), SR)
        return str(p)

    eight = np.zeros((len(sp), 8), np.float32)
    eight[:, 5] = sp
    (tmp / "notaudio.wav").write_text("this is not audio")
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "afolder").mkdir()
    return [("60 s of digital silence", [w("silence", np.zeros(60 * SR))]),
            ("white noise 3 s", [w("noise", 0.1 * rng.standard_normal(3 * SR))]),
            ("440 Hz tone 3 s", [w("tone", 0.3 * np.sin(2 * np.pi * 440 * t))]),
            ("50 Hz mains hum", [w("hum", 0.3 * np.sin(2 * np.pi * 50 * t))]),
            ("0.05 s clip", [w("short", 0.3 * rng.standard_normal(800))]),
            ("clicks every 0.25 s", [w("clicks", np.where(np.arange(3 * SR) % 4000 == 0, 0.9, 0.0))]),
            (f"{what} (reference)", [w("speech", sp)]),
            (f"{what} after 35 s of silence", [w("late", np.concatenate([np.zeros(35 * SR), sp]))]),
            (f"8 channels, {what} on one", [w("eight", eight)]),
            (f"{what} repeated for 75 s", [w("long", np.concatenate([np.concatenate([sp, np.zeros(SR // 2)])
                                                                    for _ in range(int(75 * SR / (len(sp) + SR // 2)))]))]),
            ("text file named .wav", [str(tmp / "notaudio.wav")]), ("empty file", [str(tmp / "empty.wav")]),
            ("a folder", [str(tmp / "afolder")]), ("missing file", [str(tmp / "nope.wav")])]


def _video(path: Path, seconds: float, fps: int = 30, w: int = 320, h: int = 240) -> None:
    import av

    c = av.open(str(path), "w")
    st = c.add_stream("mpeg4", rate=fps)
    st.width, st.height, st.pix_fmt = w, h, "yuv420p"
    for i in range(int(seconds * fps)):
        for pkt in st.encode(av.VideoFrame.from_ndarray(np.full((h, w, 3), (i * 2) % 256, np.uint8), format="rgb24")):
            c.mux(pkt)
    for pkt in st.encode():
        c.mux(pkt)
    c.close()


def face_cases(tmp: Path, shared: Path | None) -> list[tuple[str, list[str]]]:
    from PIL import Image

    rng = np.random.default_rng(0)

    def save(name: str, a: np.ndarray) -> str:
        p = tmp / f"{name}.png"
        Image.fromarray(a).save(p)
        return str(p)

    rows = [("1×1 image", [save("one", np.full((1, 1, 3), 200, np.uint8))]),
            ("48×48 noise", [save("noise", rng.integers(0, 256, (48, 48), dtype=np.uint8))]),
            ("48×48 black", [save("black", np.zeros((48, 48), np.uint8))]),
            ("48×48 white", [save("white", np.full((48, 48), 255, np.uint8))]),
            ("48×48 gradient", [save("grad", np.tile(np.linspace(0, 255, 48).astype(np.uint8), (48, 1)))]),
            ("400×300 grey wall", [save("wall", np.full((300, 400, 3), 128, np.uint8))])]
    faces = sorted((shared / "fer2013" / "train" / "happy").glob("*.jpg")) if shared is not None else []
    if faces:
        g = np.asarray(Image.open(faces[0]).convert("L"))
        rows.append(("FER2013 face (reference)", [str(faces[0])]))
        rows.append(("the same face as a 16-bit PNG", [save("face16", g.astype(np.uint16) * 257)]))
    (tmp / "notimage.jpg").write_text("not an image")
    (tmp / "notvideo.mp4").write_bytes(b"\x00\x01 not a video" * 50)
    (tmp / "ifolder").mkdir()
    t0 = time.perf_counter()
    _video(tmp / "long120.mp4", 120)
    print(f"made the 120 s video in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows += [("text file named .jpg", [str(tmp / "notimage.jpg")]), ("bytes named .mp4", [str(tmp / "notvideo.mp4")]),
             ("a folder", [str(tmp / "ifolder")]), ("missing file", [str(tmp / "nope.jpg")]),
             ("120 s 320×240 video, no face", [str(tmp / "long120.mp4")])]
    return rows


def chat_rows(tmp: Path) -> list[dict]:
    from emokit.testing.fake_openai_server import FakeOpenAIServer

    import soundfile as sf

    sf.write(tmp / "silent.wav", np.zeros(3 * SR, np.float32), SR)
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "null.json").write_text("null")
    (tmp / "num.json").write_text("42")
    (tmp / "broken.json").write_text("{not json")
    (tmp / "sess_dir").mkdir()
    (tmp / "t.md").write_text("an earlier note")
    base = ["chat", "--offline", "--no-perception", "-m"]
    cases = [("empty message", ["chat", "--offline", "-m", ""]),
             ("whitespace message", ["chat", "--offline", "-m", "   "]),
             ("NUL-only message", base + ["\x00"]),
             ("1 MB message", base + ["I am sad. " * 100_000]),
             ("--session holding a JSON list", base + ["hi", "--session", str(tmp / "list.json")]),
             ("--session holding null", base + ["hi", "--session", str(tmp / "null.json")]),
             ("--session holding a number", base + ["hi", "--session", str(tmp / "num.json")]),
             ("--session not JSON", base + ["hi", "--session", str(tmp / "broken.json")]),
             ("--session is a folder", base + ["hi", "--session", str(tmp / "sess_dir")]),
             ("--transcript is an existing file", base + ["hi", "--transcript", str(tmp / "t.md")]),
             ("--transcript folder used twice", base + ["hi", "--transcript", str(tmp / "tdir")]),
             ("--face missing file", ["chat", "--offline", "-m", "hi", "--face", str(tmp / "nope.jpg")]),
             ("--audio 3 s of silence, no text", ["chat", "--offline", "--audio", str(tmp / "silent.wav")]),
             ("user_defined persona without text", base + ["hi", "--persona", "user_defined"])]
    rows = []
    _run(base + ["first", "--transcript", str(tmp / "tdir")])  # an earlier conversation in tdir
    for name, argv in cases:
        rc, out, err, took = _run(argv)
        what = "turn answered" if out.strip() else "no turn (refused before it)"
        if "tdir" in " ".join(argv):
            what += "; files: " + ", ".join(sorted(p.name for p in (tmp / "tdir").iterdir()))
        notes = [ln.replace(str(tmp) + "/", "") for ln in err.splitlines()
                 if ln.startswith(("error", "note", "warning")) and "perception disabled" not in ln]
        rows.append({"case": name, "status": f"exit {rc}: {what}", "detail": _short("; ".join(notes), 120),
                     "extra": "", "time_s": took})
    with FakeOpenAIServer(default="echo_headers") as srv:
        os.environ["DEEPSEEK_API_KEY"], os.environ["EMOKIT_LLM_BASE_URL"] = SENTINEL, srv.base_url
        try:
            rc, out, err, took = _run(["chat", "--no-perception", "-m", "hi", "--json", "--session",
                                       str(tmp / "leak.json"), "--transcript", str(tmp / "leak")])
        finally:
            del os.environ["DEEPSEEK_API_KEY"], os.environ["EMOKIT_LLM_BASE_URL"]
    files = [tmp / "leak.json", *sorted((tmp / "leak").iterdir())]
    leaked = SENTINEL in out + err or any(SENTINEL in p.read_text() for p in files)
    rows.append({"case": "LLM error body echoes the key", "status": f"exit {rc}: turn answered (offline fallback)",
                 "detail": f"key in stdout/stderr/session/transcript: {'LEAKED' if leaked else 'no'}",
                 "extra": "", "time_s": took})
    return rows


def table(title: str, rows: list[dict]) -> str:
    lines = [f"### {title} ({len(rows)} cases)", "", "| case | status | detail / warning | extra | s |",
             "|---|---|---|---|---:|"]
    lines += [f"| {r['case']} | `{r['status']}` | {r['detail']} | {r['extra']} | {r['time_s']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "bad_inputs.md"))
    ap.add_argument("--artifacts", default=None, help="artifacts root (default: EMOKIT_ARTIFACTS or ./artifacts)")
    args = ap.parse_args(argv)
    if args.artifacts:
        os.environ["EMOKIT_ARTIFACTS"] = args.artifacts
    for k in ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY"):
        os.environ.pop(k, None)
    offline_env()
    from emokit.config import data_root

    try:
        shared = Path(data_root())
    except Exception:  # noqa: BLE001 - no data: generated stand-ins
        shared = None
    sections = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _run(["predict", "text", "warm up", "--json"])  # load the models once, outside the timings
        sections.append(table("Text: `predict text`", _predict_rows("text", text_cases(tmp), tmp)))
        ac = audio_cases(tmp, shared)
        _run(["predict", "audio", ac[6][1][0], "--json"])
        sections.append(table("Audio: `predict audio`", _predict_rows("audio", ac, tmp)))
        fc = face_cases(tmp, shared)
        _run(["predict", "face", fc[0][1][0], "--json"])
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sections.append(table("Face and video: `predict face`", _predict_rows("face", fc, tmp)))
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sections.append(table("Chat: `chat`", chat_rows(tmp)))
    from emokit.artifacts import machine_info

    m = machine_info()
    head = ["<!-- generated by `python scripts/bad_inputs.py`; do not edit by hand -->", "",
            "## Bad inputs and the status each gets", "",
            f"Run on {m.get('cpu_model', '?')} ({m.get('nproc', '?')} cores), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            "with the demo profile's default models. Times are one call each with the models already loaded "
            "(a batch's time is shared among its inputs). Peak memory of the whole run after the face "
            f"rows (120 s video included): {rss1 / 1024:.0f} MB (before them: {rss0 / 1024:.0f} MB).", ""]
    Path(args.out).write_text("\n".join(head) + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
