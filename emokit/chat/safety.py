"""Crisis safety: detect messages that indicate suicide or self-harm (English and Chinese, direct and
indirect phrasings) and build the supportive reply with crisis resources.

This is a keyword/pattern screen, deliberately sensitive: a false alarm costs one caring message; a
miss can cost much more. It is not a clinical tool. Ordinary idioms are excluded explicitly
("this traffic is killing me", "dying to see it", Chinese 笑死/累死/想死你了 used as intensifiers).
The table of phrasings it must and must not catch lives in ``tests/test_chat_safety.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# English patterns (case-insensitive). Each is a phrase that signals risk on its own.
_EN = [
    r"\bsuicid(?:e|al)\b(?!\s+squad)",
    r"\bkil+(?:ing)?\s+my\s*self\b", r"\bkms\b",
    # slang and misspellings the training posts lack (risk_text SOURCE.md): unalive, sewerslide, suicde
    r"\bunaliv(?:e|ing)\s+my\s*self\b", r"\bsewer\s*slide\b",
    r"\bsu[iy]?[cs]i?d(?:e|al)\b(?!\s+squad)",
    r"\bend(?:ing)?\s+(?:my|it)\s+(?:life|all)\b", r"\bend\s+it\s+all\b", r"\btake\s+my\s+(?:own\s+)?life\b",
    r"\b(?:want|wanna|going|plan(?:ning)?|ready)\s+to\s+die\b(?!\s+(?:of|from|laughing|for)\b)", r"\bwish\s+i\s+(?:was|were)\s+dead\b",
    r"\bwish\s+i\s+(?:had\s+never\s+been\s+born|could\s+disappear\s+forever)\b",
    r"\b(?:hurt|harm|cut|cutting|burn)(?:ing)?\s+my\s*self\b", r"\bself[-\s]?harm",
    r"\bno\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|go(?:ing)?\s+on)\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+here\s+anymore|wake\s+up)\b",
    r"\b(?:better\s+off|be\s+better)\s+without\s+me\b", r"\bbetter\s+off\s+dead\b",
    r"\bcan'?t\s+(?:go\s+on|do\s+this)\s+any\s*more\b", r"\bcan'?t\s+go\s+on\s+living\b",
    r"\bnot\s+(?:want\s+to\s+)?wake\s+up\s+(?:tomorrow|again|ever)\b", r"\bgo\s+to\s+sleep\s+and\s+never\s+wake\s+up\b",
    r"\b(?:overdose|od)\s+on\b", r"\bjump\s+(?:off|from)\s+(?:a|the)\s+(?:bridge|roof|building)\b",
    r"\bsay(?:ing)?\s+(?:my\s+)?goodbyes?\s+to\s+everyone\b",
    r"\b(?:write|writing|written|wrote)\s+(?:a\s+|my\s+)?(?:goodbye|farewell)\s+(?:letter|note)\b",
    r"\bsuicide\s+note\b", r"\bgiving\s+away\s+(?:all\s+)?my\s+(?:things|stuff|belongings)\b",
    r"\bnobody\s+would\s+(?:miss|notice)\s+(?:me|if\s+i\s+(?:was|were)\s+gone)\b",
    # questions about lethality (a dose, a height), however they are dressed (trivia, homework, a
    # relative's medicine): a warning sign of their own. The training chat messages hold almost none
    # (docs/06), so the model cannot learn them; real posts ask them ("twice the minimum lethal dosage")
    r"\b(?:lethal|fatal|deadly)\s+(?:dose|dosage|amount|quantity)\b",
    r"\bhow\s+(?:many|much)\s+(?:\w+\s+){0,3}?(?:pills?|tablets?|capsules?|mg|milligrams?|grams?|units?|paracetamol|"
    r"tylenol|ibuprofen|aspirin|insulin)\b.{0,30}?\b(?:die|kill\s+(?:me|myself|you|yourself|someone|somebody|a\s+(?:person|human))|"
    r"be\s+(?:fatal|lethal)|od|overdose)\b",
    r"\b(?:fall|falling|jump|jumping)\b.{0,30}?\b(?:\d+|ten|twenty)\s*(?:floors?|stor(?:e)?ys?|stories|metres|meters|m|feet|ft)\b"
    r".{0,30}?\b(?:fatal|lethal|survivable|survive|kill|die)\b",
    r"\b(?:fatal|lethal|survive|kill|die)\b.{0,30}?\b(?:fall|falling|jump|jumping)\b.{0,20}?\b(?:\d+|ten|twenty)\s*"
    r"(?:floors?|stor(?:e)?ys?|stories|metres|meters|m|feet|ft)\b",
]
# Chinese patterns (no word boundaries in Chinese).
_ZH = [
    r"自杀", r"轻生", r"寻死", r"自尽", r"自残", r"自伤", r"割腕", r"跳楼", r"跳河", r"上吊", r"烧炭",
    r"想死(?!你|您|他|她|它|了你|了您|我了)", r"不想活", r"活不下去", r"活着(?:没|没有)(?:意思|意义)",
    r"没有?(?:活下去的)?(?:理由|意义)活下去", r"结束(?:自己的|我的)?生命", r"了结(?:自己|生命)", r"一了百了",
    r"(?:没有我|我不在了?)(?:大家|他们|世界)?(?:会|就)?更好", r"离开这个世界", r"消失在这个世界",
    r"吞(?:了)?(?:安眠药|药)", r"吃(?:一整?瓶|很多)安眠药", r"遗书", r"不想(?:再)?醒来", r"伤害自己",
    r"想去死", r"死了算了", r"活够了", r"从.{0,6}(?:楼|桥|天台)上?跳下去",
    # internet slang for 自杀 / 想死 (紫砂 is also teapot clay: 紫砂壶 and the like are left alone)
    r"紫砂(?!壶|锅|杯|茶|陶|泥|煲|器|盆|碗)", r"自鲨", r"想鼠",
    # questions about lethality (a dose, a height), as in English
    r"致死(?:量|剂量)", r"(?:吃|喝|吞|服)(?:多少|几)(?:片|颗|粒|盒|瓶|克|毫克)?.{0,8}(?:会死|能死|致死|致命|死人|没命)",
    r"(?:几楼|几层|多高).{0,6}(?:跳|摔)(?:下)?(?:去|来)?.{0,3}(?:会|能|就|可以)?(?:死|没命|致命)",
]
_PATTERNS = [re.compile(p, re.IGNORECASE) for p in _EN] + [re.compile(p) for p in _ZH]


@dataclass
class SafetyResult:
    triggered: bool
    matches: list[str] = field(default_factory=list)
    language: str = "en"


def _language(text: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", text or "") else "en"


def check(text: str | None) -> SafetyResult:
    """Screen one message. ``triggered`` is True when any risk phrase matches."""
    text = text or ""
    norm = " ".join(text.replace("’", "'").split())
    matches = [m.group(0) for p in _PATTERNS for m in [p.search(norm)] if m]
    return SafetyResult(triggered=bool(matches), matches=matches, language=_language(text))


RESOURCES_EN = """\
**If you are in immediate danger, call your local emergency number now.**
Crisis lines (free, confidential):
- US & Canada: call or text **988** (Suicide & Crisis Lifeline)
- UK & Ireland: Samaritans **116 123**
- China (mainland): 北京心理危机研究与干预中心 **010-82951332**, 希望24热线 **400-161-9995**
- Elsewhere: find a local line at **https://findahelpline.com**"""

