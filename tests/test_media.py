"""Tests for nstvideo.pipeline.media: decoding, rotation, colour, timestamps, audio/subtitle copy, atomic output."""

from __future__ import annotations

import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import Colorspace

from nstvideo.errors import DeviceUnavailableError, InputError, Interrupted, NstError, ProcessingError, UsageError
from nstvideo.pipeline.media import (
    FileSource,
    Frame,
    VideoFileSink,
    VideoInfo,
    available_h264_encoders,
    check_encode_options,
)
from tests.clips import (
    PATCH_COLOURS_BGR,
    VFR_STEPS_MS,
    bgr_to_yuv,
    draw_frame,
    make_audio_only,
    make_clip,
    make_garbage,
    make_hdr_clip,
    make_truncated,
    marker_corner,
    mux_video,
    read_index,
    read_tkhd_matrix,
)

# -- helpers -------------------------------------------------------------------------------------------------------


def transcode(src: Path, dst: Path, *, start: float = 0.0, duration: float | None = None, **sink_kw) -> VideoInfo:
    """Decode `src` with FileSource and push every frame through VideoFileSink into `dst`."""
    sink_kw.setdefault("preset", "ultrafast")
    sink_kw.setdefault("log", lambda _msg: None)
    with FileSource(src, start=start, duration=duration) as source:
        info = source.info
        with VideoFileSink(
            dst, info, width=info.width, height=info.height, source=src, start=start, duration=duration, **sink_kw
        ) as sink:
            for frame in source.frames():
                sink.send(frame)
    return info


def video_times(path: Path) -> tuple[list[float], Fraction]:
    """Presentation times (s) of every decoded frame, and the stream time base."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return [float(f.pts * vs.time_base) for f in c.decode(vs)], vs.time_base


def stream_duration(path: Path) -> float:
    """Seconds from the first frame's start to the last frame's end, as the muxer recorded it."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.duration:
            return float(vs.duration * vs.time_base)
        return c.duration / av.time_base


def packets(path: Path, kind: str) -> list[av.Packet]:
    with av.open(str(path)) as c:
        streams = c.streams.audio if kind == "audio" else c.streams.subtitles
        return [p for p in c.demux(streams[0]) if p.size]


