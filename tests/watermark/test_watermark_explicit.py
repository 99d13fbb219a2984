"""The explicit label: height ≥ 5 % of the shortest side, corner, shipped font, refused text."""

import numpy as np
import pytest
from PIL import Image

from watermark import explicit


def _ink_rows(before: Image.Image, after: Image.Image, box) -> int:
    """Return how many rows of the box hold near-white text pixels drawn on a mid-grey picture."""
    a = np.asarray(after.convert("L"), dtype=int)[box[1]: box[3], box[0]: box[2]]
    return int(((a > 230).any(axis=1)).sum())


@pytest.mark.parametrize("size", [(512, 512), (1600, 900), (300, 1200), (120, 200)])
@pytest.mark.parametrize("text", ["AI生成", "AI generated · AI生成", "本内容由AI生成"])
def test_the_text_is_at_least_5_percent_of_the_shortest_side(size, text):
    picture = Image.new("RGB", size, (128, 128, 128))
    out, facts = explicit.draw(picture, text, "bottom-right")
    shortest = min(size)
    assert facts.height_ratio >= explicit.MIN_HEIGHT_RATIO
    assert facts.text_height >= 0.05 * shortest
    assert _ink_rows(picture, out, facts.box) >= 0.05 * shortest  # measured on the pixels, not trusted
    assert out.size == picture.size


@pytest.mark.parametrize("corner", explicit.CORNERS)
def test_it_draws_in_the_asked_corner(corner):
    picture = Image.new("RGB", (400, 300), (255, 255, 255))
    out, facts = explicit.draw(picture, "AI生成", corner)
    left, top, right, bottom = facts.box
    assert (left < 200) == corner.endswith("left")
    assert (top < 150) == corner.startswith("top")
    changed = np.argwhere((np.asarray(out) != 255).any(axis=2))
    assert changed[:, 1].min() >= left and changed[:, 1].max() < right
    assert changed[:, 0].min() >= top and changed[:, 0].max() < bottom


def test_it_is_legible_on_white_and_on_black():
    for background in ((255, 255, 255), (0, 0, 0)):
        out, facts = explicit.draw(Image.new("RGB", (400, 400), background), "AI生成")
        box = np.asarray(out.convert("L"), dtype=int)[facts.box[1]: facts.box[3], facts.box[0]: facts.box[2]]
        assert box.max() - box.min() > 150  # white text on a dark backing box, whatever is behind


def test_it_refuses_a_character_outside_the_font():
    with pytest.raises(explicit.LabelError, match="U\\+1F600"):
        explicit.validate_text("AI生成😀")
    with pytest.raises(explicit.LabelError, match="U\\+9F98"):
        explicit.validate_text("AI生成龘")  # a hanzi outside GB 2312 level 1


def test_it_refuses_text_without_the_ai_and_generation_elements():
    with pytest.raises(explicit.LabelError, match="GB 45438"):
        explicit.validate_text("Made with love")
    with pytest.raises(explicit.LabelError, match="empty"):
        explicit.validate_text("  ")


def test_the_font_covers_ascii_and_level_1_hanzi():
    chars = explicit.supported_characters()
    level1 = {bytes([row, cell]).decode("gb2312") for row in range(0xB0, 0xD8) for cell in range(0xA1, 0xFF)
              if not (row == 0xD7 and cell > 0xF9)}
    assert len(level1) == 3755
    assert level1 <= chars
    assert {chr(c) for c in range(0x20, 0x7F)} <= chars
    assert explicit.FONT_PATH.stat().st_size < 2_500_000
    assert (explicit.FONT_PATH.parent / "OFL.txt").exists()


def test_it_refuses_a_label_that_does_not_fit():
    with pytest.raises(explicit.LabelError, match="does not fit"):
        explicit.draw(Image.new("RGB", (60, 400)), "AI generated · AI生成 · 人工智能生成")
