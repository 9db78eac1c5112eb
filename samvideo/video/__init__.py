"""Reading and writing video with PyAV.

=============  ==========================================================================
module         owns
=============  ==========================================================================
``info``       :class:`VideoInfo`, :func:`probe`, :class:`FrameRange`, :class:`Frame`
``decode``     the rules every file reader follows (frame index, time, size)
``reader``     :class:`VideoReader`: files, frames folders and pipes, in a decode thread
``frames``     :class:`FrameStore`: random access by frame index (the browser page)
``live``       :class:`LiveReader`: cameras, network streams, files played live
``writer``     :class:`VideoWriter`: H.264 with the source's timing and audio
=============  ==========================================================================

Frames are (H, W, 3) uint8 RGB numpy arrays; timestamps are exact (``Fraction`` rate and
time base).
"""

from samvideo.video.info import (
    IMAGE_SUFFIXES,
    Frame,
    FrameRange,
    Position,
    Skipped,
    SourceTimeout,
    VideoInfo,
    is_stream,
    is_url,
    list_frame_files,
    parse_position,
    probe,
)
from samvideo.video.reader import VideoReader
from samvideo.video.writer import VideoWriter

__all__ = ["IMAGE_SUFFIXES", "Frame", "FrameRange", "Position", "Skipped", "SourceTimeout",
           "VideoInfo", "VideoReader", "VideoWriter", "is_stream", "is_url", "list_frame_files",
           "parse_position", "probe"]
