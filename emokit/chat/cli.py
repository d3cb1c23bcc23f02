"""``python -m emokit chat --message "..." [--persona NAME] [--face F] [--audio A] [--json]``.

Prints the reply (with ``--json``: one object with ``reply``, ``persona``, ``emotion``,
``confidence``, ``safety_triggered``, ``source``, ``responder``, ``perception``, ``notes``,
``timings``). Uses the LLM when ``DEEPSEEK_API_KEY`` is set (``EMOKIT_LLM_BASE_URL`` /
``EMOKIT_LLM_MODEL`` for another OpenAI-compatible server), else the offline responder, and says
which on stderr. ``--transcript DIR`` writes ``transcript.md`` and ``transcript.json`` there.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import prompts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--message", "-m", default="", help="what the user says (typed text)")
    p.add_argument("--persona", default=None, choices=prompts.persona_keys(),
                   help="daily_chat (default; with --session: the saved one), counselling_rogerian, "
                        "mock_interview, debate_opponent, user_defined (with --custom-persona)")
    p.add_argument("--custom-persona", default=None, help="natural-language persona for user_defined")
    p.add_argument("--face", default=None, help="image or video of the user (perception)")
    p.add_argument("--audio", default=None, help="recording of the turn (speech-to-text + perception)")
    p.add_argument("--no-perception", action="store_true", help="skip emotion analysis (faster)")
    p.add_argument("--offline", action="store_true", help="use the offline responder even if a key is set")
    p.add_argument("--transcript", default=None, metavar="DIR", help="write transcript.md/.json into DIR")
    p.add_argument("--session", default=None, metavar="FILE",
                   help="continue the conversation saved in FILE (JSON) and save it back after the turn")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from .session import ChatSession

    if args.persona == prompts.USER_DEFINED and not (args.custom_persona or "").strip():
        print("error: --persona user_defined needs --custom-persona 'description'", file=sys.stderr)
        return 2
    if not (args.message or "").strip() and not args.audio and not args.face:
        print("error: give --message, --audio or --face", file=sys.stderr)
        return 2
    session = ChatSession(persona=args.persona or prompts.DEFAULT_PERSONA, custom_persona=args.custom_persona,
                          analyze=None if args.no_perception else _default_analyze(),
                          use_llm=not args.offline)
    saved = Path(args.session) if args.session else None
    if saved is not None and saved.is_file():
        try:
            session.restore(json.loads(saved.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            print(f"error: {saved}: not a saved chat session ({exc})", file=sys.stderr)
            return 2
        if args.persona and args.persona != session.persona:
            session.set_persona(args.persona, args.custom_persona, greet=False)
    print(f"[{session.responder_label}]", file=sys.stderr)
    t = session.turn(text=args.message, face=args.face, audio=args.audio)
    for note in t.notes:
        print(f"note: {note}", file=sys.stderr)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(session.transcript_json(), encoding="utf-8")
    if args.transcript:
        paths = session.export(args.transcript)
        print(f"transcript: {paths['markdown']} {paths['json']}", file=sys.stderr)
    if args.json:
        out = {"reply": t.reply, "persona": t.persona, "emotion": t.emotion, "confidence": t.confidence,
               "safety_triggered": t.safety_triggered, "source": t.source,
               "responder": "llm" if session.llm_active else "offline",
               "user_text": t.user_text, "transcript": t.transcript, "perception": t.perception,
               "notes": t.notes, "timings": t.timings, "interrupted": t.interrupted}
        print(json.dumps(out, ensure_ascii=False, default=str))
    else:
        print(t.reply)
    return 0


def _default_analyze():
    from .session import default_analyze

    return default_analyze
