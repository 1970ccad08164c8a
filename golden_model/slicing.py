"""Bit slicing of activations and weights — the one definition used everywhere.

Activations (uint8) split at L:  ``A = 2**L * AH + AL`` with ``0 <= AL < 2**L``.
Weights (int8 in [-127, 127]) split into signed digits:
``WL = ((W + 8) mod 16) - 8`` in [-8, 7], ``WH = (W - WL) / 16`` in [-8, 8], ``W = 16*WH + WL``.
"""

from __future__ import annotations

import numpy as np

from .config import SPLIT_RANGE

__all__ = ["split_activation", "join_activation", "split_weight", "join_weight",
           "check_activation", "check_weight", "check_split", "WEIGHT_MIN", "WEIGHT_MAX",
           "WEIGHT_SLICE_SHIFT"]

WEIGHT_MIN, WEIGHT_MAX = -127, 127
#: Weight digit base: W = 2**WEIGHT_SLICE_SHIFT * WH + WL.
WEIGHT_SLICE_SHIFT = 4


def check_split(L) -> int:
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or int(L) not in SPLIT_RANGE:
        raise ValueError(f"split L must be an int in [{SPLIT_RANGE.start}, {SPLIT_RANGE.stop - 1}], got {L!r}")
    return int(L)


def check_activation(A, name="activation") -> np.ndarray:
    """Return ``A`` as a 2-D uint8 array, or raise naming what is wrong."""
    A = np.asarray(A)
    if A.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (M x K), got shape {A.shape}")
    return A


def check_weight(W, name="weight") -> np.ndarray:
    """Return ``W`` as a 2-D int8 array with values in [-127, 127], or raise."""
    W = np.asarray(W)
    if W.dtype != np.int8:
        raise ValueError(f"{name} must have dtype int8, got {W.dtype}")
    if W.ndim != 2:
        raise ValueError(f"{name} must be 2-D (K x N), got shape {W.shape}")
    if W.size and int(W.min()) < WEIGHT_MIN:
        idx = np.unravel_index(int(np.argmin(W)), W.shape)
        raise ValueError(f"{name} holds -128 at {tuple(int(i) for i in idx)}; "
                         f"symmetric weights must be in [{WEIGHT_MIN}, {WEIGHT_MAX}]")
    return W


def split_activation(A, L):
    """Split uint8 activations into (AH, AL), both uint8: ``A = 2**L * AH + AL``."""
    L = check_split(L)
    A = np.asarray(A, dtype=np.uint8)
    return (A >> L).astype(np.uint8), (A & ((1 << L) - 1)).astype(np.uint8)


def join_activation(AH, AL, L):
    L = check_split(L)
    return ((np.asarray(AH, dtype=np.int32) << L) + np.asarray(AL, dtype=np.int32)).astype(np.uint8)


def split_weight(W):
    """Split int8 weights into signed digits (WH, WL), both int8: ``W = 16 * WH + WL``."""
    W = np.asarray(W).astype(np.int16)
    WL = ((W + 8) & 15) - 8
    WH = (W - WL) >> WEIGHT_SLICE_SHIFT
    return WH.astype(np.int8), WL.astype(np.int8)


def join_weight(WH, WL):
    return (np.asarray(WH, dtype=np.int16) * 16 + np.asarray(WL, dtype=np.int16)).astype(np.int8)