def patch_means(image: np.ndarray) -> list[np.ndarray]:
    """Mean BGR of the centre of each colour bar drawn by pattern="patches"."""
    h, w = image.shape[:2]
    bar = w // len(PATCH_COLOURS_BGR)
    bar -= bar % 2
    return [
        image[h // 4 : h - h // 4, k * bar + 3 : (k + 1) * bar - 3].reshape(-1, 3).mean(axis=0)
        for k in range(len(PATCH_COLOURS_BGR))
    ]


def assert_patches(image: np.ndarray, tol: float) -> None:
    for got, want in zip(patch_means(image), PATCH_COLOURS_BGR, strict=True):
        assert np.abs(got - np.array(want)).max() <= tol, f"got {got.round(1)}, want {want}"


# -- decoding and validation ---------------------------------------------------------------------------------------


def test_decodes_frames_in_order_with_info(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=10)
    with FileSource(clip) as src:
        info = src.info
        frames = list(src.frames())
    assert (info.width, info.height, info.rotation, info.codec) == (64, 48, 0, "h264")
    assert info.fps == 10 and info.frame_count == 10 and not info.has_audio
    assert info.duration == pytest.approx(1.0, abs=0.11)
    assert [read_index(f.image) for f in frames] == list(range(10))
    assert [float(f.pts * info.time_base) for f in frames] == pytest.approx([i / 10 for i in range(10)])
    for f in frames:
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
        assert marker_corner(f.image) == "tl"


def test_frames_can_be_iterated_twice(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mkv", frames=6)
    with FileSource(clip) as src:
        first = [read_index(f.image) for f in src.frames()]
        second = [read_index(f.image) for f in src.frames()]
    assert first == second == list(range(6))


def _expect_input_error(path: Path, *words: str) -> InputError:
    with pytest.raises(InputError) as err:
        FileSource(path)
    assert "\n" not in err.value.message and err.value.hint
    for word in words:
        assert word in err.value.message
    return err.value


def test_missing_empty_and_garbage_inputs(tmp_path: Path) -> None:
    _expect_input_error(tmp_path / "nope.mp4", "does not exist")
    (tmp_path / "empty.mp4").write_bytes(b"")
    _expect_input_error(tmp_path / "empty.mp4", "empty")
    _expect_input_error(make_garbage(tmp_path / "junk.mp4"), "not a media file")
    _expect_input_error(tmp_path, "directory")


def test_audio_only_input_says_no_video_stream(tmp_path: Path) -> None:
    _expect_input_error(make_audio_only(tmp_path / "song.m4a"), "no video stream", "audio only")


def test_a_cover_picture_is_not_a_video(tmp_path: Path) -> None:
    # Album art is a one-frame "video" stream to FFmpeg; a song with a cover once became a one-frame video.
    _expect_input_error(make_audio_only(tmp_path / "song.m4a", cover=True), "audio only, with a cover picture")


@pytest.mark.parametrize("start", [2.0, 3.25])
def test_start_in_mpeg_ts_lands_on_its_frame(tmp_path: Path, start: float) -> None:
    # MPEG-TS seeks by timestamp and calls every packet a keyframe: with one keyframe in 4 s, a plain seek to
    # --start decoded nothing until the next keyframe (here: none), so the cut came out short or "beyond the end".
    clip = make_clip(tmp_path / "in.ts", frames=48, fps=12)
    with FileSource(clip, start=start, duration=0.5) as src:
        assert [read_index(f.image) for f in src.frames()] == [(round(start * 12) + i) % 28 for i in range(6)]


def test_an_mpeg_ts_cut_off_mid_packet_is_said(tmp_path: Path) -> None:
    # a TS has no index or length: FFmpeg reads a cut one as a shorter stream, without a word. Its fixed-size
    # packets tell: a size no multiple of 188 (192, 204) bytes ends in the middle of one.
    clip = make_clip(tmp_path / "in.ts", frames=48, fps=12, pattern="noise")
    data = clip.read_bytes()
    (tmp_path / "cut.ts").write_bytes(data[: len(data) * 3 // 4 + 101])
    (tmp_path / "whole.ts").write_bytes(data[: len(data) // 188 // 2 * 188])  # cut at a packet: not to be told
    with FileSource(clip) as whole, FileSource(tmp_path / "cut.ts") as cut, FileSource(tmp_path / "whole.ts") as half:
        assert not whole.notes and not half.notes
        assert cut.notes == [
            "warning: cut.ts ends in the middle of an MPEG-TS packet: it was cut short (an unfinished download, "
            "copy or recording); its video ends where the file does"
        ]
        assert 20 < sum(1 for _ in cut.frames()) < 48


def test_start_beyond_end(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, fps=12)
    with pytest.raises(InputError, match="beyond the end"):
        FileSource(clip, start=5.0)
    with pytest.raises(UsageError):
        FileSource(clip, start=-1)
    with pytest.raises(UsageError):
        FileSource(clip, duration=0)


def test_truncated_header_is_input_error(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=160, height=120, frames=20, faststart=False)
    _expect_input_error(make_truncated(clip, tmp_path / "cut.mp4"), "not a media file or its header is corrupt")


def test_truncated_data_is_processing_error_mid_decode(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=160, height=120, frames=24, faststart=True, pattern="noise")
    with FileSource(make_truncated(clip, tmp_path / "cut.mp4")) as src:  # header intact: opens fine
        seen = 0
        with pytest.raises(ProcessingError, match=r"decode error at t=\d+\.\d\ds"):
            for _ in src.frames():
                seen += 1
    assert 0 < seen < 24


def test_truncated_matroska_is_processing_error(tmp_path: Path) -> None:
    # Matroska's demuxer flags no corrupt packet at a cut: the video track's declared duration gives it away.
    clip = make_clip(tmp_path / "in.mkv", width=160, height=120, frames=48, pattern="noise")  # 4 s
    expected = r"cut\.mkv is truncated: its video stops at 1\.\d\ds but the file says it lasts 4\.00s"
    with (
        FileSource(make_truncated(clip, tmp_path / "cut.mkv", keep=0.5)) as src,
        pytest.raises(ProcessingError, match=expected),
    ):
        for _ in src.frames():
            pass


# -- rotation ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rotation", "suffix"), [(90, ".mp4"), (180, ".mov"), (270, ".mp4"), (90, ".mkv")])
def test_rotation_is_applied_upright(tmp_path: Path, rotation: int, suffix: str) -> None:
    clip = make_clip(tmp_path / f"in{suffix}", width=64, height=48, frames=4, rotation=rotation)
    if rotation == 90 and suffix == ".mp4":
        # The matrix an iPhone writes for a portrait video: stored pixels must be turned 90 degrees clockwise.
        assert read_tkhd_matrix(clip) == (0.0, 1.0, -1.0, 0.0)
    with FileSource(clip) as src:
        assert (src.info.width, src.info.height, src.info.rotation) == (64, 48, rotation)
        frames = list(src.frames())
    assert [marker_corner(f.image) for f in frames] == ["tl"] * 4
    assert [read_index(f.image) for f in frames] == [0, 1, 2, 3]
    assert frames[0].image.shape == (48, 64, 3)

    out = tmp_path / "out.mp4"
    transcode(clip, out)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0))
        assert first.rotation == 0 and (first.width, first.height) == (64, 48)
    with FileSource(out) as src:
        assert src.info.rotation == 0
        assert marker_corner(next(iter(src.frames())).image) == "tl"


# -- colour --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("colorspace", "color_range", "size"),
    [
        ("bt709", None, (96, 48)),
        ("bt601", None, (96, 48)),
        ("bt2020", None, (96, 48)),
        (None, None, (96, 48)),  # untagged SD: BT.601
        ("bt709", "pc", (96, 48)),  # full range
        (None, None, (1280, 720)),  # untagged HD: BT.709
    ],
)
def test_decode_honours_matrix_and_range(
    tmp_path: Path, colorspace: str | None, color_range: str | None, size: tuple[int, int]
) -> None:
    clip = make_clip(
        tmp_path / "in.mkv",
        width=size[0],
        height=size[1],
        frames=2,
        pattern="patches",
        colorspace=colorspace,
        color_range=color_range,
    )
    # PyAV 17 (Python 3.10's last) has no BT.2020 matrix: such clips decode with BT.709's, off by up to 13 levels
    exact = colorspace != "bt2020" or hasattr(Colorspace, "BT2020")
    with FileSource(clip) as src:
        assert_patches(next(iter(src.frames())).image, tol=4 if exact else 16)


def test_encode_is_bt709_limited_and_tagged(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=96, height=48, frames=3, pattern="patches", colorspace="bt709")
    out = tmp_path / "out.mp4"
    transcode(clip, out)
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1)
        frame = next(c.decode(video=0))
        assert (frame.colorspace, frame.color_range, frame.format.name) == (1, 1, "yuv420p")
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : frame.width]
    # Independent check of the matrix: textbook BT.709 limited-range luma of each bar (BT.601 red would be 81).
    want = [int(bgr_to_yuv(np.array([[c]], np.uint8), "bt709")[0][0, 0]) for c in PATCH_COLOURS_BGR]
    bar = 96 // 4
    got = [float(luma[12:36, k * bar + 3 : (k + 1) * bar - 3].mean()) for k in range(4)]
    assert np.abs(np.array(got) - want).max() <= 2.5, (got, want)
    with FileSource(out) as src:
        assert_patches(next(iter(src.frames())).image, tol=5)


def test_colours_survive_a_round_trip_without_drift(tmp_path: Path) -> None:
    # swscale's default conversions truncate: decode + encode once left frames ~2 levels darker on average.
    clip = make_clip(tmp_path / "in.mp4", width=256, height=64, frames=2)
    out = tmp_path / "out.mp4"
    transcode(clip, out, crf=0)
    with FileSource(clip) as a, FileSource(out) as b:
        before, after = (next(iter(s.frames())).image.astype(float) for s in (a, b))
    assert abs((after - before).mean()) < 0.3
    assert np.abs(after - before).mean() < 1.5


def test_prores_for_editors_is_10_bit_422_hq_with_pcm_audio(tmp_path: Path) -> None:
    # DaVinci Resolve on Linux decodes neither H.264 nor AAC: ProRes 422 HQ and PCM are what it (and every editor)
    # takes. Colours as exact as the H.264 path's, tagged BT.709; every frame and the audio's length kept.
    clip = make_clip(
        tmp_path / "in.mp4", width=66, height=49, frames=6, fps=12, audio="aac", pattern="patches", pix_fmt="yuv444p"
    )
    out = tmp_path / "out.mov"
    notes: list[str] = []
    transcode(clip, out, encoder="prores", log=notes.append)
    assert any("audio stream #1 (aac) written as 24-bit PCM" in n for n in notes)
    assert not any("padded" in n for n in notes)  # 4:2:2 needs an even width only: 49 rows stay
    with av.open(str(out)) as c, av.open(str(clip)) as a:
        vs, aus = c.streams.video[0], c.streams.audio[0]
        cc = vs.codec_context
        assert (cc.name, cc.profile, cc.pix_fmt, cc.width, cc.height) == ("prores", "HQ", "yuv422p10le", 66, 49)
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1)
        assert aus.codec_context.name == "pcm_s24le"
        assert aus.codec_context.sample_rate == a.streams.audio[0].codec_context.sample_rate
        assert sum(1 for _ in c.decode(vs)) == 6
    assert abs(stream_duration(out) - 0.5) < 1e-6
    with av.open(str(out)) as c, av.open(str(clip)) as a:
        samples = [sum(f.samples for f in x.decode(audio=0)) for x in (a, c)]
    assert abs(samples[0] - samples[1]) <= 1024  # the AAC's decoded length, to a frame
    clip = make_clip(tmp_path / "bars.mp4", width=256, height=64, frames=2, pattern="patches")
    transcode(clip, out, encoder="prores", log=notes.append)
    with FileSource(clip) as a, FileSource(out) as b:
        before, after = (next(iter(s.frames())).image.astype(float) for s in (a, b))
    assert abs((after - before).mean()) < 0.3 and np.abs(after - before).mean() < 1.5  # measured: 0.08, 0.94
    with pytest.raises(UsageError, match=r"ProRes cannot go in \.mp4"):
        check_encode_options("o.mp4", "prores", 18, "medium")
    with pytest.raises(UsageError, match="unsupported output container") as refused:
        check_encode_options("o.webm", "prores", 18, "medium")
    assert refused.value.hint == "name the output .mov or .mkv"


