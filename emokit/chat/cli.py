"""``python -m emokit chat --message "..." [--persona NAME] [--face F] [--audio A] [--json]``.

Prints the reply (with ``--json``: one object with ``reply``, ``persona``, ``emotion``,
``confidence``, ``safety_triggered``, ``safety_level`` (none / check_in / crisis), ``safety_warning``
(set when the learned risk detector is missing), ``source``, ``responder``, ``voice``, ``perception``, ``notes``,
``timings``). Uses the LLM when ``DEEPSEEK_API_KEY`` is set (``EMOKIT_LLM_BASE_URL`` /
``EMOKIT_LLM_MODEL`` for another OpenAI-compatible server), else the local model when it is set up
(:mod:`.local_llm`; ``EMOKIT_LOCAL_LLM=0`` turns it off), else the offline responder, and says
which on stderr (``voice``: remote, local or templates). ``--transcript DIR`` writes ``transcript.md`` and ``transcript.json`` there (``transcript-2.*`` ... when
the folder already holds one). Both paths are checked before the turn, so a bad path never costs a reply.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import prompts
from .redact import redact_obj


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--message", "-m", default="", help="what the user says (typed text)")
    p.add_argument("--persona", default=None, choices=prompts.persona_keys(),
                   help="daily_chat (default; with --session: the saved one), counselling_rogerian, "
                        "mock_interview, debate_opponent, user_defined (with --custom-persona)")
    p.add_argument("--custom-persona", default=None, help="natural-language persona for user_defined")
    p.add_argument("--face", default=None, help="image or video of the user (perception)")
    p.add_argument("--audio", default=None, help="recording of the turn (speech-to-text + perception)")
    p.add_argument("--no-perception", action="store_true", help="skip emotion analysis (faster)")
    p.add_argument("--offline", action="store_true", help="use the offline responder (templates) even if a key or a local model is there")
    p.add_argument("--transcript", default=None, metavar="DIR", help="write transcript.md/.json into DIR")
    p.add_argument("--session", default=None, metavar="FILE",
                   help="continue the conversation saved in FILE (JSON) and save it back after the turn")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from .session import ChatSession

    if args.persona == prompts.USER_DEFINED and not (args.custom_persona or "").strip():
        print("error: --persona user_defined needs --custom-persona 'description'", file=sys.stderr)
        return 2
    if not _visible(args.message or "") and not args.audio and not args.face:
        print("error: give --message (with a printable character), --audio or --face", file=sys.stderr)
        return 2
    # Every path the turn will write is checked BEFORE the turn, so a reply is never lost to a bad path.
    try:
        saved, saved_data = _check_session_path(args.session)
        transcript_dir, stem = _check_transcript_dir(args.transcript)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    session = ChatSession(persona=args.persona or prompts.DEFAULT_PERSONA, custom_persona=args.custom_persona,
                          analyze=None if args.no_perception else _default_analyze(),
                          use_llm=not args.offline)
    if saved_data is not None:
        try:
            session.restore(saved_data)
        except (ValueError, TypeError) as exc:
            print(f"error: {saved}: not a saved chat session ({exc})", file=sys.stderr)
            return 2
        if args.persona and args.persona != session.persona:
            session.set_persona(args.persona, args.custom_persona, greet=False)
    print(f"[{session.responder_label}]", file=sys.stderr)
    if session.safety_warning:
        print(f"WARNING: {session.safety_warning}", file=sys.stderr)
    if getattr(session.llm, "unavailable_reason", "") and session.use_llm:
        print(f"note: {session.llm.unavailable_reason}", file=sys.stderr)
    if session.voice == "local":   # llama.cpp loads and reads the persona's prefix while perception runs
        session.llm.warm_up_async(session.system_prompt(), session.examples(), slot=session.persona)
    t = session.turn(text=args.message, face=args.face, audio=args.audio)
    for note in t.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        out = {"reply": t.reply, "persona": t.persona, "emotion": t.emotion, "confidence": t.confidence,
               "safety_triggered": t.safety_triggered, "safety_level": t.safety_level,
               "safety_warning": session.safety_warning, "source": t.source,
               "responder": "llm" if session.llm_active else "offline", "voice": t.voice,
               "user_text": t.user_text, "transcript": t.transcript, "perception": t.perception,
               "notes": t.notes, "timings": t.timings, "interrupted": t.interrupted}
        print(json.dumps(redact_obj(out, session._secrets()), ensure_ascii=False, default=str))
    else:
        print(t.reply)
    rc = 0
    if saved is not None:
        try:
            _write_atomic(saved, session.transcript_json())
        except OSError as exc:  # the reply is printed above: only the save failed
            print(f"error: could not save the session to {saved}: {exc}", file=sys.stderr)
            rc = 1
    if transcript_dir is not None:
        try:
            paths = session.export(transcript_dir, stem=stem)
            print(f"transcript: {paths['markdown']} {paths['json']}", file=sys.stderr)
        except OSError as exc:
            print(f"error: could not write the transcript into {transcript_dir}: {exc}", file=sys.stderr)
            rc = 1
    return rc


def _visible(text: str) -> bool:
    """Not only whitespace, control (NUL ...) or format characters."""
    import unicodedata

    return any(unicodedata.category(c)[0] not in "CZ" for c in text)


def _writable_folder(folder: Path, what: str) -> None:
    """``folder`` exists as a writable folder, or can be created (its nearest existing parent is one)."""
    p = folder
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    if not p.is_dir():
        raise ValueError(f"{what}: {p} is a file, so {folder} cannot be a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: {p} is not writable")


def _check_session_path(arg: str | None) -> tuple[Path | None, object]:
    """(path, its parsed JSON or None when it does not exist yet); ValueError naming the problem."""
    if not arg:
        return None, None
    saved = Path(arg)
    if saved.is_dir():
        raise ValueError(f"--session {saved}: is a folder; give a file such as {saved / 'session.json'}")
    if saved.exists():
        if not saved.is_file():
            raise ValueError(f"--session {saved}: not a regular file")
        try:
            data = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{saved}: not a saved chat session ({exc})") from None
        if not os.access(saved, os.W_OK):
            raise ValueError(f"--session {saved}: not writable (the turn could not be saved)")
        from .session import _check_saved

        try:
            _check_saved(data)
        except ValueError as exc:
            raise ValueError(f"{saved}: not a saved chat session ({exc})") from None
        return saved, data
    _writable_folder(saved.parent, f"--session {saved}")
    return saved, None


def _check_transcript_dir(arg: str | None) -> tuple[Path | None, str]:
    """(folder, file stem): a folder that already holds a transcript gets the next free stem
    (``transcript-2`` ...), so an earlier conversation is never overwritten."""
    if not arg:
        return None, "transcript"
    folder = Path(arg)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--transcript {folder}: is a file; give a folder (transcript.md and .json go there)")
    _writable_folder(folder, f"--transcript {folder}")
    stem, n = "transcript", 1
    while (folder / f"{stem}.md").exists() or (folder / f"{stem}.json").exists():
        n += 1
        stem = f"transcript-{n}"
    if n > 1:
        print(f"note: {folder} already holds an earlier transcript; this one is written as {stem}.md/.json",
              file=sys.stderr)
    return folder, stem


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _default_analyze():
    from .session import default_analyze

    return default_analyze
