"""Writing video: H.264 (yuv420p) with the source's timing, audio copied packet for
packet (:class:`VideoWriter`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from samvideo.video.info import VideoInfo, short_error


class VideoWriter:
    """Write RGB frames as H.264 (yuv420p) with the source's timing.

    Odd widths/heights (which yuv420p cannot hold) are padded by one edge pixel.
    Frames are written with their ``pts`` in the source ``time_base`` so the output has
    the same frame count, timestamps (variable-rate ones included) and duration as the
    source. No B-frames: every prefix of the packets decodes, so an interrupted file can
    be stream-copied into a resumed one (:meth:`copy_from`).

    ``audio_from`` copies that file's first audio stream packet by packet (no
    re-encoding), interleaved with the video as it is written, from the source time
    ``audio_start_s`` (the source time of this output's t = 0) to the video's end.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        *,
        crf: int = 20,  # visually clean overlays at a modest size; 23 is x264's default
        preset: str = "veryfast",  # encoding must not slow tracking down
        audio_from: str | Path | None = None,  # copy this file's first audio stream
        audio_start_s: Fraction | float = 0,  # source time (from its first frame) of t = 0
        comment: str | None = None,  # container "comment" metadata
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.notes: list[str] = []
        self._container = av.open(str(self.path), "w", format="mp4")
        if comment:
            self._container.metadata["comment"] = comment
        self._stream = self._container.add_stream("libx264", rate=info.rate)
        self._stream.width = info.width + info.width % 2
        self._stream.height = info.height + info.height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = info.time_base
        self._stream.codec_context.time_base = info.time_base
        self._stream.options = {"crf": str(crf), "preset": preset, "bf": "0"}
        self._audio: _AudioCopy | None = None
        if audio_from is not None:
            self._audio = _AudioCopy.open(audio_from, self._container, Fraction(audio_start_s),
                                          self.notes)
        self._last_pts = -1
        self.frames_written = 0  # encoded or copied
        self._encoded = 0  # encoded by write(): copying after that would misplace packets

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_pts(self) -> int:
        """pts (``info.time_base`` units) of the last frame written or copied; -1 if none."""
        return self._last_pts

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at ``pts`` (``info.time_base`` units, from
        this output's t = 0). A pts not after the previous one is moved one tick later."""
        if rgb.shape[1] != self._stream.width or rgb.shape[0] != self._stream.height:
            rgb = np.pad(
                rgb,
                ((0, self._stream.height - rgb.shape[0]), (0, self._stream.width - rgb.shape[1]),
                 (0, 0)),
                mode="edge",
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(int(pts), self._last_pts + 1)
        frame.pts = pts
        frame.time_base = self.info.time_base
        self._last_pts = pts
        if self._audio is not None:
            self._audio.copy_until(pts * self.info.time_base)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1
        self._encoded += 1

    def copy_from(self, path: str | Path, *, before_pts: int | None = None,
                  shift: int = 0) -> int:
        """Stream-copy (no re-encoding) the video packets of an earlier output of this
        writer whose pts (``info.time_base`` units) is below ``before_pts`` (None = all),
        moved ``shift`` ticks later. It may be called for several files in a row (the
        segments of one video, in order) before any :meth:`write`; returns the number of
        frames written so far.

        When the earlier file's H.264 parameters differ from this encoder's (another x264
        build or size), or a frame was encoded already, its frames are decoded and
        encoded again instead.
        """
        tb = self.info.time_base
        with av.open(str(path)) as old:
            stream = old.streams.video[0]
            self._container.start_encoding()  # opens x264: its SPS/PPS are now known
            if self._encoded or not _same_parameter_sets(stream.codec_context.extradata,
                                                         self._stream.codec_context.extradata):
                return self._reencode_from(old, stream, before_pts, shift)
            for packet in old.demux(stream):
                if packet.dts is None or packet.size == 0:
                    continue
                pts = round(packet.pts * stream.time_base / tb)
                if before_pts is not None and pts >= before_pts:
                    break  # no B-frames: decode order is presentation order
                pts += shift
                if pts <= self._last_pts:
                    continue  # already there (segments never overlap; be safe)
                if self._audio is not None:
                    self._audio.copy_until(pts * tb)
                dts = round(packet.dts * stream.time_base / tb) + shift
                self._container.mux(_as_annexb(packet, self._stream, pts, min(dts, pts), tb))
                self._last_pts = pts
                self.frames_written += 1
        return self.frames_written

    def _reencode_from(self, old, stream, before_pts: int | None, shift: int) -> int:
        tb = self.info.time_base
        for frame in old.decode(stream):
            pts = round(frame.pts * stream.time_base / tb)
            if before_pts is not None and pts >= before_pts:
                break
            self.write(frame.to_ndarray(format="rgb24"), pts + shift)
        return self.frames_written

    def close(self) -> None:
        """Flush the encoder, copy the audio up to the video's end, close the file."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._audio is not None:
                frame = 1 / self.info.rate if self.info.rate else 0
                self._audio.copy_until((self._last_pts + 1) * self.info.time_base + frame)
                self._audio.close()
        finally:
            self._container.close()
            self._container = None


def _as_annexb(packet: av.Packet, stream, pts: int, dts: int, time_base: Fraction
               ) -> av.Packet:
    """An MP4 (length-prefixed, 4-byte lengths as x264 writes them) H.264 packet as the
    Annex B packet an encoder gives, which the MP4 muxer turns back into the same bytes;
    at ``pts`` / ``dts`` in ``time_base`` units."""
    data, out, i = bytes(packet), bytearray(), 0
    while i + 4 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        out += b"\x00\x00\x00\x01" + data[i + 4:i + 4 + size]
        i += 4 + size
    copy = av.Packet(bytes(out))
    copy.pts, copy.dts, copy.time_base = pts, dts, time_base
    copy.is_keyframe = packet.is_keyframe
    copy.stream = stream
    return copy


def _same_parameter_sets(old_avcc: bytes | None, new_annexb: bytes | None) -> bool:
    """Whether every SPS/PPS of the encoder's Annex B extradata is in the file's avcC."""
    if not old_avcc or not new_annexb:
        return False
    old, new = bytes(old_avcc), bytes(new_annexb)
    if not new.startswith(b"\x00\x00"):  # already avcC: compare as they are
        return old == new
    nals = [n.strip(b"\x00") for n in re.split(b"\x00\x00\x01", new)]
    return all(n in old for n in nals if n)


class _AudioCopy:
    """Copy (remux, no re-encode) the first audio stream of a source into an output.

    Packets go out in step with the video (:meth:`copy_until`), so the muxer
    interleaves them; times are shifted so that the source time ``start_s`` (from the
    source's first video frame) is the output's t = 0; packets that end before it are
    dropped (the one that ends at it is kept: AAC needs it as pre-roll).
    """

    def __init__(self, source: str | Path, out: av.container.OutputContainer,
                 start_s: Fraction) -> None:
        self._input = av.open(str(source))
        self._in = self._input.streams.audio[0]
        video = self._input.streams.video
        first = video[0].start_time if video and video[0].start_time is not None else 0
        origin_s = (Fraction(first * video[0].time_base) if video else Fraction(0)) + start_s
        self._tb = Fraction(self._in.time_base)
        self._offset = round(origin_s / self._tb)  # audio pts of the output's t = 0
        self._out = out
        self._out_stream = out.add_stream_from_template(self._in)
        if origin_s > 1:  # skip most of what comes before the start
            self._input.seek(max(0, self._offset - round(1 / self._tb)), stream=self._in)
        self._packets = self._input.demux(self._in)
        self._pending: av.Packet | None = None
        self._done = False

    @classmethod
    def open(cls, source: str | Path, out: av.container.OutputContainer, start_s: Fraction,
             notes: list[str]) -> _AudioCopy | None:
        """An :class:`_AudioCopy`, or None (with a note why) when it cannot be made."""
        try:
            with av.open(str(source)) as probe_:
                if not probe_.streams.audio:
                    return None
                codec = probe_.streams.audio[0].codec_context.codec.canonical_name
        except av.error.FFmpegError as exc:
            notes.append(f"audio not copied: {str(source)!r} cannot be read: {short_error(exc)}")
            return None
        if codec not in out.supported_codecs:
            notes.append(f"audio not copied: MP4 cannot hold the source's {codec} audio")
            return None
        return cls(source, out, start_s)

    def copy_until(self, t_s: Fraction | float) -> None:
        """Mux every packet whose output time is before ``t_s`` seconds."""
        limit = Fraction(t_s) / self._tb + self._offset
        while not self._done:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            if packet is None:
                self._done = True
                return
            if packet.dts is None or packet.pts is None or packet.size == 0:
                self._pending = None
                continue
            if packet.pts >= limit:
                self._pending = packet
                return
            self._pending = None
            if packet.pts + (packet.duration or 0) < self._offset:
                continue  # before t = 0; the one ending there is kept as decoder pre-roll
            packet.stream = self._out_stream
            packet.pts -= self._offset
            packet.dts -= self._offset
            self._out.mux(packet)

    def close(self) -> None:
        self._input.close()
