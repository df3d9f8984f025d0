"""Video file input and output through PyAV (FFmpeg): decode to upright BGR frames, encode H.264 back out.

FileSource demuxes one container, decodes its first video stream, applies the display-matrix rotation and converts
to BGR honouring the stream's colour matrix and range. VideoFileSink encodes BGR frames to H.264 (BT.709, limited
range, tagged), keeps every frame's timestamp (so variable frame rate survives), and copies the source's audio and
subtitle packets through a second demuxer interleaved with the video, so memory stays bounded. Output goes to a
temp file beside the target and is renamed only on a clean close. Raw `av` exceptions never escape: they become
the NstError subclasses from `nstvideo.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from nstvideo.errors import (
    DeviceUnavailableError,
    InputError,
    NstError,
    OutputError,
    ProcessingError,
    UsageError,
)
from nstvideo.pipeline import hdr
from nstvideo.pipeline.outputs import forget_temp, temp_path_for
from nstvideo.pipeline.sources import is_animated

__all__ = [
    "CONTAINER_FORMATS",
    "ENCODERS",
    "FileSource",
    "Frame",
    "VideoFileSink",
    "VideoInfo",
    "available_h264_encoders",
    "bgr_to_yuv",
]

#: Output file suffix -> FFmpeg muxer name.
CONTAINER_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}
#: Values accepted for `encoder`. `prores`: ProRes 422 HQ for editing (FFmpeg's prores_ks), audio as PCM.
ENCODERS = ("auto", "libx264", "h264_nvenc", "prores")
#: Containers that take ProRes (ISO MP4 does not).
PRORES_CONTAINERS = (".mov", ".mkv")
#: The FFmpeg encoder behind `--encoder prores`, its pixel format and profile: 10-bit 4:2:2, HQ (profile 3).
_PRORES = ("prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"})
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# NVENC's p1 (fastest) .. p7 (best) for the matching x264 preset names.
_NVENC_PRESET = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}

# PyAV before 18 (the last release for Python 3.10 is 17) has no BT.2020 matrix; BT.709 is the nearest it has.
_BT2020 = getattr(Colorspace, "BT2020", Colorspace.ITU709)
# AVColorSpace (frame.colorspace) -> swscale matrix. Unspecified/unknown falls back by frame height.
_MATRIX_FOR_AVCOL_SPC = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: _BT2020,
    10: _BT2020,
}
_AVCOL_RANGE_MPEG, _AVCOL_RANGE_JPEG = 1, 2
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: a cover picture, stored as a one-frame video stream
_AVCOL_BT709 = 1  # the same number for AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic


# swscale's default RGB<->YUV conversions truncate: decode + encode left frames ~2 grey levels darker (mean -2.25,
# 1080p photo). Exact rounding, and full chroma interpolation when decoding, take it to +0.01 for ~5 ms a 1080p frame.
# libswscale's flag values: PyAV 17 (the last for Python 3.10) takes them as ints but has no names for them.
_SWS_BILINEAR, _SWS_FULL_CHR_H_INT, _SWS_ACCURATE_RND = 0x2, 0x2000, 0x40000
_ENCODE_SWS = _SWS_BILINEAR | _SWS_ACCURATE_RND
_DECODE_SWS = _SWS_BILINEAR | _SWS_ACCURATE_RND | _SWS_FULL_CHR_H_INT

# Container tags the muxer writes itself; copying them would be stale or wrong.
#: Muxers that cannot store a timestamp below zero (they move every stream up instead).
_NO_NEGATIVE_TS = ("matroska", "webm")
_SKIP_CONTAINER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "duration"}
_SKIP_STREAM_TAGS = {
    "handler_name", "vendor_id", "encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "alpha_mode"
}  # fmt: skip

# What the AAC encoder takes for a source layout it refuses (unnamed, or more than 8 channels: downmixed to stereo).
_AAC_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


@dataclass(frozen=True)
class VideoInfo:
    """What a source tells sinks and progress bars about its video."""

    width: int  # displayed size, i.e. after rotation is applied
    height: int
    fps: Fraction | None  # average frame rate (progress/ETA, encoder rate-control hint)
    time_base: Fraction  # time base of Frame.pts
    frame_count: int | None  # best estimate for the selected range
    duration: float | None  # seconds of the selected range
    rotation: int  # degrees the stored pixels were turned clockwise to make them upright (0/90/180/270), as in the
    # legacy `rotate` tag: a portrait phone video is 90
    codec: str
    has_audio: bool
    origin: float = 0.0  # input time (s) that Frame.pts 0 stands for; sinks shift copied audio/subtitles by it
    stream_index: int = 0  # the source's video stream (a cover picture can come before it)


@dataclass
class Frame:
    """One decoded picture with its presentation timestamp."""

    image: np.ndarray  # HxWx3 uint8 BGR, C-contiguous, upright
    pts: int  # in VideoInfo.time_base, with the start offset removed
    duration: int = 0  # how long it stays on screen, same unit; 0 when unknown (the encoder then assumes 1/fps)


def _av_message(exc: BaseException) -> str:
    """A short, single-line description of an av/OS exception."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _is_url(path: str | Path) -> bool:
    return "://" in str(path)


def _ts_seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _declared_seconds(tags: dict[str, str]) -> float | None:
    """A stream's DURATION tag ("HH:MM:SS.fffffffff", Matroska's statistics tags) in seconds, if it has one."""
    for key, value in tags.items():
        if key.upper().startswith("DURATION"):
            with contextlib.suppress(ValueError):
                h, m, sec = value.strip().split(":")
                return int(h) * 3600 + int(m) * 60 + float(sec)
    return None


def _clockwise_rotation(ccw_degrees: float) -> int:
    """Display-matrix rotation (counter-clockwise, -180..180, as FFmpeg reports it) as clockwise 0/90/180/270."""
    return int(round(-ccw_degrees / 90.0)) % 4 * 90


