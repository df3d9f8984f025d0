"""Tiny synthetic media files for tests, built with PyAV so no fixtures need to be checked in.

Frames carry a recognisable pattern: a white block in the top-left corner (asymmetric, so a wrong rotation or
flip shows) and a grey block in the bottom-right whose level encodes the frame index (see `read_index`).
YUV pixels are computed here with the textbook BT.601/BT.709 formulas (not with swscale), so colour tests have a
ground truth that is independent of the code under test.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

#: BGR colours of the vertical bars drawn by pattern="patches": red, green, blue, mid grey.
PATCH_COLOURS_BGR = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (128, 128, 128)]

#: Cycle of frame durations, in milliseconds, used for variable-frame-rate clips.
VFR_STEPS_MS = [40, 80, 40, 120, 60]

_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
_AVCOL_SPC = {"bt601": 6, "bt709": 1, "bt2020": 9}  # AVCOL_SPC_SMPTE170M, AVCOL_SPC_BT709, AVCOL_SPC_BT2020_NCL
_AVCOL_PRI = {"bt601": 6, "bt709": 1, "bt2020": 9}  # AVCOL_PRI_SMPTE170M, AVCOL_PRI_BT709, AVCOL_PRI_BT2020
_AVCOL_TRC = {"bt601": 6, "bt709": 1, "bt2020": 1}  # ..., AVCOL_TRC_BT709 (8-bit BT.2020 uses the BT.709 curve)


def index_level(i: int) -> int:
    """Grey level of the index block for frame `i` (distinct for up to 28 frames, cycling after)."""
    return 24 + (i % 28) * 8


def read_index(image: np.ndarray) -> int:
    """Frame index from an upright BGR image drawn with pattern="gradient"."""
    h, w = image.shape[:2]
    block = image[h - h // 4 + 2 : h - 2, w - w // 4 + 2 : w - 2]
    return int(round((float(block.mean()) - 24) / 8))


def marker_corner(image: np.ndarray) -> str:
    """Which corner ("tl", "tr", "bl", "br") holds the bright marker block."""
    h, w = image.shape[:2]
    qh, qw = max(h // 8, 1), max(w // 8, 1)
    corners = {
        "tl": image[:qh, :qw],
        "tr": image[:qh, w - qw :],
        "bl": image[h - qh :, :qw],
        "br": image[h - qh :, w - qw :],
    }
    return max(corners, key=lambda k: float(corners[k].mean()))


def draw_frame(i: int, width: int, height: int, pattern: str = "gradient") -> np.ndarray:
    """The upright BGR image of frame `i`."""
    if pattern == "patches":  # flat bars for colour checks
        img = np.zeros((height, width, 3), np.uint8)
        bar = width // len(PATCH_COLOURS_BGR)
        bar -= bar % 2
        for k, colour in enumerate(PATCH_COLOURS_BGR):
            img[:, k * bar : (k + 1) * bar] = colour
        img[:, len(PATCH_COLOURS_BGR) * bar :] = PATCH_COLOURS_BGR[-1]
        return img
    if pattern == "grey":  # flat mid-grey, so anything drawn over it stands out
        return np.full((height, width, 3), 128, np.uint8)
    if pattern == "noise":  # incompressible, so files are big enough to cut mid-stream
        img = np.random.default_rng(i).integers(0, 256, (height, width, 3), dtype=np.uint8)
        img[height - height // 4 :, width - width // 4 :] = index_level(i)
        return img
    if pattern != "gradient":
        raise ValueError(f"unknown pattern {pattern!r}")
    ramp = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
    img = np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8).copy()
    img[: height // 4, : width // 4] = 255
    img[height - height // 4 :, width - width // 4 :] = index_level(i)
    return img


def bgr_to_yuv(bgr: np.ndarray, matrix: str = "bt709", full_range: bool = False) -> tuple[np.ndarray, ...]:
    """Full-resolution Y, U, V planes (uint8) from BGR with the textbook matrix and range."""
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    b, g, r = (bgr[..., c].astype(np.float64) / 255.0 for c in range(3))
    y = kr * r + kg * g + kb * b
    u = (b - y) / (2 * (1 - kb))
    v = (r - y) / (2 * (1 - kr))
    scale_y, scale_c, offset = (255, 255, 0) if full_range else (219, 224, 16)
    planes = (offset + scale_y * y, 128 + scale_c * u, 128 + scale_c * v)
    return tuple(np.clip(np.round(p), 0, 255).astype(np.uint8) for p in planes)


def yuv_to_bgr(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "bt709") -> np.ndarray:
    """Limited-range YUV planes (same size) back to BGR with the textbook matrix."""
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    yf = (y.astype(np.float64) - 16) / 219
    uf = (u.astype(np.float64) - 128) / 224
    vf = (v.astype(np.float64) - 128) / 224
    r = yf + 2 * (1 - kr) * vf
    b = yf + 2 * (1 - kb) * uf
    g = (yf - kr * r - kb * b) / kg
    return np.clip(np.round(np.stack([b, g, r], axis=-1) * 255), 0, 255).astype(np.uint8)


def _video_frame(bgr: np.ndarray, pix_fmt: str, matrix: str, full_range: bool) -> av.VideoFrame:
    """A VideoFrame in `pix_fmt` whose YUV values come from `bgr_to_yuv` (or plain RGB formats)."""
    if pix_fmt in ("yuv420p", "yuv444p", "yuvj420p"):
        y, u, v = bgr_to_yuv(bgr, matrix, full_range or pix_fmt == "yuvj420p")
        if pix_fmt in ("yuv420p", "yuvj420p"):
            h, w = y.shape
            u = _subsample(u, h, w)
            v = _subsample(v, h, w)
            frame = av.VideoFrame(w, h, pix_fmt)
        else:
            frame = av.VideoFrame(y.shape[1], y.shape[0], pix_fmt)
        for plane, data in zip(frame.planes, (y, u, v), strict=True):
            rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            rows[:, : data.shape[1]] = data
        return frame
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24").reformat(format=pix_fmt)


def _subsample(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    """2x2 box average for 4:2:0 chroma (odd sizes round up)."""
    hh, ww = (h + 1) // 2, (w + 1) // 2
    padded = np.pad(plane.astype(np.float64), ((0, hh * 2 - h), (0, ww * 2 - w)), mode="edge")
    return np.round(padded.reshape(hh, 2, ww, 2).mean(axis=(1, 3))).astype(np.uint8)


def frame_times(frames: int, fps: int, vfr: bool) -> tuple[list[int], Fraction]:
    """Presentation timestamps and their time base for a clip."""
    if not vfr:
        return list(range(frames)), Fraction(1, fps)
    pts, t = [], 0
    for i in range(frames):
        pts.append(t)
        t += VFR_STEPS_MS[i % len(VFR_STEPS_MS)]
    return pts, Fraction(1, 1000)


def make_clip(
    path: str | Path,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 12,
    fps: int = 12,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio: bool | str = False,
    rotation: int = 0,
    vfr: bool = False,
    colorspace: str | None = None,
    color_range: str | None = None,
    pattern: str = "gradient",
    metadata: dict[str, str] | None = None,
    language: str | None = None,
    subtitles: bool = False,
    faststart: bool = False,
    video_start: float = 0.0,
    sar: Fraction | None = None,
    times_ms: list[int] | None = None,
) -> Path:
    """Write a small test clip and return its path.

    `width`/`height` are the displayed (upright) size. `rotation` is the clockwise display rotation, as in the
    legacy `rotate` tag (an upright phone video is 90): pixels are stored turned the other way and a display
    matrix tells players to turn them back. `colorspace` ("bt601"/"bt709"/"bt2020") picks the matrix and tags the
    stream; None leaves it untagged and uses what players assume (BT.601 below 720 lines, BT.709 from 720).
    `color_range` "pc" writes full range. `audio` True (or a codec name) adds a 440 Hz sine track.
    `subtitles` (mkv only) adds a SubRip track with two cues. `video_start` (seconds) delays the first frame
    while the audio still starts at 0. `sar` stores non-square pixels: `width` is then the stored width.
    `times_ms` gives every frame's time (variable rate; `frames` is then its length, the last lasts 1/fps).
    """
    path = Path(path)
    matrix = colorspace or ("bt601" if height < 720 else "bt709")
    full = color_range == "pc"
    opts = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    pts_list, tb = frame_times(frames, fps, vfr)
    last_step = VFR_STEPS_MS[(frames - 1) % len(VFR_STEPS_MS)] if vfr else 1
    if times_ms is not None:
        pts_list, tb, last_step = list(times_ms), Fraction(1, 1000), 1000 // fps
    pts_list = [pts + int(round(video_start / tb)) for pts in pts_list]
    end_s = float((pts_list[-1] + last_step) * tb)
    with av.open(str(path), "w", options=opts) as out:
        if metadata:
            out.metadata.update(metadata)
        vs = out.add_stream(codec, rate=fps)
        stored_w, stored_h = (height, width) if rotation % 180 else (width, height)
        vs.width, vs.height = stored_w, stored_h
        vs.pix_fmt = pix_fmt
        vs.codec_context.time_base = tb
        vs.time_base = tb
        if codec == "libx264":
            vs.codec_context.options = {"preset": "ultrafast", "crf": "10"}
        if sar is not None:
            vs.codec_context.sample_aspect_ratio = sar
        if colorspace:
            vs.codec_context.colorspace = _AVCOL_SPC[colorspace]
            vs.codec_context.color_primaries = _AVCOL_PRI[colorspace]
            vs.codec_context.color_trc = _AVCOL_TRC[colorspace]
        if color_range:
            vs.codec_context.color_range = 2 if full else 1
        if rotation:
            vs.set_display_rotation(-rotation)
        if language:
            vs.metadata["language"] = language
        astream = None
        if audio:
            astream = out.add_stream(audio if isinstance(audio, str) else "aac", rate=44100)
            astream.layout = "stereo"
            if language:
                astream.metadata["language"] = language
        sub_src = None
        if subtitles:
            sub_src = _open_srt(path.with_suffix(".srt.tmp"), end_s)
            sstream = out.add_stream_from_template(sub_src.streams.subtitles[0])
            if language:
                sstream.metadata["language"] = language

        for i, pts in enumerate(pts_list):
            img = draw_frame(i, width, height, pattern)
            stored = np.ascontiguousarray(np.rot90(img, k=(rotation // 90) % 4)) if rotation else img
            frame = _video_frame(stored, pix_fmt, matrix, full)
            if colorspace:
                frame.colorspace = _AVCOL_SPC[colorspace]
            frame.color_range = 2 if full else 1
            frame.pts = pts
            frame.time_base = tb
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))

        if astream is not None:
            _write_sine(out, astream, end_s)
        if sub_src is not None:
            for pkt in sub_src.demux(sub_src.streams.subtitles[0]):
                if pkt.size:
                    pkt.stream = sstream
                    out.mux(pkt)
            sub_src.close()
            path.with_suffix(".srt.tmp").unlink()
    return path


def _open_srt(tmp: Path, seconds: float) -> av.container.InputContainer:
    """A SubRip file with two cues, opened for demuxing (PyAV cannot encode SubRip without an ASS header)."""
    half = max(seconds / 2, 0.1)

    def ts(t: float) -> str:
        ms = int(round(t * 1000))
        return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"

    tmp.write_text(f"1\n{ts(0)} --> {ts(half * 0.9)}\nfirst cue\n\n2\n{ts(half)} --> {ts(seconds * 0.9)}\nsecond cue\n")
    return av.open(str(tmp), format="srt")


def _write_sine(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    """Encode a 440 Hz stereo sine of `seconds` into `stream`."""
    rate = stream.rate
    n = int(seconds * rate)
    t = np.arange(n) / rate
    wave = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
    chunk = 1024
    fmt = stream.codec_context.codec.audio_formats[0].name if stream.codec_context.codec.audio_formats else "fltp"
    for start in range(0, n, chunk):
        block = np.stack([wave[start : start + chunk]] * 2)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="stereo")
        frame.rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        if fmt != "fltp":
            for f in av.AudioResampler(format=fmt, layout="stereo", rate=rate).resample(frame):
                f.pts = start
                out.mux(stream.encode(f))
        else:
            out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_audio_only(path: str | Path, seconds: float = 1.0, cover: bool = False) -> Path:
    """An audio-only file (AAC in .m4a/.mp4/.mkv, PCM in .wav); `cover` adds album art, which FFmpeg shows as a
    one-frame video stream marked attached_pic (stored first, as some taggers do)."""
    path = Path(path)
    with av.open(str(path), "w", format="mp4" if path.suffix == ".m4a" else None) as out:
        art = None
        if cover:
            art = out.add_stream("mjpeg")
            art.width, art.height, art.pix_fmt = 64, 64, "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
        stream = out.add_stream("pcm_s16le" if path.suffix == ".wav" else "aac", rate=44100)
        stream.layout = "stereo"
        if art is not None:
            out.start_encoding()
            ok, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 200, np.uint8))
            packet = av.Packet(jpeg.tobytes())
            packet.stream, packet.pts, packet.dts = art, 0, 0
            out.mux(packet)
        _write_sine(out, stream, seconds)
    return path


def make_truncated(src: str | Path, dst: str | Path, keep: float = 0.6) -> Path:
    """Copy only the first `keep` fraction of `src`: a faststart mp4 then fails mid-decode, else its header is gone."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


