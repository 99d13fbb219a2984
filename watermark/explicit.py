"""The explicit label: visible text such as "AI生成" in a corner, legible on any background.

GB 45438 §5.2 asks for text holding an AI element ("AI" or "人工智能") and a generation element
("生成" and/or "合成"), at an edge or corner, at least 5 % of the image's shortest side high. It
is drawn in white with a dark outline on a translucent dark box, with the font that ships in
`watermark/fonts/` (Noto Sans CJK SC Bold, subset to ASCII, GB 2312 symbols and the 3,755
level-1 hanzi; SIL Open Font License): no system font is needed, and text the font cannot show
is refused rather than drawn as boxes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "NotoSansSC-Bold-subset.otf"
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
DEFAULT_TEXT = "AI生成"
DEFAULT_CORNER = "bottom-right"
MIN_HEIGHT_RATIO = 0.05
TARGET_HEIGHT_RATIO = 0.06  # a margin over the 5 % minimum
MIN_TEXT_PX = 12
MAX_TEXT_LENGTH = 40
AI_ELEMENTS = ("AI", "人工智能")
GENERATION_ELEMENTS = ("生成", "合成")


class LabelError(ValueError):
    """The label cannot be drawn as asked; the message says why."""


@dataclass(frozen=True)
class LabelFacts:
    """What was drawn: recorded with the stamp so that verify can report it."""

    text: str
    corner: str
    box: tuple[int, int, int, int]  # backing box: left, top, right, bottom (pixels; right and bottom excluded)
    text_height: int  # ink height of the text in pixels
    height_ratio: float  # text_height / shortest side

    def to_dict(self) -> dict:
        data = asdict(self)
        data["box"] = list(self.box)
        return data


@lru_cache(maxsize=1)
def supported_characters() -> frozenset[str]:
    """Return the characters the shipped font has glyphs for."""
    from fontTools.ttLib import TTFont

    font = TTFont(FONT_PATH, lazy=True)
    return frozenset(chr(code) for code in font.getBestCmap())


def validate_text(text: str) -> str:
    """Return `text` stripped, or raise LabelError if it is empty, too long, lacks the required
    elements, or holds a character the shipped font cannot draw."""
    text = (text or "").strip()
    if not text:
        raise LabelError("The label text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise LabelError(f"The label text is longer than {MAX_TEXT_LENGTH} characters")
    missing = sorted({c for c in text if c not in supported_characters()})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
        raise LabelError(
            f"The label text has characters the label font cannot draw: {shown}. The font covers ASCII, "
            "GB 2312 punctuation and the 3,755 level-1 hanzi."
        )
    if not any(e in text for e in AI_ELEMENTS) or not any(e in text for e in GENERATION_ELEMENTS):
        raise LabelError(
            "The label text must name AI (\"AI\" or \"人工智能\") and generation (\"生成\" or \"合成\"), "
            "e.g. \"AI生成\" (GB 45438 §5.2)"
        )
    return text


def validate_corner(corner: str) -> str:
    if corner not in CORNERS:
        raise LabelError(f"Unknown corner {corner!r}: use one of {', '.join(CORNERS)}")
    return corner


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size)


def _ink_height(text: str, size: int) -> tuple[int, tuple[int, int, int, int]]:
    box = _font(size).getbbox(text, anchor="ls")
    return box[3] - box[1], box


def _font_size_for(text: str, target: int) -> int:
    """Return the smallest font size whose ink height for `text` is at least `target` pixels."""
    size = max(8, target)
    height, _ = _ink_height(text, size)
    size = max(8, math.ceil(size * target / max(height, 1)))
    while _ink_height(text, size)[0] < target:
        size += 1
    return size


def draw(image: Image.Image, text: str = DEFAULT_TEXT, corner: str = DEFAULT_CORNER) -> tuple[Image.Image, LabelFacts]:
    """Return a copy of `image` with the label drawn, and the facts of what was drawn."""
    text = validate_text(text)
    corner = validate_corner(corner)
    width, height = image.size
    shortest = min(width, height)
    target = max(MIN_TEXT_PX, math.ceil(TARGET_HEIGHT_RATIO * shortest))
    size = _font_size_for(text, target)
    ink, (x0, y0, x1, y1) = _ink_height(text, size)
    stroke = max(1, round(size / 14))
    pad = max(2, round(size * 0.3))
    margin = max(2, round(shortest * 0.02))
    box_w, box_h = (x1 - x0) + 2 * (pad + stroke), ink + 2 * (pad + stroke)
    if box_w + 2 * margin > width or box_h + 2 * margin > height:
        raise LabelError(
            f"The label {text!r} does not fit a {width}×{height} image at {MIN_HEIGHT_RATIO:.0%} of its shortest side: "
            "use a shorter text"
        )
    left = margin if corner.endswith("left") else width - margin - box_w
    top = margin if corner.startswith("top") else height - margin - box_h
    box = (left, top, left + box_w, top + box_h)
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(overlay)
    pen.rounded_rectangle((left, top, box[2] - 1, box[3] - 1), radius=max(2, pad // 2), fill=(0, 0, 0, 150))
    origin = (left + pad + stroke - x0, top + pad + stroke - y0)
    pen.text(origin, text, font=_font(size), anchor="ls", fill=(255, 255, 255, 255), stroke_width=stroke,
             stroke_fill=(0, 0, 0, 255))
    out = Image.alpha_composite(base, overlay)
    out = out if image.mode == "RGBA" else out.convert(image.mode)
    facts = LabelFacts(text=text, corner=corner, box=box, text_height=ink, height_ratio=round(ink / shortest, 4))
    return out, facts
