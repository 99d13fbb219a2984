"""The invisible watermark: a keyed, self-synchronising spread-spectrum pattern on luminance.

How it works
------------
* The image is seen at a *working resolution* (shorter side at most 512 px), so the pattern's
  scale follows the picture, not its pixel count, and a 4000 px photo costs what a 512 px one does.
* A 128 × 128 *tile* of 32 × 32 chips (4 × 4 px each) is derived from the organisation's key:
  a quarter of the chips are a known *pilot*, the rest carry the payload (48 bits, convolutionally
  coded to 162 bits, each bit spread over ~4.7 chips per tile, in keyed positions with keyed
  signs). The tile repeats over the whole image and is added to the luminance (R, G and B move
  together, chroma is untouched), stronger where the picture is busy and weaker where it is
  flat, at an overall amplitude that keeps PSNR above 40 dB (rounded to integers with a keyed
  dither, so the mean amplitude survives the rounding).
* Detection whitens the luminance (local mean removed, divided by local contrast) and finds the
  lattice of tile positions: first the unchanged geometry (re-encoding, noise and brightness
  leave it alone); then the residual's autocorrelation, whose peaks form that lattice, so
  rescaling, cropping and rotation are measured rather than searched (pairs of strong peaks,
  then a scored grid of scales and angles); last, a search of scale × angle scored by the keyed
  pilot. The residual is folded onto a lattice (all repetitions of the tile added up); the
  pilot's cyclic correlation gives the tile's offset and which of four 90° turns it is in; the
  payload chips are then despread and Viterbi-decoded. Each stage runs only when the previous
  ones found nothing; if none did, the search is repeated at half the working resolution (a
  large picture cropped to less than half its size without resizing).
* The decision is a statistical test. Each coded bit's chips are summed and divided by the
  noise level (measured from how the chips of one bit scatter around their common value), so
  without a mark of this key the 162 values are independent standard normals; the score is
  their correlation with the codeword of the decoded payload, normal with unit variance for any
  one payload. The reported false-positive probability is the union bound over every payload
  and every geometric hypothesis tried: ``TRIALS · 2^48 · Q(score)``. A watermark is reported
  when it is at most ``FALSE_POSITIVE_LIMIT`` (1e-6 per image, a score of about 9.8).

Everything here is NumPy/SciPy over arrays; no Django.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage, special

from . import ecc

TILE = 128
CHIP = 4
GRID = TILE // CHIP
PILOT_CHIPS = GRID * GRID // 4
PAYLOAD_BITS = 48
CODED_BITS = ecc.coded_length(PAYLOAD_BITS)
WORK_SIDE = 512
AMPLITUDE = 2.35  # mean change of luminance in grey levels; with dithered rounding PSNR ≈ 40.5 dB
FALSE_POSITIVE_LIMIT = 1e-6
MIN_REPORTED = 1e-300  # a stronger mark is reported as 1e-300 (a float would underflow to 0)
DECODES = 24  # (lattice, turn) hypotheses decoded at most per image and resolution
TRIALS = 64  # hypotheses counted in the union bound (≥ DECODES × 2 resolutions)
PILOT_GATE = 6.0  # pilot peak (in standard deviations) a derived lattice needs before it is decoded
WHITEN_SIZE = 7
MASK_GAMMA = 0.5
MASK_RANGE = (0.35, 2.0)
FILL_ENERGY = 0.05  # mean square residual below which an 8 × 8 block is one flat colour
BLOCK = 8  # contrast is measured on 8 × 8 blocks
MIN_SIDE = 96


class WatermarkKeyError(ValueError):
    """The key is not usable (too short)."""


@dataclass(frozen=True)
class Detection:
    """What the detector found with one key."""

    detected: bool
    payload: int | None
    false_positive_probability: float
    score: float  # correlation of the received bits with the decoded codeword, in standard deviations
    bit_errors_corrected: int = 0
    soft: np.ndarray | None = field(default=None, repr=False, compare=False)
    received_bits: np.ndarray | None = field(default=None, repr=False, compare=False)
    geometry: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "detected": self.detected,
            "payload": f"{self.payload:012x}" if self.detected and self.payload is not None else None,
            "bit_errors_corrected": self.bit_errors_corrected if self.detected else None,
            "false_positive_probability": self.false_positive_probability,
            "score": self.score,
        }


#
# The keyed tile
#


@dataclass(frozen=True)
class _Tile:
    pilot: np.ndarray  # (TILE, TILE) pilot chips with their signs, zero elsewhere
    pilot_spectrum: np.ndarray  # conjugate spectrum of the whitened pilot (for cyclic correlation)
    data_signs: np.ndarray  # (GRID*GRID,) keyed sign of each chip
    data_bit: np.ndarray  # (GRID*GRID,) coded-bit index of each payload chip, -1 for pilot chips
    chip_spectrum: np.ndarray  # conjugate spectrum of one whitened chip: the matched filter
    pilot_half_spectrum: np.ndarray  # the whitened pilot at half resolution (for the pilot search)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
        raise WatermarkKeyError("a watermark key must be at least 16 bytes")
    return bytes(key)


def _chip_image(values: np.ndarray) -> np.ndarray:
    """Return the (TILE, TILE) pattern whose 4 × 4 px chips take `values` (GRID × GRID, row-major)."""
    return np.kron(values.reshape(GRID, GRID), np.ones((CHIP, CHIP))).astype(np.float32)


def _highpass_cyclic(pattern: np.ndarray) -> np.ndarray:
    return pattern - ndimage.uniform_filter(pattern, WHITEN_SIZE, mode="wrap")


def _seed(key: bytes, purpose: bytes) -> int:
    return int.from_bytes(hmac.new(key, b"assay-invisible-v1/" + purpose, hashlib.sha256).digest()[:16], "big")


@lru_cache(maxsize=64)
def _tile(key: bytes) -> _Tile:
    rng = np.random.Generator(np.random.PCG64(_seed(key, b"tile")))
    chips = GRID * GRID
    order = rng.permutation(chips)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=chips)
    data_bit = np.full(chips, -1, dtype=np.int64)
    data_chips = order[PILOT_CHIPS:]
    data_bit[data_chips] = np.arange(data_chips.size) % CODED_BITS
    pilot_values = np.where(data_bit < 0, signs, 0.0)
    pilot = _chip_image(pilot_values)
    template = _highpass_cyclic(pilot)
    return _Tile(pilot=pilot, pilot_spectrum=np.conj(sfft.rfft2(template)), data_signs=signs,
                 data_bit=data_bit, chip_spectrum=_chip_spectrum(),
                 pilot_half_spectrum=np.conj(sfft.rfft2(_half(template))))


@lru_cache(maxsize=1)
def _chip_spectrum() -> np.ndarray:
    one = np.zeros(GRID * GRID, dtype=np.float32)
    one[0] = 1.0
    return np.conj(sfft.rfft2(_highpass_cyclic(_chip_image(one))))


def tile_pattern(key: bytes, payload: int) -> np.ndarray:
    """Return the zero-mean, unit-RMS (TILE, TILE) pattern carrying `payload` under `key`."""
    tile = _tile(_check_key(key))
    coded = ecc.encode(payload_bits(payload)).astype(np.float32) * 2 - 1
    values = np.where(tile.data_bit < 0, tile.data_signs, tile.data_signs * coded[np.maximum(tile.data_bit, 0)])
    pattern = _chip_image(values)
    return pattern / np.sqrt(np.mean(pattern**2))


def payload_bits(payload: int) -> np.ndarray:
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise ValueError(f"payload must fit in {PAYLOAD_BITS} bits")
    return np.array([(payload >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], dtype=np.uint8)


def bits_to_int(bits: np.ndarray) -> int:
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value


#
# Luminance and working resolution
#


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Return the BT.601 luma of an (H, W, 3) uint8 array as float32."""
    return (np.float32(0.299) * rgb[..., 0].astype(np.float32) + np.float32(0.587) * rgb[..., 1]
            + np.float32(0.114) * rgb[..., 2])


