"""Dataset readers (one Record schema) and shared media I/O."""
from .media import MediaError, load_audio, read_image, sample_video_frames
from .readers import DataError

__all__ = ["DataError", "MediaError", "load_audio", "read_image", "sample_video_frames"]
