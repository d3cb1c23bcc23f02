"""Test-only helpers (never imported by ``emokit``): import them as ``tests.helpers.<module>``."""
