"""Command-line interface: parse, build a pipeline, map errors to one line and an exit code."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from nstvideo import entry
from nstvideo.errors import EXIT_FAILED, EXIT_REFUSED, Interrupted, NstError, UsageError

app = typer.Typer(
    help="Real-time neural style transfer for video files, webcams and live streams.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
log = logging.getLogger("nstvideo")

# Shared options: the same name means the same thing in every command.
# `styles NAME`: the painting first, then the net, then how it was trained; unknown fields after, by name
SHOW_ORDER = ["style", "title", "artist", "style_image", "style_source", "style_licence", "architecture",
              "recommended_size", "loss_network", "loss_network_weights", "recipe", "iterations", "image_size", "data",
              "trained_on", "precision", "train_seconds", "exported", "format_version"]  # fmt: skip
Style = Annotated[
    str,
    typer.Option(
        "--style", "-s", help="Style name (see `nstvideo styles`) or .onnx path; several (a,b or all): OUT a folder."
    ),
]
Size = Annotated[
    int | None,
    typer.Option(help="Processing short side in pixels (default: the style's recommended size; 0: native)."),
]
OutputSize = Annotated[
    int | None, typer.Option("--output-size", help="Short side of the output in pixels (default: the input's size).")
]
Strength = Annotated[float, typer.Option(help="Blend with the original: 1 = full style, 0 = original.")]
PreserveColor = Annotated[bool, typer.Option("--preserve-color", help="Keep the input's colours (luminance-only).")]
Smooth = Annotated[
    float,
    typer.Option(help="Less flicker: blend in the previous result along the motion (0 off .. 0.9; try 0.5)."),
]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda | tensorrt.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
SkipExisting = Annotated[
    bool, typer.Option("--skip-existing", help="Leave outputs already there (an interrupted folder run's) as they are.")
]
Recursive = Annotated[
    bool, typer.Option("--recursive", "-r", help="IN a folder: its subfolders too, kept as subfolders of OUT.")
]
StyleImage = Annotated[
    Path | None, typer.Option("--style-image", help="Any painting: Gatys optimisation, no trained model (slow).")
]
Iterations = Annotated[int, typer.Option(help="Gatys: optimisation steps over all levels.")]
ContentWeight = Annotated[float, typer.Option("--content-weight", help="Gatys: weight of the photo's content.")]
StyleWeight = Annotated[float, typer.Option("--style-weight", help="Gatys: weight of the painting's style.")]
TvWeight = Annotated[float, typer.Option("--tv-weight", help="Gatys: smoothness.")]
Init = Annotated[str, typer.Option(help="Gatys: start from the photo (content) or noise.")]
Optimizer = Annotated[str, typer.Option(help="Gatys: lbfgs or adam.")]
StyleScale = Annotated[float, typer.Option("--style-scale", help="Gatys: painting size relative to the image.")]
Seed = Annotated[int, typer.Option(help="Random seed (deterministic results).")]
Vgg = Annotated[str, typer.Option(help="Loss-network weights: imagenet | craft | PATH.pth.")]
ModelsDir = Annotated[
    list[Path] | None,
    typer.Option("--models-dir", help="Extra folder of .onnx styles (repeatable; also $NSTVIDEO_MODELS)."),
]


def _stylizer(style: Any, size: int | None, output_size: int | None, strength: float, preserve_color: bool,
              device: str, models_dir: list[Path] | None, smooth: float = 0.0):  # fmt: skip  # noqa: ANN202
    from nstvideo.pipeline.engine import Stylizer, check_strength
    from nstvideo.pipeline.post import check_smooth

    check_strength(strength)  # refuse bad values before loading anything
    check_smooth(smooth)
    return Stylizer(
        style, device=device, size=size, output_size=output_size, strength=strength,
        preserve_color=preserve_color, smooth=smooth, models_dirs=models_dir or (),
    )  # fmt: skip


def _console() -> Any:
    """Rich wraps at 80 columns when stdout is not a terminal (`| less`, a file), folding paths and names
    mid-word; tables get room there unless COLUMNS says otherwise."""
    from rich.console import Console

    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return Console()
    return Console(width=160)


def _show_version(value: bool) -> None:
    if value:
        from nstvideo import __version__

        print(f"nstvideo {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    from rich.logging import RichHandler

    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(show_time=False, show_path=False, show_level=False, markup=False)
    if not sys.stderr.isatty():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("nstvideo")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


@app.command()
def styles(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="A style (or .onnx) to show every metadata field of.")
    ] = None,
    models_dir: ModelsDir = None,
) -> None:
    """List the installed styles, or everything a style's file says about itself (painting, licence, training)."""
    from rich.table import Table

    from nstvideo.pipeline.models import PREFIX, bundled_dir, list_styles, resolve_style

    console = _console()
    if name is not None:
        m = resolve_style(name, models_dir or ())
        table = Table(title=f"nstvideo style {m.name}", show_header=False)
        table.add_column("field", no_wrap=True, style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("file", f"{m.path} ({m.path.stat().st_size / 1e6:.1f} MB{', bundled' if m.bundled else ''})")
        fields = {k.removeprefix(PREFIX): v for k, v in m.metadata.items() if k.startswith(PREFIX)}
        for key in sorted(fields, key=lambda k: (SHOW_ORDER.index(k) if k in SHOW_ORDER else len(SHOW_ORDER), k)):
            value = fields[key]
            with contextlib.suppress(ValueError):  # the recipe is JSON: one "name: value" per line reads better
                parsed = json.loads(value)
                if isinstance(parsed, dict):
                    value = "\n".join(f"{k}: {v}" for k, v in parsed.items())
            table.add_row(key, value)
        console.print(table)
        return
    problems: list[str] = []
    found = list_styles(models_dir or (), errors=problems)
    for p in problems:
        log.warning("warning: %s", p)
    if any("contract" in p or "cannot load" in p for p in problems):
        log.warning("hint: a net made elsewhere becomes a style with `nstvideo import MODEL NEW.onnx`; or move it")
    if not found:
        console.print(
            "No styles are installed.\n"
            f"Bundled styles live in {bundled_dir()}; add your own with --models-dir DIR or $NSTVIDEO_MODELS,\n"
            "or train one: nstvideo train --style-image painting.jpg --name mystyle --data photos/"
        )
        return
    table = Table(
        title="nstvideo styles",
        caption="every field of one: nstvideo styles NAME; all on a photo: nstvideo image PHOTO sheet.jpg --style all",
    )
    columns = ["name", "title", "artist", "arch", "size", "licence", "where"]
    if all(m.bundled for m in found):
        columns.remove("where")  # room for the rest on a narrow terminal
    for col in columns:
        # the name is what users type after --style: never broken across lines, whatever the terminal's width
        table.add_column(col, overflow="fold", no_wrap=col == "name")
    for m in found:
        where = "bundled" if m.bundled else str(m.path)
        # the gist, without its parentheses (`styles NAME` has the whole note)
        licence = re.sub(r"\s*\([^)]*\)", "", m.licence.split(";")[0])
        row = [m.name, m.title, m.artist, m.architecture, str(m.recommended_size), licence, where]
        table.add_row(*row[: len(columns)])
    console.print(table)


@app.command()
def image(
    inp_arg: Annotated[
        str, typer.Argument(metavar="IN", help="Image (jpg/png/webp/bmp/tiff) or a directory of images.")
    ],
    out_arg: Annotated[
        str, typer.Argument(metavar="OUT", help="Output image, or a directory (IN's name is kept in it).")
    ],
    style: Style = "mosaic",
    style_image: StyleImage = None,
    size: Size = None,
    output_size: OutputSize = None,
    strength: Strength = 1.0,
    preserve_color: PreserveColor = False,
    device: Device = "auto",
    overwrite: Overwrite = False,
    skip_existing: SkipExisting = False,
    recursive: Recursive = False,
    models_dir: ModelsDir = None,
    iterations: Iterations = 200,
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 10.0,
    tv_weight: TvWeight = 1.0,
    init: Init = "content",
    optimizer: Optimizer = "lbfgs",
    style_scale: StyleScale = 1.0,
    seed: Seed = 0,
    vgg: Vgg = "imagenet",
) -> None:
    """Stylise an image, or every image in a directory (--style-image: any painting, via Gatys)."""
    from nstvideo.pipeline.models import is_style_list
    from nstvideo.pipeline.runner import image_targets, into_folder, output_folder, stylize_images
    from nstvideo.pipeline.sources import read_image

    inp, out_arg = Path(_given(inp_arg, "IN")), _given(out_arg, "OUT")
    photo = None if inp.is_dir() else read_image(inp)  # input errors first, before a model is loaded
    _check_skip_existing(overwrite, skip_existing)
    if style_image is None and is_style_list(style):
        settings = (size, output_size, strength, preserve_color, device, models_dir)
        _in_styles(inp, out_arg, style, False, overwrite, skip_existing, recursive, models_dir, settings, photo=photo)
        return
    out, new_folder = (Path(out_arg), False) if photo is None else into_folder(inp, out_arg, video=False)
    with output_folder(out.parent) if new_folder else contextlib.nullcontext():
        if style_image is not None:
            if skip_existing and out.is_file():
                log.info("%s is there already: skipped (--skip-existing)", out)
                return
            if photo is None:
                raise UsageError("--style-image takes one photo, not a directory", "train the style for many images")
            if strength != 1.0 or output_size is not None:
                raise UsageError(
                    "--strength and --output-size are for trained styles", "with --style-image, --size sets the size"
                )
            if size is None:
                size = 512
            elif size == 0:  # as for trained styles: the photo's own size
                from nstvideo.pipeline.models import MAX_SIDE

                size = min(photo.shape[:2])
                if not 32 <= size <= MAX_SIDE:
                    raise UsageError(
                        f"--size 0 means the photo's own short side, {size} px; a keyframe is 32..{MAX_SIDE} px",
                        f"give the size: --size {min(max(size, 32), MAX_SIDE)}",
                    )
            _keyframe(inp, out, style_image, None, None, size, iterations, content_weight, style_weight, tv_weight,
                      init, optimizer, preserve_color, style_scale, seed, device, vgg, overwrite)  # fmt: skip
            return
        # output errors too, before a model is loaded
        targets = image_targets(  # OUT as given: `NAME.jpg/` is a folder
            inp,
            out_arg if photo is None else out,
            overwrite=overwrite,
            skip_existing=skip_existing,
            photo=photo,
            recursive=recursive,
        )
        if not targets:
            log.info("%s: nothing to do (--skip-existing)", f"every image of {inp} is in {out} already" if inp.is_dir()
                     else f"{out} is there already")  # fmt: skip
            return
        s = _stylizer(style, size, output_size, strength, preserve_color, device, models_dir)
        if not inp.is_dir():
            _last_output(out)
        stylize_images(str(inp), str(out), s, overwrite=overwrite, photo=photo, targets=targets)


@app.command()
def file(
    inp_arg: Annotated[str, typer.Argument(metavar="IN", help="Input video (any format FFmpeg reads), or a folder.")],
    out_arg: Annotated[
        str, typer.Argument(metavar="OUT", help="Output video (.mp4, .mkv, .mov), or a folder (IN's name kept).")
    ],
    style: Style = "mosaic",
    size: Size = None,
    output_size: OutputSize = None,
    strength: Strength = 1.0,
    preserve_color: PreserveColor = False,
    smooth: Smooth = 0.0,
    device: Device = "auto",
    style_image: Annotated[Path | None, typer.Option("--style-image", hidden=True)] = None,
    encoder: Annotated[
        str,
        typer.Option(help="auto | libx264 | h264_nvenc (auto: NVENC when usable) | prores (422 HQ .mov, for editing)."),
    ] = "auto",
    crf: Annotated[int | None, typer.Option(help="H.264 quality: 0 lossless .. 51 worst; default 18.")] = None,
    preset: Annotated[str | None, typer.Option(help="x264 speed: ultrafast .. veryslow; default medium.")] = None,
    start: Annotated[float, typer.Option(help="Start at this many seconds.")] = 0.0,
    duration: Annotated[float | None, typer.Option(help="Only this many seconds (quick previews).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Frames per model call (GPU: 4-8).")] = 1,
    overwrite: Overwrite = False,
    skip_existing: SkipExisting = False,
    recursive: Recursive = False,
    models_dir: ModelsDir = None,
) -> None:
    """Stylise a video file to H.264 (or ProRes), keeping audio, subtitles and timing.

    IN a folder: every video directly in it (-r: in its subfolders too) into folder OUT, under its own name (.mkv
    and .mov kept, others as .mp4, or .mov with --encoder prores), the model loaded once; one that cannot be read
    is skipped with a warning (exit 1 at the end). One video and OUT a folder: the output goes in it under that
    name.
    """
    if style_image is not None:
        raise UsageError(
            "--style-image is for single frames: video needs a trained style",
            f"train it (nstvideo train --style-image {style_image} --name NAME --data PHOTOS/) "
            "or stylise one frame with nstvideo keyframe",
        )
    from nstvideo.pipeline.engine import check_batch_size
    from nstvideo.pipeline.media import FileSource, check_encode_options, check_times
    from nstvideo.pipeline.models import is_style_list
    from nstvideo.pipeline.outputs import check_output
    from nstvideo.pipeline.runner import (
        into_folder,
        output_folder,
        refuse_still,
        stylize_file,
        stylize_videos,
        video_targets,
    )

    inp, out_arg = Path(_given(inp_arg, "IN")), _given(out_arg, "OUT")
    if encoder == "prores" and (crf is not None or preset is not None):
        raise UsageError("--crf and --preset are for H.264; ProRes 422 HQ has one quality", "leave them out")
    crf, preset = 18 if crf is None else crf, preset or "medium"
    options = dict(start=start, duration=duration, encoder=encoder, crf=crf, preset=preset, batch_size=batch_size)
    probe = Path("x.mov" if encoder == "prores" else "x.mp4")  # a name the encoder's outputs can have
    # Everything that can be refused is refused before a model is loaded: input, output, encoder options.
    check_times(start, duration)
    _check_skip_existing(overwrite, skip_existing)
    if inp.is_dir():  # a folder of clips into a folder, the model loaded once
        check_encode_options(probe, encoder, crf, preset)  # each output's container takes these: video_output_name
        if is_style_list(style):
            check_batch_size(batch_size)
            settings = (size, output_size, strength, preserve_color, device, models_dir, smooth)
            _in_styles(inp, out_arg, style, True, overwrite, skip_existing, recursive, models_dir, settings, **options)
            return
        out = Path(out_arg)
        targets = video_targets(
            inp, out_arg, overwrite=overwrite, skip_existing=skip_existing, recursive=recursive, encoder=encoder
        )
        check_batch_size(batch_size)
        if not targets:
            log.info("every video of %s is in %s already: nothing to do", inp, out)
            return
        s = _stylizer(style, size, output_size, strength, preserve_color, device, models_dir, smooth)
        stylize_videos(inp, out, s, overwrite=overwrite, targets=targets, **options)
        return
    with FileSource(inp, start=start, duration=duration) as source:
        refuse_still(source, inp)
    if is_style_list(style):
        check_encode_options(probe, encoder, crf, preset)
        check_batch_size(batch_size)
        settings = (size, output_size, strength, preserve_color, device, models_dir, smooth)
        _in_styles(inp, out_arg, style, True, overwrite, skip_existing, recursive, models_dir, settings, **options)
        return
    out, new_folder = into_folder(inp, out_arg, video=True, encoder=encoder)
    if skip_existing and out.is_file():
        log.info("%s is there already: skipped (--skip-existing)", out)
        return
    check_output(inp, out, overwrite, parent_made=new_folder)
    check_encode_options(out, encoder, crf, preset, folder_hint=True)
    check_batch_size(batch_size)
    s = _stylizer(style, size, output_size, strength, preserve_color, device, models_dir, smooth)
    with output_folder(out.parent):  # made if new_folder (and removed if left empty); else there already
        stylize_file(str(inp), str(out), s, overwrite=overwrite, **options)


def _in_styles(inp: Path, out: str, style: str, video: bool, overwrite: bool, skip_existing: bool, recursive: bool,
               models_dir: list[Path] | None, settings: tuple, **options: Any) -> None:  # fmt: skip
    """One input or a folder in several styles (`--style a,b` or `all`), one model at a time: one input into folder
    OUT as NAME-STYLE files (a photo into an image name: one contact sheet), a folder into OUT/STYLE/ folder runs.
    `settings`: _stylizer's arguments after the style."""
    from nstvideo.pipeline.engine import check_strength
    from nstvideo.pipeline.models import resolve_styles
    from nstvideo.pipeline.runner import (
        contact_sheet,
        names_folder,
        output_folder,
        style_targets,
        stylize_folder_in_styles,
        stylize_with_styles,
    )
    from nstvideo.pipeline.sources import is_image_path

    check_strength(settings[2])
    models = resolve_styles(style, models_dir or ())
    make = lambda m: _stylizer(m, *settings)  # noqa: E731
    if inp.is_dir():
        stylize_folder_in_styles(inp, out, models, make, video=video, overwrite=overwrite,
                                 skip_existing=skip_existing, recursive=recursive, **options)  # fmt: skip
        return
    if not video and is_image_path(out) and not names_folder(out):
        if settings[1] is not None:
            raise UsageError("--output-size is not for a contact sheet: its tiles are 360 px wide", "leave it out")
        if skip_existing and os.path.isfile(out):
            log.info("%s is there already: skipped (--skip-existing)", out)
            return
        _last_output(Path(out))
        contact_sheet(inp, Path(out), models, make, photo=options.get("photo"), overwrite=overwrite)
        return
    targets, _ = style_targets(  # OUT, if new, is made below
        inp, out, models, video=video, overwrite=overwrite, skip_existing=skip_existing,
        encoder=options.get("encoder", "auto"),
    )  # fmt: skip
    if not targets:
        log.info("every style's output is there already: nothing to do (--skip-existing)")
        return
    with output_folder(targets[0][1].parent):  # made if new_folder (and removed if left empty)
        stylize_with_styles(inp, targets, make, video=video, overwrite=overwrite, **options)


def _given(arg: str, what: str) -> str:
    """An empty IN or OUT (an unset variable in a script) is refused, not read as the current folder."""
    if not arg.strip():
        raise UsageError(f"{what} is empty", f"give a file or folder as {what} (is a variable in the command unset?)")
    return arg


def _check_skip_existing(overwrite: bool, skip_existing: bool) -> None:
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other", "give one of them")


def _keyframe(inp, out, style_image, at, frame, size, iterations, content_weight, style_weight, tv_weight, init,
              optimizer, preserve_color, style_scale, seed, device, vgg, overwrite) -> None:  # fmt: skip  # noqa: ANN001
    from nstvideo.export.gatys import GatysConfig
    from nstvideo.export.keyframe import run_keyframe

    if device == "tensorrt":
        raise UsageError("--device tensorrt is for trained styles", "use --device auto, cuda or cpu for keyframes")
    cfg = GatysConfig(
        size=size, iterations=iterations, content_weight=content_weight, style_weight=style_weight,
        tv_weight=tv_weight, init=init, optimizer=optimizer, preserve_color=preserve_color,
        style_scale=style_scale, seed=seed, device=device, vgg=vgg,
    )  # fmt: skip
    _last_output(out)
    run_keyframe(inp, out, style_image, cfg, at=at, frame=frame, overwrite=overwrite)


@app.command()
def keyframe(
    inp: Annotated[Path, typer.Argument(metavar="IN", help="A photo, or a video to take one frame from.")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output image (jpg/png/webp/bmp/tiff).")],
    style_image: Annotated[Path, typer.Option("--style-image", help="Any painting.")],
    at: Annotated[float | None, typer.Option(help="Video: the frame at this many seconds.")] = None,
    frame: Annotated[int | None, typer.Option(help="Video: frame number (from 0). Default: the middle.")] = None,
    size: Annotated[int, typer.Option(help="Short side of the result in pixels.")] = 512,
    iterations: Iterations = 200,
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 10.0,
    tv_weight: TvWeight = 1.0,
    init: Init = "content",
    optimizer: Optimizer = "lbfgs",
    preserve_color: PreserveColor = False,
    style_scale: StyleScale = 1.0,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    vgg: Vgg = "imagenet",
    overwrite: Overwrite = False,
) -> None:
    """Stylise one keyframe with any painting (Gatys optimisation; needs the train extra)."""
    _keyframe(inp, out, style_image, at, frame, size, iterations, content_weight, style_weight, tv_weight, init,
              optimizer, preserve_color, style_scale, seed, device, vgg, overwrite)  # fmt: skip


@app.command()
def train(
    ctx: typer.Context,
    style_image: Annotated[Path, typer.Option("--style-image", help="The painting to learn.")],
    name: Annotated[str, typer.Option(help="Style name (becomes NAME.onnx and `--style NAME`).")],
    data: Annotated[Path, typer.Option(help="Folder of content photos (a few hundred or more).")],
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Checkpoints, previews, log, ONNX.")] = None,
    iterations: Annotated[int, typer.Option(help="Training steps.")] = 2000,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 4,
    image_size: Annotated[int, typer.Option("--image-size", help="Square crop size of content photos.")] = 256,
    style_size: Annotated[int | None, typer.Option("--style-size", help="Long side of the painting.")] = None,
    content_weight: Annotated[float, typer.Option("--content-weight")] = 1.0,
    style_weight: Annotated[float, typer.Option("--style-weight")] = 5.0,
    tv_weight: Annotated[float, typer.Option("--tv-weight")] = 1.0,
    temporal_weight: Annotated[
        float, typer.Option("--temporal-weight", help="Stability under camera motion and noise (less flicker); 0: off.")
    ] = 0.0,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    arch: Annotated[str, typer.Option(help="johnson | johnson-skip | lite | lite-skip.")] = "johnson",
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    vgg: Annotated[str, typer.Option(help="Loss-network weights: imagenet | craft | PATH.pth.")] = "imagenet",
    precision: Annotated[
        str, typer.Option(help="auto (bf16 where the GPU or CPU computes it natively) | bf16 | fp32.")
    ] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT_DIR/NAME.ckpt.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Start again over an existing run in OUT_DIR (without it: refused).")
    ] = False,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every")] = 200,
    preview: Annotated[list[Path] | None, typer.Option(help="Photo to preview every checkpoint (repeatable).")] = None,
    workers: Annotated[int, typer.Option(help="Data-loading processes.")] = 2,
    title: Annotated[str | None, typer.Option(help="Painting title for the metadata.")] = None,
    artist: Annotated[str | None, typer.Option(help="Painter, for the metadata (default: unknown).")] = None,
    style_licence: Annotated[
        str | None, typer.Option("--style-licence", help="Licence of the painting (default: unknown).")
    ] = None,
    style_source: Annotated[str | None, typer.Option("--style-source", help="Where the painting came from.")] = None,
    recommended_size: Annotated[int | None, typer.Option("--recommended-size")] = None,
) -> None:
    """Train a fast style network on a painting and export it to ONNX (needs the train extra)."""
    options = dict(locals())
    del options["ctx"]
    # what was typed: with --resume, a recipe option left out takes the checkpoint's value
    options["given"] = {k for k in options if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
    from nstvideo.export.studio import train_style

    train_style(**options)


@app.command("export")
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="A training checkpoint (.ckpt).")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The .onnx file to write.")],
    name: Annotated[str | None, typer.Option(help="Style name (default: the checkpoint's).")] = None,
    title: Annotated[str | None, typer.Option(help="Default for these five: what `nstvideo train` was given.")] = None,
    artist: Annotated[str | None, typer.Option()] = None,
    style_licence: Annotated[str | None, typer.Option("--style-licence")] = None,
    style_source: Annotated[str | None, typer.Option("--style-source")] = None,
    recommended_size: Annotated[int | None, typer.Option("--recommended-size")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Export a checkpoint to a verified, self-contained ONNX style (needs the train extra)."""
    options = dict(locals())
    from nstvideo.export.studio import export_checkpoint

    _last_output(out)
    export_checkpoint(**options)


@app.command("import")
def import_cmd(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="A style net made elsewhere: an .onnx (the ONNX model zoo's, any image-to-image net) or a "
            "pytorch/examples fast_neural_style .pth/.model.",
        ),
    ],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The .onnx style file to write.")],
    name: Annotated[str | None, typer.Option(help="Style name (default: from MODEL's file name).")] = None,
    title: Annotated[
        str | None, typer.Option(help="The painting's title. These five default to what a style file says of itself.")
    ] = None,
    artist: Annotated[str | None, typer.Option()] = None,
    style_licence: Annotated[str | None, typer.Option("--style-licence")] = None,
    style_source: Annotated[str | None, typer.Option("--style-source")] = None,
    recommended_size: Annotated[
        int | None, typer.Option("--recommended-size", help="Processing short side it looks best at (else 512).")
    ] = None,
    colour: Annotated[
        str,
        typer.Option(
            "--colour",
            help="Colour order the net works in: rgb (nearly all nets), bgr, or auto (bgr only for nets "
            "already in nstvideo's layout).",
        ),
    ] = "auto",
    value_range: Annotated[
        str,
        typer.Option("--range", help="Pixel values the net works in: 0-255 (the zoo's, pytorch/examples'), 0-1, -1-1."),
    ] = "0-255",
    layout: Annotated[
        str, typer.Option(help="auto (from the input's shape), nchw ([N, 3, H, W]) or nhwc ([N, H, W, 3]).")
    ] = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Make a style of a net made elsewhere (pytorch/examples, ONNX model zoo; needs the train extra)."""
    options = dict(locals())
    options["source"] = options.pop("model")
    from nstvideo.export.importer import import_model

    _last_output(out)
    import_model(**options)


@app.command()
def webcam(
    camera: Annotated[
        str, typer.Option(help="Camera index (0), device (/dev/video0), or a video file / URL played as a live source.")
    ] = "0",
    style: Annotated[
        str | None,
        typer.Option("--style", "-s", help="Style name or .onnx path (default: mosaic; on a CPU, mosaic-lite)."),
    ] = None,
    width: Annotated[int | None, typer.Option(help="Camera width to ask for (default 1280).")] = None,
    height: Annotated[int | None, typer.Option(help="Camera height to ask for (default 720).")] = None,
    fps: Annotated[float | None, typer.Option(help="Camera frame rate to ask for (default 30).")] = None,
    size: Size = None,
    strength: Strength = 1.0,
    preserve_color: PreserveColor = False,
    smooth: Smooth = 0.0,
    device: Device = "auto",
    models_dir: ModelsDir = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Stop after N shown/sent frames.")] = None,
    max_fps: Annotated[float | None, typer.Option("--max-fps", help="Cap on stylised frames per second.")] = None,
    low_latency: Annotated[
        bool, typer.Option("--low-latency", help="One frame at a time: less latency, fewer fps (on a CPU).")
    ] = False,
    no_window: Annotated[bool, typer.Option("--no-window", help="Headless: no preview window.")] = False,
    mirror: Annotated[bool, typer.Option("--mirror", help="Mirror the preview (hotkey m).")] = False,
    mirror_output: Annotated[
        bool, typer.Option("--mirror-output", help="Mirror the virtual camera, stream and recordings too.")
    ] = False,
    virtual_cam: Annotated[bool, typer.Option("--virtual-cam", help="Send frames to a virtual camera.")] = False,
    virtual_cam_device: Annotated[
        str | None, typer.Option("--virtual-cam-device", help="Which virtual camera (e.g. /dev/video10).")
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="Send low-latency H.264 in MPEG-TS to udp://HOST:PORT (srt:// if supported).")
    ] = None,
    record: Annotated[Path | None, typer.Option(help="Record from the start to this .mp4/.mkv/.mov.")] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where the s (snapshot) and r (record) hotkeys write.")
    ] = Path("."),
    loop: Annotated[bool, typer.Option("--loop", help="A file as --camera: play it again at the end.")] = False,
    overwrite: Overwrite = False,
) -> None:
    """Stylise a webcam live: preview window with hotkeys, virtual camera, network stream, recording.

    Hotkeys: <-/-> or p/n style, 1-9 pick a style, +/- strength, c colours, space original, m mirror,
    s snapshot, r record, f fullscreen, h help, q/Esc quit.
    """
    from nstvideo.pipeline.live import LiveOptions, run_live

    run_live(LiveOptions(
        camera=camera, style=style, width=width, height=height, fps=fps, size=size, strength=strength,
        preserve_color=preserve_color, smooth=smooth, device=device, models_dirs=models_dir or (),
        max_frames=max_frames, max_fps=max_fps, low_latency=low_latency, window=not no_window, mirror=mirror,
        mirror_output=mirror_output, virtual_cam=virtual_cam, virtual_cam_device=virtual_cam_device, stream=stream,
        record=record, output_dir=output_dir, overwrite=overwrite, loop=loop,
    ))  # fmt: skip