def working_scale(height: int, width: int) -> float:
    """Return the factor that brings the shorter side down to WORK_SIDE (1.0 for smaller images)."""
    return min(1.0, WORK_SIDE / min(height, width))


def _resize_float(plane: np.ndarray, size: tuple[int, int], resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """Resize a float plane to (width, height) with Pillow's float mode."""
    if plane.shape[::-1] == size:
        return plane
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, resample), dtype=np.float32)


#
# Embedding
#


def embed(rgb: np.ndarray, key: bytes, payload: int, *, amplitude: float = AMPLITUDE) -> np.ndarray:
    """Return a copy of the (H, W, 3) uint8 image `rgb` carrying `payload` under `key`."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("embed expects an (H, W, 3) uint8 RGB array")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is too small for the invisible watermark (shorter side < {MIN_SIDE} px)")
    pattern = tile_pattern(key, payload) * np.float32(amplitude)
    scale = working_scale(height, width)
    wh, ww = max(1, round(height * scale)), max(1, round(width * scale))
    delta = np.tile(pattern, (-(-wh // TILE), -(-ww // TILE)))[:wh, :ww] * _masking(rgb, (wh, ww))
    if (wh, ww) != (height, width):
        delta = _resize_float(delta, (width, height))
    # Integer pixels take an integer change: rounding ±2.35 would give ±2 everywhere, so round
    # up or down at random (keyed, so a stamp is reproducible) to keep the mean amplitude.
    dither = np.random.Generator(np.random.PCG64(_seed(key, b"dither"))).random(delta.shape, dtype=np.float32)
    out = rgb.astype(np.int16) + np.floor(delta + dither).astype(np.int16)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _masking(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return the amplitude map at working resolution: more change where the picture is busy.

    The local contrast (8 × 8 blocks) to the power MASK_GAMMA, clipped to MASK_RANGE and scaled to
    a mean square of 1, so the overall strength (and PSNR) is what AMPLITUDE says while flat skies
    change less than foliage.
    """
    y = luminance(rgb)
    if y.shape != shape:
        y = _resize_float(y, shape[::-1], Image.Resampling.BOX)
    energy = _block_energy(y - ndimage.uniform_filter(y, WHITEN_SIZE, mode="reflect"))
    level = np.power(energy + 1.0, MASK_GAMMA / 2)
    level = np.clip(level / np.median(level), *MASK_RANGE).astype(np.float32)
    full = _resize_float(level, (level.shape[1] * BLOCK, level.shape[0] * BLOCK))[: shape[0], : shape[1]]
    return full / np.sqrt(np.mean(full * full))


