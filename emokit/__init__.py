"""emokit: reproducible multimodal emotion recognition (vision, text, audio, fusion) and an empathic chat."""
__version__ = "0.1.0"
