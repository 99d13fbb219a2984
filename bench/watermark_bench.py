"""Benchmark Assay's invisible watermark against invisible-watermark (dwtDct, dwtDctSvd, rivaGan).

Measured as WATERMARK.md "Measuring it" says: the invisible layer alone; PSNR and SSIM (on
luma, Gaussian window σ = 1.5); embed and verify time at native size and at 1024² on one CPU
core (the process is pinned to core 0; the median of --repeat runs); after each attack of
`watermark.robustness.ATTACKS`, the raw bit accuracy (Assay: the 162 coded bits before Viterbi
decoding; peers: their 32 bits, they have no error correction) and the detection rate; and
detections on unmarked images (natural images, their crops and rescalings, generated pictures).

Detection: Assay's own decision (false-positive probability ≤ 1e-6 per image by construction).
The peers return bits, not a decision, so they get the same false-positive level: detected when
at least 30 of the 32 bits match the embedded ones (P[Binomial(32, ½) ≥ 30] = 1.2e-7).

    pip install invisible-watermark==0.2.0 opencv-python-headless==5.0.0.93 pywavelets==1.9.0
    python bench/watermark_bench.py [--images ../shared/images] [--unmarked 1000] [--riva-unmarked 100]
                                    [--repeat 5] [--out bench/RESULTS_watermark.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from watermark import invisible, robustness  # noqa: E402

KEY = bytes(range(32))
PAYLOAD = 0x5A5A_1234_ABCD
PEER_BITS = [int(b) for b in np.random.default_rng(7).integers(0, 2, 32)]
PEER_THRESHOLD = 30  # of 32 bits: P[Binomial(32, 1/2) >= 30] = 1.2e-7
PEERS = ("dwtDct", "dwtDctSvd", "rivaGan")


#
# Images
#


def natural_images(folder: Path) -> list[tuple[str, np.ndarray]]:
    return [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in sorted(folder.glob("*.png"))]


GENERATED = [(1, (512, 512), "scene"), (2, (640, 480), "shapes"), (3, (512, 512), "texture"),
             (4, (768, 512), "scene"), (5, (512, 384), "shapes")]


def generated_images() -> list[tuple[str, np.ndarray]]:
    return [(f"generated-{kind}-{w}x{h}", robustness.synthetic_image(seed, (w, h), kind))
            for seed, (w, h), kind in GENERATED]


def unmarked_images(natural: list[np.ndarray], count: int, seed: int = 11):
    """Yield `count` unmarked pictures: natural images, crops and rescalings of them, and generated ones."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        if i % 2 == 0 and natural:
            image = natural[(i // 2) % len(natural)]
            h, w = image.shape[:2]
            s = rng.uniform(0.45, 1.0)
            ch, cw = max(128, int(h * s)), max(128, int(w * s))
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = Image.fromarray(image[y: y + ch, x: x + cw])
            f = rng.uniform(0.5, 2.0)
            yield np.asarray(crop.resize((max(256, int(cw * f)), max(256, int(ch * f)))))
        else:  # the peers refuse pictures under 256 × 256
            size = (int(rng.integers(256, 900)), int(rng.integers(256, 900)))
            yield robustness.synthetic_image(1000 + i, size)


#
# Measures
#


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Return the mean SSIM (Wang et al. 2004) of the two images' luma, Gaussian window σ = 1.5."""
    x, y = (invisible.luminance(i).astype(np.float64) for i in (a, b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v):
        return ndimage.gaussian_filter(v, 1.5, truncate=3.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s[7:-7, 7:-7].mean())


def timed(fn, repeat: int) -> tuple[object, float]:
    """Return fn()'s result and its median wall time in ms over `repeat` runs (after one warm-up)."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return result, float(np.median(times))


#
# Methods: embed(rgb) -> rgb; read(rgb) -> (bit accuracy, detected)
#


class Assay:
    name = "Assay (keyed spread spectrum + lattice sync)"

    def embed(self, rgb):
        return invisible.embed(rgb, KEY, PAYLOAD)

    def read(self, rgb):
        detection = invisible.detect(rgb, KEY)
        return invisible.raw_bit_accuracy(detection, PAYLOAD), detection.detected and detection.payload == PAYLOAD

    def verify(self, rgb):
        return invisible.detect(rgb, KEY)


class Peer:
    def __init__(self, method: str):
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.name = f"invisible-watermark {method}"
        self.method = method
        if method == "rivaGan":
            WatermarkEncoder.loadModel()
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", PEER_BITS)
        self.decoder = WatermarkDecoder("bits", 32)

    def embed(self, rgb):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        return np.ascontiguousarray(self.encoder.encode(bgr, self.method)[:, :, ::-1])

    def verify(self, rgb):
        return self.decoder.decode(np.ascontiguousarray(rgb[:, :, ::-1]), self.method)

    def read(self, rgb):
        bits = np.asarray(self.verify(rgb), dtype=int)
        matches = int(np.sum(bits == np.asarray(PEER_BITS)))
        return matches / 32, matches >= PEER_THRESHOLD


#
# The run
#


def measure(method, images, repeat: int) -> dict:
    rows = []
    for name, rgb in images:
        marked = method.embed(rgb)
        row = {"image": name, "size": f"{rgb.shape[1]}x{rgb.shape[0]}", "psnr": psnr(rgb, marked),
               "ssim": ssim(rgb, marked), "attacks": {}}
        _, row["embed_ms"] = timed(lambda rgb=rgb: method.embed(rgb), repeat)
        _, row["verify_ms"] = timed(lambda marked=marked: method.verify(marked), repeat)
        accuracy, detected = method.read(marked)
        row["attacks"]["none"] = {"bit_accuracy": accuracy, "detected": bool(detected)}
        for attack, fn in robustness.ATTACKS.items():
            attacked = np.asarray(fn(Image.fromarray(marked)).convert("RGB"))
            accuracy, detected = method.read(attacked)
            row["attacks"][attack] = {"bit_accuracy": accuracy, "detected": bool(detected)}
        rows.append(row)
        print(f"  {method.name[:28]:28} {name:34} PSNR {row['psnr']:5.1f}  embed {row['embed_ms']:7.1f} ms  "
              f"verify {row['verify_ms']:7.1f} ms  detected {sum(a['detected'] for a in row['attacks'].values())}/9",
              flush=True)
    return {"images": rows}


def timing_at(method, size: int, picture: np.ndarray, repeat: int) -> dict:
    rgb = np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.BICUBIC))
    marked, embed_ms = timed(lambda: method.embed(rgb), repeat)
    _, verify_ms = timed(lambda: method.verify(marked), repeat)
    return {"embed_ms": embed_ms, "verify_ms": verify_ms}


def unmarked(method, natural, count: int) -> dict:
    detections, seen = 0, 0
    for rgb in unmarked_images(natural, count):
        detections += bool(method.read(rgb)[1])
        seen += 1
    return {"images": seen, "detections": detections}


def summarise(result: dict) -> dict:
    rows = result["images"]
    attacks = ["none", *robustness.ATTACKS]
    return {
        "psnr": float(np.mean([r["psnr"] for r in rows])), "psnr_min": float(np.min([r["psnr"] for r in rows])),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
        "embed_ms": float(np.median([r["embed_ms"] for r in rows])),
        "verify_ms": float(np.median([r["verify_ms"] for r in rows])),
        "accuracy": {a: float(np.mean([r["attacks"][a]["bit_accuracy"] for r in rows])) for a in attacks},
        "detection": {a: float(np.mean([r["attacks"][a]["detected"] for r in rows])) for a in attacks},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO.parent / "shared" / "images"))
    parser.add_argument("--unmarked", type=int, default=1000)
    parser.add_argument("--riva-unmarked", type=int, default=100, help="rivaGan takes ~2 s an image")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--methods", default="assay," + ",".join(PEERS))
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS_watermark.md"))
    parser.add_argument("--render", action="store_true", help="only rewrite the report from OUT's .json")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(Path(args.out).with_suffix(".json").read_text())
        natural = sum(1 for r in next(iter(saved["results"].values()))["images"] if not r["image"].startswith("generated"))
        total = len(next(iter(saved["results"].values()))["images"])
        Path(args.out).write_text(report(saved["results"], saved["environment"], args, natural, total))
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one CPU core, for every method

    natural = natural_images(Path(args.images))
    images = natural + generated_images()
    print(f"{len(images)} images ({len(natural)} natural, {len(images) - len(natural)} generated)", flush=True)
    results = {}
    for key in args.methods.split(","):
        try:
            method = Assay() if key == "assay" else Peer(key)
        except Exception as exc:  # a peer that does not install or load is reported, not fatal
            results[key] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{key}: {results[key]['error']}", flush=True)
            continue
        print(method.name, flush=True)
        started = time.perf_counter()
        result = measure(method, images, args.repeat)
        result["timing_512"] = timing_at(method, 512, images[0][1], args.repeat)
        result["timing_1024"] = timing_at(method, 1024, images[0][1], max(1, args.repeat // 2))
        count = args.riva_unmarked if key == "rivaGan" else args.unmarked
        result["unmarked"] = unmarked(method, [rgb for _, rgb in natural], count)
        result["summary"] = summarise(result)
        result["name"] = method.name
        result["seconds"] = time.perf_counter() - started
        results[key] = result
        print(f"  unmarked: {result['unmarked']}; {result['seconds']:.0f} s", flush=True)
    environment = {"python": platform.python_version(), "machine": platform.machine(),
                   "processor": _cpu_name(), "numpy": np.__version__, "pillow": Image.__version__,
                   "invisible_watermark": _version("invisible-watermark")}
    Path(args.out).with_suffix(".json").write_text(json.dumps({"environment": environment, "results": results},
                                                               indent=1, default=float))
    Path(args.out).write_text(report(results, environment, args, len(natural), len(images)))
    print(f"wrote {args.out}", flush=True)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(results: dict, environment: dict, args, n_natural: int, n_images: int) -> str:
    attacks = list(robustness.ATTACKS)
    lines = [
        "# Invisible watermark: Assay against invisible-watermark",
        "",
        f"Command: `python bench/watermark_bench.py --unmarked {args.unmarked} --riva-unmarked {args.riva_unmarked} "
        f"--repeat {args.repeat}`, pinned to one CPU core ({environment['processor']}); Python "
        f"{environment['python']}, NumPy {environment['numpy']}, Pillow {environment['pillow']}, "
        f"invisible-watermark {environment['invisible_watermark']}.",
        "",
        f"{n_images} images: {n_natural} natural (`shared/images/`) and {n_images - n_natural} generated "
        "(`watermark.robustness.synthetic_image`: scenes, shapes on gradients, a 1/f texture). The invisible "
        "layer alone; PSNR/SSIM against the unmarked image; times are medians, one core.",
        "",
        "| method | PSNR dB (min) | SSIM | embed ms native | verify ms native | embed + verify ms 512² | "
        "embed + verify ms 1024² | unmarked images detected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in results.items():
        if "error" in r:
            lines.append(f"| {key} | {r['error']} |||||||")
            continue
        s, t5, t10, u = r["summary"], r["timing_512"], r["timing_1024"], r["unmarked"]
        lines.append(
            f"| {r['name']} | {s['psnr']:.1f} ({s['psnr_min']:.1f}) | {s['ssim']:.4f} | {s['embed_ms']:.1f} | "
            f"{s['verify_ms']:.1f} | {t5['embed_ms']:.1f} + {t5['verify_ms']:.1f} = {t5['embed_ms'] + t5['verify_ms']:.1f} | "
            f"{t10['embed_ms']:.1f} + {t10['verify_ms']:.1f} | {u['detections']} of {u['images']} |")
    for title, field in (("Mean raw bit accuracy", "accuracy"), ("Detection rate", "detection")):
        lines += ["", f"{title} after each attack:", "",
                  "| method | none | " + " | ".join(attacks) + " |", "|---|" + "---:|" * (len(attacks) + 1)]
        for key, r in results.items():
            if "error" in r:
                continue
            values = r["summary"][field]
            lines.append(f"| {key} | " + " | ".join(f"{values[a]:.3f}" if field == "accuracy" else f"{values[a]:.0%}"
                                                    for a in ["none", *attacks]) + " |")
    lines += ["", "The same on the natural images only (mean raw bit accuracy / images detected of "
              f"{n_natural}):", "", "| method | none | " + " | ".join(attacks) + " |",
              "|---|" + "---:|" * (len(attacks) + 1)]
    for key, r in results.items():
        if "error" in r:
            continue
        rows = [row for row in r["images"] if not row["image"].startswith("generated")]
        cells = []
        for a in ["none", *attacks]:
            accuracy = float(np.mean([row["attacks"][a]["bit_accuracy"] for row in rows]))
            cells.append(f"{accuracy:.3f} / {sum(row['attacks'][a]['detected'] for row in rows)}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    failures = [(key, row["image"], a) for key, r in results.items() if "error" not in r
                for row in r["images"] for a, v in row["attacks"].items() if not v["detected"]]
    assay_failures = [f for f in failures if f[0] == "assay"]
    lines += ["", "Assay images not detected after an attack: "
              + (", ".join(f"{img} after {a}" for _, img, a in assay_failures) or "none") + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