@app.command()
def doctor(models_dir: ModelsDir = None) -> None:
    """Report what this machine can do (providers, GPUs, cameras, virtual camera, FFmpeg) and how to fix gaps."""
    from nstvideo.doctor import run_doctor

    run_doctor(models_dir or ())


def _last_output(out: Path) -> None:
    """The job ends when `out` is in place: a Ctrl-C after that must not call a written file interrupted."""
    from nstvideo.pipeline import outputs

    final = Path(out).absolute()

    def commit(path: Path) -> None:
        if path.absolute() == final and threading.current_thread() is threading.main_thread():
            entry.finish()

    outputs.on_commit = commit


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; NstError -> `error:`/`hint:` lines and its exit code, no traceback."""
    args = _global_flags_first(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args[: args.index("--") if "--" in args else len(args)]  # after --, a file's name
    # Until a job installs its own handlers (which stop it cleanly), a signal ends the run as Ctrl-C does.
    previous = entry.install() if threading.current_thread() is threading.main_thread() else {}
    entry.received.clear()
    entry.finished = False
    try:
        return _run_app(args, debug)
    finally:
        from nstvideo.pipeline import outputs

        outputs.on_commit = None
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_app(args: list[str], debug: bool) -> int:
    try:
        rc = app(args=args, prog_name="nstvideo", standalone_mode=False)
        if entry.received:  # a job that stopped on its own handlers' flag returns; say why it stopped
            return _interrupted(debug)
    except (entry.Stop, KeyboardInterrupt):
        return _interrupted(debug)
    except NstError as exc:
        if entry.received:  # e.g. an import cut short by the signal, reported by pybind11 as an ImportError
            return _interrupted(debug)
        return _fail(exc.message, exc.hint, exc.exit_code, debug)
    except Exception as exc:
        if entry.received or type(exc).__name__ == "Abort":
            return _interrupted(debug)
        # typer vendors click; its exceptions are recognised by shape rather than by a private import
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            if not exc.format_message():  # no command given: the help was the answer
                return EXIT_REFUSED
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "nstvideo"
            return _fail(exc.format_message(), f"see `{command} --help`", EXIT_REFUSED, debug)
        return _fail(f"unexpected {type(exc).__name__}: {exc}", "run again with --debug and report the traceback",
                     EXIT_FAILED, debug)  # fmt: skip
    entry.finish()  # done: a late signal cannot change that
    return rc if isinstance(rc, int) else 0


_GLOBAL_FLAGS = ("--debug", "--quiet", "-q")


def _global_flags_first(args: list[str]) -> list[str]:
    """`nstvideo file a b --debug` means what `nstvideo --debug file a b` does (no command has these flags), and
    `nstvideo -h file` what `nstvideo file -h` does (the command's help, not the list of commands)."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in _GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in _GLOBAL_FLAGS]
    if len(rest) >= 2 and rest[0] in ("-h", "--help") and rest[1] in app_commands():
        rest = [rest[1], rest[0], *rest[2:]]
    return flags + rest + args[end:]


def app_commands() -> set[str]:
    """The names `nstvideo COMMAND` takes."""
    return {c.name or c.callback.__name__ for c in app.registered_commands}


def _interrupted(debug: bool) -> int:
    """Nothing is left half-written (outputs are renamed into place only when complete)."""
    exc = Interrupted(entry.received[-1] if entry.received else signal.SIGINT, "")
    return _fail(exc.message, None, exc.exit_code, debug)


def _fail(message: str, hint: str | None, code: int, debug: bool) -> int:
    """`--debug` adds the traceback; the message and exit code stay the same."""
    entry.finish()  # how the run ended is decided: a third Ctrl-C now must not cut the report with a traceback
    if debug:
        traceback.print_exc()
    _print_error(message, hint)
    return code


def _print_error(message: str, hint: str | None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