def _block_energy(residual: np.ndarray, smooth: bool = True) -> np.ndarray:
    """Return the mean square of `residual` over 8 × 8 blocks (smoothed over 3 × 3 blocks)."""
    h, w = residual.shape
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.pad(residual * residual, ((0, hb * BLOCK - h), (0, wb * BLOCK - w)), mode="edge")
    energy = padded.reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
    if smooth:
        energy = ndimage.uniform_filter(energy, 3, mode="nearest")
    return np.maximum(energy, 0.0)  # the running sum can leave -1e-7 where a block is flat


#
# Detection
#


def _whiten(y: np.ndarray) -> np.ndarray:
    """Return the luminance with its local mean removed and divided by its local contrast.

    Dividing by the contrast (measured on 8 × 8 blocks) keeps edges and texture from drowning
    the pattern in flat regions, and makes the statistic indifferent to brightness changes.
    """
    residual = y - ndimage.uniform_filter(y, WHITEN_SIZE, mode="reflect")
    h, w = residual.shape
    raw = _block_energy(residual, smooth=False)
    contrast = np.sqrt(ndimage.uniform_filter(raw, 3, mode="nearest").clip(0))
    # Blocks of one flat colour carry no mark (the corners a rotation fills, letterboxing); their
    # straight borders would put ridges into the autocorrelation, so they and their rim are left out.
    fill = ndimage.binary_dilation(raw < FILL_ENERGY, iterations=1)
    weight = np.where(fill, 0.0, 1.0 / (contrast + 1.0)).astype(np.float32)
    return residual * weight.repeat(BLOCK, axis=0).repeat(BLOCK, axis=1)[:h, :w]


def _autocorrelation(r: np.ndarray, reach: int) -> np.ndarray:
    """Return the autocorrelation of `r` (normalised to 1 at lag 0), zero-padded so lags up to
    `reach` do not wrap around."""
    h, w = r.shape
    shape = (sfft.next_fast_len(h + reach if reach > 0.45 * h else h, real=True),
             sfft.next_fast_len(w + reach if reach > 0.45 * w else w, real=True))
    spectrum = sfft.rfft2(r, s=shape, workers=1)
    acf = sfft.irfft2(spectrum.real**2 + spectrum.imag**2, s=shape, workers=1)
    return acf / (acf[0, 0] + 1e-12)


def _reach(shape: tuple[int, int]) -> tuple[float, float]:
    """Return the band of lags (min, max) where a tile's period can appear in an image this size."""
    return 0.4 * TILE, min(1.8 * TILE, 0.75 * min(shape))


