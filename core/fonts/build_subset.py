"""Rebuild the CJK font that compliance exports embed and the dashboard serves.

Noto Sans CJK SC Regular (SIL Open Font License 1.1, see OFL.txt), subset to ASCII, the GB 2312
symbols, the 3,755 level-1 hanzi and every character of the framework files and the Chinese
export strings, renamed "Assay CJK Sans" (the OFL's Reserved Font Name rule: a modified font
does not carry the original name). Run once by a maintainer (the product only reads the .otf):

    apt-get install fonts-noto-cjk
    python core/fonts/build_subset.py /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
"""

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "AssayCJKSans-Regular.otf"
FAMILY, POSTSCRIPT = "Assay CJK Sans", "AssayCJKSans-Regular"


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
    chars |= gb2312_rows(0xA1, 0xA9)  # punctuation, symbols, full-width forms, box drawing
    chars |= gb2312_rows(0xB0, 0xD7)  # level-1 hanzi
    chars |= set("·–—‘’“”…≥≤→←✓✗×")
    for path in list((ROOT / "frameworks").glob("*.yaml")) + [ROOT / "i18n.py"]:
        chars |= set(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def main(source: str) -> None:
    collection = TTCollection(source)
    font = next(f for f in collection.fonts if "SC" in f["name"].getDebugName(1))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            names.setName(FAMILY, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 4:
            names.setName(f"{FAMILY} Regular", 4, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName(POSTSCRIPT, 6, record.platformID, record.platEncID, record.langID)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [POSTSCRIPT]
        top = cff.topDictIndex[0]
        top.FullName, top.FamilyName = f"{FAMILY} Regular", FAMILY
    font.recalcTimestamp = False  # the same input gives the same bytes (no new blob in git)
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size:,} bytes, {len(font.getBestCmap()):,} characters")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