@pytest.mark.parametrize(("audio", "suffix", "written"), [
    ("pcm_s16le", ".mov", "pcm_s16le"),  # PCM as it is, bit-exact
    ("pcm_mulaw", ".mkv", "pcm_s24le"),  # PCM that Matroska cannot hold: as 24-bit PCM too, not AAC
])  # fmt: skip
def test_prores_keeps_pcm_audio_that_fits(tmp_path: Path, audio: str, suffix: str, written: str) -> None:
    clip = make_clip(tmp_path / "in.mov", frames=6, fps=12, audio=audio)
    out = tmp_path / f"out{suffix}"
    transcode(clip, out, encoder="prores")
    with av.open(str(out)) as c, av.open(str(clip)) as a:
        assert c.streams.audio[0].codec_context.name == written
        got, want = (sum(f.samples for f in x.decode(audio=0)) for x in (c, a))
        assert got == want
    if written == audio:
        assert _audio_bytes(out) == _audio_bytes(clip)


def _audio_bytes(path: Path) -> bytes:
    with av.open(str(path)) as c:
        return b"".join(bytes(p) for p in c.demux(c.streams.audio[0]) if p.size)


def test_non_square_pixels_become_square(tmp_path: Path) -> None:
    # 720x576 stored, shown 16:9: as stored pixels it would be encoded (and stylised) squeezed to 5:4.
    clip = make_clip(tmp_path / "in.mp4", width=90, height=72, frames=2, sar=Fraction(64, 45))
    out = tmp_path / "out.mp4"
    with FileSource(clip) as src:
        assert (src.info.width, src.info.height) == (128, 72)
        assert src.notes == ["note: non-square pixels (64:45); resampled 90x72 to 128x72"]
        assert next(iter(src.frames())).image.shape == (72, 128, 3)
    transcode(clip, out)
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        assert (vs.width, vs.height) == (128, 72) and vs.sample_aspect_ratio in (None, 0, 1)  # 0: unset (PyAV 19)


