"""Test fixtures that the chapters' own self-checks also run, so they ship with the package.

Nothing here answers a real input. Each module is a stand-in or a fixed table:

- :mod:`.fake_openai_server`: a scripted OpenAI-compatible server on 127.0.0.1 (the chat tests, the
  LLM fault benchmark, and notebook 06's self-test of the real ``LLMService``);
- :mod:`.safety_cases`: the phrasings the safety screen must and must not catch (the chat tests,
  notebook 06's ``safety.*`` metrics, the risk detector's evaluation);
- :mod:`.synthetic_faces`: webcam-like frames and videos made from real face crops (the vision tests,
  notebook 01's video and browser checks, the live benchmarks).

Helpers only the test suite needs live in ``tests/helpers/``.
"""
