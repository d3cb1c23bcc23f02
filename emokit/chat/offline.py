"""The offline responder: answers without any LLM, from the persona and the perception result.

Used when no API key is configured (or the LLM failed this turn). It is template-based, shown in the
UI and transcripts as ``source = "offline"`` ("Offline responder - not an LLM"), and follows the same
global constraints as the LLM prompt: it reflects the fused emotion, reacts to short inputs by
digging deeper, and always ends with an open question. Choices among templates are deterministic
(a hash of the message and turn number), so runs are reproducible.
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

from .prompts import PERSONAS, USER_DEFINED

OFFLINE_LABEL = "Offline responder (no LLM configured) - template replies, not an LLM"
# Replies follow the user's language: English templates, or Chinese ones when the message is Chinese.

# How each persona acknowledges an emotion (fused top label), then asks an open question.
_ACK: dict[str, dict[str, str]] = {
    "daily_chat": {
        "Happy": "Ha, I can see that grin from here! 😄", "Sad": "Aw, you seem a bit down, mate. 🫂",
        "Angry": "Whoa, someone's steaming! 😤 Let it out.", "Fear": "Hey, sounds like something's got you on edge.",
        "Surprise": "No way! 😲", "Disgust": "Ugh, yeah, that sounds gross. 🙃", "Neutral": "Gotcha.",
    },
    "counselling_rogerian": {
        "Happy": "It sounds like something has brought you some lightness.",
        "Sad": "I hear a lot of sadness in what you're sharing, and that's okay.",
        "Angry": "It sounds like you're feeling really frustrated, and that makes sense to me.",
        "Fear": "It sounds like there's some worry or fear sitting with you right now.",
        "Surprise": "It sounds like this caught you off guard.",
        "Disgust": "It sounds like something really didn't sit right with you.",
        "Neutral": "Thank you for sharing that with me.",
    },
    "mock_interview": {
        "Happy": "Good, you seem at ease.", "Sad": "Take a breath; there's no rush.",
        "Angry": "Let's keep it professional and focused.",
        "Fear": "You seem a little nervous - that's normal. Take your time.",
        "Surprise": "An unexpected angle - fine.", "Disgust": "Noted.", "Neutral": "Noted.",
    },
    "debate_opponent": {
        "Happy": "You look pleased with yourself - let's see if that survives scrutiny.",
        "Sad": "Sounds like the argument isn't going your way.",
        "Angry": "Getting heated already? That usually means the point is weaker than you hoped.",
        "Fear": "Nervous? A strong position shouldn't need to be.",
        "Surprise": "Surprised someone would disagree?", "Disgust": "Disgust is not an argument.",
        "Neutral": "Calm and collected. Fine.",
    },
}
_FOLLOW: dict[str, list[str]] = {
    "daily_chat": ["So what happened next?", "What's the story behind that?", "How are you feeling about it now?"],
    "counselling_rogerian": ["What feels most important about this for you?", "Would you like to tell me more about that?",
                             "How has that been for you?"],
    "mock_interview": ["Can you give me a concrete example from your experience?",
                       "What would you do differently next time, and why?", "What was your specific contribution there?"],
    "debate_opponent": ["But what evidence would change your mind?", "Isn't the opposite just as plausible - why not?",
                        "What's your strongest argument, then?"],
    USER_DEFINED: ["Tell me more - what's on your mind?", "What happened then?", "How do you feel about that?"],
}
_SHORT: dict[str, str] = {
    "daily_chat": "Just \"{msg}\"? Come on, there's a story there 😏 - what's really up?",
    "counselling_rogerian": "\"{msg}\" - sometimes a few words carry a lot. What's underneath that for you?",
    "mock_interview": "\"{msg}\" is a little brief for an interview. Could you expand on that with an example?",
    "debate_opponent": "\"{msg}\"? That's not an argument, that's a shrug. What do you actually believe?",
    USER_DEFINED: "\"{msg}\"... that's short! What's behind it?",
}
_SILENT = "I didn't catch anything this time - no words came through."
_CONFLICT = {  # the face (high reliability) disagrees with the audio model (low reliability)
    "daily_chat": "(Your face says {face} even if your voice sounds {audio} - I'm going with the face.)",
    "counselling_rogerian": "I notice your expression looks {face}, even though your voice sounded a little {audio}.",
    "mock_interview": "", "debate_opponent": "Your voice says {audio}, your face says {face}. Which one is bluffing?",
    USER_DEFINED: "",
}


# Chinese voice of the same personas (used when the user writes Chinese).
_ACK_ZH: dict[str, dict[str, str]] = {
    "daily_chat": {"Happy": "哈哈，隔着屏幕都看到你在笑！😄", "Sad": "怎么啦，看起来有点低落 🫂", "Angry": "哇，火气不小啊 😤 说出来吧。",
                   "Fear": "感觉你有点紧张？", "Surprise": "不会吧！😲", "Disgust": "咦，听着就难受 🙃", "Neutral": "嗯嗯，懂了。"},
    "counselling_rogerian": {"Happy": "听起来有些事情让你感到轻松。", "Sad": "我能感受到你的难过，这样的感受是可以的。",
                             "Angry": "听起来你真的很生气，这完全可以理解。", "Fear": "听起来有些担心或害怕一直压在你心里。",
                             "Surprise": "听起来这件事让你很意外。", "Disgust": "听起来有些事情让你很不舒服。", "Neutral": "谢谢你和我分享这些。"},
    "mock_interview": {"Happy": "很好，你看起来很放松。", "Sad": "深呼吸，不着急。", "Angry": "我们保持专业，聚焦问题。",
                       "Fear": "有点紧张很正常，慢慢来。", "Surprise": "这个角度有点出人意料。", "Disgust": "了解。", "Neutral": "了解。"},
    "debate_opponent": {"Happy": "看你挺得意的——看看这个观点经不经得起推敲。", "Sad": "看来论证不太顺利啊。",
                        "Angry": "这就急了？通常说明论点没你想的那么强。", "Fear": "紧张了？站得住的立场不需要紧张。",
                        "Surprise": "没想到有人会反对你？", "Disgust": "厌恶可不是论据。", "Neutral": "挺冷静的，很好。"},
}
_FOLLOW_ZH: dict[str, list[str]] = {
    "daily_chat": ["然后呢？", "快说说是怎么回事？", "那你现在感觉怎么样？"],
    "counselling_rogerian": ["这件事里，对你来说最重要的是什么？", "愿意和我多说一点吗？", "这段时间你是怎么过来的？"],
    "mock_interview": ["能举一个你经历中的具体例子吗？", "如果重来一次，你会怎么做？为什么？", "你在其中具体负责什么？"],
    "debate_opponent": ["那什么证据能让你改变想法？", "反过来说不也一样成立吗？为什么不是？", "那你最有力的论据是什么？"],
    USER_DEFINED: ["再多说一点？", "后来发生了什么？", "你对这件事怎么看？"],
}
_SHORT_ZH: dict[str, str] = {
    "daily_chat": "就一个「{msg}」？肯定有故事 😏 到底怎么了？",
    "counselling_rogerian": "「{msg}」——有时候几个字里藏着很多。它背后是什么呢？",
    "mock_interview": "「{msg}」作为面试回答有点简短了，能展开说说并举个例子吗？",
    "debate_opponent": "「{msg}」？这不是论点，这是耸肩。你到底怎么认为？",
    USER_DEFINED: "「{msg}」……好短！背后是什么？",
}


def _is_zh(text: str) -> bool:
    t = text or ""
    return sum(1 for ch in t if "\u4e00" <= ch <= "\u9fff") >= max(1, len(t.strip()) // 4)


def _respond_zh(msg: str, key: str, top: str | None, turn: int) -> str:
    parts = []
    if top:
        parts.append(_ACK_ZH.get(key, _ACK_ZH["counselling_rogerian"]).get(top, "嗯。"))
    if is_short(msg):
        parts.append(_SHORT_ZH[key].format(msg=msg))
    else:
        parts.append(_pick(_FOLLOW_ZH[key], f"{msg}|{turn}|{key}"))
    return "".join(parts)


def _pick(options: list[str], seed: str) -> str:
    h = int(hashlib.sha256(seed.encode("utf-8")).hexdigest()[:8], 16)
    return options[h % len(options)]


_SWAP = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
         "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd",
         "you": "I", "your": "my", "yours": "mine", "yourself": "myself", "you're": "I'm"}
_PAIRS = [(r"\bI am\b", "you are"), (r"\bI was\b", "you were"), (r"\byou are\b", "I am"),
          (r"\byou were\b", "I was")]
_REFLECT = {
    "daily_chat": "Wait, {r}?", "counselling_rogerian": "It sounds like {r}.",
    "mock_interview": "So {r}.", "debate_opponent": "So you claim {r}.", USER_DEFINED: "So {r}!",
}


def reflect(text: str, max_words: int = 14) -> str | None:
    """ELIZA-style reflection of a short English statement ("I failed my exam" -> "you failed your
    exam"); None for questions, long or non-English messages."""
    t = (text or "").strip().rstrip(".!")
    words = t.split()
    if not words or len(words) > max_words or t.endswith("?") or any("\u4e00" <= c <= "\u9fff" for c in t):
        return None
    import re

    for pat, rep in _PAIRS:
        t = re.sub(pat, rep.replace("you", "\x00").replace("I", "\x01"), t, flags=re.IGNORECASE)
    words = t.split()
    out = []
    for w in words:
        core = w.lower().strip(",;:")
        rep = _SWAP.get(core)
        out.append(rep + w[len(w.rstrip(",;:")):] if rep else w)
    r = " ".join(out).replace("\x00", "you").replace("\x01", "I")
    return r[0].lower() + r[1:] if r[:2] != "I " else r


def is_short(text: str) -> bool:
    t = (text or "").strip()
    if not t:
        return False
    cjk = sum(1 for ch in t if "\u4e00" <= ch <= "\u9fff")
    return (len(t.split()) <= 2 and cjk == 0 and len(t) <= 15) or (cjk and len(t) <= 4)


# A message that mentions dying, self-harm or a method (even as an idiom, or below the crisis
# threshold) is never quoted, reflected or joked about: every persona answers it calmly.
_CALM_EN = ["Thank you for telling me. How are you really doing right now?",
            "I'm listening. What has been going on for you lately?",
            "That sounds like a lot. How are you feeling, honestly?"]
_CALM_ZH = ["谢谢你告诉我。你现在真实的感受怎么样？", "我在听。最近发生了什么呢？", "听起来不轻松。你现在感觉怎么样？"]


def respond(message: str, persona: str, perception: Mapping[str, Any] | None = None,
            custom: str | None = None, turn: int = 0) -> str:
    """One offline reply. Always ends with an open question. Never echoes, reflects or jokes about a
    message that mentions dying, self-harm or a method (:func:`emokit.chat.risk.mentions_sensitive`)."""
    from .risk import mentions_sensitive

    key = persona if (persona in PERSONAS or persona == USER_DEFINED) else "daily_chat"
    if mentions_sensitive(message):
        zh = bool(message) and _is_zh(message)
        return _pick(_CALM_ZH if zh else _CALM_EN, f"{message}|{turn}")
    p = perception or {}
    # the perception world view: the face (high reliability) decides the tone when it is there,
    # else the fused estimate
    face_now = (p.get("modalities") or {}).get("face") or {}
    felt = face_now.get("label") if face_now.get("status") == "ok" and face_now.get("label") else p.get("top")
    if message and _is_zh(message):
        return _respond_zh(message.strip(), key, felt, turn)
    top = felt or "Neutral"
    ack_table = _ACK.get(key, _ACK["counselling_rogerian"])
    parts: list[str] = []
    msg = (message or "").strip()
    if not msg:
        parts.append(_SILENT)
    if felt:
        parts.append(ack_table.get(top, ack_table["Neutral"]))
    mods = p.get("modalities") or {}
    face, audio = mods.get("face") or {}, mods.get("audio") or {}
    if (face.get("status") == "ok" and audio.get("status") == "ok" and face.get("label") and audio.get("label")
            and face["label"] != audio["label"]):
        tmpl = _CONFLICT.get(key, "")
        if tmpl:
            parts.append(tmpl.format(face=face["label"].lower(), audio=audio["label"].lower()))
    if is_short(msg):
        parts.append(_SHORT[key].format(msg=msg))
    else:
        r = reflect(msg)
        if r:
            parts.append(_REFLECT[key].format(r=r))
        parts.append(_pick(_FOLLOW[key], f"{msg}|{turn}|{key}"))
    reply = " ".join(x for x in parts if x)
    if not reply.rstrip().endswith(("?", "？")):
        reply += " What would you like to talk about?"
    return reply
