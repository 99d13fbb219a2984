"""What platforms do to images, as Pillow operations, and synthetic pictures to try them on.

The attacks are the ones WATERMARK.md measures (and the benchmark and the tests run): JPEG at
quality 90/75/50, resize to 50 % and back, centre crop to 80 % and resize back, Gaussian noise
σ = 5, brightness +20 %, rotation by 5°. Each takes and returns an RGB Pillow image.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance
from scipy import ndimage


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def resize_half_and_back(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.resize((max(1, width // 2), max(1, height // 2))).resize((width, height))


def crop_80_and_back(image: Image.Image) -> Image.Image:
    width, height = image.size
    cw, ch = round(width * 0.8), round(height * 0.8)
    left, top = (width - cw) // 2, (height - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize((width, height))


def gaussian_noise(image: Image.Image, sigma: float = 5.0, seed: int = 0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(seed).normal(0.0, sigma, pixels.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def brightness(image: Image.Image, factor: float = 1.2) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def rotate(image: Image.Image, degrees: float = 5.0) -> Image.Image:
    return image.rotate(degrees)  # Pillow's defaults: nearest neighbour, same size, black corners


ATTACKS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg90": lambda im: jpeg(im, 90),
    "jpeg75": lambda im: jpeg(im, 75),
    "jpeg50": lambda im: jpeg(im, 50),
    "resize50": resize_half_and_back,
    "crop80": crop_80_and_back,
    "noise5": gaussian_noise,
    "brightness20": brightness,
    "rotate5": rotate,
}


#
# Synthetic pictures
#


def _normalise(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (a.max() + 1e-9)


def _fractal(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Return noise with a 1/f^beta power spectrum, the statistics of natural images."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f ** (beta / 2)
    spectrum[0, 0] = 0
    return _normalise(np.fft.irfft2(spectrum, s=shape))


def synthetic_image(seed: int, size: tuple[int, int] = (512, 512), kind: str | None = None) -> np.ndarray:
    """Return an (H, W, 3) uint8 picture: a landscape-like scene, a texture, or shapes on a gradient."""
    rng = np.random.default_rng(seed)
    width, height = size
    kind = kind or ("scene", "texture", "shapes")[seed % 3]
    if kind == "texture":
        planes = [_fractal(rng, (height, width), rng.uniform(1.6, 2.6)) for _ in range(3)]
        mix = rng.dirichlet(np.ones(3), size=3)
        rgb = np.stack([sum(m * p for m, p in zip(row, planes, strict=True)) for row in mix], axis=-1)
        return (255 * _normalise(rgb)).astype(np.uint8)
    sky = np.linspace(0, 1, height)[:, None, None] * rng.uniform(0.3, 1.0, 3) + rng.uniform(0, 0.5, 3)
    image = np.broadcast_to(sky, (height, width, 3)).copy()
    if kind == "scene":
        horizon = height * rng.uniform(0.35, 0.65) + 40 * (_fractal(rng, (1, width), 2.5)[0] - 0.5)
        ground = np.arange(height)[:, None] > horizon[None, :]
        texture = _fractal(rng, (height, width), 2.0)[..., None]
        colour = rng.uniform(0.1, 0.7, 3)
        image = np.where(ground[..., None], colour * (0.6 + 0.8 * texture), image)
    picture = Image.fromarray((255 * np.clip(image, 0, 1)).astype(np.uint8))
    pen = ImageDraw.Draw(picture)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(20, width // 2), y0 + rng.integers(20, height // 2)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (pen.ellipse if rng.random() < 0.5 else pen.rectangle)((x0, y0, x1, y1), fill=fill)
    pixels = np.asarray(picture, dtype=np.float32)
    pixels = ndimage.gaussian_filter(pixels, (0.7, 0.7, 0)) + rng.normal(0, 2.0, pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
