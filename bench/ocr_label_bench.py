"""Compare RapidOCR (pip rapidocr-onnxruntime) and Tesseract 5 chi_sim (Debian) on stamped labels.

    apt-get install tesseract-ocr tesseract-ocr-chi-sim     # only for the comparison
    .venv/bin/python bench/ocr_label_bench.py

The three pictures of shared/images, each stamped with "AI生成", "AI合成" and "人工智能生成" in the
four corners, as PNG and after JPEG quality 75 (72 images): how often each engine reads the
label's wording (an AI element and 生成/合成), and the seconds per image.
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from PIL import Image

from watermark import explicit, robustness
from watermark.ocr import _engine, has_wording, read_label

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"


def cases():
    for name in ("astronaut.png", "chelsea.png", "coffee.png"):
        image = Image.open(IMAGES / name).convert("RGB")
        for text in ("AI生成", "AI合成", "人工智能生成"):
            for corner in explicit.CORNERS:
                out, _ = explicit.draw(image, text, corner)
                yield f"{name}/{text}/{corner}", out
                yield f"{name}/{text}/{corner}/jpeg75", robustness.jpeg(out, 75)


def tesseract(image: Image.Image) -> str:
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        image.save(f.name)
        result = subprocess.run(["tesseract", f.name, "stdout", "-l", "chi_sim+eng", "--psm", "11"],
                                capture_output=True, text=True, check=False)
    return result.stdout


def main() -> None:
    _engine()
    results = {"rapidocr": [0, 0.0]}
    if shutil.which("tesseract"):
        results["tesseract"] = [0, 0.0]
    n = 0
    for _, image in cases():
        n += 1
        started = time.perf_counter()
        results["rapidocr"][0] += bool(read_label(image)["found"])
        results["rapidocr"][1] += time.perf_counter() - started
        if "tesseract" in results:
            started = time.perf_counter()
            results["tesseract"][0] += has_wording(tesseract(image))
            results["tesseract"][1] += time.perf_counter() - started
    for engine, (hits, seconds) in results.items():
        print(f"{engine}: label wording found in {hits}/{n} stamped images, {seconds / n:.2f} s per image")


if __name__ == "__main__":
    main()
