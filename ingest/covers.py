"""Every talk's cover: a frame of the video, or a card with its title, speakers, organisation and date.

Covers are 1200×630 (the size link previews use) and are made on first request and kept in
``<data>/covers``, named by what they show: a talk whose details change gets a new card, and the
old file is no longer asked for. They are derived, so deleting the folder loses nothing.
"""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
import uuid
from collections.abc import Iterable
from pathlib import Path

from archive.core.config import Config
from archive.core.store.records import Recording

WIDTH, HEIGHT = 1200, 630
# Background colours for the cards, picked by the talk's organisation (one organisation, one colour).
PALETTE = ["#1f5fd6", "#0f766e", "#7c3aed", "#b45309", "#be123c", "#15803d", "#334155", "#9d174d"]


def cover_path(config: Config, recording: Recording) -> Path:
    """Where the talk's cover is kept: the name changes when what the cover shows changes."""
    shown = "\n".join(
        [
            recording.title,
            ", ".join(recording.speakers),
            recording.organization,
            recording.date or "",
            recording.media_hash,
            recording.media_kind,
        ]
    )
    key = hashlib.sha256(shown.encode()).hexdigest()[:16]
    suffix = ".jpg" if recording.media_kind == "video" else ".png"
    return config.data_dir / "covers" / f"{recording.id}-{key}{suffix}"


def cover(config: Config, recording: Recording) -> Path:
    """The talk's cover, made now if it is not there yet."""
    path = cover_path(config, recording)
    if path.with_suffix(".png").exists():  # a video whose frame could not be taken has a card
        return path.with_suffix(".png")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial(path)
        if recording.media_kind != "video" or not _video_frame(
            config.data_dir / recording.media_path, recording.duration, partial
        ):
            partial.unlink(missing_ok=True)
            path, partial = path.with_suffix(".png"), _partial(path.with_suffix(".png"))
            _card(recording).save(partial, format="PNG", optimize=True)
        partial.replace(path)  # whole or not at all, even with two requests making it at once
    return path


def cover_problems(config: Config, recordings: Iterable[Recording]) -> list[str]:
    """One line per talk whose cover the web pages could not serve (made now where missing).

    ``archive check`` asks this because a cover that fails shows as a broken image on every list,
    an empty box above the player and a feed that podcast directories refuse, while the rest of
    the archive checks whole.
    """
    from PIL import Image

    problems = []
    for recording in recordings:
        try:
            path = cover(config, recording)
            if not path.is_absolute():  # send_file would look for it beside the package
                raise OSError("its path is relative to the working directory")
            with Image.open(path) as image:
                image.verify()
        except Exception as error:  # noqa: BLE001 - any failure here is a cover the page cannot show
            problems.append(f"cover of {recording.slug} cannot be served: {type(error).__name__}")
    return problems


def _partial(path: Path) -> Path:
    """A name of this request's own to write ``path`` under before it is whole."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def _video_frame(media: Path, duration: float, target: Path) -> bool:
    """A frame a tenth of the way in (past the title slate and the host's camera), scaled and cropped to fit."""
    import imageio_ffmpeg

    at = min(max(duration * 0.1, 0.0), 60.0)
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-ss",
        f"{at:.2f}",
        "-i",
        str(media),
        "-frames:v",
        "1",
        "-vf",
        f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT}",
        "-q:v",
        "3",
        "-f",
        "image2",
        str(target),
    ]
    result = subprocess.run(command, capture_output=True, timeout=60)
    return result.returncode == 0 and target.exists() and target.stat().st_size > 0


def _card(recording: Recording):
    """A card for a talk with nothing to look at: its title large, who and when below."""
    from PIL import Image, ImageDraw, ImageFont

    colour = PALETTE[
        int(hashlib.sha256((recording.organization or recording.title).encode()).hexdigest(), 16) % len(PALETTE)
    ]
    image = Image.new("RGB", (WIDTH, HEIGHT), colour)
    draw = ImageDraw.Draw(image)
    title_font, small_font, tiny_font = (ImageFont.load_default(size=size) for size in (64, 36, 28))
    x, y = 72, 80
    draw.text((x, y), "TALK ARCHIVE", font=tiny_font, fill="#dbe4f0")
    y += 70
    for line in textwrap.wrap(recording.title, width=30)[:4]:
        draw.text((x, y), line, font=title_font, fill="white")
        y += 80
    y = max(y + 30, HEIGHT - 170)
    byline = ", ".join(recording.speakers)
    if byline:
        draw.text((x, y), textwrap.shorten(byline, 60, placeholder="…"), font=small_font, fill="white")
        y += 50
    where = " · ".join(part for part in (recording.organization, recording.date or "") if part)
    if where:
        draw.text((x, y), textwrap.shorten(where, 64, placeholder="…"), font=small_font, fill="#eef2f8")
    return image


def archive_cover(config: Config) -> Path:
    """The archive's own square artwork (1400×1400, what podcast directories ask for), made once."""
    from PIL import Image, ImageDraw, ImageFont

    path = config.data_dir / "covers" / "archive-v1.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (1400, 1400), PALETTE[0])
        draw = ImageDraw.Draw(image)
        big, small = ImageFont.load_default(size=150), ImageFont.load_default(size=64)
        draw.text((110, 420), "Talk", font=big, fill="white")
        draw.text((110, 590), "Archive", font=big, fill="white")
        draw.text((110, 860), "Community of Practice", font=small, fill="#dbe4f0")
        draw.text((110, 950), "webinars, searchable", font=small, fill="#dbe4f0")
        partial = _partial(path)
        image.save(partial, format="PNG", optimize=True)
        partial.replace(path)
    return path