def test_keyframes_every_two_seconds(tmp_path: Path) -> None:
    # x264 alone puts up to 250 frames between keyframes: seeking an output in an editor crawled.
    clip = make_clip(tmp_path / "in.mp4", frames=60, fps=12)  # 5 s
    out = tmp_path / "out.mp4"
    transcode(clip, out)
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        keys = [round(float(p.pts * vs.time_base), 3) for p in c.demux(vs) if p.size and p.is_keyframe]
    assert keys == [0.0, 2.0, 4.0]


def test_lossless_means_libx264() -> None:
    # NVENC reads cq 0 as "automatic": --crf 0 picks x264 under auto and is refused for NVENC.
    assert check_encode_options("o.mp4", "auto", 0, "medium") == "libx264"
    with pytest.raises(UsageError, match="lossless"):
        check_encode_options("o.mp4", "h264_nvenc", 0, "medium")


# -- timestamps ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vfr", "in_suffix", "out_suffix"),
    [(False, ".mp4", ".mp4"), (True, ".mkv", ".mp4"), (True, ".mp4", ".mkv"), (True, ".mov", ".mov")],
)
def test_timestamps_survive(tmp_path: Path, vfr: bool, in_suffix: str, out_suffix: str) -> None:
    clip = make_clip(tmp_path / f"in{in_suffix}", frames=15, fps=12, vfr=vfr)
    out = tmp_path / f"out{out_suffix}"
    transcode(clip, out)
    t_in, _ = video_times(clip)
    t_out, tb_out = video_times(out)
    if vfr:
        assert np.diff(t_in) == pytest.approx([VFR_STEPS_MS[i % 5] / 1000 for i in range(14)], abs=1e-3)
    assert len(t_out) == len(t_in) == 15
    # Within one tick of the output stream's time base (the clips' times are exact in every time base used).
    assert np.abs(np.array(t_out) - np.array(t_in)).max() <= float(tb_out) + 1e-9
    # The last frame lasts as long as in the input (the encoder alone would give it 1/average fps).
    assert stream_duration(out) == pytest.approx(stream_duration(clip), abs=float(tb_out) + 1e-9)


def test_start_and_duration(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=24, fps=12, audio=True)  # 2 s
    with FileSource(clip, start=0.5, duration=0.5) as src:
        info = src.info
        frames = list(src.frames())
    assert [read_index(f.image) for f in frames] == [6, 7, 8, 9, 10, 11]
    assert float(frames[0].pts * info.time_base) == pytest.approx(0.0, abs=1e-3)
    assert info.duration == pytest.approx(0.5) and info.frame_count == 6

    out = tmp_path / "out.mkv"
    transcode(clip, out, start=0.5, duration=0.5)
    t_out, _ = video_times(out)
    assert len(t_out) == 6 and t_out[0] == pytest.approx(0.0, abs=2e-3)
    with FileSource(out) as src:
        assert [read_index(f.image) for f in src.frames()] == [6, 7, 8, 9, 10, 11]
    # Audio: only the packets of [0.5, 1.0) of the input, shifted to start near 0, bytes untouched.
    src_pkts = [p for p in packets(clip, "audio") if 0.5 <= float(p.pts * p.time_base) < 1.0]
    out_pkts = packets(out, "audio")
    assert [bytes(p) for p in out_pkts] == [bytes(p) for p in src_pkts]
    assert float(out_pkts[0].pts * out_pkts[0].time_base) == pytest.approx(
        float(src_pkts[0].pts * src_pkts[0].time_base) - 0.5, abs=2e-3
    )


@pytest.mark.parametrize(
    ("start", "duration", "shown", "seconds"),
    [
        (2.0, 2.0, [0], 2.0),  # inside the slide: it, for the whole cut (it was "start is beyond the end")
        (4.5, 0.62, [0, 1, 2, 3], 0.62),  # the slide's last 0.5 s, then the motion
        (1.0, None, [0, *range(1, 11)], 4.4),  # the slide from the start, not the motion moved back to it
        (5.02, 0.1, [1, 2, 3], 0.1),  # half of a frame inside at the start keeps it; the last frame is cut
        (5.0, 0.08, [1, 2], 0.08),  # between two frames: exactly the two inside
    ],
)
def test_a_cut_takes_what_is_on_screen(
    tmp_path: Path, start: float, duration: float | None, shown: list[int], seconds: float
) -> None:
    # A screen recording: a slide for 5 s, then 25 fps motion (frames 1..10).
    clip = make_clip(tmp_path / "in.mp4", times_ms=[0, *range(5000, 5400, 40)], fps=25, frames=11, audio=True)
    out = tmp_path / "out.mp4"
    transcode(clip, out, start=start, duration=duration)
    with FileSource(out) as src:
        assert [read_index(f.image) for f in src.frames()] == shown
    t_out, _ = video_times(out)
    assert t_out[0] == pytest.approx(0.0, abs=2e-3)
    assert stream_duration(out) == pytest.approx(seconds, abs=2e-3)


# -- geometry and encoder ------------------------------------------------------------------------------------------


