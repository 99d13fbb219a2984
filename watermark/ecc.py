"""Error correction for the invisible watermark: a rate-1/3, constraint-length-7 convolutional code.

The generators are LTE's (133, 171, 165 octal). Decoding is soft-decision Viterbi: it takes one
real number per coded bit (positive leaning to 1, negative to 0, magnitude = confidence) and
returns the most likely message. Six zero tail bits bring the encoder back to state 0.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

K = 7
GENERATORS = (0o133, 0o171, 0o165)
RATE = len(GENERATORS)
TAIL = K - 1
N_STATES = 1 << (K - 1)


def coded_length(message_bits: int) -> int:
    """Return the number of coded bits for a message of `message_bits` bits."""
    return RATE * (message_bits + TAIL)


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """Return (next_state[state, bit], outputs[state, bit, RATE]) of the shift register."""
    nxt = np.zeros((N_STATES, 2), dtype=np.int64)
    out = np.zeros((N_STATES, 2, RATE), dtype=np.int8)
    for state in range(N_STATES):
        for bit in (0, 1):
            register = (bit << (K - 1)) | state  # newest bit at the top
            nxt[state, bit] = register >> 1
            out[state, bit] = [_parity(register & g) for g in GENERATORS]
    return nxt, out


def encode(bits: np.ndarray) -> np.ndarray:
    """Return the coded bits (0/1, uint8) of `bits` followed by the zero tail."""
    nxt, out = _trellis()
    state, coded = 0, []
    for bit in list(np.asarray(bits, dtype=np.int64)) + [0] * TAIL:
        coded.append(out[state, bit])
        state = nxt[state, bit]
    return np.concatenate(coded).astype(np.uint8)


@lru_cache(maxsize=1)
def _predecessors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return, per state, its two predecessor states, the input bit, and their output signs (±1)."""
    nxt, out = _trellis()
    prev = np.zeros((N_STATES, 2), dtype=np.int64)
    count = np.zeros(N_STATES, dtype=np.int64)
    bit_into = np.zeros(N_STATES, dtype=np.int64)
    signs = np.zeros((N_STATES, 2, RATE), dtype=np.float64)
    for state in range(N_STATES):
        for bit in (0, 1):
            target = nxt[state, bit]
            prev[target, count[target]] = state
            signs[target, count[target]] = 2.0 * out[state, bit] - 1.0
            bit_into[target] = bit
            count[target] += 1
    return prev, bit_into, signs


def decode(soft: np.ndarray, message_bits: int) -> np.ndarray:
    """Return the maximum-likelihood message (0/1, uint8) for the soft coded values `soft`."""
    soft = np.asarray(soft, dtype=np.float64).ravel()
    steps = message_bits + TAIL
    if soft.size != coded_length(message_bits):
        raise ValueError(f"expected {coded_length(message_bits)} soft values, got {soft.size}")
    soft = soft.reshape(steps, RATE)
    prev, bit_into, signs = _predecessors()
    metric = np.full(N_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.zeros((steps, N_STATES), dtype=np.int8)
    for t in range(steps):
        candidates = metric[prev] + signs @ soft[t]  # (states, 2)
        best = np.argmax(candidates, axis=1)
        choice[t] = best
        metric = candidates[np.arange(N_STATES), best]
    state, bits = 0, np.zeros(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = bit_into[state]
        state = prev[state, choice[t, state]]
    return bits[:message_bits]