def make_garbage(path: str | Path, size: int = 4096) -> Path:
    """A file of random bytes with a media suffix."""
    Path(path).write_bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(path)


def read_tkhd_matrix(path: str | Path) -> tuple[float, float, float, float]:
    """(a, b, c, d) of the first video track header matrix in an mp4/mov, decoded from 16.16 fixed point."""
    data = Path(path).read_bytes()
    pos = data.find(b"tkhd")
    if pos < 0:
        raise ValueError("no tkhd box")
    version = data[pos + 4]
    # tkhd: version/flags(4), times+track id+reserved+duration (20 or 32), reserved(8), layer, group, volume,
    # reserved (8), then the 3x3 matrix of 32-bit values.
    matrix_at = pos + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    a, b, _u, c, d = struct.unpack(">iiiii", data[matrix_at : matrix_at + 20])
    return a / 65536, b / 65536, c / 65536, d / 65536


def adobe_rgb_icc() -> bytes:
    """An ICC v2 display profile with Adobe RGB (1998)'s primaries and gamma, written from the spec's fields (no
    profile files ship with the test machines): what a camera set to Adobe RGB embeds in its JPEGs."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    name = b"Adobe RGB (test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 563) + b"\0\0"  # gamma 563/256 = 2.199
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.60974, 0.31111, 0.01947)),  # the primaries adapted to D50, as in Adobe's own profile
        (b"gXYZ", xyz(0.20528, 0.62567, 0.06087)),
        (b"bXYZ", xyz(0.14919, 0.06322, 0.74457)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0no copyright\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
        + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def make_hdr_clip(path: str | Path, trc: int, linear: np.ndarray, frames: int = 2) -> Path:
    """A 10-bit BT.2020 HDR clip (lossless FFV1 in Matroska) of `linear`: HxWx3 BT.709 linear light, 1 = SDR white
    (203 nits, BT.2408), encoded with PQ (trc 16) or HLG (18) as a camera or a grading tool would."""
    from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

    from nstvideo.pipeline import hdr

    bt2020 = linear @ np.linalg.inv(hdr.BT2020_TO_BT709.astype(np.float64)).T
    nits = np.clip(bt2020, 0, None) * hdr.SDR_WHITE_NITS
    if trc == hdr.TRC_PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        y = np.power(nits / 10000, m1)
        code = np.power((c1 + c2 * y) / (1 + c3 * y), m2)
    else:
        a = 0.17883277
        b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
        display = nits / hdr.HLG_PEAK_NITS  # the inverse of BT.2100's OOTF, which works on luminance
        luma = np.maximum(display @ hdr.BT2020_LUMA.astype(np.float64), 1e-12)[..., None]
        scene = display * np.power(luma, (1 - hdr.HLG_GAMMA) / hdr.HLG_GAMMA)
        code = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-12)) + c)
    rgb = av.VideoFrame.from_ndarray(np.round(np.clip(code, 0, 1) * 65535).astype(np.uint16), format="rgb48le")
    yuv = VideoReformatter().reformat(
        rgb, format="yuv444p10le", src_colorspace=Colorspace.BT2020, dst_colorspace=Colorspace.BT2020,
        src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG,
    )  # fmt: skip
    with av.open(str(path), "w") as out:
        vs = out.add_stream("ffv1", rate=25)
        vs.width, vs.height, vs.pix_fmt = linear.shape[1], linear.shape[0], "yuv444p10le"
        cc = vs.codec_context
        cc.color_trc, cc.color_primaries, cc.colorspace, cc.color_range = trc, 9, 9, 1
        for i in range(frames):
            frame = yuv.reformat(format="yuv444p10le")
            frame.pts, frame.color_trc, frame.color_primaries, frame.colorspace, frame.color_range = i, trc, 9, 9, 1
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return Path(path)


def mux_video(
    out: av.container.OutputContainer,
    count: int,
    *,
    size: tuple[int, int] = (64, 48),
    rate: int = 24,
    first_pts: int = 0,
    image: Callable[[int], np.ndarray] | None = None,
    **options: str,
) -> None:
    """Add an H.264 stream to `out` and write `count` numbered frames from pts `first_pts` (in 1/rate)."""
    vs = out.add_stream("libx264", rate=rate)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    if options:
        vs.codec_context.options = options
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(image(i) if image else draw_frame(i, *size), format="bgr24")
        frame.pts, frame.time_base = first_pts + i, Fraction(1, rate)
        out.mux(vs.encode(frame))
    out.mux(vs.encode(None))