def check_times(start: float, duration: float | None) -> None:
    """--start and --duration: checked when a file is opened, and by a folder run before its first one (where a
    misfit for one video skips it, these would skip them all)."""
    if not math.isfinite(start):
        raise UsageError(f"start {start} is not a finite number", "give --start in seconds, 0 or more")
    if start < 0:
        raise UsageError(f"start {start} is negative", "give --start in seconds, 0 or more")
    if duration is not None and not math.isfinite(duration):
        raise UsageError(f"duration {duration} is not a finite number", "give --duration in seconds")
    if duration is not None and duration <= 0:
        raise UsageError(f"duration {duration} is not positive", "give --duration in seconds, more than 0")


class FileSource:
    """Decode a video file (or URL) to upright BGR frames."""

    def __init__(self, path: str | Path, start: float = 0.0, duration: float | None = None) -> None:
        self.path = path
        self.notes: list[str] = []  # what a user should know about how the input is read (the job logs them)
        check_times(start, duration)
        self.start = float(start)
        self.duration = None if duration is None else float(duration)
        if not _is_url(path):
            p = Path(path)
            if not p.exists():
                raise InputError(f"input {p} does not exist", "check the path and spelling")
            if p.is_dir():
                raise InputError(f"input {p} is a directory", "give a video file")
            if p.stat().st_size == 0:
                raise InputError(f"input {p} is empty (0 bytes)", "the file may still be copying or was cut off")
            if p.suffix.lower() == ".webp" and is_animated(p):
                raise InputError(
                    f"{p} is an animated WebP, which FFmpeg cannot decode",
                    "convert it to a video or a GIF with another tool first; nstvideo image stylises its first frame",
                )
        try:
            self._container = open_input(path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
                raise InputError(f"cannot read {path}: permission denied", "check its permissions") from None
            raise InputError(
                f"cannot read {path}: not a media file or its header is corrupt ({_av_message(exc)})",
                "check that the file plays in a media player; re-download or re-export it",
            ) from None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        container = self._container
        # A photo read as a video (FFmpeg's image demuxers): one frame, which `file` refuses and a camera repeats.
        self.still = container.format.name == "image2" or container.format.name.endswith("_pipe")
        videos = [v for v in container.streams.video if not int(v.disposition) & _ATTACHED_PIC]
        if not videos:
            what = "audio only" if container.streams.audio else "no audio either"
            if container.streams.video:
                what += ", with a cover picture"
            raise InputError(
                f"{self.path} has no video stream ({what})", "give a video file; audio-only files cannot be stylised"
            )
        vs = videos[0]  # not a cover picture, which some taggers store first
        vs.thread_type = "AUTO"
        self._stream = vs
        tb = vs.time_base or Fraction(1, 90000)
        self._tb = tb
        # The file's zero is where its earliest stream starts: audio may start before the first frame, and is
        # kept (an AAC priming start below zero counts as zero, so the video is not moved for it); --start counts
        # from there, as players show the file. A frame is selected when more than half of its display time (of an
        # average frame at most: a slide shown for a minute in a screen recording counts) is inside
        # [start, start+duration) — see _selected for ties; one that begins before the start is shown from it.
        # Frame.pts counts from the first selected frame (or the zero, if that is earlier), so pts are never negative.
        zero = vs.start_time if vs.start_time is not None else 0
        for a in container.streams.audio:
            if a.start_time is not None and a.time_base:
                zero = min(zero, math.floor(Fraction(max(a.start_time, 0)) * a.time_base / tb))
        fps_guess = vs.average_rate or vs.guessed_rate
        self._step = int(round(1 / (fps_guess * tb))) if fps_guess else 1
        start_ticks = zero + int(round(Fraction(self.start) / tb))
        self._lower = start_ticks if self.start > 0 else None
        self._end = None
        if self.duration is not None:
            self._end = start_ticks + int(round(Fraction(self.duration) / tb))
        self._reached_start = False  # whether any frame is on screen after the start (for the error below)
        self._origin = start_ticks
        self._reformatter = VideoReformatter()
        declared = _declared_seconds(vs.metadata)
        self._declared_end = None if declared is None else int(round(Fraction(declared) / tb))

        total = None  # the video's end on the file's timeline (from `zero`)
        if vs.duration:
            total = float((vs.duration + (vs.start_time or 0) - zero) * tb)
        elif declared is not None:  # FFmpeg's Matroska DURATION is where the track ends, not how long it is
            total = declared - float(zero * tb) if declared > float(zero * tb) else declared
        elif container.duration:
            total = container.duration / av.time_base
        if total is not None and self.start > 0 and self.start >= total:
            raise InputError(
                f"start {self.start:g}s is beyond the end of {self.path} ({total:.2f}s long)",
                "choose a --start inside the video",
            )
        fps = vs.average_rate or vs.guessed_rate
        fps = Fraction(fps) if fps else None
        selected = None if total is None else max(total - self.start, 0.0)
        if self.duration is not None:
            selected = self.duration if selected is None else min(selected, self.duration)
        if self.start == 0 and self.duration is None and vs.frames:
            count = int(vs.frames)
        elif selected is not None and fps:
            # frames exist from the video's own start on (its audio may begin long before it); half a frame at the
            # start is kept (the selection's rule), so a half counts as one
            video_from = max(float(((vs.start_time or 0) - zero) * tb) - self.start, 0.0)
            count = max(math.ceil((selected - min(video_from, selected)) * fps - 1e-6), 1)
        else:
            count = None

        # Decode the first selected frame now: it proves the stream decodes and carries the rotation.
        self._probing = True
        self._decoder = self._decode()
        first_frame = next(self._decoder, None)
        self._probing = False
        if first_frame is None:
            if self.duration is not None and self._reached_start:
                raise UsageError(
                    f"duration {self.duration:g}s selects no frames (a frame is taken when half of it is inside)",
                    "give a longer --duration",
                )
            if self.start > 0 and self._reached_start:  # inside the last frame, past its middle
                raise InputError(
                    f"start {self.start:g}s leaves less than half of the last frame of {self.path}",
                    "choose an earlier --start",
                )
            if self.start > 0:
                raise InputError(
                    f"start {self.start:g}s is beyond the end of {self.path}", "choose a --start inside the video"
                )
            raise InputError(f"{self.path} has no decodable video frames", "check that the file plays")
        self._pending: av.VideoFrame | None = first_frame
        self._origin = min(self._origin, first_frame.pts)
        if _has_alpha(vs, first_frame):
            self.notes.append("note: the video's transparency is dropped (H.264 video has none)")
        self._rotation = _clockwise_rotation(first_frame.rotation or 0)
        trc = first_frame.color_trc if first_frame.color_trc in hdr.NAMES else vs.codec_context.color_trc
        self._hdr = hdr.HdrToSdr(trc) if trc in hdr.NAMES else None
        if self._hdr is not None:
            self.notes.append(f"note: HDR video ({hdr.NAMES[trc]}); tone-mapped to SDR BT.709 (the nets and H.264 "
                              "output are SDR)")  # fmt: skip
        if _ends_mid_packet(self.path, container.format.name):
            self.notes.append(
                f"warning: {Path(self.path).name} ends in the middle of an MPEG-TS packet: it was cut short (an "
                "unfinished download, copy or recording); its video ends where the file does"
            )
        self._interlaced = bool(first_frame.interlaced_frame)
        if self._interlaced:
            self.notes.append("note: interlaced video; deinterlaced (bwdif, one frame per frame)")
        w, h = first_frame.width, first_frame.height
        # Non-square pixels (anamorphic DVD/broadcast video) are resampled to square ones: the net, the encoder
        # and every player then agree on the shape (the pixels as stored would show a 16:9 picture at 5:4).
        sar = vs.sample_aspect_ratio or vs.codec_context.sample_aspect_ratio
        self._square: tuple[int, int] | None = None
        if sar and sar != 1 and sar > 0:
            self._square = (max(2, 2 * round(w * sar / 2)), h)
            self.notes.append(
                f"note: non-square pixels ({sar.numerator}:{sar.denominator}); resampled {w}x{h} to "
                f"{self._square[0]}x{self._square[1]}"
            )
            w, h = self._square
        if self._rotation in (90, 270):
            w, h = h, w
        self.info = VideoInfo(
            width=w,
            height=h,
            fps=fps,
            time_base=tb,
            frame_count=count,
            duration=selected,
            rotation=self._rotation,
            codec=vs.codec_context.name,
            has_audio=bool(container.streams.audio),
            origin=float(self._origin * tb),
            stream_index=vs.index,
        )

    def _decode(self) -> Iterator[av.VideoFrame]:
        """The decoded frames inside [start, start+duration), as av frames: each is judged once the next one says
        how long it stays on screen."""
        held = None
        for frame in self._decoded():
            if held is not None and self._selected(held.pts, frame.pts):
                yield self._shown(held, frame.pts)
            if self._end is not None and frame.pts >= self._end:
                return
            held = frame
        if held is not None:
            end = held.pts + (held.duration if held.duration and held.duration > 0 else self._step)
            if self._selected(held.pts, end):
                yield self._shown(held, end)

    def _shown(self, frame: av.VideoFrame, end: int) -> av.VideoFrame:
        """The frame as the selection shows it: from the start at the earliest, until `end` or the selection's end
        (its duration is what an encoder cannot guess for the last frame of a cut or of a variable-rate file)."""
        if self._lower is not None and frame.pts < self._lower:
            frame.pts = self._lower  # on screen at the start: shown from there, as a player would
        if self._end is not None:
            end = min(end, self._end)
        frame.duration = max(end - frame.pts, 0)
        return frame

    def _selected(self, pts: int, end: int) -> bool:
        """Whether a frame shown over [pts, end) belongs to the selection; one that starts before it is moved to its
        start. Half of the frame (half an average frame at most) must be on screen inside; at the start a tie keeps
        the frame, at the end it drops it, so a cut between two frames takes exactly one."""
        if end <= pts:  # out of order or repeated timestamps (damaged files): judge by the average frame
            end = pts + self._step
        lower = pts if self._lower is None else max(pts, self._lower)
        upper = end if self._end is None else min(end, self._end)
        if self._lower is None or end > self._lower:
            self._reached_start = True
        inside, need = 2 * (upper - lower), min(end - pts, self._step)
        starts_before = self._lower is not None and pts < self._lower
        return inside > need or (inside == need and starts_before)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Seek to just before the start and yield decoded frames in presentation order until the end."""
        vs = self._stream
        last_t = self.start  # seconds into the input, for error messages
        truncated = False
        first_pts = vs.start_time or 0
        floor = first_pts - int(round(1 / self._tb))  # MPEG-TS seeks to its very first pts can land seconds later
        step = self._step
        prev, prev_shown = None, step
        try:
            back = 0.0  # seconds to seek before the start, doubled while the seek lands after it
            while True:
                target = None if self._lower is None else max(self._lower - int(back / self._tb), floor)
                if target is not None:
                    self._container.seek(target, stream=vs, backward=True, any_frame=False)
                elif not self._probing:
                    self._container.seek(first_pts, stream=vs, backward=True, any_frame=False)
                landed = False
                for packet in self._container.demux():
                    if packet.size:
                        # FFmpeg flags a packet corrupt when the file ended in the middle of reading it, whichever
                        # stream it belongs to (the audio after the last whole frame, in a cut MP4)
                        truncated = packet.is_corrupt
                    if packet.stream.index != vs.index:
                        continue
                    for frame in packet.decode():
                        pts = frame.pts
                        if pts is None:
                            pts = frame.dts if frame.dts is not None else (0 if prev is None else prev + step)
                            frame.pts = pts
                        prev, prev_shown = pts, frame.duration if frame.duration and frame.duration > 0 else step
                        if not landed and target is not None and target > floor and pts > self._lower:
                            # MPEG-TS/PS seeks by timestamp and calls every packet a keyframe: the decoder then
                            # skipped frames up to the next real keyframe, after the start. Seek earlier.
                            break
                        landed = True
                        last_t = float((pts - first_pts) * self._tb)
                        yield frame
                        if self._end is not None and pts >= self._end:
                            return
                    else:
                        continue
                    break
                if landed or target is None or target <= floor:
                    break
                back = max(1.0, back * 2)
        except (av.FFmpegError, OSError) as exc:
            raise self._decode_error(last_t, _av_message(exc)) from None
        if truncated:
            raise self._decode_error(last_t, "the file ends in the middle of a packet (truncated)")
        if self._end is None and self._declared_end is not None and prev is not None:
            # Matroska's demuxer flags no corrupt packet when a file is cut short, but its video track says how
            # long it is; a second of slack keeps rounding from mattering.
            stop = float((prev + prev_shown) * self._tb)
            declared = float(self._declared_end * self._tb)
            if declared - stop > 1.0:
                raise ProcessingError(
                    f"{self.path} is truncated: its video stops at {stop:.2f}s but the file says it lasts "
                    f"{declared:.2f}s",
                    "the file was cut off (an interrupted download or copy?); get a complete copy",
                )

    def _decode_error(self, t: float, detail: str) -> NstError:
        """InputError while probing the first frame, ProcessingError once frames have been delivered."""
        if self._probing:
            return InputError(f"cannot decode video in {self.path}: {detail}", "check that the file plays")
        return ProcessingError(f"decode error at t={t:.2f}s: {detail}", "the input is damaged or truncated there")

    def _to_bgr(self, frame: av.VideoFrame) -> np.ndarray:
        """Convert to BGR (full range) with the frame's own matrix and range, then turn it upright."""
        fmt = frame.format
        deep = "rgb48le" if self._hdr is not None else "bgr24"  # HDR: all 10 bits through to the tone mapping
        if fmt.is_rgb:
            out = self._reformatter.reformat(frame, format=deep)
        else:
            matrix = _MATRIX_FOR_AVCOL_SPC.get(frame.colorspace)
            if matrix is None:
                matrix = Colorspace.ITU601 if frame.height < 720 else Colorspace.ITU709
            rng = frame.color_range
            if rng not in (_AVCOL_RANGE_MPEG, _AVCOL_RANGE_JPEG):
                rng = _AVCOL_RANGE_JPEG if fmt.name.startswith("yuvj") else _AVCOL_RANGE_MPEG
            out = self._reformatter.reformat(
                frame,
                format=deep,
                src_colorspace=matrix,
                dst_colorspace=matrix,
                src_color_range=ColorRange(rng),
                dst_color_range=ColorRange.JPEG,
                interpolation=_DECODE_SWS,
            )
        image = out.to_ndarray() if self._hdr is None else self._hdr(out.to_ndarray())
        if self._square is not None:
            interp = cv2.INTER_AREA if self._square[0] < image.shape[1] else cv2.INTER_CUBIC
            image = cv2.resize(image, self._square, interpolation=interp)
        if self._rotation:
            image = np.rot90(image, k=-(self._rotation // 90))  # np.rot90 turns counter-clockwise for k > 0
        return np.ascontiguousarray(image)

    def frames(self) -> Iterator[Frame]:
        """Yield upright BGR frames of the selected range in presentation order."""
        if self._container is None:
            raise ProcessingError(f"{self.path} is already closed", "this is a bug in the pipeline; please report it")
        if self._pending is None:  # a second pass: start again from --start
            self._decoder = self._decode()
            decoded: Iterator[av.VideoFrame] = self._decoder
        else:
            pending, self._pending = self._pending, None
            decoded = itertools.chain([pending], self._decoder)
        if self._interlaced:
            decoded = self._deinterlaced(decoded)
        for frame in decoded:
            yield Frame(self._to_bgr(frame), int(frame.pts - self._origin), int(frame.duration))

    def _deinterlaced(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        """Frames with their two fields (taken half a frame apart) made into one picture: a net stylising the
        raw weave paints the comb on every moving edge. bwdif, one frame out per frame in, flagged frames only."""
        first = next(frames, None)
        if first is None:
            return
        graph = av.filter.Graph()
        src = graph.add_buffer(width=first.width, height=first.height, format=first.format.name, time_base=self._tb)
        deint = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = graph.add("buffersink")
        src.link_to(deint)
        deint.link_to(sink)
        graph.configure()
        durations: dict[int, int] = {}

        def drained() -> Iterator[av.VideoFrame]:
            while True:
                try:
                    out = graph.pull()
                except (av.BlockingIOError, av.EOFError):
                    return
                if out.time_base and out.time_base != self._tb:  # bwdif counts in half the input's time base
                    out.pts = int(round(out.pts * out.time_base / self._tb))
                    out.time_base = self._tb
                out.duration = durations.pop(out.pts, 0)
                yield out

        try:
            for frame in itertools.chain([first], frames):
                durations[frame.pts] = frame.duration
                graph.push(frame)
                yield from drained()
            graph.push(None)
            yield from drained()
        except av.FFmpegError as exc:
            raise ProcessingError(
                f"cannot deinterlace {self.path}: {_av_message(exc)}", "report it, with the file"
            ) from None

    def close(self) -> None:
        """Release the demuxer and decoder."""
        container = getattr(self, "_container", None)
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
            self._container = None

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_mid_packet(path: str | Path, format_name: str) -> bool:
    """An MPEG-TS file is a run of fixed-size packets (188 bytes; 192 in Blu-ray/AVCHD .m2ts/.mts, 204 with
    Reed-Solomon) and has no index or length to check a cut against: a size that is no multiple of any is a file cut
    off at some byte, which FFmpeg reads as a shorter stream without a word."""
    if format_name != "mpegts":
        return False
    try:
        size = os.path.getsize(path)
    except (OSError, TypeError, ValueError):  # a URL, a pipe
        return False
    return size > 0 and all(size % n for n in (188, 192, 204))


def bgr_to_yuv(reformatter: VideoReformatter, image: np.ndarray, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    """A full-range BGR image (even sides) as what our encoders take: yuv420p (ProRes: yuv422p10le), BT.709,
    limited range, tagged so."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
    return reformatter.reformat(
        frame,
        format=pix_fmt,
        src_colorspace=Colorspace.ITU709,
        dst_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.JPEG,
        dst_color_range=ColorRange.MPEG,
        dst_color_primaries=_AVCOL_BT709,
        dst_color_trc=_AVCOL_BT709,
        interpolation=_ENCODE_SWS,
    )


@functools.lru_cache(maxsize=4)
def _encoder_opens(name: str, pix_fmt: str = "yuv420p") -> bool:
    """True if FFmpeg has `name` and it opens and encodes a small frame (NVENC needs a working GPU/driver)."""
    if name not in av.codecs_available:
        return False
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height = 256, 256
        ctx.pix_fmt = pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25)
        ctx.open()
        frame = av.VideoFrame.from_ndarray(np.zeros((256, 256, 3), np.uint8), format="bgr24").reformat(format=pix_fmt)
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _available_h264_encoders() -> tuple[str, ...]:
    return tuple(name for name in ("libx264", "h264_nvenc") if _encoder_opens(name))


def available_h264_encoders() -> list[str]:
    """H.264 encoders this FFmpeg build has and that actually open here (checked once, then cached)."""
    return list(_available_h264_encoders())


def prores_available() -> bool:
    """Whether `--encoder prores` can run: FFmpeg's prores_ks opens and encodes a 10-bit 4:2:2 frame."""
    return _encoder_opens(_PRORES[0], _PRORES[1])


def check_encode_options(path: str | Path, encoder: str, crf: int, preset: str, folder_hint: bool = False) -> str:
    """Refuse a bad container, crf, preset or encoder before any work starts; returns the encoder to use.
    `folder_hint`: OUT may also be a folder (`file`), so a name with no suffix is told about `NAME/`."""
    suffix = Path(path).suffix.lower()
    if encoder == "prores" and suffix in CONTAINER_FORMATS:
        if suffix not in PRORES_CONTAINERS:
            raise UsageError(f"ProRes cannot go in {suffix} ({path})", "name the output .mov (or .mkv)")
        if not prores_available():
            raise DeviceUnavailableError(
                f"encoder {_PRORES[0]} is not available in this FFmpeg build", "use --encoder auto (H.264)"
            )
        return _PRORES[0]
    if suffix not in CONTAINER_FORMATS:
        raise UsageError(
            f"unsupported output container {suffix or '(no suffix)'} for {path}",
            ("name the output .mov or .mkv" if encoder == "prores" else "name the output .mp4, .mkv or .mov")
            + ("" if suffix or not folder_hint else f", or write {path}/ for a folder"),
        )
    if not 0 <= int(crf) <= 51:
        raise UsageError(f"crf {crf} is out of range", "give --crf between 0 (lossless) and 51 (worst)")
    if preset not in X264_PRESETS:
        raise UsageError(f"unknown preset {preset!r}", f"choose one of: {', '.join(X264_PRESETS)}")
    if int(crf) == 0:  # NVENC's cq 0 means "choose for me", not lossless: only x264 keeps the promise
        if encoder == "h264_nvenc":
            raise UsageError("--crf 0 (lossless) needs libx264; NVENC reads 0 as automatic", "use --encoder libx264")
        if encoder == "auto":
            encoder = "libx264"
    return _pick_encoder(encoder)


def _pick_encoder(encoder: str) -> str:
    if encoder not in ENCODERS:
        raise UsageError(f"unknown encoder {encoder!r}", f"choose one of: {', '.join(ENCODERS)}")
    have = available_h264_encoders()
    if encoder == "auto":
        for name in ("h264_nvenc", "libx264"):
            if name in have:
                return name
        raise DeviceUnavailableError(
            "no H.264 encoder is available in this FFmpeg build", "install a PyAV wheel built with libx264"
        )
    if encoder not in have:
        if encoder == "h264_nvenc":
            raise DeviceUnavailableError(
                "encoder h264_nvenc is not available (no NVIDIA GPU with NVENC, driver, or FFmpeg support)",
                "use --encoder libx264 or --encoder auto",
            )
        raise DeviceUnavailableError(f"encoder {encoder} is not available in this FFmpeg build", "use --encoder auto")
    return encoder


def _first_packets(source: str | Path, indices: set[int], limit: int = 2000, max_bytes: int = 32 << 20) -> dict:
    """The first non-empty packet of each of these streams, from a second demuxer; it gives up after `limit`
    packets or `max_bytes` read (a stream with no packets must not make it read a whole 4K film)."""
    found: dict[int, Any] = {}
    read = 0
    with contextlib.suppress(av.FFmpegError, OSError), open_input(source) as src:
        for n, packet in enumerate(src.demux()):  # every stream, so the byte count is what was read
            read += packet.size
            index = packet.stream.index
            if packet.size and index in indices and index not in found:
                found[index] = packet
            if len(found) == len(indices) or n >= limit or read >= max_bytes:
                break
    return found


def _muxer_accepts(fmt: str, stream: Any, packet: Any | None) -> bool:
    """Whether the muxer takes this stream copied as it is: header, its first packet, trailer.

    `supported_codecs` lists the codecs a format has tags for, but muxers refuse more: FFmpeg's mov takes Opus,
    FLAC and TrueHD only in .mp4, and mp4 refuses PCM packets whose channel layout has no name (PCM from
    Matroska) only when they arrive. Asking the muxer itself is the only exact answer.
    """
    out = av.open(io.BytesIO(), "w", format=fmt)
    try:
        copy = out.add_stream_from_template(stream)
        out.start_encoding()
        if packet is not None:
            packet.stream = copy
            out.mux(packet)
        out.close()
        return True
    except (av.FFmpegError, ValueError):
        with contextlib.suppress(Exception):
            out.close()
        return False


def _aac_layout(name: str, channels: int) -> str:
    """The source's channel layout if the AAC encoder takes it, else the usual layout for its channel count.

    PCM in AVI or Matroska often has no named layout ("2 channels"), which the encoder refuses to open with.
    """
    try:
        cc = av.CodecContext.create("aac", "w")
        cc.sample_rate, cc.format, cc.layout = 48000, "fltp", name
        cc.open()
        return name
    except (av.FFmpegError, ValueError):
        return _AAC_DEFAULT_LAYOUTS.get(channels, "stereo")


def open_input(path: str | Path) -> Any:
    """av.open for reading, with tags in UTF-8 as they should be or, failing that, in Windows' Latin-1 (cp1252), as
    old camcorders and Windows taggers write them — so a title reads "Café", not "Caf\ufffd", and is copied so."""
    try:
        return av.open(str(path), "r")
    except UnicodeDecodeError:  # PyAV < 19 decodes tags strictly; 19 keeps the bytes (see _tag_text)
        return av.open(str(path), "r", metadata_errors="surrogateescape")  # valid UTF-8 tags stay as they are


def _tag_text(value: str) -> str:
    """A tag as text: PyAV 19 keeps bytes that are not UTF-8 as surrogates, which cannot be written; they are
    Windows Latin-1 (cp1252) in practice."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return value.encode("utf-8", "surrogateescape").decode("cp1252", "replace")
    return value


def _cue_in_cut(packet: Any, t: float, end_s: float | None) -> bool:
    """Whether a subtitle cue shown from `t` (output seconds) is on screen inside the cut; one that began before it
    is moved to its start, one that runs past its end is shortened, as a player would show them."""
    tb = packet.time_base
    shown = float((packet.duration or 0) * tb)
    if t < 0:
        if t + shown <= 1e-6:
            return False
        late = int(round(Fraction(-t) / tb))
        packet.pts = None if packet.pts is None else packet.pts + late
        packet.dts = None if packet.dts is None else packet.dts + late
        packet.duration = max(int(packet.duration) - late, 1)
        shown, t = shown + t, 0.0
    if end_s is not None and packet.duration and t + shown > end_s:
        packet.duration = max(int(round(Fraction(end_s - t) / tb)), 1)
    return True


def _has_alpha(stream: Any, first: av.VideoFrame) -> bool:
    """A transparent video: an alpha plane in its pixels (ProRes 4444, PNG, QuickTime RLE) that is not opaque in its
    first frame (a GIF decodes with one, mostly opaque), or, for VP8/VP9 in WebM, the alpha_mode tag (the decoder
    gives the alpha separately)."""
    tags = {k.lower(): v for k, v in stream.metadata.items()}
    if tags.get("alpha_mode") == "1":
        return True
    if len(first.format.components) not in (2, 4):  # grey+alpha, colour+alpha
        return False
    try:
        return bool(first.reformat(format="rgba").to_ndarray()[:, :, 3].min() < 255)
    except (ValueError, av.FFmpegError):
        return True


def _copy_tags(src: dict[str, str], dst: Any, skip: set[str]) -> None:
    for key, value in src.items():
        low = key.lower()
        if low in skip or low.startswith("_statistics"):
            continue
        with contextlib.suppress(Exception):
            dst[key] = _tag_text(value)


@dataclass
class _Passthrough:
    """How one source audio/subtitle stream reaches the output."""

    src: Any
    out: Any
    transcode: bool
    shift_s: float
    done: bool = False
    resampler: Any = None
    next_sample: int | None = None


class VideoFileSink:
    """Encode frames to H.264 in mp4/mkv/mov (or ProRes in mov/mkv), copying the source's audio/subtitle streams and
    metadata."""

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        *,
        width: int,
        height: int,
        source: str | Path | None = None,
        start: float = 0.0,
        duration: float | None = None,
        encoder: str = "auto",
        crf: int = 18,
        preset: str = "medium",
        b_frames: bool = True,
        log: Callable[[str], None] = print,
        stop_check: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._b_frames = b_frames
        self._stop_check = stop_check  # raises if a stop was asked for: checked before the output is put in place
        self.info = info
        self.width, self.height = int(width), int(height)
        self.log = log
        suffix = self.path.suffix.lower()
        if self.width <= 0 or self.height <= 0:
            raise UsageError(f"invalid output size {width}x{height}", "width and height must be positive")
        self.encoder = check_encode_options(self.path, encoder, crf, preset)
        self._prores = self.encoder == _PRORES[0]
        self._pix_fmt = _PRORES[1] if self._prores else "yuv420p"
        if self._prores:  # how each audio stream goes in is said as it is added
            log(f"encoding ProRes 422 HQ (10-bit 4:2:2) with {self.encoder}")
        else:
            log(f"encoding H.264 with {self.encoder} (crf {crf}, preset {preset})")
        # 4:2:0 halves both sides' chroma, 4:2:2 the width's only
        self._pad_w, self._pad_h = self.width + self.width % 2, self.height + (0 if self._prores else self.height % 2)
        if (self._pad_w, self._pad_h) != (self.width, self.height):
            log(f"note: padded {self.width}x{self.height} to {self._pad_w}x{self._pad_h} for {self._pix_fmt}")
        self._start = float(start)
        self._end_s = None if duration is None else float(duration)
        self._tb = info.time_base
        self._last_pts: int | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of frames inside the encoder
        self._frames_sent = 0
        self._closed = False
        self._out: Any = None
        self._src: Any = None
        self._passthrough: dict[int, _Passthrough] = {}
        self._demux: Iterator[Any] | None = None
        self._held: Any = None
        self._reformatter = VideoReformatter()
        self._tmp = temp_path_for(self.path)
        try:
            self._open(suffix, source, int(crf), preset)
        except BaseException:
            self.abort()
            raise

    # -- setup -----------------------------------------------------------------------------------------------------

    def _open(self, suffix: str, source: str | Path | None, crf: int, preset: str) -> None:
        options = {"movflags": "+faststart"} if suffix in (".mp4", ".mov") else {}
        try:
            self._out = av.open(str(self._tmp), "w", format=CONTAINER_FORMATS[suffix], options=options)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot create {self._tmp}: {_av_message(exc)}", "check the output directory") from None
        if source is not None:
            try:
                self._src = open_input(source)
            except (av.FFmpegError, OSError) as exc:
                raise InputError(
                    f"cannot reopen {source} to copy its audio: {_av_message(exc)}", "check the input file"
                ) from None
            _copy_tags(dict(self._src.metadata), self._out.metadata, _SKIP_CONTAINER_TAGS)
        try:
            self._add_video_stream(crf, preset)
            if self._src is not None:
                self._add_passthrough_streams()
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise ProcessingError(
                f"cannot set up the {self.encoder} encoder: {_av_message(exc)}",
                "try --encoder libx264 or another output type (.mkv); --debug shows FFmpeg's own messages",
            ) from None

    def _add_video_stream(self, crf: int, preset: str) -> None:
        fps = self.info.fps
        vs = self._out.add_stream(self.encoder, rate=fps if fps else None)
        vs.width, vs.height = self._pad_w, self._pad_h
        vs.pix_fmt = self._pix_fmt
        cc = vs.codec_context
        # Frames keep their source timestamps: the encoder counts in the source time base, never re-times.
        cc.time_base = self._tb
        vs.time_base = self._tb
        if fps:
            cc.framerate = fps
        cc.colorspace = _AVCOL_BT709
        cc.color_primaries = _AVCOL_BT709
        cc.color_trc = _AVCOL_BT709
        cc.color_range = _AVCOL_RANGE_MPEG
        cc.thread_count = 0
        # x264's frame threads: faster and smaller than the slices PyAV asks for by default; ProRes has slices only
        cc.thread_type = "SLICE" if self._prores else "FRAME"
        if fps:  # a keyframe every 2 s (x264's default is up to 250 frames): editors and players seek quickly
            cc.gop_size = max(1, round(2 * float(fps)))
        if not self._b_frames:  # live recordings: irregular timestamps and reordering left mp4 durations short
            cc.max_b_frames = 0
        if self._prores:  # every frame a keyframe: gop and B-frames mean nothing to it
            cc.options = dict(_PRORES[2])
        elif self.encoder == "libx264":
            cc.options = {"crf": str(crf), "preset": preset}
        else:
            cc.options = {"preset": _NVENC_PRESET[preset], "rc": "vbr", "cq": str(crf), "b": "0"}
        if self._src is not None:
            _copy_tags(dict(self._src.streams[self.info.stream_index].metadata), vs.metadata, _SKIP_STREAM_TAGS)
        self._video = vs

    def _add_passthrough_streams(self) -> None:
        src = self._src
        vsrc = src.streams[self.info.stream_index]  # the one we encode; other video streams are dropped
        origin = self.info.origin
        supported = self._out.supported_codecs
        kept = {s.index for s in src.streams if s.type in ("audio", "subtitle")}
        firsts = _first_packets(src.name, kept) if kept else {}
        dropped = 0
        chapters = self._copy_chapters()
        for s in src.streams:
            if s.type not in ("audio", "subtitle"):
                # an mp4's chapters come as a data stream too: they are copied above, not lost
                if s.index != vsrc.index and not (chapters and s.type == "data"):
                    dropped += 1
                continue
            codec = s.codec_context.codec.canonical_name if s.codec_context is not None else "unknown"
            copies = codec in supported and _muxer_accepts(self._out.format.name, s, firsts.get(s.index))
            to_pcm = self._prores and s.type == "audio" and not (codec.startswith("pcm_") and copies)
            if to_pcm:  # editors that take ProRes (DaVinci Resolve on Linux) may decode no AAC: PCM plays anywhere
                out = self._out.add_stream("pcm_s24le", rate=s.codec_context.sample_rate)
                out.layout = s.codec_context.layout.name
                transcode = True
                self.log(f"note: audio stream #{s.index} ({codec}) written as 24-bit PCM, as editors take it")
            elif copies:
                out = self._out.add_stream_from_template(s)
                transcode = False
            elif s.type == "audio":
                rate = s.codec_context.sample_rate
                rate = rate if rate in _AAC_RATES else 48000
                out = self._out.add_stream("aac", rate=rate)
                out.layout = _aac_layout(s.codec_context.layout.name, s.codec_context.channels)
                transcode = True
                self.log(f"note: audio stream #{s.index} ({codec}) cannot go in {self.path.suffix}; transcoding to AAC")
            else:
                self.log(f"note: subtitle stream #{s.index} ({codec}) cannot go in {self.path.suffix}; dropped")
                continue
            _copy_tags(dict(s.metadata), out.metadata, _SKIP_STREAM_TAGS)
            with contextlib.suppress(Exception):
                out.disposition = s.disposition
            self._passthrough[s.index] = _Passthrough(s, out, transcode, origin)
        if dropped:
            self.log(f"note: dropped {dropped} extra video/data/attachment stream(s) of the source")
        if self._passthrough:
            streams = [p.src for p in self._passthrough.values()]
            if self._start > 0:
                with contextlib.suppress(av.FFmpegError):
                    src.seek(max(int((origin - 2.0) * av.time_base), 0), backward=True)
            self._demux = src.demux(*streams)

    def _copy_chapters(self) -> int:
        """Chapters on the output's timeline: moved by its zero, cut to --start/--duration. Returns how many."""
        try:
            chapters = self._src.chapters()
        except (av.FFmpegError, AttributeError):
            return 0
        span = self.info.duration
        kept = []
        for ch in chapters:
            tb = ch["time_base"]
            start = max(float(ch["start"] * tb) - self.info.origin, 0.0)
            end = float(ch["end"] * tb) - self.info.origin
            if span is not None:
                end = min(end, span)
            if end - start > 1e-3:
                ms = Fraction(1, 1000)
                kept.append({"id": len(kept) + 1, "start": round(start * 1000), "end": round(end * 1000),
                             "time_base": ms,
                             "metadata": {k: _tag_text(v) for k, v in (ch.get("metadata") or {}).items()}})  # fmt: skip
        if chapters and not kept:
            self.log(f"note: the source's {len(chapters)} chapter(s) are outside the part written; none kept")
        if not kept:
            return 0
        try:
            self._out.set_chapters(kept)
        except (av.FFmpegError, ValueError, TypeError) as exc:
            self.log(f"note: the source's chapters could not be written ({_av_message(exc)}); dropped")
            return 0
        return len(kept)

    # -- writing -----------------------------------------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        """Encode one frame (BGR, width x height) at its own timestamp, copying audio/subtitles up to it."""
        if self._closed:
            raise ProcessingError(
                "cannot write: the output is already closed", "this is a bug in the pipeline; please report it"
            )
        image = frame.image
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ProcessingError(
                f"frame of shape {image.shape} {image.dtype} does not match output {self.width}x{self.height}",
                "this is a bug in the pipeline; please report it",
            )
        if (self._pad_w, self._pad_h) != (self.width, self.height):
            image = cv2.copyMakeBorder(
                image, 0, self._pad_h - self.height, 0, self._pad_w - self.width, cv2.BORDER_REPLICATE
            )
        pts = int(frame.pts)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders refuse repeated or backwards timestamps
        self._last_pts = pts
        if frame.duration > 0:
            self._durations[pts] = frame.duration
        try:
            yuv = bgr_to_yuv(self._reformatter, image, self._pix_fmt)
            yuv.pts = pts
            yuv.time_base = self._tb
            self._pump(float(pts * self._tb))
            self._mux_video(self._video.encode(yuv))
        except (av.FFmpegError, OSError) as exc:
            raise ProcessingError(
                f"encode error at t={float(pts * self._tb):.2f}s: {_av_message(exc)}", _hint(exc)
            ) from exc  # its errno: a folder run stops on a full disk
        self._frames_sent += 1

    def _mux_video(self, packets: list[av.Packet]) -> None:
        """Mux encoded packets with their frames' durations: the encoder gives 1/fps, which is wrong for the last
        frame of a variable-rate video or of a cut (a slide shown for seconds would end the file early)."""
        for packet in packets:
            duration = self._durations.pop(packet.pts, 0)
            if duration:
                packet.duration = duration
        self._out.mux(packets)

    def _pump(self, until_s: float | None) -> None:
        """Copy source audio/subtitle packets up to `until_s` seconds of output time (None: to the end)."""
        if self._demux is None:
            return
        while True:
            if self._held is not None:
                packet, self._held = self._held, None
            else:
                packet = next(self._demux, None)
                if packet is None:
                    self._demux = None
                    return
            p = self._passthrough.get(packet.stream.index)
            if p is None or p.done or packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            t = float(ts * packet.time_base) - p.shift_s
            if self._end_s is not None and t >= self._end_s:
                p.done = True
                if all(q.done for q in self._passthrough.values()):
                    self._demux = None
                    return
                continue
            if p.src.type == "subtitle" and not _cue_in_cut(packet, t, self._end_s):
                continue
            if p.src.type == "subtitle":
                t = max(t, 0.0)
            if self._start > 0 and t < -1e-6:
                continue
            if t < 0 and self._out.format.name in _NO_NEGATIVE_TS:
                # A pre-roll the source's edit list hides (a trimmed phone video, `ffmpeg -ss -c copy`) would be
                # heard here, over no picture, as the muxer moves it to zero: only the packet at zero is kept.
                end = t + 2 * float((packet.duration or 0) * packet.time_base)
                if end <= 0:
                    continue
            if until_s is not None and t > until_s:
                self._held = packet
                return
            try:
                if p.transcode:
                    self._transcode(p, packet)
                else:
                    shift = int(round(Fraction(p.shift_s) / packet.time_base))
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = p.out
                    self._out.mux(packet)
            except (av.FFmpegError, OSError) as exc:
                # Named here: the caller would report it as a video encode error.
                src = p.src
                verb = "transcode" if p.transcode else "copy"
                raise ProcessingError(
                    f"cannot {verb} {src.type} stream #{src.index} ({src.codec_context.name}) at t={t:.2f}s: "
                    f"{_av_message(exc)}",
                    _hint(exc, otherwise="write .mkv, which takes most audio as it is, or convert the audio first"),
                ) from exc  # its errno: a folder run stops on a full disk

    def _transcode(self, p: _Passthrough, packet: Any) -> None:
        """Decode a packet of an audio codec the container refuses (or any, for ProRes) and encode it as AAC
        (or PCM)."""
        rate = p.out.codec_context.sample_rate
        if p.resampler is None:
            fmt = p.out.codec_context.codec.audio_formats[0].name  # AAC's fltp, PCM s24's s32
            p.resampler = av.AudioResampler(format=fmt, layout=p.out.layout.name, rate=rate)
        for frame in packet.decode():
            if p.next_sample is None:
                t = _ts_seconds(frame.pts, frame.time_base)
                p.next_sample = max(int(round(((t or 0.0) - p.shift_s) * rate)), 0)
            for out_frame in p.resampler.resample(frame):
                out_frame.pts = p.next_sample
                out_frame.time_base = Fraction(1, rate)
                p.next_sample += out_frame.samples
                self._out.mux(p.out.encode(out_frame))

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio/subtitles, close the container and rename into place."""
        if self._closed:
            return
        try:
            if self._frames_sent == 0:
                raise ProcessingError("no frames were written", "the input produced no video frames")
            try:
                self._mux_video(self._video.encode(None))
                self._pump(None)
                for p in self._passthrough.values():
                    if p.transcode and p.resampler is not None:
                        for out_frame in p.resampler.resample(None):
                            out_frame.pts = p.next_sample
                            out_frame.time_base = Fraction(1, p.out.codec_context.sample_rate)
                            p.next_sample += out_frame.samples
                            self._out.mux(p.out.encode(out_frame))
                    if p.transcode:
                        self._out.mux(p.out.encode(None))
                self._out.close()
                self._out = None
                if self._stop_check is not None:  # a Ctrl-C while the encoder flushed must not be ignored
                    self._stop_check()
                os.replace(self._tmp, self.path)
                forget_temp(self._tmp)
            except (av.FFmpegError, OSError) as exc:
                raise ProcessingError(
                    f"cannot finish writing {self.path}: {_av_message(exc)}", _hint(exc)
                ) from exc  # its errno: a folder run stops on a full disk
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._close_source()

    def abort(self) -> None:
        """Stop writing and delete the partial file; the final path is never created."""
        self._closed = True
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
            self._out = None
        self._close_source()
        with contextlib.suppress(OSError):
            self._tmp.unlink()
        forget_temp(self._tmp)

    def _close_source(self) -> None:
        if self._src is not None:
            with contextlib.suppress(Exception):
                self._src.close()
            self._src = None

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _hint(
    exc: BaseException,
    otherwise: str = "run again with --debug to see FFmpeg's own messages, and report it if the input plays elsewhere",
) -> str:
    """A fix-it hint for common OS-level write failures, else `otherwise`."""
    errno = getattr(exc, "errno", None)
    if errno == 28:  # ENOSPC
        return "the disk is full; free some space or write elsewhere"
    if errno in (13, 30):  # EACCES, EROFS
        return "the output location is not writable"
    return otherwise