def _subpixel(a: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    h, w = a.shape

    def offset(m, c, p):
        denom = m - 2 * c + p
        return 0.0 if denom >= 0 else 0.5 * (m - p) / denom

    c = a[iy, ix]
    oy = offset(a[iy - 1, ix], c, a[iy + 1, ix]) if 0 < iy < h - 1 else 0.0
    ox = offset(a[iy, ix - 1], c, a[iy, ix + 1]) if 0 < ix < w - 1 else 0.0
    return iy + oy, ix + ox


def _peak_candidates(acf: np.ndarray, rmin: float, rmax: float, count: int = 12) -> list[tuple]:
    """Return up to `count` local maxima (dy, dx, height) with rmin ≤ |lag| ≤ rmax, highest first.

    The autocorrelation is symmetric, so only lags with dy ≥ 0 are looked at.
    """
    h, w = acf.shape
    reach = int(math.ceil(rmax)) + 2
    top = acf[: reach + 1]  # dy = 0 .. reach
    window = np.concatenate([top[:, w - reach:], top[:, : reach + 1]], axis=1)  # dx = -reach .. reach
    dy = np.arange(window.shape[0], dtype=np.float32)[:, None]
    dx = np.arange(-reach, reach + 1, dtype=np.float32)[None, :]
    radius = np.hypot(dy, dx)
    masked = np.where((radius >= rmin) & (radius <= rmax) & ((dy > 0) | (dx > 0)), window, -np.inf)
    flat = masked.ravel()
    pool = min(flat.size - 1, 40 * count)
    order = np.argpartition(flat, -pool)[-pool:]
    order = order[np.argsort(flat[order])[::-1]]
    peaks: list[tuple] = []
    for index in order:
        iy, ix = divmod(int(index), window.shape[1])
        value = masked[iy, ix]
        if not np.isfinite(value):
            break
        if value < window[max(iy - 2, 0): iy + 3, max(ix - 2, 0): ix + 3].max():
            continue
        py, px = _subpixel(window, iy, ix)
        px -= reach
        if all(math.hypot(py - p[0], px - p[1]) > 3 for p in peaks):
            peaks.append((py, px, float(value)))
            if len(peaks) == count:
                break
    return peaks


def _acf_at(acf: np.ndarray, vector: np.ndarray) -> float:
    """Return the largest autocorrelation within 2 px of the lag `vector` (dy, dx)."""
    h, w = acf.shape
    y, x = int(round(vector[0])), int(round(vector[1]))
    return float(acf[np.ix_(np.arange(y - 2, y + 3) % h, np.arange(x - 2, x + 3) % w)].max())


def _pair_lattices(acf: np.ndarray, shape: tuple[int, int], limit: int = 3) -> list[np.ndarray]:
    """Return lattices from pairs of strong autocorrelation peaks of equal length at right angles.

    A pair at twice the period, or along the diagonals, looks like a square lattice too (and so
    do long straight edges, such as the black corners of a rotated picture), so each pair is
    followed by the finer lattice under it when the autocorrelation has peaks there.
    """
    rmin, rmax = _reach(shape)
    peaks = _peak_candidates(acf, rmin, rmax) if rmax > rmin else []
    if not peaks:
        return []
    noise = float(np.median(np.abs([p[2] for p in peaks]))) * 0.5
    found = []
    for i, (y1, x1, h1) in enumerate(peaks):
        for y2, x2, h2 in peaks[i + 1:]:
            n1, n2 = math.hypot(y1, x1), math.hypot(y2, x2)
            if abs(n1 - n2) > 0.12 * max(n1, n2) or abs(y1 * y2 + x1 * x2) / (n1 * n2) > 0.15:
                continue
            basis = np.array([[y1, x1], [y2, x2]])
            found.append((h1 + h2, [basis, *_finer(acf, basis, min(h1, h2), noise, rmin)]))
    found.sort(key=lambda item: -item[0])
    bases: list[np.ndarray] = []
    for _, family in found:
        bases += [_canonical_basis(b) for b in family]
        if len(bases) >= limit:
            break
    return bases[:limit]


def _finer(acf: np.ndarray, basis: np.ndarray, height: float, noise: float, rmin: float) -> list[np.ndarray]:
    """Return the finer lattices under `basis` (halves, half-diagonals) that have autocorrelation peaks."""
    a, b = basis
    out = []
    for finer in (np.array([a / 2, b / 2]), np.array([(a + b) / 2, (a - b) / 2])):
        if np.hypot(*finer[0]) >= rmin * 0.9 and min(_acf_at(acf, finer[0]), _acf_at(acf, finer[1])) > max(
            0.3 * height, noise
        ):
            out.append(finer)
    return out


COARSE = ((1, 0), (0, 1), (1, 1), (1, -1))
FINE = COARSE + ((2, 0), (0, 2), (2, 1), (1, 2), (2, -1), (1, -2), (2, 2), (2, -2))


def _comb(window: np.ndarray, reach: int, vx: np.ndarray, vy: np.ndarray, points) -> np.ndarray:
    """Return, per candidate lattice (rows of vx, vy in (dy, dx)), the sum of the window at its points."""
    total = np.zeros(vx.shape[0], dtype=np.float64)
    size = window.shape[0]
    for a, b in points:
        py = np.rint(a * vx[:, 0] + b * vy[:, 0]).astype(np.int64) + reach
        px = np.rint(a * vx[:, 1] + b * vy[:, 1]).astype(np.int64) + reach
        inside = (py >= 0) & (py < size) & (px >= 0) & (px < size)
        total[inside] += window[py[inside], px[inside]]
    return total


def _comb_lattices(acf: np.ndarray, shape: tuple[int, int], limit: int = 3) -> list[np.ndarray]:
    """Return lattices found by scoring every scale and angle on a grid.

    A square lattice of scale s and angle θ puts autocorrelation peaks at a·vx + b·vy. Every
    (s, θ) on a grid is scored by the sum of the (locally maximised) autocorrelation at its four
    nearest points, which a single strong peak or a long straight edge cannot fake; the best few
    are scored again on twelve points, and each basis vector is then moved onto its actual peak
    (so a resize that changed the aspect ratio a little is followed).
    """
    rmin, rmax = _reach(shape)
    if rmax <= rmin:
        return []
    h, w = acf.shape
    reach = min(int(math.ceil(2 * math.sqrt(2) * rmax)) + 3, h // 2 - 1, w // 2 - 1)
    ys = np.arange(-reach, reach + 1) % h
    xs = np.arange(-reach, reach + 1) % w
    window = acf[np.ix_(ys, xs)]
    window = window - ndimage.uniform_filter(window, 11)  # peaks, not the slow fall-off around lag 0
    peaks = ndimage.maximum_filter(window, 3)
    scales = np.geomspace(rmin / TILE, rmax / TILE, int(math.log(rmax / rmin) / math.log(1.006)) + 1)
    angles = np.radians(np.arange(-45.0, 45.0, 0.25))
    s, a = (g.ravel() for g in np.meshgrid(scales, angles, indexing="ij"))
    vx = np.stack([TILE * s * np.sin(a), TILE * s * np.cos(a)], axis=1)
    vy = np.stack([TILE * s * np.cos(a), -TILE * s * np.sin(a)], axis=1)
    coarse = _comb(peaks, reach, vx, vy, COARSE)
    chosen: list[int] = []
    for index in np.argsort(coarse)[::-1][:400]:
        if all(abs(math.log(s[index] / s[j])) > 0.04 or abs(a[index] - a[j]) > math.radians(2.0) for j in chosen):
            chosen.append(int(index))
        if len(chosen) == 3 * limit:
            break
    idx = np.array(chosen, dtype=np.int64)
    fine = _comb(peaks, reach, vx[idx], vy[idx], FINE)
    bases = []
    for j in np.argsort(fine)[::-1][:limit]:
        i = idx[j]
        bases.append(_canonical_basis(np.array([_snap(window, reach, vy[i]), _snap(window, reach, vx[i])])))
    return bases


def _snap(window: np.ndarray, reach: int, vector: np.ndarray) -> np.ndarray:
    """Return the lag of the autocorrelation peak within 3 px of `vector` (sub-pixel), or `vector`."""
    cy, cx = int(round(vector[0])) + reach, int(round(vector[1])) + reach
    if not (4 <= cy < window.shape[0] - 4 and 4 <= cx < window.shape[1] - 4):
        return vector
    patch = window[cy - 3: cy + 4, cx - 3: cx + 4]
    iy, ix = np.unravel_index(int(np.argmax(patch)), patch.shape)
    py, px = _subpixel(window, cy - 3 + iy, cx - 3 + ix)
    return np.array([py - reach, px - reach])


def _canonical_basis(basis: np.ndarray) -> np.ndarray:
    """Order a basis as (tile y axis, tile x axis): x the vector nearest +x, y a right-handed turn away."""
    vectors = [basis[0], -basis[0], basis[1], -basis[1]]
    right = max(vectors, key=lambda v: v[1] / (np.hypot(*v) + 1e-9))
    down = np.array([right[1], -right[0]])
    other = max(vectors, key=lambda v: float(np.dot(v, down)))
    return np.array([other, right], dtype=np.float64)


def _fold(r: np.ndarray, basis: np.ndarray, size: int = TILE) -> np.ndarray:
    """Add every pixel of `r` into the tile cell its lattice coordinates fall in; return the mean tile."""
    h, w = r.shape
    inv = np.linalg.inv(basis.T / size).astype(np.float32)  # (u, v) = inv @ (y, x)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    u = np.rint(inv[0, 0] * ys + inv[0, 1] * xs).astype(np.int32) % size
    v = np.rint(inv[1, 0] * ys + inv[1, 1] * xs).astype(np.int32) % size
    bins = (u * size + v).ravel()
    total = np.bincount(bins, weights=r.ravel(), minlength=size * size)
    count = np.bincount(bins, minlength=size * size)
    return (total / np.maximum(count, 1)).reshape(size, size).astype(np.float32)


def _align(folded: np.ndarray, tile: _Tile) -> list[tuple[float, np.ndarray]]:
    """Return (pilot score, aligned tile) for each 90° turn, best first."""
    out = []
    for turn in range(4):
        f = np.ascontiguousarray(np.rot90(folded, turn))
        corr = sfft.irfft2(sfft.rfft2(f, workers=1) * tile.pilot_spectrum, s=f.shape, workers=1)
        iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
        score = float(corr[iy, ix] / (corr.std() + 1e-12))
        out.append((score, np.roll(f, (-iy, -ix), axis=(0, 1))))
    out.sort(key=lambda item: -item[0])
    return out


def false_positive_probability(score: float) -> float:
    """Return the per-image false-positive bound for a detection score: TRIALS · 2^48 · Q(score), at most 1.

    Under "no watermark of this key" the score of any one payload's codeword is standard normal
    (see `_decode`); the union over every payload and every hypothesis tried bounds the chance
    that the best of them reaches `score`.
    """
    return float(min(1.0, max(TRIALS * 2.0**PAYLOAD_BITS * special.ndtr(-score), MIN_REPORTED)))


SCORE_THRESHOLD = float(-special.ndtri(FALSE_POSITIVE_LIMIT / (TRIALS * 2.0**PAYLOAD_BITS)))


def _decode(aligned: np.ndarray, tile: _Tile) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Despread, decode and score one aligned tile.

    Each chip's value is the matched filter's output at the chip, times its keyed sign. A coded
    bit's chips share one mean (the bit, times the mark's strength), so the spread of chip values
    around their bit's mean measures the noise without knowing the bits; each bit's sum is
    divided by its noise to give z-values, which are N(0, 1) without a mark. The score is the
    normalised correlation of the z-values with the codeword of the decoded payload.
    """
    corr = sfft.irfft2(sfft.rfft2(aligned, workers=1) * tile.chip_spectrum, s=aligned.shape, workers=1)
    chips = corr[::CHIP, ::CHIP].ravel() * tile.data_signs
    data = tile.data_bit >= 0
    bit = tile.data_bit[data]
    values = chips[data]
    count = np.bincount(bit, minlength=CODED_BITS)
    total = np.bincount(bit, weights=values, minlength=CODED_BITS)
    residual = values - (total / count)[bit]
    pilot = chips[~data]
    dof = values.size - CODED_BITS + pilot.size - 1
    noise = math.sqrt((float(residual @ residual) + float(np.sum((pilot - pilot.mean()) ** 2))) / dof) + 1e-12
    z = total / (noise * np.sqrt(count))
    bits = ecc.decode(z, PAYLOAD_BITS)
    signs = ecc.encode(bits).astype(np.float64) * 2 - 1
    score = float(signs @ z / math.sqrt(CODED_BITS))
    return z, bits, score, int(np.sum((z > 0) != (signs > 0)))


def _identity_lattice(acf, shape, limit) -> list[np.ndarray]:
    """Return the lattice of an image that was not resized, cropped-and-resized or rotated.

    Re-encoding, noise and brightness leave the geometry alone, and it costs no search.
    """
    return [np.array([[TILE, 0.0], [0.0, TILE]])]


def _half(r: np.ndarray) -> np.ndarray:
    """Return `r` averaged over 2 × 2 blocks."""
    h, w = (r.shape[0] // 2) * 2, (r.shape[1] // 2) * 2
    return 0.25 * (r[0:h:2, 0:w:2] + r[1:h:2, 0:w:2] + r[0:h:2, 1:w:2] + r[1:h:2, 1:w:2])


def _square_basis(scale: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle) * TILE * scale, math.sin(angle) * TILE * scale
    return np.array([[c, -s], [s, c]])  # rows: the tile's y axis, its x axis, in (dy, dx)


def _pilot_score(half: np.ndarray, basis: np.ndarray, tile: _Tile) -> float:
    """Return the pilot's peak cyclic correlation (in standard deviations) with `half` folded on `basis`."""
    folded = _fold(half, basis / 2, TILE // 2)
    corr = sfft.irfft2(sfft.rfft2(folded, workers=1) * tile.pilot_half_spectrum, s=folded.shape, workers=1)
    return float(corr.max() / (corr.std() + 1e-12))


def _pilot_search(r: np.ndarray, tile: _Tile, angles: list[float]) -> list[np.ndarray]:
    """Return the two lattices whose fold shows the keyed pilot best, searched over scale × angle.

    The last resort when the autocorrelation named no lattice that decodes (a strongly textured
    picture that was also cropped or rotated): the pilot is known, so it is a far stronger
    statistic than the autocorrelation, at the price of a search (on a half-resolution residual).
    """
    half = _half(r)
    rmin, rmax = _reach(r.shape)
    scales = np.geomspace(rmin / TILE, rmax / TILE, int(math.log(rmax / rmin) / math.log(1.025)) + 1)
    scored = [(_pilot_score(half, _square_basis(s, a), tile), s, a) for a in angles for s in scales]
    scored.sort(reverse=True)
    found = []
    for _, s0, a0 in scored[:2]:
        fine = [(_pilot_score(half, _square_basis(s, a), tile), s, a)
                for s in s0 * np.geomspace(0.985, 1.015, 7) for a in a0 + np.radians(np.linspace(-0.6, 0.6, 5))]
        _, s, a = max(fine)
        found.append(_square_basis(s, a))
    return found


class Analysis:
    """The key-independent work on one image: its whitened residual and candidate tile lattices.

    Verifying one image against several organisations' keys does this once. The lattices come in
    stages, each computed only if a key needs it: the unchanged geometry; pairs of strong
    autocorrelation peaks (cheap, and precise when the mark is strong); a grid of scales and
    angles scored on several lattice points (which finds weaker marks).
    """

    def __init__(self, rgb: np.ndarray | None, *, luma: np.ndarray | None = None, level: int = 0):
        if luma is None:
            rgb = np.asarray(rgb)
            height, width = rgb.shape[:2]
            luma = luminance(rgb)
            scale = working_scale(height, width)
            if scale < 1.0:
                luma = _resize_float(luma, (max(1, round(width * scale)), max(1, round(height * scale))),
                                     Image.Resampling.BOX)
        self.level = level
        self._luma = luma
        self.residual = _whiten(luma)
        self.usable = min(self.residual.shape) >= MIN_SIDE // 2
        self._acf: np.ndarray | None = None
        self._stages: list[list[np.ndarray]] = []
        self._coarser: Analysis | None = None

    def coarser(self) -> Analysis | None:
        """Return the picture at half this resolution, when it is large enough to be searched there.

        A large picture cropped to under half its size without resizing shows the tile at more
        than twice its scale, beyond what the autocorrelation search reaches; halved, it is in reach.
        """
        if self.level >= 1 or min(self._luma.shape) < 2 * WORK_SIDE // 2:
            return None
        if self._coarser is None:
            h, w = self._luma.shape
            half = _resize_float(self._luma, (w // 2, h // 2), Image.Resampling.BOX)
            self._coarser = Analysis(None, luma=half, level=self.level + 1)
        return self._coarser

    @property
    def acf(self) -> np.ndarray:
        if self._acf is None:
            _, rmax = _reach(self.residual.shape)
            self._acf = _autocorrelation(self.residual, int(math.ceil(rmax)))
        return self._acf

    def lattices(self):
        """Yield candidate bases, strongest first, computing the second stage only when asked."""
        seen: list[np.ndarray] = []
        finders = (_identity_lattice, _pair_lattices, _comb_lattices)
        for stage, finder in enumerate(finders):
            if len(self._stages) <= stage:
                acf = None if finder is _identity_lattice else self.acf
                found = [b for b in finder(acf, self.residual.shape, 3)
                         if all(np.abs(b - s).max() > 3 for s in (*seen, *[x for st in self._stages for x in st]))]
                self._stages.append(found)
            for basis in self._stages[stage]:
                seen.append(basis)
                yield basis


def _candidates(analysis: Analysis, tile: _Tile):
    """Yield (lattice, gated) hypotheses, cheapest and likeliest first.

    First the analysis's lattices. Then lattices derived from them, for when the
    autocorrelation got one axis or the angle right but not the period: the square on each
    basis vector, and the basis doubled and halved; these are decoded only when the pilot
    shows clearly (`gated`). Last, a pilot search at 0° and at the first two lattices' angles.
    """
    angles, seen = [0.0], []
    for basis in analysis.lattices():
        angle = round(math.atan2(basis[1, 0], basis[1, 1]), 3)
        if len(angles) < 3 and all(abs(angle - a) > 0.005 for a in angles):
            angles.append(angle)
        seen.append(basis)
        yield basis, False
    rmin, rmax = _reach(analysis.residual.shape)
    derived = []
    for basis in seen[1:4]:
        for v in basis:
            derived.append(_canonical_basis(np.array([v, [-v[1], v[0]]])))
        derived += [basis * 2, basis / 2]
    for basis in derived:
        length = float(np.hypot(*basis[0]))
        if rmin * 0.9 <= length <= rmax * 1.1 and all(np.abs(basis - b).max() > 3 for b in seen):
            seen.append(basis)
            yield basis, True
    for basis in _pilot_search(analysis.residual, tile, angles):
        yield basis, False


def detect(rgb: np.ndarray | None, key: bytes, *, analysis: Analysis | None = None) -> Detection:
    """Look for a watermark of `key` in the image; return the decision and what it rests on.

    Pass an `Analysis` of the image to test several keys without repeating the key-independent work.
    """
    key = _check_key(key)
    analysis = analysis if analysis is not None else Analysis(rgb)
    tile = _tile(key)
    result = _detect_at(analysis, tile)
    coarser = None if result.detected else analysis.coarser()
    if coarser is not None:
        other = _detect_at(coarser, tile)
        if other.score > result.score:
            result = other
    return result


def _detect_at(analysis: Analysis, tile: _Tile) -> Detection:
    if not analysis.usable:
        return Detection(False, None, 1.0, 0.0)
    r = analysis.residual
    best, decodes = None, 0
    for basis, gated in _candidates(analysis, tile):
        turns = _align(_fold(r, basis), tile)
        if gated and turns[0][0] < PILOT_GATE:
            continue
        # The pilot usually names the turn outright; decode the runner-up only when it is close.
        candidates = turns[:2] if turns[1][0] > 0.8 * turns[0][0] else turns[:1]
        if decodes + len(candidates) > DECODES:
            continue
        for _, aligned in candidates:
            soft, bits, score, errors = _decode(aligned, tile)
            decodes += 1
            if best is None or score > best[2]:
                best = (soft, bits, score, errors, basis)
        if best[2] >= SCORE_THRESHOLD:
            break
    if best is None:
        return Detection(False, None, 1.0, 0.0)
    soft, bits, score, errors, basis = best
    p = false_positive_probability(score)
    detected = p <= FALSE_POSITIVE_LIMIT
    scale = float(np.mean(np.hypot(basis[:, 0], basis[:, 1])) / TILE) * 2**analysis.level
    angle = float(np.degrees(np.arctan2(basis[1, 0], basis[1, 1])))
    return Detection(
        detected=detected, payload=bits_to_int(bits) if detected else None, false_positive_probability=p,
        score=round(score, 3), bit_errors_corrected=errors, soft=soft, received_bits=(soft > 0).astype(np.uint8),
        geometry={"scale": round(scale, 4), "rotation_deg": round(angle, 2)},
    )


def raw_bit_accuracy(detection: Detection, payload: int) -> float:
    """Return the share of coded bits received right (before error correction) for a known payload."""
    if detection.received_bits is None:
        return 0.5
    truth = ecc.encode(payload_bits(payload))
    return float(np.mean(detection.received_bits == truth))
