"""One conversation: persona, history, and the turn (report 6.2):

recording -> speech-to-text (+ typed text) -> per-modality analysis -> fusion -> prompt -> LLM -> reply

Every step is injectable (``analyze``, ``transcribe``, ``llm``), so tests and the notebook run without
trained models or a key. Every intermediate result lands in the :class:`Turn` (shown by the app,
written to transcripts). A turn with no face, silence or no text still completes. Nothing here ever
stores the API key: transcripts hold the model name and base URL only.
"""
from __future__ import annotations

import html
import json
import logging
import re
import time
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..fusion.perception import Heard, hear
from . import offline, prompts, safety
from .llm import LLMError, LLMService
from .redact import redact, redact_obj
from .risk import RiskScreen, checkin_reply, screened_reply

log = logging.getLogger(__name__)

Analyze = Callable[..., Any]
Transcribe = Callable[[str], Any]


@dataclass
class Turn:
    index: int
    persona: str
    typed_text: str
    transcript: str | None
    user_text: str
    perception: dict[str, Any]
    reply: str
    source: str                      # "llm" | "offline" | "offline-fallback" | "greeting-llm" | "greeting-offline"
    safety_triggered: bool                                   # the crisis reply (resources) was given
    safety_matches: list[str] = field(default_factory=list)
    safety_level: str = "none"                               # "none" | "check_in" | "crisis" (emokit.chat.risk)
    risk: dict[str, Any] = field(default_factory=dict)       # model score, session score, reasons (no text)
    interrupted: bool = False
    llm_error: str = ""
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, str | None] = field(default_factory=dict)
    voice: str = ""                  # who answered: "remote" | "local" (LLMs) | "templates"

    @property
    def emotion(self) -> str | None:
        return self.perception.get("top")

    @property
    def confidence(self) -> float | None:
        return self.perception.get("confidence")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["emotion"] = self.emotion
        d["confidence"] = self.confidence
        return d


def default_analyze(face: str | None = None, audio: str | None = None, text: str | None = None) -> Any:
    """``emokit.fusion.analyze`` (imported lazily: the chat works before fusion is trained) on the turn's
    words: the session has already heard the recording (:func:`emokit.fusion.perception.hear`, once per
    turn), so fusion does not transcribe it again."""
    from .. import fusion

    return fusion.analyze(face=face, audio=audio, text=text, transcribe=False)


def default_transcribe(audio: str) -> Any:
    """``emokit.text.transcribe`` (the text chapter's speech-to-text, a ``Transcript``), imported lazily."""
    from .. import text

    fn = getattr(text, "transcribe", None)
    if fn is None:
        raise RuntimeError("emokit.text.transcribe is not available yet")
    return fn(audio)


def empty_perception(detail: str) -> dict[str, Any]:
    return prompts.normalize_perception({"status": "error", "detail": detail})


