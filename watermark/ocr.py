"""Find the explicit label in the pixels by offline OCR (GB 45438 §5.2; COMPLIANCE.md A2.3).

A stamping record says a label was drawn; only the pixels say it is still there. `read_label`
runs RapidOCR (PP-OCRv4 detection and recognition as ONNX models shipped inside the
`rapidocr-onnxruntime` wheel: no download, no network) on the image and checks what GB 45438
asks of the label:

- wording: an AI element ("AI" or "人工智能") and a generation element ("生成" or "合成");
- position: at an edge or corner (the text box within 15 % of the shortest side of two edges for
  a corner, of one edge for an edge);
- height: the text's ink height at least 5 % of the image's shortest side.

The ink height is measured inside the detected box (Otsu threshold; the minority class is the
ink), because the detector's box includes padding. The engine loads once per process (~0.5 s);
a 512 × 512 image takes ~0.6 s on one core (bench: `python -m watermark.ocr FILE...`).
"""

from __future__ import annotations

import sys
import threading
import time
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from .explicit import AI_ELEMENTS, GENERATION_ELEMENTS, MIN_HEIGHT_RATIO

EDGE_RATIO = 0.15  # how close to an edge a label must sit, as a share of the shortest side
MIN_SCORE = 0.5
MAX_SIDE = 1600  # larger images are scaled down for OCR (the ratios are unchanged)
HEIGHT_TOLERANCE_PX = 1  # the ink measurement may lose a pixel row to anti-aliasing
_LOCK = threading.Lock()


class OCRUnavailable(RuntimeError):
    """The OCR engine (rapidocr-onnxruntime) is not installed."""


@lru_cache(maxsize=1)
def _engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:  # pragma: no cover - the dependency is in pyproject
        raise OCRUnavailable(f"OCR needs rapidocr-onnxruntime: {exc}") from None
    return RapidOCR()


def available() -> bool:
    try:
        _engine()
    except OCRUnavailable:
        return False
    return True


def has_wording(text: str) -> bool:
    compact = "".join(text.split()).upper()
    return any(e.upper() in compact for e in AI_ELEMENTS) and any(e in compact for e in GENERATION_ELEMENTS)


def _ink_height(gray: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Return the height in pixels of the text ink inside `box` (left, top, right, bottom)."""
    left, top, right, bottom = box
    crop = gray[max(0, top):bottom, max(0, left):right]
    if crop.size == 0:
        return 0
    hist = np.bincount(crop.ravel(), minlength=256).astype(np.float64)
    total, levels = hist.sum(), np.arange(256)
    best, threshold = -1.0, 128
    cum, cum_mean, mean = 0.0, 0.0, float((hist * levels).sum() / total)
    for t in range(256):  # Otsu
        cum += hist[t]
        cum_mean += t * hist[t]
        if cum == 0 or cum == total:
            continue
        between = (mean * cum - cum_mean) ** 2 / (cum * (total - cum))
        if between > best:
            best, threshold = between, t
    bright = crop > threshold
    ink = bright if bright.mean() < 0.5 else ~bright
    rows = np.flatnonzero(ink.mean(axis=1) > 0.03)
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def _position(box: tuple[int, int, int, int], width: int, height: int) -> str:
    """Return "top-left" … "bottom-right", "top", "bottom", "left", "right", or "" (not at an edge)."""
    limit = EDGE_RATIO * min(width, height)
    left, top, right, bottom = box
    vertical = "top" if top <= limit else "bottom" if height - bottom <= limit else ""
    horizontal = "left" if left <= limit else "right" if width - right <= limit else ""
    if vertical and horizontal:
        return f"{vertical}-{horizontal}"
    return vertical or horizontal


def read_label(image: Image.Image) -> dict[str, Any]:
    """Return what OCR finds of the explicit label: the text lines, the best label and the three checks."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    scale = min(1.0, MAX_SIDE / max(width, height))
    if scale < 1:
        rgb = rgb.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    arr = np.asarray(rgb)
    gray = np.asarray(rgb.convert("L"))
    started = time.perf_counter()
    with _LOCK:  # one onnxruntime session per process
        result, _ = _engine()(arr)
    seconds = time.perf_counter() - started
    w, h = rgb.size
    shortest = min(w, h)
    lines = []
    for points, text, score in result or []:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = (int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1)
        if float(score) < MIN_SCORE:
            continue
        ink = _ink_height(gray, box)
        lines.append({"text": text, "score": round(float(score), 3), "box": [round(c / scale) for c in box],
                      "position": _position(box, w, h), "height_ratio": round(ink / shortest, 4),
                      "height_ok": ink + HEIGHT_TOLERANCE_PX >= MIN_HEIGHT_RATIO * shortest,
                      "wording": has_wording(text)})
    labels = [line for line in lines if line["wording"]]
    best = max(labels, key=lambda line: (bool(line["position"]), line["height_ratio"]), default=None)
    out = {"engine": "rapidocr-onnxruntime (PP-OCRv4)", "seconds": round(seconds, 3),
           "lines": lines[:20], "found": best is not None}
    if best is None:
        seen = ", ".join(repr(line["text"]) for line in lines[:5]) or "no text"
        out.update(ok=False, text=None, note=f"no label with an AI element and 生成/合成 in the pixels (OCR read {seen})")
        return out
    checks = {"wording": True, "position": bool(best["position"]),
              "height": best["height_ok"]}
    problems = []
    if not checks["position"]:
        problems.append("not at an edge or corner")
    if not checks["height"]:
        problems.append(f"text height {best['height_ratio']:.1%} of the shortest side, below {MIN_HEIGHT_RATIO:.0%}")
    out.update(ok=all(checks.values()), text=best["text"], position=best["position"] or None,
               height_ratio=best["height_ratio"], box=best["box"], checks=checks,
               note=(f"label {best['text']!r} at {best['position'] or 'the middle'}, text height "
                     f"{best['height_ratio']:.1%} of the shortest side" + (": " + "; ".join(problems) if problems else "")))
    return out


def main(paths: list[str]) -> None:  # pragma: no cover - a measuring aid
    started = time.perf_counter()
    _engine()
    print(f"engine loaded in {time.perf_counter() - started:.2f} s")
    for path in paths:
        report = read_label(Image.open(path))
        print(f"{path}: {report['seconds']:.2f} s ok={report['ok']} {report['note']}")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