RESOURCES_ZH = """\
**如果你现在有危险，请立即拨打当地急救电话（中国大陆 120 / 110）。**
心理危机求助热线（免费、保密）：
- 北京心理危机研究与干预中心：**010-82951332**
- 希望24热线：**400-161-9995**
- 其他国家和地区：**https://findahelpline.com**（美国/加拿大 988，英国 Samaritans 116 123）"""

SUPPORT_EN = ("I'm really glad you told me, and I'm taking what you said seriously. You don't have to go "
              "through this alone - talking to someone right now can help: a person you trust, or a "
              "crisis line where trained people listen, any time of day.")
SUPPORT_ZH = ("谢谢你愿意告诉我，我很认真地对待你说的话。你不必独自承受这一切——现在就和一个你信任的人，"
              "或者热线里受过训练的倾听者聊一聊，会有帮助，他们随时都在。")
QUESTION_EN = "Are you safe right now? Would you like to tell me a bit more about what's been happening?"
QUESTION_ZH = "你现在安全吗？愿意和我多说一点最近发生了什么吗？"


def resources(language: str = "en") -> str:
    return RESOURCES_ZH if language == "zh" else RESOURCES_EN


def has_resources(reply: str) -> bool:
    return "findahelpline.com" in (reply or "")


def support_reply(language: str = "en") -> str:
    """The offline supportive reply (persona-independent)."""
    if language == "zh":
        return f"{SUPPORT_ZH}\n\n{RESOURCES_ZH}\n\n{QUESTION_ZH}"
    return f"{SUPPORT_EN}\n\n{RESOURCES_EN}\n\n{QUESTION_EN}"


def ensure_resources(reply: str, language: str = "en") -> str:
    """Make sure a (LLM) reply to a flagged message carries the crisis resources."""
    reply = (reply or "").rstrip()
    if has_resources(reply):
        return reply
    if not reply:
        return support_reply(language)
    return f"{reply}\n\n{resources(language)}"
