"""HTML contact sheets of clustered people: index.html (every person, a few faces each) and one
page per person with all their aligned crops. Each page is self-contained (crops inlined as
data: PNGs, CSS inline, no script), so it opens from a folder, an archive or a mail.

A face's crop is the one stored at enrolment; a face enrolled without one (--no-crops) is aligned
again from its photo and landmarks when the photo is still there."""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.2em 0 .4em}
.faces{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:120px;background:#fff;border:1px solid #ddd;border-radius:4px;padding:3px}
figure.check{border:2px solid #d33}
figure img,.missing{width:112px;height:112px;display:block;margin:auto;background:#eee}
figcaption{font-size:11px;line-height:1.3;word-break:break-all}
.person{margin-bottom:1em}.muted{color:#777}code{background:#eee;padding:0 3px}
"""


@dataclass(frozen=True)
class Tile:
    id: int
    photo: str
    det_score: float
    quality: float | None
    centre_cosine: float  # cosine to the person's mean
    crop_png_b64: str  # "" when no crop could be had


@dataclass(frozen=True)
class Sheet:
    name: str
    labelled: bool
    tiles: list[Tile]


def file_name(index: int, name: str) -> str:
    return f"{index:04d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:80]}.html"


def crop_from_photo(photo: str, landmarks: Sequence[float]) -> str:
    """A base64 PNG of the face aligned again from its photo, or "" when the photo is gone."""
    from facev3 import native
    from facev3.api.responses import png_base64
    from facev3.core.errors import FaceError
    from facev3.core.imaging import decode_image

    try:
        image = decode_image(Path(photo).read_bytes())
    except (OSError, FaceError):
        return ""
    points = np.asarray(landmarks, np.float32).reshape(1, 5, 2)
    return png_base64(native.align_faces(image, points)[0])


def _figure(tile: Tile, check_below: float) -> str:
    quality = "?" if tile.quality is None else f"{tile.quality:.2f}"
    image = (
        f'<img alt="face {tile.id}" src="data:image/png;base64,{tile.crop_png_b64}">'
        if tile.crop_png_b64
        else '<div class="missing"></div>'
    )
    check = tile.centre_cosine < check_below
    return (
        f'<figure{" class=check" if check else ""} title="{html.escape(tile.photo)}">{image}'
        f"<figcaption>id {tile.id}<br>{html.escape(Path(tile.photo).name)}<br>"
        f"det {tile.det_score:.2f} · q {quality}<br>to centre {tile.centre_cosine:.2f}</figcaption></figure>"
    )


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def write(folder: Path, sheets: list[Sheet], summary: dict, check_below: float, preview: int = 8) -> list[Path]:
    """Writes index.html and one page per person into folder; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    entries = []
    for index, sheet in enumerate(sheets, 1):
        name = file_name(index, sheet.name)
        fix = (
            "<p class=muted>Fix: <code>facev3 gallery label ID... --label NAME</code> names faces; faces with one "
            "label are one person (merge), faces with different labels are never one person (split); then "
            "<code>facev3 gallery cluster</code> again. Red frames: far from this person's mean.</p>"
        )
        heading = html.escape(sheet.name) + ("" if sheet.labelled else " <span class=muted>(unlabelled)</span>")
        figures = "".join(_figure(t, check_below) for t in sheet.tiles)
        path = folder / name
        path.write_text(
            _page(sheet.name, f"<h1>{heading}: {len(sheet.tiles)} faces</h1>{fix}<div class=faces>{figures}</div>")
        )
        written.append(path)
        shown = "".join(_figure(t, check_below) for t in sheet.tiles[:preview])
        more = f" <span class=muted>+{len(sheet.tiles) - preview} more</span>" if len(sheet.tiles) > preview else ""
        entries.append(
            f'<div class=person><h2><a href="{name}">{heading}</a>: {len(sheet.tiles)} faces{more}</h2>'
            f"<div class=faces>{shown}</div></div>"
        )
    facts = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in summary.items())
    (folder / "index.html").write_text(_page("people", f"<h1>People</h1><p class=muted>{facts}</p>{''.join(entries)}"))
    return [folder / "index.html", *written]
