"""The empathic chat (report sections 5 and 6): LLM service, personas, perception-aware prompts,
crisis safety, the offline responder, the conversation turn, and the ipywidgets app.

- :mod:`.llm` ``LLMService`` (OpenAI SDK; key, base URL and model from the environment)
- :mod:`.prompts` persona table, perception world view, per-turn payload, constraints, safety section
- :mod:`.safety` self-harm / suicide keyword screen (English, Chinese) and crisis resources
- :mod:`.risk` the learned risk detector beside it (``RiskScreen``: keyword OR model, per-session score);
  trained by ``python -m emokit.chapters.risk_model`` (DVC stage ``06_risk_model``)
- :mod:`.offline` template responder used without a key (shown as such)
- :mod:`.session` ``ChatSession.turn``: STT -> perception -> fusion -> prompt -> reply; transcripts
- :mod:`.app` the widgets app (``build_app()``), for JupyterLab and Voila
- :mod:`.cli` ``python -m emokit chat``

Imports here are light: nothing loads a model or the OpenAI SDK until used.
"""
from __future__ import annotations

from .prompts import PERSONAS, persona_keys, system_prompt
from .safety import check as safety_check
from .session import ChatSession, Turn

__all__ = ["ChatSession", "Turn", "PERSONAS", "persona_keys", "system_prompt", "safety_check"]