class ChatSession:
    def __init__(self, persona: str = prompts.DEFAULT_PERSONA, custom_persona: str | None = None,
                 llm: LLMService | None = None, analyze: Analyze | None = default_analyze,
                 transcribe: Transcribe | None = default_transcribe, use_llm: bool = True,
                 risk: RiskScreen | None = None):
        # the voice: remote LLM (a key is set) > local model (file present) > templates
        from .local_llm import default_service   # lazily: `python -m emokit.chat.local_llm` imports this package

        self.llm = llm if llm is not None else default_service()
        # the crisis screen (keyword patterns + learned model + per-session score); without a trained
        # model it runs the keyword screen alone and says so in ``safety_warning``
        self.risk = risk if risk is not None else RiskScreen.from_artifacts()
        self.use_llm = use_llm
        self.analyze = analyze
        self.transcribe = transcribe
        self.persona = prompts.DEFAULT_PERSONA
        self.custom_persona: str | None = None
        self.history: list[dict[str, str]] = []   # what the LLM sees (user content includes perception)
        self.turns: list[Turn] = []
        self.greetings: list[dict[str, str]] = []
        self.set_persona(persona, custom_persona, greet=False)

    # -- persona ----------------------------------------------------------------------------------
    @property
    def llm_active(self) -> bool:
        return bool(self.use_llm and self.llm is not None and self.llm.available)

    @property
    def safety_warning(self) -> str | None:
        """Shown by the CLI, the app and transcripts when the learned risk detector is missing."""
        return self.risk.warning

    @property
    def voice(self) -> str:
        """"remote", "local" or "templates"."""
        from .local_llm import voice_of

        return voice_of(self.llm, self.use_llm)

    @property
    def prompt_style(self) -> str:
        return getattr(self.llm, "prompt_style", "full") if self.llm_active else "full"

    @property
    def responder_label(self) -> str:
        if self.llm_active:
            return getattr(self.llm, "label", None) or f"LLM: {self.llm.model} @ {self.llm.base_url}"
        return offline.OFFLINE_LABEL

    def set_persona(self, persona: str, custom: str | None = None, greet: bool = True) -> str | None:
        """Switch persona; returns a greeting in the new persona's voice (LLM if active, else offline)."""
        if persona not in prompts.persona_keys():
            raise ValueError(f"unknown persona {persona!r}; one of {prompts.persona_keys()}")
        if persona == prompts.USER_DEFINED:
            prompts.compile_custom_persona(custom or "")  # validates
        switched = persona != self.persona or (custom if persona == prompts.USER_DEFINED else None) != self.custom_persona
        self.persona, self.custom_persona = persona, (custom if persona == prompts.USER_DEFINED else None)
        if not greet:
            return None
        text, source = None, "greeting-offline"
        if self.voice == "local":
            # a small local model: the persona's own greeting at once; its system prompt and example
            # wait in its own llama.cpp slot (prewarm_personas) or go there now in the background.
            # The model sees only the last exchange before the switch (switch_keep_messages): the
            # whole earlier history would have to be processed again after the new system prompt.
            keep = int(getattr(self.llm, "switch_keep_messages", -1))
            if switched and keep >= 0:
                self.history = self.history[-keep:] if keep else []
            if self.persona not in (getattr(self.llm, "prewarm_s", None) or {}) or persona == prompts.USER_DEFINED:
                self.llm.warm_up_async(self.system_prompt(), self.examples(), slot=self.persona)
        elif self.llm_active:
            try:
                r = self.llm.stream([{"role": "system", "content": self.system_prompt()},
                                     {"role": "user", "content": prompts.greeting_request(persona, custom)}])
                text, source = r.text.strip() or None, "greeting-llm"
            except LLMError as exc:
                log.warning("greeting via LLM failed: %s", exc)
        if not text:
            text, source = prompts.offline_greeting(persona, custom), "greeting-offline"
        self.history.append({"role": "assistant", "content": text})
        self.greetings.append({"persona": persona, "text": text, "source": source,
                               "voice": self.voice if source == "greeting-llm" else "templates",
                               "after_turn": str(len(self.turns))})
        return text

    def examples(self) -> list[dict[str, str]]:
        return prompts.example_messages(self.persona, self.prompt_style)

    def prewarm_personas(self) -> Any:
        """Local voice: process every persona's system prompt and example into its own llama.cpp slot
        in the background, the current persona first (the app and the stage call this while they
        load); returns the thread, or None for another voice."""
        if self.voice != "local" or not hasattr(self.llm, "prewarm"):
            return None
        keys = [self.persona, *[k for k in prompts.PERSONAS if k != self.persona]]
        items = []
        for k in keys:
            custom = self.custom_persona if k == prompts.USER_DEFINED else None
            items.append((k, prompts.system_prompt(k, custom, style=self.prompt_style),
                          prompts.example_messages(k, self.prompt_style)))
        return self.llm.prewarm(items)

    def system_prompt(self, safety_alert: bool = False, check_in: bool = False) -> str:
        return prompts.system_prompt(self.persona, self.custom_persona, safety_alert=safety_alert, check_in=check_in,
                                     style=self.prompt_style)

    # -- the turn ---------------------------------------------------------------------------------
    def turn(self, text: str | None = None, face: str | None = None, audio: str | None = None,
             on_stage: Callable[[str, Any], None] | None = None,
             on_token: Callable[[str], None] | None = None) -> Turn:
        """One whole turn. Never raises for a missing or bad input: the turn completes with notes."""
        stage = on_stage or (lambda name, data: None)
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        notes: list[str] = []
        typed = (text or "").strip()

        # 1. speech-to-text: the turn's one call (perception below gets the words, not the recording to hear again)
        heard: Heard | None = None
        t0 = time.perf_counter()
        if audio and self.transcribe is not None:
            stage("transcribe", None)
            heard = hear(audio, self.transcribe)
            if heard.error:
                notes.append(f"speech-to-text unavailable: {heard.error}")
            elif heard.text is None:
                notes.append("no speech recognised in the recording")
        transcript = heard.text if heard else None
        timings["transcribe_s"] = time.perf_counter() - t0
        stage("transcript", transcript)
        user_text = " ".join(x for x in (typed, transcript or "") if x).strip()

        # 2. crisis screen: before any model (perception, LLM) sees the message, for every persona and
        # responder, on typed text and the speech transcript alike
        check = self.risk.assess(user_text)
        if check.level != "none":
            stage("safety", check.to_dict())

        # 3. perception (per modality + fusion)
        t0 = time.perf_counter()
        stage("analyze", None)
        if self.analyze is None:
            perception = empty_perception("perception disabled")
            notes.append("perception disabled")
        else:
            perception = self._perceive(face, audio, user_text or None, notes)
        if transcript and not perception.get("transcript"):
            perception["transcript"] = transcript
        timings["analyze_s"] = time.perf_counter() - t0
        stage("perception", perception)

        # 4. prompt, reply
        user_msg = prompts.user_content(user_text, perception, style=self.prompt_style,
                                        safety_alert=check.crisis, check_in=check.check_in)
        voice = self.voice
        t0 = time.perf_counter()
        reply_text, source, interrupted, llm_error = "", "offline", False, ""
        # A crisis message is not given to the small local model: measured, it answered a goodbye with
        # "You're doing great now. What are you going to do with your guitar?" and restated a method
        # (docs/06_empathic_chat.md). The fixed crisis reply answers instead; a remote model still
        # writes its own reply under the safety directive, checked by screened_reply below.
        local_crisis = check.crisis and voice == "local"
        if local_crisis:
            notes.append("crisis: the fixed crisis reply answers (the local model is not asked to write one)")
        if self.llm_active and not local_crisis:
            stage("llm", None)
            try:
                kw = ({"examples": self.examples(), "slot": self.persona} if self.voice == "local" else {})
                r = self.llm.chat(self.system_prompt(safety_alert=check.crisis, check_in=check.check_in),
                                  self.history, user_msg, on_token=on_token, **kw)
                reply_text, source, interrupted = redact(r.text, self._secrets()), "llm", r.interrupted
                if r.first_token_s is not None:
                    timings["first_token_s"] = r.first_token_s
                lt = r.usage.get("timings") or {}   # llama.cpp: tokens processed / reused / generated
                for k, v in (("prompt_n", "llm_prompt_tokens"), ("cache_n", "llm_cached_tokens"),
                             ("predicted_n", "llm_generated_tokens"), ("predicted_per_second", "llm_tokens_per_s")):
                    if k in lt:
                        timings[v] = float(lt[k])
                if r.interrupted:
                    llm_error = r.error or "stream interrupted"
                    notes.append("the LLM reply was cut off; the part that arrived is kept")
            except LLMError as exc:
                llm_error = redact(str(exc), self._secrets())
                notes.append(f"LLM unavailable this turn ({exc.kind}): offline responder used - {llm_error}")
                source = "offline-fallback"
        if not reply_text.strip():
            if check.crisis:
                reply_text = safety.support_reply(check.language)
            elif check.check_in:
                reply_text = checkin_reply(check.language)
            else:
                reply_text = offline.respond(user_text, self.persona, perception, self.custom_persona,
                                             turn=len(self.turns))
            if source == "llm":
                source = "offline-fallback"
        if check.level != "none":   # crisis and check-in replies always carry the resources, in the user's language
            if source == "llm":
                reply_text, why = screened_reply(reply_text, check)
                if why:
                    notes.append(why)
            reply_text = safety.ensure_resources(reply_text, check.language)
        timings["reply_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - t_start
        stage("reply", reply_text)

        # 5. history: always one user and one assistant message per turn (consistent alternation)
        self.history.append({"role": "user", "content": user_msg})
        self.history.append({"role": "assistant", "content": reply_text})
        t = Turn(index=len(self.turns), persona=self.persona, typed_text=typed, transcript=transcript,
                 user_text=user_text, perception=perception, reply=reply_text, source=source,
                 safety_triggered=check.crisis, safety_matches=check.matches, safety_level=check.level,
                 risk={k: v for k, v in check.to_dict().items() if k in ("score", "session_score", "reasons",
                                                                         "model_available", "elapsed_ms")},
                 interrupted=interrupted,
                 llm_error=llm_error, notes=notes, timings={k: round(v, 4) for k, v in timings.items()},
                 inputs={"face": _name(face), "audio": _name(audio)},
                 voice=voice if source == "llm" else "templates")
        self.turns.append(t)
        return t

    def _perceive(self, face, audio, text, notes: list[str]) -> dict[str, Any]:
        """``analyze`` on everything given; when it fails (e.g. one modality's model is not trained
        yet), retry without the failing inputs (audio first, then face) so the other modalities
        still count, and note why."""
        import itertools

        given = {"face": face, "audio": audio, "text": text}
        names = [n for n in ("text", "face", "audio") if given[n] is not None]   # kept longest: text, then face
        attempts = []
        for k in range(len(names), 0, -1):
            for keep in itertools.combinations(names, k):
                attempts.append(tuple(given[n] if n in keep else None for n in ("face", "audio", "text")))
        attempts = attempts or [(None, None, None)]
        errors = []
        for f, a, t in attempts:
            try:
                perception = prompts.normalize_perception(self.analyze(face=f, audio=a, text=t))
            except Exception as exc:  # noqa: BLE001 - a turn always completes
                errors.append(_brief(exc))
                continue
            if errors:
                dropped = [n for n, g, used in (("face", face, f), ("audio", audio, a), ("text", text, t))
                           if g is not None and used is None]
                notes.append(f"perception without {', '.join(dropped)}: {errors[0]}")
                for n in dropped:
                    own = [e for e in dict.fromkeys(errors) if n in e.lower() or (n == "face" and "vision" in e.lower())]
                    perception["modalities"][n].update(status="error", detail=" | ".join(own or dict.fromkeys(errors)))
                    if n not in perception["missing"]:
                        perception["missing"].append(n)
            return perception
        why = " | ".join(dict.fromkeys(errors))
        notes.append(f"perception unavailable: {why}")
        return empty_perception(f"perception failed: {why}")

    # -- transcripts ------------------------------------------------------------------------------
    def _secrets(self) -> list[str]:
        key = getattr(self.llm, "_api_key", None)
        return [key] if key else []

    def to_dict(self) -> dict[str, Any]:
        """The whole conversation, with any key or bearer token redacted (it is written to files)."""
        return redact_obj(self._to_dict(), self._secrets())

    def _to_dict(self) -> dict[str, Any]:
        return {"persona": self.persona, "custom_persona": self.custom_persona,
                "responder": "llm" if self.llm_active else "offline", "voice": self.voice,
                "responder_label": self.responder_label,
                "llm": self.llm.describe() if self.llm is not None else None,
                "safety_warning": self.safety_warning, "risk_session_score": self.risk.session_score,
                "greetings": self.greetings, "turns": [t.to_dict() for t in self.turns],
                "history": self.history}

    def restore(self, d: dict[str, Any]) -> "ChatSession":
        """Continue a conversation saved by :meth:`to_dict` / :meth:`transcript_json` (the CLI's
        ``--session FILE``): persona, LLM history, greetings and turns. Raises ``ValueError`` saying
        what is wrong when ``d`` is not such a conversation (a JSON list, ``null``, a number ...)."""
        _check_saved(d)
        self.persona = d.get("persona") or self.persona
        self.custom_persona = d.get("custom_persona")
        self.history = [dict(m) for m in d.get("history") or [] if m.get("role") in ("user", "assistant")]
        self.greetings = list(d.get("greetings") or [])
        try:
            self.risk.session_score = min(1.0, max(0.0, float(d.get("risk_session_score") or 0.0)))
        except (TypeError, ValueError):
            self.risk.session_score = 0.0
        fields = set(Turn.__dataclass_fields__)
        self.turns = [Turn(**{k: v for k, v in t.items() if k in fields}) for t in d.get("turns") or []]
        return self

    def transcript_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def transcript_markdown(self) -> str:
        return redact(self._transcript_markdown(), self._secrets())

    def _transcript_markdown(self) -> str:
        """The conversation as Markdown. Every piece of user, model and persona text goes through
        :func:`md_text` (HTML and Markdown syntax escaped), so whatever was said shows as text and never as
        markup when the transcript is rendered (the chat chapter of the report displays it). Keys are
        redacted before escaping (an escaped key would no longer match)."""
        secrets = self._secrets()

        def q(x: Any) -> str:
            return md_text(redact(str(x or ""), secrets))
        lines = ["# Empathic chat transcript", "",
                 f"- responder: {q(self.responder_label)}", f"- persona at end: {q(self.persona)}",
                 *([f"- **WARNING: {q(self.safety_warning)}**"] if self.safety_warning else []), ""]
        for g in self.greetings:
            if g["after_turn"] == "0":
                lines += [f"**Assistant** ({q(g['persona'])}, {q(g['source'])}): {q(g['text'])}", ""]
        for t in self.turns:
            p = t.perception
            emo = f"{p['top']} {p['confidence']:.2f}" if p.get("top") and p.get("confidence") is not None else "unknown"
            lines += [f"## Turn {t.index + 1} - persona {md_code(t.persona)}", ""]
            if t.transcript:
                lines.append(f"*Speech-to-text:* {q(t.transcript)}  ")
            lines.append(f"**User** \\[{q(emo)}\\]: {q(t.user_text) if t.user_text else '(nothing said)'}  ")
            lines.append(f"*Perception:* {md_code(prompts.perception_payload(p))}  ")
            if t.notes:
                lines.append(f"*Notes:* {q('; '.join(t.notes))}  ")
            flag = " - SAFETY RESPONSE" if t.safety_triggered else (" - SAFETY CHECK-IN" if t.safety_level == "check_in" else "")
            who = f"{t.source}, {t.voice}" if t.voice else t.source
            lines += ["", f"**Assistant** ({q(who)}{flag}):", "", q(t.reply), ""]
            for g in self.greetings:
                if g["after_turn"] == str(t.index + 1):
                    lines += [f"**Assistant** (switched to {q(g['persona'])}, {q(g['source'])}): {q(g['text'])}", ""]
        return "\n".join(lines)

    def export(self, folder: str | Path, stem: str = "transcript") -> dict[str, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / f"{stem}.md", folder / f"{stem}.json"
        md.write_text(self.transcript_markdown(), encoding="utf-8")
        js.write_text(self.transcript_json(), encoding="utf-8")
        return {"markdown": md, "json": js}


def _check_saved(d: Any) -> None:
    """A saved session must be a JSON object whose parts have the types :meth:`ChatSession.to_dict` writes."""
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object (a saved chat session), got {_json_type(d)}")
    for key, typ, what in (("history", list, "a list"), ("greetings", list, "a list"), ("turns", list, "a list"),
                           ("persona", str, "a string"), ("custom_persona", str, "a string")):
        if d.get(key) is not None and not isinstance(d[key], typ):
            raise ValueError(f"'{key}' must be {what}, got {_json_type(d[key])}")
    for key in ("history", "turns", "greetings"):
        bad = [i for i, x in enumerate(d.get(key) or []) if not isinstance(x, dict)]
        if bad:
            raise ValueError(f"'{key}' item {bad[0]} is not an object")
    if d.get("persona") and d["persona"] not in prompts.persona_keys():
        raise ValueError(f"unknown persona {d['persona']!r}; one of {prompts.persona_keys()}")
    for i, t in enumerate(d.get("turns") or []):
        missing = [f.name for f in Turn.__dataclass_fields__.values()
                   if f.default is MISSING and f.default_factory is MISSING and f.name not in t]
        if missing:
            raise ValueError(f"turn {i} lacks {', '.join(missing)}")


def _json_type(x: Any) -> str:
    if x is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(x), type(x).__name__)


# "_" only where it could open or close emphasis (not inside words such as daily_chat); "!" needs no
# escape once "[" has one
_MD_INLINE = re.compile(r"([\\`*\[\]{}|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MD_LINE_START = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))", flags=re.M)


def md_text(text: Any) -> str:
    """``text`` for a Markdown file, shown literally: HTML escaped (``<``, ``>``, ``&``), inline Markdown
    (emphasis, code, links and images, tables) and line-start block syntax (headings, quotes, lists)
    backslash-escaped."""
    s = html.escape(str(text or ""), quote=False)
    s = _MD_INLINE.sub(r"\\\1", s)
    return _MD_LINE_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else
                                                      m.group(3) + "\\" + m.group(4)), s)


def md_code(text: Any) -> str:
    """``text`` as an inline Markdown code span that no backtick inside it can close early."""
    s = " ".join(str(text or "").split())
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {s} {fence}" if s else "` `"


def _brief(exc: Exception) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {msg[:160]}" if msg else type(exc).__name__


def _name(x: Any) -> str | None:
    if x is None:
        return None
    return "<bytes>" if isinstance(x, (bytes, bytearray)) else str(x)