def test_odd_size_is_padded_by_edge_replication(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mkv", width=321, height=239, frames=3, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    notes: list[str] = []
    info = transcode(clip, out, log=notes.append)
    assert (info.width, info.height) == (321, 239)
    assert "note: padded 321x239 to 322x240 for yuv420p" in notes
    with FileSource(out) as src:
        assert (src.info.width, src.info.height) == (322, 240)
        frames = list(src.frames())
    assert [read_index(f.image[:239, :321]) for f in frames] == [0, 1, 2]
    img = frames[0].image.astype(int)
    assert np.abs(img[:, 321] - img[:, 320]).max() <= 6 and np.abs(img[239] - img[238]).max() <= 6


def test_encoder_and_container_choices(tmp_path: Path) -> None:
    have = available_h264_encoders()
    assert "libx264" in have and set(have) <= {"libx264", "h264_nvenc"}
    info = VideoInfo(64, 48, Fraction(12), Fraction(1, 12), 1, 1.0, 0, "h264", False)
    with pytest.raises(UsageError, match="unknown encoder"):
        VideoFileSink(tmp_path / "o.mp4", info, width=64, height=48, encoder="x265")
    with pytest.raises(UsageError, match=r"\.avi") as err:
        VideoFileSink(tmp_path / "o.avi", info, width=64, height=48)
    assert ".mp4, .mkv or .mov" in err.value.hint
    with pytest.raises(UsageError):
        VideoFileSink(tmp_path / "o.mp4", info, width=64, height=48, crf=80)
    with pytest.raises(UsageError):
        VideoFileSink(tmp_path / "o.mp4", info, width=64, height=48, preset="warp")
    if "h264_nvenc" not in have:
        with pytest.raises(DeviceUnavailableError) as err:
            VideoFileSink(tmp_path / "o.mp4", info, width=64, height=48, encoder="h264_nvenc")
        assert "libx264" in err.value.hint
    sink = VideoFileSink(tmp_path / "o.mkv", info, width=64, height=48, encoder="auto", log=lambda _m: None)
    assert sink.encoder == ("h264_nvenc" if "h264_nvenc" in have else "libx264")
    sink.abort()
    assert list(tmp_path.iterdir()) == []


# -- audio, subtitles, metadata ------------------------------------------------------------------------------------


@pytest.mark.parametrize("out_suffix", [".mp4", ".mkv"])
def test_audio_is_copied_bit_exact(tmp_path: Path, out_suffix: str) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, fps=12, audio=True)
    out = tmp_path / f"out{out_suffix}"
    transcode(clip, out)
    src, dst = packets(clip, "audio"), packets(out, "audio")
    assert len(src) > 10
    assert [bytes(p) for p in dst] == [bytes(p) for p in src]
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"


@pytest.mark.parametrize(
    ("in_name", "codec", "out_name"),
    [
        ("in.mov", "pcm_mulaw", "out.mp4"),  # mp4 has no tag for it
        ("in.mkv", "pcm_s16le", "out.mp4"),  # mp4 says yes, then refuses the packets (no named channel layout)
        ("in.mkv", "flac", "out.mov"),  # mov says yes, then refuses the header (FLAC only in .mp4)
    ],
)
def test_audio_the_container_refuses_is_transcoded_to_aac(
    tmp_path: Path, in_name: str, codec: str, out_name: str
) -> None:
    clip = make_clip(tmp_path / in_name, frames=12, fps=12, audio=codec)
    out = tmp_path / out_name
    notes: list[str] = []
    transcode(clip, out, log=notes.append)
    assert any("transcoding to AAC" in n for n in notes)
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        samples = sum(f.samples for f in c.decode(a))
    assert samples == pytest.approx(44100, rel=0.1)


def test_audio_before_the_first_frame_is_kept(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, fps=12, audio=True, video_start=1.0)  # audio 0-2 s
    out = tmp_path / "out.mp4"
    transcode(clip, out)
    t_out, _ = video_times(out)
    assert t_out[0] == pytest.approx(1.0, abs=2e-3)
    src, dst = packets(clip, "audio"), packets(out, "audio")
    assert [bytes(p) for p in dst] == [bytes(p) for p in src]
    assert [p.pts for p in dst] == [p.pts for p in src]
    # --start counts on the same timeline, as a player shows the file: 1.5 s is the video's 0.5 s
    with FileSource(clip, start=1.5, duration=0.25) as cut:
        assert [read_index(f.image) for f in cut.frames()] == [6, 7, 8]


def test_metadata_and_languages_are_kept(tmp_path: Path) -> None:
    meta = {"title": "Sunset", "comment": "shot on a tripod", "creation_time": "2024-05-01T12:00:00.000000Z"}
    clip = make_clip(tmp_path / "in.mp4", frames=6, audio=True, metadata=meta, language="fra")
    for suffix in (".mp4", ".mkv"):
        out = tmp_path / f"out{suffix}"
        transcode(clip, out)
        with av.open(str(out)) as c:
            tags = {k.lower(): v for k, v in c.metadata.items()}
            assert tags["title"] == "Sunset" and tags["comment"] == "shot on a tripod"
            assert tags["creation_time"].startswith("2024-05-01T12:00:00")
            assert c.streams.video[0].metadata.get("language") == "fra"
            assert c.streams.audio[0].metadata.get("language") == "fra"


