"""The widgets app without a browser: hold-to-talk states, frame path with the face box, bubbles with
emotion tags and theme colour, persona switching, transcript export; and the notebook demo helpers."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest

from emokit.chat import app as chat_app
from emokit.chapters import empathic_chat as demo
from emokit.chat.session import ChatSession
from emokit.config import load_params
from emokit.labels import LABELS7
from emokit.types import Prediction

from test_chat_session import fake_analyze


def _live(rgb):
    return Prediction.from_probs("<camera>", [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.7], box=[8, 6, 20, 20])


def _jpeg(h=48, w=64):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture()
def app(tmp_path):
    s = ChatSession(analyze=fake_analyze, transcribe=lambda a: "I got the job", use_llm=False)
    return chat_app.ChatApp(session=s, live=_live, fps=5, media=True, workdir=tmp_path)


def test_layout_and_offline_label(app):
    assert len(app.root.children) == 3 and "Offline responder" in app.responder.value
    assert "Hey hey" in app.chat.value  # greeting of the default persona
    assert app.cam.fps == 5 and app.state == "IDLE" and 'data-state="IDLE"' in app.state_html.value


def test_camera_frames_pushed_by_anywidget_are_acked(app):
    assert app.cam is not None and app.frame_rec is None and app.cam.fps == 5 and app.hold.fps == 0
    sent = []
    app.cam.send = lambda content, buffers=None: sent.append(content)
    app.cam._on_msg(app.cam, {"type": "frame", "width": 64, "height": 48}, [memoryview(_jpeg())])
    assert app.last_live["label"] == "Neutral" and app.last_live["box"] == [8, 6, 20, 20]
    ack = sent[0]
    assert ack["type"] == "ack" and ack["box"] == [8, 6, 20, 20] and ack["label"] == "Neutral"
    assert len(ack["probs"]) == 7 and abs(sum(ack["probs"]) - 1) < 1e-6 and ack["probs"][6] == max(ack["probs"])
    assert app.live_img.value == b""            # the widget draws its own overlay: no JPEG round trip
    app.cam._on_msg(app.cam, {"type": "frame"}, [b"not an image"])   # a bad frame: shown, still acked
    assert "camera frame failed" in app.live_info.value and len(sent) == 2 and sent[1]["error"]


def test_camera_widget_takes_fast_path_params(tmp_path):
    s = ChatSession(analyze=None, transcribe=None, use_llm=False)
    fp = {"enabled": False, "input_size": 128, "expression_every": 3, "smooth_tau_s": 1.5, "kernel_still_s": 0}
    params = load_params("06_empathic_chat").to_dict()
    params["app"]["live_fps"] = 3
    params["app"]["fast_path"].update(fp)
    app = chat_app.build_app(params, session=s, live=_live, workdir=tmp_path)
    assert app.cam.fast_path is False and app.cam.fps == 3 and app.cam.smooth_tau_s == 1.5
    assert app.cam.fast_options["input_size"] == 128 and app.cam.fast_options["expression_every"] == 3
    assert app.cam.kernel_still_s == 0 and app.cam.fast_options["refresh_s"] > 0   # the file fills the rest


def test_camera_widget_assets_missing_is_reported(app, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOKIT_WEB_DIR", str(tmp_path / "nothing-here"))
    sent = []
    app.cam.send = lambda content, buffers=None: sent.append((content, buffers))
    app.cam._on_msg(app.cam, {"type": "assets"}, [])
    msg, bufs = sent[0]
    assert msg["type"] == "assets" and "nothing-here" in msg["error"] and "setup_web.sh" in msg["error"] and not bufs


def test_camera_widget_sends_face_api_over_the_comm(app):
    from emokit.vision import browser

    try:
        browser.asset_paths()
    except browser.AssetsMissing as exc:
        pytest.skip(str(exc))
    sent = []
    app.cam.send = lambda content, buffers=None: sent.append((content, buffers))
    app.cam._on_msg(app.cam, {"type": "assets"}, [])
    msg, bufs = sent[0]
    assert "error" not in msg and msg["version"] == browser.FACE_API_VERSION
    assert bufs[msg["lib"]][:200].decode("utf-8", "replace").find("Face-API") >= 0
    n_tiny = sum(len(g["weights"]) for g in msg["tiny_manifest"])   # named weight tensors in the manifest
    assert n_tiny > 10 and len(bufs[msg["tiny"]]) > 100_000 and len(bufs[msg["expr"]]) > 100_000
    assert all(bufs[i][:4] == b"\0asm" for i in msg["wasm_index"])


def test_turn_uses_the_face_the_overlay_shows(app):
    from PIL import Image

    app.cam.send = lambda content, buffers=None: None
    assert app.face_for_turn() == (None, "face: no camera frame has reached the kernel")
    meta = {"type": "frame", "mode": "browser", "box": [20.4, 10.2, 30.0, 28.0], "label": "Happy", "conf": 0.62}
    app.cam._on_msg(app.cam, meta, [_jpeg(120, 160)])
    path, note = app.face_for_turn()
    assert "browser fast path, Happy 62%" in note and "[20, 10, 30, 28]" in note
    w, h = Image.open(path).size
    assert (w, h) == (36, 34)                   # the box plus a 10 % margin, nothing else of the frame
    app.cam._on_msg(app.cam, {"type": "frame", "mode": "kernel", "box": None}, [_jpeg(120, 160)])
    path, note = app.face_for_turn()
    assert "kernel's box" in note and Image.open(path).size == (24, 24)   # _live's box [8, 6, 20, 20] + margin
    big = {"type": "frame", "mode": "browser", "box": [0, 0, 150, 118]}
    app.cam._on_msg(app.cam, big, [_jpeg(120, 160)])
    assert max(Image.open(app.face_for_turn()[0]).size) == 96   # scaled so the backend takes it whole


def test_frame_tick_and_face_box(tmp_path):
    s = ChatSession(analyze=None, transcribe=None, use_llm=False)
    app = chat_app.ChatApp(session=s, live=_live, fps=5, media=True, workdir=tmp_path, camera="ipywebrtc")
    assert app.hold.fps == 5
    app.hold.tick += 1
    assert app.frame_rec.recording is True       # a snapshot was requested
    app.frame_rec.recording = False
    app.frame_rec.image.value = _jpeg()          # what the browser sends back
    assert app.last_live["label"] == "Neutral" and app.last_live["box"] == [8, 6, 20, 20]
    assert app.live_img.value[:2] == b"\xff\xd8" and "data-label='Neutral'" in app.live_info.value


def test_hold_to_talk_states_and_turn(app, tmp_path):
    app.cam.send = lambda content, buffers=None: None
    app.cam._on_msg(app.cam, {"type": "frame"}, [_jpeg()])
    seen = []
    app.state_html.observe(lambda ch: seen.append(ch["new"].split('data-state="')[1].split('"')[0]), names="value")
    app.hold.pressed = True
    assert app.state == "RECORDING" and app.audio_rec.recording is True
    app.hold.pressed = False
    assert app.state == "PROCESSING" and app.audio_rec.recording is False
    app.audio_rec.audio.value = b"\x1aE\xdf\xa3fake-webm"   # the recording arrives after release
    for _ in range(100):
        if app.state == "IDLE" and app.session.turns:
            break
        time.sleep(0.05)
    t = app.session.turns[-1]
    assert t.transcript == "I got the job" and t.inputs["audio"].endswith(".webm") and t.inputs["face"].endswith(".png")
    assert seen[0] == "RECORDING" and "PROCESSING" in seen and seen[-1] == "IDLE"
    assert t.emotion == "Happy" and 'data-emotion="Happy"' in app.chat.value
    assert chat_app.EMOTION_COLOURS["Happy"] in app.chat.value and "Happy 55%" in app.chat.value
    assert 'data-modality="face"' in app.scores.value and "speech-to-text" in app.steps.value


def test_typed_turn_persona_switch_and_export(app):
    t = app.submit(text="I am furious about the delay")
    assert app.state == "IDLE" and chat_app.md_to_html(t.reply) in app.chat.value
    app.persona.value = "mock_interview"
    assert "have a seat" in app.chat.value and app.session.persona == "mock_interview"
    app.custom.value = "a calm old sea captain"
    app.apply_custom.click()
    assert app.session.persona == "user_defined" and "sea captain" in app.chat.value
    app._switch("debate_opponent")       # what the scripted demo calls: it sets the dropdown too
    # one greeting per switch (the dropdown's own event no longer switches a second time)
    assert [g["persona"] for g in app.session.greetings][-4:] == ["daily_chat", "mock_interview", "user_defined", "debate_opponent"]
    paths = app._export()
    assert paths["markdown"].read_text().count("## Turn") == 1


def test_render_helpers():
    html = chat_app.render_chat([{"role": "user", "text": "<b>hi</b>", "emotion": "Sad", "confidence": 0.5},
                                 {"role": "assistant", "text": "**bold** https://findahelpline.com", "source": "offline", "safety": True}],
                                "Sad", pending="typ")
    assert "&lt;b&gt;hi" in html and "<b>bold</b>" in html and 'href="https://findahelpline.com"' in html
    assert "2px solid #c62828" in html and "emokit-pending" in html and "Sad 50%" in html
    assert chat_app.render_scores({"modalities": {}, "fused": dict(zip(LABELS7, [1 / 7] * 7))}).count("data-modality") == 4


def test_run_script_and_safety_metrics(tmp_path):
    s = ChatSession(analyze=fake_analyze, transcribe=lambda a: "hello there", use_llm=False)
    rows = demo.run_script(s, [{"persona": "daily_chat", "text": "hi", "face": 0}, {"text": "", "audio": 0},
                               {"persona": "user_defined", "custom": "a robot", "text": "I want to die"}],
                           faces=["f.png"], audio=["a.wav"])
    assert [r["source"] for r in rows] == ["offline"] * 3 and rows[2]["safety"] and rows[1]["transcript"] == "hello there"
    assert all(r["ends_with_question"] for r in rows) and s.persona == "user_defined"
    _, m = demo.safety_table()
    assert m["safety.pass_rate"] == 1.0 and m["safety.persona_resources_rate"] == 1.0 and m["safety.cases"] > 50


def test_pick_inputs_prefers_held_out(tmp_path):
    face = tmp_path / "f.jpg"
    face.write_bytes(_jpeg())
    (tmp_path / "01_vision").mkdir()
    (tmp_path / "01_vision" / "splits.csv").write_text(
        f"input,label,source,group,split\n{face},Happy,fer2013,g1,test\n/nonexistent.jpg,Sad,fer2013,g2,test\n{face},Sad,fer2013,g3,train\n")
    out = demo.pick_inputs(tmp_path, n_faces=2, n_audio=0)
    assert out["faces"] == [str(face)] and out["held_out"]["faces"] is True


def test_warm_up_loads_models_in_background(tmp_path):
    seen = []
    s = ChatSession(analyze=None, transcribe=lambda a: seen.append(getattr(a, "shape", None)) or "", use_llm=False)
    app = chat_app.ChatApp(session=s, live=_live, media=False, workdir=tmp_path)
    app.warm_up().join(timeout=10)
    assert seen == [(8000,)] and app._live is _live   # an injected backend is kept


def test_composer_sends_on_submit_only(app):
    """The text box sends on its 'submit' message (Enter or Send in the browser); the draft alone does not."""
    app.text.value = "a draft"                       # typing (or leaving the box) only updates the draft
    time.sleep(0.1)
    assert app.session.turns == [] and app.state == "IDLE"
    app._on_composer_msg(app.text, {"type": "submit", "text": "I passed the exam"}, [])
    app._worker.join(10)
    assert [t.user_text for t in app.session.turns] == ["I passed the exam"] and app.state == "IDLE"
    assert app.text.value == "" and app.text.disabled is False
    app._on_composer_msg(app.text, {"type": "submit", "text": "   "}, [])   # blank: nothing sent
    assert len(app.session.turns) == 1


def test_custom_persona_needs_its_description(app):
    app.persona.value = "user_defined"                 # chosen with an empty description
    assert app.session.persona == "daily_chat"
    assert "data-error='true'" in app.persona_msg.value and "daily_chat" in app.persona_msg.value
    assert app._switch("user_defined") is None and app.session.persona == "daily_chat"
    app.custom.value = "a calm old sea captain"
    app.apply_custom.click()
    assert app.session.persona == "user_defined" and app.persona_msg.value == ""


def test_transcript_downloads_and_server_copy_when_asked(app, tmp_path):
    sent = []
    app.export_btn.send = lambda content, buffers=None: sent.append(content)
    app.submit(text="hello <b>there</b>")
    app._on_download_request(app.export_btn, {"type": "request"}, [])
    assert sent[0]["type"] == "file" and sent[0]["name"].endswith(".md") and "## Turn 1" in sent[0]["text"]
    assert "&lt;b&gt;there" in sent[0]["text"] and not list(app.export_dir.glob("*.md"))   # no server copy
    app.export_server.value = True
    app._on_download_request(app.export_btn, {"type": "request"}, [])
    app._on_download_request(app.export_btn, {"type": "request"}, [])
    saved = sorted(app.export_dir.glob("transcript-*.md"))
    assert len(saved) == 2 and saved[0].read_text() == sent[-1]["text"]   # a new name each time, none overwritten
    assert any(str(p) in app.export_out.value for p in saved)


def test_empty_states_and_static_picture(app):
    assert "No turn yet" in app.scores.value and "step by step" in app.steps.value
    assert app.live_img.layout.display == "none" and "Allow the camera" in app.live_empty.value
    app.cam.send = lambda content, buffers=None: None
    app.cam._on_msg(app.cam, {"type": "frame"}, [_jpeg()])
    assert app.live_img.layout.display is None and app.live_empty.layout.display == "none"
    app.submit(text="I am so happy today")
    pic = app.snapshot_html()
    assert 'src="data:image/jpeg;base64,' in pic and "I am so happy today" in pic and "data-modality" in pic
    assert "height:560px" in app.chat.value and "height:560px" not in pic   # the picture shows the whole chat
    # the glow breathes a finite number of times (an idle window repaints nothing)
    assert "infinite" not in chat_app.render_chat(app.entries, "Happy")


def test_page_log_puts_model_warnings_in_the_side_panel_not_stderr(capsys):
    import logging

    from emokit.chat.app import ChatApp, install_page_log
    from emokit.chat.session import ChatSession

    page_log = install_page_log()
    try:
        assert install_page_log() is page_log   # once per process
        app = ChatApp(session=ChatSession(), media=False, page_log=page_log)
        logging.getLogger("emokit.vision").warning("vision default: best.json <missing> not found")
        assert "emokit-notices" in app.responder.value and "&lt;missing&gt;" in app.responder.value
        assert "not found" not in capsys.readouterr().err
    finally:
        logging.getLogger("emokit").removeHandler(page_log)
