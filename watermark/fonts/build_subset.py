"""Rebuild the shipped label font: Noto Sans CJK SC Bold subset to ASCII, GB 2312 symbols and level-1 hanzi.

Run once by a maintainer (the product only reads the .otf):

    apt-get install fonts-noto-cjk        # Debian's OFL-licensed Noto Sans CJK
    pip install fonttools==4.68.0
    python watermark/fonts/build_subset.py /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc

Level 1 of GB 2312 is rows 16-55 (bytes 0xB0A1-0xD7F9): the 3,755 most common hanzi.
"""

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

HERE = Path(__file__).resolve().parent
OUT = HERE / "NotoSansSC-Bold-subset.otf"


def gb2312_rows(first: int, last: int) -> set[str]:
    chars = set()
    for row in range(first, last + 1):
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def characters() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    chars |= gb2312_rows(0xA1, 0xA3)  # punctuation, symbols, full-width ASCII
    chars |= gb2312_rows(0xB0, 0xD7)  # level-1 hanzi
    chars |= set("·–—‘’“”…")
    return "".join(sorted(chars))


def main(ttc: str) -> None:
    collection = TTCollection(ttc)
    font = next(f for f in collection.fonts if "SC" in f["name"].getDebugName(1))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    font.save(OUT)
    print(f"{OUT.name}: {len(characters())} characters, {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