def test_subtitles_copied_to_mkv_and_dropped_from_mp4(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mkv", frames=12, audio=True, subtitles=True, language="ger")
    out = tmp_path / "out.mkv"
    transcode(clip, out)
    assert [bytes(p) for p in packets(out, "subtitle")] == [b"first cue", b"second cue"]
    with av.open(str(out)) as c:
        assert c.streams.subtitles[0].metadata.get("language") == "ger"

    notes: list[str] = []
    out = tmp_path / "out.mp4"
    transcode(clip, out, log=notes.append)
    assert any("subtitle" in n and "dropped" in n for n in notes)
    with av.open(str(out)) as c:
        assert not c.streams.subtitles and len(c.streams.audio) == 1


# -- atomic output and errors --------------------------------------------------------------------------------------


def _source_frames(tmp_path: Path) -> tuple[Path, VideoInfo, list[Frame]]:
    (tmp_path / "src").mkdir()
    clip = make_clip(tmp_path / "src" / "in.mp4", frames=6)
    with FileSource(clip) as src:
        return clip, src.info, list(src.frames())


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    clip, info, frames = _source_frames(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    sink = VideoFileSink(out_dir / "o.mp4", info, width=64, height=48, source=clip, preset="ultrafast")
    for f in frames:
        sink.send(f)
    assert not (out_dir / "o.mp4").exists()  # only the hidden temp exists while writing
    sink.abort()
    assert list(out_dir.iterdir()) == []

    with pytest.raises(RuntimeError), VideoFileSink(out_dir / "o.mkv", info, width=64, height=48) as sink:
        sink.send(frames[0])
        raise RuntimeError("boom")
    assert list(out_dir.iterdir()) == []

    with VideoFileSink(out_dir / "o.mov", info, width=64, height=48, preset="ultrafast") as sink:
        for f in frames:
            sink.send(f)
    assert [p.name for p in out_dir.iterdir()] == ["o.mov"]


def test_a_stop_while_finishing_leaves_nothing(tmp_path: Path) -> None:
    # Ctrl-C while the encoder flushes (the last second or two of a run) once let the output be written anyway.
    clip, info, frames = _source_frames(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def stopped() -> None:
        raise Interrupted(signal.SIGINT)

    with (
        pytest.raises(Interrupted),
        VideoFileSink(
            out_dir / "o.mp4", info, width=64, height=48, source=clip, preset="ultrafast", stop_check=stopped
        ) as sink,
    ):
        for f in frames:
            sink.send(f)
    assert list(out_dir.iterdir()) == []


def test_write_failure_is_processing_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clip, info, frames = _source_frames(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    sink = VideoFileSink(out_dir / "o.mp4", info, width=64, height=48, preset="ultrafast")
    sink.send(frames[0])

    def full(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    real = sink._out
    monkeypatch.setattr(sink, "_out", type("FullDisk", (), {"mux": full, "close": lambda self: None})())
    with pytest.raises(ProcessingError) as err, sink:
        for f in frames[1:]:
            sink.send(f)
    assert "disk is full" in (err.value.hint or "")
    assert err.value.__cause__.errno == 28  # what a folder run stops on
    real.close()
    assert list(out_dir.iterdir()) == []

    with (
        pytest.raises(ProcessingError, match="does not match"),
        VideoFileSink(out_dir / "o.mp4", info, width=64, height=48) as sink,
    ):
        sink.send(Frame(np.zeros((2, 2, 3), np.uint8), 0))
    assert list(out_dir.iterdir()) == []


def test_unreachable_url_is_input_error() -> None:
    with pytest.raises(InputError, match="cannot read") as err:
        FileSource("http://127.0.0.1:9/clip.mp4")
    assert isinstance(err.value, NstError) and err.value.hint


def test_tags_that_are_not_utf8_do_not_make_a_file_unreadable(tmp_path: Path) -> None:
    # Old camcorders and Windows taggers write Latin-1: the file is fine, only its title's bytes are not UTF-8.
    clip = tmp_path / "latin1.mkv"
    if int(av.__version__.split(".")[0]) >= 19:  # PyAV 19 writes surrogates as the bytes they stand for
        with av.open(str(clip), "w") as out:
            out.metadata["title"] = "Caf\udce9"
            mux_video(out, 3)
    else:
        with av.open(str(clip), "w", metadata_encoding="latin-1") as out:
            out.metadata["title"] = "Café"
            mux_video(out, 3)
    out_path = tmp_path / "out.mp4"
    transcode(clip, out_path)
    with av.open(str(out_path)) as c:
        assert c.streams.video[0].frames == 3 and c.metadata["title"] == "Café"  # and now in UTF-8


def test_a_hidden_pre_roll_stays_hidden_in_matroska(tmp_path: Path) -> None:
    # A trimmed mp4 (`ffmpeg -ss -c copy`, phone editors): 0.5 s of video and audio before zero, hidden by its edit
    # list. Matroska cannot store that: copied as it is, the audio would play half a second early over no picture.
    clip = tmp_path / "trimmed.mp4"
    with av.open(str(clip), "w", options={"avoid_negative_ts": "disabled"}) as out:
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        mux_video(out, 24, first_pts=-12)
        for i in range(48):
            samples = np.zeros((2, 1024), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, i * 1024 - 24000
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    out_path = tmp_path / "out.mkv"
    transcode(clip, out_path)
    audio = packets(out_path, "audio")
    # the packet at zero and the 0.5 s after it (24000 samples / 1024 + 1), not the 0.5 s before it
    assert abs(float(audio[0].pts * audio[0].time_base)) < 0.05 and len(audio) <= 26
    t_out, _ = video_times(out_path)
    assert len(t_out) == 12 and t_out[0] < 0.05


@pytest.mark.parametrize(("in_suffix", "out_suffix"), [(".mp4", ".mkv"), (".mkv", ".mp4")])
def test_chapters_are_kept_on_the_output_timeline(tmp_path: Path, in_suffix: str, out_suffix: str) -> None:
    clip = tmp_path / f"in{in_suffix}"
    with av.open(str(clip), "w") as out:
        out.set_chapters(
            [{"id": i + 1, "start": i * 12, "end": (i + 1) * 12, "time_base": Fraction(1, 24),
              "metadata": {"title": f"Part {i}"}} for i in range(3)]
        )  # fmt: skip
        mux_video(out, 36)
    out_path = tmp_path / f"out{out_suffix}"
    logs: list[str] = []
    transcode(clip, out_path, start=0.25, duration=1.0, log=logs.append)
    with av.open(str(out_path)) as c:
        got = [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"]["title"])
               for ch in c.chapters()]  # fmt: skip
    assert got == [(0.0, 0.25, "Part 0"), (0.25, 0.75, "Part 1"), (0.75, 1.0, "Part 2")]
    assert not any("dropped" in line for line in logs)  # the mp4's chapter track is not "a dropped stream"


@pytest.mark.parametrize("audio_first", [False, True])
def test_frame_count_of_a_matroska_file_that_starts_late(tmp_path: Path, audio_first: bool) -> None:
    # Cut from a recording: timestamps start at 1000 s, and the DURATION tag says where the track ends; or its audio
    # starts at 0 and the video only at 1000 s. Either way there are 24 frames to count (the progress bar's total).
    clip = tmp_path / "late.mkv"
    with av.open(str(clip), "w") as out:
        audio = out.add_stream("aac", rate=48000) if audio_first else None
        mux_video(out, 24, first_pts=24000)
        if audio is not None:
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, 0
            out.mux(audio.encode(sound))
            out.mux(audio.encode(None))
    with FileSource(clip) as src:
        assert src.info.frame_count == 24
        assert len(list(src.frames())) == 24


def test_a_start_past_the_middle_of_the_last_frame_says_so(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", times_ms=[0, 5000], fps=25, frames=2)  # the last frame: 5.00-5.04 s
    with pytest.raises(InputError, match="less than half of the last frame"):
        FileSource(clip, start=5.03)


def test_a_transparent_video_says_its_alpha_is_dropped(tmp_path: Path) -> None:
    clip = tmp_path / "logo.mov"  # a PNG-in-QuickTime overlay, as editors export them
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("png", rate=12)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "rgba"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.dstack([draw_frame(i, 64, 48), np.full((48, 64), 128, np.uint8)]),
                                               format="bgra")  # fmt: skip
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    with FileSource(clip) as src:
        assert any("transparency is dropped" in n for n in src.notes)
    with FileSource(make_clip(tmp_path / "plain.mp4", frames=2)) as src:
        assert not any("transparency" in n for n in src.notes)


def test_interlaced_video_is_deinterlaced(tmp_path: Path) -> None:
    # Broadcast and camcorder video: each frame weaves two fields taken half a frame apart, so a moving edge is a
    # comb of alternating lines, which a net would paint as stripes.
    def woven(i: int) -> np.ndarray:
        img = np.zeros((96, 128, 3), np.uint8)
        for field in (0, 1):
            moment = np.zeros_like(img)
            x = 10 + 6 * (2 * i + field)
            moment[30:66, x : x + 30] = 255
            img[field::2] = moment[field::2]
        return img

    clip = tmp_path / "interlaced.mp4"
    with av.open(str(clip), "w") as out:
        mux_video(out, 8, size=(128, 96), rate=25, image=woven, crf="10", **{"x264-params": "interlaced=1:tff=1"})

    def comb(img: np.ndarray) -> float:
        grey = img.astype(np.float32).mean(axis=2)
        return float(np.abs(grey[1:] - grey[:-1]).mean())

    with FileSource(clip) as src:
        frames = list(src.frames())
        assert any("deinterlaced" in n for n in src.notes)
    t_in, tb = video_times(clip)
    assert [float(f.pts * tb) for f in frames] == pytest.approx(t_in)  # one frame out per frame in, same times
    assert all(f.duration for f in frames)
    assert np.mean([comb(f.image) for f in frames]) < 0.3 * np.mean([comb(woven(i)) for i in range(8)])
    with FileSource(make_clip(tmp_path / "progressive.mp4", frames=2)) as src:
        assert not any("interlaced" in n for n in src.notes)


@pytest.mark.skipif(not hasattr(Colorspace, "BT2020"), reason="PyAV < 18 has no BT.2020 matrix")
@pytest.mark.parametrize("trc", [16, 18], ids=["PQ", "HLG"])
def test_hdr_video_is_tone_mapped_to_the_sdr_picture(tmp_path: Path, trc: int) -> None:
    # A phone's HDR clip: read as SDR it would come out grey and flat. Below the knee the picture must be the SDR
    # one (BT.709, shown with BT.1886's gamma 2.4), the shadows too (a table in steps of linear light had no code
    # between 0 and 8); a highlight five times SDR white rolls off to white.
    linear = np.zeros((48, 96, 3))
    linear[:, :32] = np.geomspace(2e-5, 0.7, 32)[None, :, None]
    linear[:, 32:64] = (0.5, 0.2, 0.05)
    linear[:, 64:] = 5.0
    with FileSource(make_hdr_clip(tmp_path / "hdr.mkv", trc, linear)) as src:
        assert any("HDR video" in n for n in src.notes)
        rgb = next(src.frames()).image[:, :, ::-1].astype(int)
    expected = np.round(255 * np.power(linear[:, :64], 1 / 2.4))
    assert np.abs(rgb[:, :64] - expected).max() <= 2
    assert rgb[:, 64:].min() >= 250


@pytest.mark.skipif(not hasattr(Colorspace, "BT2020"), reason="PyAV < 18 has no BT.2020 matrix")
@pytest.mark.parametrize("trc", [16, 18], ids=["PQ", "HLG"])
def test_hdr_highlights_keep_their_hue(tmp_path: Path, trc: int) -> None:
    # A sunset: orange at three times SDR white. A tone curve per channel made it pale yellow (the red channel
    # rolled off first, the others caught up: G/R 0.4 -> 0.96 in linear light); its three channels scale together.
    linear = np.zeros((32, 32, 3))
    linear[:] = (3.0, 1.2, 0.3)
    with FileSource(make_hdr_clip(tmp_path / "sunset.mkv", trc, linear)) as src:
        bgr = next(src.frames()).image[8:24, 8:24].reshape(-1, 3).mean(axis=0)
    r, g, b = np.power(bgr[::-1] / 255, 2.4)  # back to linear light
    assert r > 0.85  # rolled off to near white's level, not clipped below it
    assert g / r == pytest.approx(0.4, abs=0.03)
    assert b / r == pytest.approx(0.1, abs=0.02)


def test_the_tone_curve_works_on_any_shape() -> None:
    # OpenCV applies a number to the first channel only: a 3-channel array came out with two channels wrong
    from nstvideo.pipeline import hdr

    x = np.array([0.0, 0.5, 0.7, 1.0, 3.0, 100.0], np.float32)
    flat = hdr.tone_curve(x)
    assert flat[0] == 0 and flat[1] == pytest.approx(0.5) and 0.7 < flat[3] < flat[4] < flat[5] <= 1.0
    assert np.array_equal(hdr.tone_curve(np.stack([x, x, x], axis=-1)), np.stack([flat] * 3, axis=-1))


@pytest.mark.parametrize("trc", [16, 18], ids=["PQ", "HLG"])
def test_hdr_frames_mapped_in_bands_equal_one_pass(trc: int) -> None:
    # the bands run on a thread pool; a frame split among them must come out as one pass would make it
    from nstvideo.pipeline import hdr

    codes = np.random.default_rng(1).integers(0, 65536, (517, 203, 3), dtype=np.uint16)
    tone = hdr.HdrToSdr(trc)
    assert np.array_equal(tone(codes), tone._map(codes))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_lanes_finishing_out_of_order_emit_in_order(batch_size: int) -> None:
    # two inference lanes (frames in parallel on a CPU): a slow frame in one must not let the other's overtake it
    import random
    import time

    from nstvideo.pipeline.runner import StopFlag, run_pipeline

    rng = random.Random(0)

    def process(batch: list[int]) -> list[int]:
        time.sleep(rng.random() * 0.01)
        return [n * 10 for n in batch]

    got: list[int] = []
    count = run_pipeline(range(57), process, got.append, StopFlag(), batch_size=batch_size, lanes=2)
    assert count == 57 and got == [n * 10 for n in range(57)]


def test_a_failing_lane_ends_the_pipeline_with_its_error() -> None:
    from nstvideo.pipeline.runner import StopFlag, run_pipeline

    def process(batch: list[int]) -> list[int]:
        if 20 in batch:
            raise ProcessingError("frame 20 is bad")
        return batch

    stop = StopFlag()
    with pytest.raises(ProcessingError, match="frame 20"):
        run_pipeline(range(100), process, lambda _: None, stop, lanes=2)
    assert not stop.event.is_set()  # a failure is not a Ctrl-C (a folder run goes on to its next video)


def test_an_mp4_cut_in_its_audio_data_is_truncated_too(tmp_path: Path) -> None:
    # The cut lands in an audio packet after the last whole video frame: the video decodes to its end without a
    # corrupt packet of its own, so only the audio's says the file was cut (it came out 31 of 48 frames, exit 0).
    clip = make_clip(tmp_path / "in.mp4", frames=48, fps=12, faststart=True, audio=True, pattern="noise")
    cut = make_truncated(clip, tmp_path / "cut.mp4", keep=0.65)
    with pytest.raises(ProcessingError, match="truncated"), FileSource(cut) as src:
        for _ in src.frames():
            pass


def test_the_frame_count_of_a_cut_is_what_is_written(tmp_path: Path) -> None:
    # the progress bar's total: a cut half a frame into one keeps it, so the half counts
    clip = make_clip(tmp_path / "in.mp4", frames=24, fps=25)
    for start, duration in ((0.3, None), (0.3, 0.5), (0.02, 0.4)):
        with FileSource(clip, start=start, duration=duration) as src:
            assert src.info.frame_count == len(list(src.frames())), (start, duration)


def test_subtitles_on_screen_at_a_cut_are_kept_and_trimmed(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mkv", frames=24, audio=True, subtitles=True)  # cues 0.0-0.9 s and 1.0-1.8 s
    out = tmp_path / "out.mkv"
    transcode(clip, out, start=0.5, duration=0.6)
    cues = [(round(float(p.pts * p.time_base), 3), round(float(p.duration * p.time_base), 3), bytes(p))
            for p in packets(out, "subtitle")]  # fmt: skip
    # the first cue was on screen at the cut (shown from 0 for its last 0.4 s), the second runs past its end
    assert [(t, d) for t, d, _ in cues] == [(0.0, 0.4), (0.5, 0.1)]
    assert b"first" in cues[0][2] and b"second" in cues[1][2]
