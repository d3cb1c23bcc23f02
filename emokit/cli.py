"""The command line: ``python -m emokit predict {text,audio,face} ...``, ``analyze``, ``chat``, ``data``.

``--json`` prints one object per input, one per line, in input order (see
:class:`emokit.types.Prediction`). The exit status is non-zero only when no input could be read.
Each modality is imported only when its verb runs, so ``predict text`` never loads torch vision code.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from .labels import LABELS7
from .types import Prediction


def _print_predictions(preds: Sequence[Prediction], as_json: bool) -> int:
    for p in preds:
        if as_json:
            print(p.to_json(), flush=True)
        elif p.ok:
            top = ", ".join(f"{n} {v:.2f}" for n, v in sorted(zip(LABELS7, p.probabilities), key=lambda t: -t[1])[:3])
            print(f"{p.input}\t{p.label}\t({top})")
        else:
            print(f"{p.input}\t[{p.status}] {p.detail}")
    # Non-zero only when nothing at all could be read (every input errored).
    return 1 if preds and all(p.status == "error" for p in preds) else 0


def _read_text_inputs(args: argparse.Namespace) -> list[tuple[str, str | None, str]]:
    """(input, text or None, warning or error) per input, in order: the positional texts, then each
    ``--file``'s lines. A file that is missing, a folder, unreadable or undecodable is one ``error``
    entry (the other inputs still run); a file whose encoding was guessed puts a warning on each line."""
    from .data.textfile import TextFileError, read_text_file

    items: list[tuple[str, str | None, str]] = [(t, t, "") for t in args.texts]
    for path in args.file or []:
        try:
            dec = read_text_file(path, encoding=args.encoding)
        except TextFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            items.append((str(path), None, str(exc)))
            continue
        if dec.warning:
            print(f"warning: {path}: {dec.warning}", file=sys.stderr)
        items.extend((line, line, dec.warning and f"{path}: {dec.warning}")
                     for line in dec.text.splitlines() if line.strip() or args.keep_empty)
    if not items:
        raise SystemExit("predict text: give at least one text, or --file FILE")
    return items


def _predict_text(args: argparse.Namespace) -> list[Prediction]:
    from . import text

    items = _read_text_inputs(args)
    todo = [i for i, (_, t, _) in enumerate(items) if t is not None]
    got = iter(text.predict([items[i][1] for i in todo], model=args.model) if todo else [])
    preds: list[Prediction] = []
    for name, t, note in items:
        if t is None:
            preds.append(Prediction.failed(name, "error", note))
            continue
        p = next(got)
        if note:
            p.extra["warning"] = f"{note}; {p.extra['warning']}" if p.extra.get("warning") else note
        preds.append(p)
    return preds


def cmd_predict(args: argparse.Namespace) -> int:
    if args.modality == "text":
        preds = _predict_text(args)
    elif args.modality == "audio":
        from . import audio

        preds = audio.predict(list(args.inputs), model=args.model)
    else:
        from . import vision

        preds = vision.predict(list(args.inputs), backend=args.backend)
    return _print_predictions(preds, args.json)


def cmd_analyze(args: argparse.Namespace) -> int:
    from . import fusion

    try:
        result = fusion.analyze(face=args.face, audio=args.audio, text=args.text)
    except fusion.FusionError as exc:
        if not exc.missing:
            raise
        # nothing there (silence, no face, empty text): say so, per modality, and exit 2; scripts reading
        # --json get an object with the same shape of "missing" as a fused result
        print(f"error: {exc}", file=sys.stderr)
        if args.json:
            only_silence = args.audio and not args.face and args.text is None \
                and exc.missing.get("audio", "").startswith("no_speech")
            status = "no_speech" if only_silence else "nothing_to_fuse"
            print(json.dumps({"status": status, "label": None, "missing": exc.missing}, ensure_ascii=False))
        return 2
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    if args.json:
        print(json.dumps(d, ensure_ascii=False, default=str))
    else:
        print(json.dumps(d, ensure_ascii=False, indent=2, default=str))
    return 0 if d.get("status", "ok") != "error" else 1


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import cli as chat_cli

    return chat_cli.run(args)


def cmd_data(args: argparse.Namespace) -> int:
    from .data import cli as data_cli

    return data_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m emokit",
                                 description="Multimodal emotion recognition: predict, analyze, chat.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = ap.add_subparsers(dest="command", required=True)

    pred = sub.add_parser("predict", help="classify texts, audio files or faces into the 7 emotions")
    psub = pred.add_subparsers(dest="modality", required=True)
    pt = psub.add_parser("text", help="one prediction per text")
    pt.add_argument("texts", nargs="*", help="texts to classify")
    pt.add_argument("--file", action="append", help="read one text per line from FILE (repeatable)")
    pt.add_argument("--keep-empty", action="store_true", help="keep empty lines of --file as inputs")
    pt.add_argument("--encoding", default=None,
                    help="encoding of every --file (default: UTF-8, else detected and warned about)")
    pt.add_argument("--model", default=None, help="model folder (default: best model of the demo report)")
    pa = psub.add_parser("audio", help="one prediction per audio file (WAV, FLAC, MP3, OGG, WebM ...)")
    pa.add_argument("inputs", nargs="+", help="audio files")
    pa.add_argument("--model", default=None, help="model folder (default: chosen by the audio chapter)")
    pf = psub.add_parser("face", help="one prediction per image or video")
    pf.add_argument("inputs", nargs="+", help="images or videos")
    pf.add_argument("--backend", default=None, help="vision backend (default: best available)")
    for p in (pt, pa, pf):
        p.add_argument("--json", action="store_true", help="one JSON object per input per line")
        p.set_defaults(func=cmd_predict)

    an = sub.add_parser("analyze", help="one turn's whole perception: face + audio + text, fused")
    an.add_argument("--face", default=None, help="image or video of the speaker")
    an.add_argument("--audio", default=None, help="recording of the turn")
    an.add_argument("--text", default=None, help="typed text (else the audio's transcript)")
    an.add_argument("--json", action="store_true", help="one JSON object")
    an.set_defaults(func=cmd_analyze)

    ch = sub.add_parser("chat", help="one empathic chat turn (offline responder without an API key)")
    try:
        from .chat import cli as chat_cli

        chat_cli.add_arguments(ch)
    except ImportError:  # chat chapter not installed yet: keep the other verbs working
        ch.add_argument("--message", required=True)
        ch.add_argument("--json", action="store_true")
    ch.set_defaults(func=cmd_chat)

    da = sub.add_parser("data", help="check or fetch the datasets")
    try:
        from .data import cli as data_cli

        data_cli.add_arguments(da)
    except ImportError:
        pass
    da.set_defaults(func=cmd_data)

    from . import models, preflight

    pf = sub.add_parser("preflight", help="everything a profile needs, found or missing, in one table (exit 2: missing)")
    preflight.add_arguments(pf)
    pf.set_defaults(func=preflight.run)
    mo = sub.add_parser("models", help="fetch the hub models and weights files a profile needs")
    models.add_arguments(mo)
    mo.set_defaults(func=models.run)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from .config import offline_env

    if args.command not in ("preflight", "models"):  # these two look at / use the hub on purpose
        offline_env()
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
