"""Bit-level formats: RLE words of high-order slice streams and the host stream beats.

Every format is defined here once; the Amaranth layouts in ``panacea_hdl.rtl.layouts`` are built
from these widths, the testbenches pack/unpack with these functions, and ``docs/formats.md``
tabulates them.

RLE word (LSB first)::

    [0 : G*H)          data  G high-order slices, slice of tile row i at bits [i*H, (i+1)*H)
    [G*H : G*H+R)      run   number of skippable vectors before this word's position
    [G*H+R : G*H+R+2)  kind  0 LIT, 1 SKIP, 2 END, 3 reserved

* ``LIT``: skip ``run`` vectors, then the vector ``data`` at the current position (k += run + 1).
* ``SKIP``: skip ``run`` vectors (k += run), no literal; escape for runs longer than 2**R - 1.
  Its run must be exactly 2**R - 1: so every word advances k, and a packet has at most
  K + 1 + K // (2**R - 1) words — a malformed stream cannot keep a pass busy forever.
* ``END``: skip ``run`` vectors; the packet ends and k must now equal K.
* ``data`` must be zero in SKIP and END words. Any violation is a malformed stream.

A *packet* is the RLE words of one tile (G rows x K); a pass of ``tiles_per_pass`` (T) tiles
sends tile 0's packet, then tile 1's, ... then tile T-1's. No word carries a tile index: the
decoder counts END words.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from .bits import ACC_BITS, ACT_BITS

if TYPE_CHECKING:       # annotations only: config imports this module for derived widths
    from .config import PanaceaConfig

__all__ = [
    "RLEKind", "LIT", "SKIP", "END", "RESERVED", "KIND_NAMES", "KIND_BITS", "rle_fields", "RLEError",
    "rle_word_bits", "rle_fields_at", "narrow_rle_word", "widen_rle_word", "w_beat_bits", "lo_lane_bits", "lo_beat_bits", "y_beat_bits",
    "pack_rle_word", "unpack_rle_word", "rle_encode", "rle_decode", "rle_word_count",
    "pack_lanes", "unpack_lanes", "beat_bytes",
    "lo_vector_bits", "lo_bus_bits", "ho_bus_bits", "pack_bits", "unpack_bits", "PackError",
    "packed_beats",
    "RQ_HEADER_BEATS", "requant_header", "y_row_bytes",
]

class RLEKind(IntEnum):
    """The ``kind`` field of an RLE word."""

    LIT = 0
    SKIP = 1
    END = 2
    RESERVED = 3


LIT, SKIP, END, RESERVED = RLEKind
KIND_NAMES = {LIT: "LIT", SKIP: "SKIP", END: "END", RESERVED: "reserved"}
KIND_BITS = 2


def rle_fields(cfg: PanaceaConfig):
    """The fields of an RLE word, LSB first: ``[(name, bits), ...]`` — ``data`` (G slices of
    H bits, tile row i at bits ``[i*H, (i+1)*H)``), ``run`` (R bits), ``kind`` (2 bits).
    :func:`pack_rle_word`, :func:`unpack_rle_word` and the hardware layout
    (``panacea_hdl.rtl.layouts.rle_word_layout``) all read this one table."""
    return [("data", cfg.group_size * cfg.ho_bits), ("run", cfg.rle_run_bits),
            ("kind", KIND_BITS)]


class RLEError(ValueError):
    """A compressed stream is malformed.

    ``offset`` is the index of the offending word; ``reason`` names the rule it breaks:
    ``truncated``, ``width``, ``kind``, ``data``, ``skip_run``, ``overrun`` or ``short``
    (``panacea_hdl.regmap.RLE_ERROR_CODES`` maps them to the hardware's error codes).
    """

    def __init__(self, offset, message, reason):
        self.offset = offset
        self.reason = reason
        super().__init__(f"RLE word {offset}: {message}")


# ---- widths --------------------------------------------------------------------------
def rle_word_bits(cfg: PanaceaConfig, L: int | None = None) -> int:
    """Bits of an RLE word: the decoder's layout (:func:`rle_fields`, slices of H bits) when
    ``L`` is None; at the run-time split ``L``, the packed word the ``ho`` stream carries
    (:func:`rle_fields_at`, slices of 8 - L bits)."""
    return sum(bits for _, bits in (rle_fields(cfg) if L is None else rle_fields_at(cfg, L)))


def rle_fields_at(cfg: PanaceaConfig, L: int):
    """The fields of a packed RLE word at the run-time split ``L``, LSB first: ``kind``,
    ``run``, then ``data`` (G slices of 8 - L bits — a high-order slice at split L is
    ``A >> L``, below 2^(8 - L)). The same fields as :func:`rle_fields`' with each slice's
    (always zero) bits from 8 - L up left out; kind and run first, so they sit at the same bits
    at every split (the hardware reads them without a per-split multiplexer);
    :func:`narrow_rle_word` / :func:`widen_rle_word` convert."""
    if L not in cfg.splits:
        raise ValueError(f"split L={L} is not one of the config's splits {cfg.splits}")
    return [("kind", KIND_BITS), ("run", cfg.rle_run_bits),
            ("data", cfg.group_size * (ACT_BITS - L))]


def _regroup(cfg, word, L, *, widen):
    """Move the fields of ``word`` between the decoder's layout and the packed one at ``L``."""
    G, H, h = cfg.group_size, cfg.ho_bits, ACT_BITS - L
    src_h, dst_h = (h, H) if widen else (H, h)
    src, dst = (rle_fields_at(cfg, L), rle_fields(cfg)) if widen else (rle_fields(cfg), rle_fields_at(cfg, L))
    if word < 0 or word >> sum(b for _, b in src):
        raise ValueError(f"RLE word {word:#x} wider than {sum(b for _, b in src)} bits")
    fields, shift = {}, 0
    for name, bits in src:
        fields[name] = (word >> shift) & ((1 << bits) - 1)
        shift += bits
    slices = [(fields["data"] >> (i * src_h)) & ((1 << src_h) - 1) for i in range(G)]
    if not widen and any(v >> h for v in slices):
        raise ValueError(f"RLE word {word:#x} has a slice of {H} bits >= 2^{h}: it cannot be "
                         f"sent at split L={L}")
    fields["data"] = sum(v << (i * dst_h) for i, v in enumerate(slices))
    out, shift = 0, 0
    for name, bits in dst:
        out |= fields[name] << shift
        shift += bits
    return out


def narrow_rle_word(cfg: PanaceaConfig, word: int, L: int) -> int:
    """The packed word at split ``L`` of a word in the decoder's layout (what the host sends).
    Raises ValueError if a slice does not fit 8 - L bits (no such word encodes data at L)."""
    return _regroup(cfg, int(word), L, widen=False)


def widen_rle_word(cfg: PanaceaConfig, packed: int, L: int) -> int:
    """The word in the decoder's layout of a packed word at split ``L`` (what the hardware's
    ``HoUnpacker`` hands the RLE decoder): each slice zero-extended to H bits."""
    return _regroup(cfg, int(packed), L, widen=True)


def w_beat_bits(cfg: PanaceaConfig) -> int:
    """One weight row of a column block: ``cols`` lanes of int8."""
    return cfg.cols * 8


def lo_lane_bits(cfg: PanaceaConfig) -> int:
    """Width of one ``lo`` lane: the low-order slice (``lo_bits``); in the ``dense`` variant
    (an INT8 array, no slicing) the whole 8-bit activation."""
    return cfg.lo_bits if cfg.caps.sliced else ACT_BITS


def lo_beat_bits(cfg: PanaceaConfig) -> int:
    """One k of the tiles of a pass: ``rows_per_pass`` lanes of :func:`lo_lane_bits`
    (low-order slices; whole activations in the ``dense`` variant)."""
    return cfg.rows_per_pass * lo_lane_bits(cfg)


def lo_vector_bits(cfg: PanaceaConfig, L: int) -> int:
    """Bits of one packed ``lo`` vector (one k of a pass) at the run-time split ``L``:
    ``rows_per_pass`` lanes of ``L`` bits; in the ``dense`` variant ``rows_per_pass`` whole
    8-bit activations (``L`` is ignored)."""
    return cfg.rows_per_pass * (L if cfg.caps.sliced else ACT_BITS)


def lo_bus_bits(cfg: PanaceaConfig) -> int:
    """Width of a ``lo`` stream beat (the bus): :func:`lo_beat_bits` (the vector at the
    largest split) rounded up to whole bytes, so one beat holds at least one vector at every
    split. Vectors of ``lo_vector_bits(cfg, L)`` are packed back to back into these beats
    (:func:`pack_bits`). In the ``dense`` variant the beat is ``rows_per_pass`` whole int8
    activations, already whole bytes: one vector per beat, nothing to pack."""
    return 8 * ((lo_beat_bits(cfg) + 7) // 8)


def ho_bus_bits(cfg: PanaceaConfig) -> int:
    """Width of an ``ho`` stream beat (the bus): :func:`rle_word_bits` rounded up to whole
    bytes, so a beat holds at least one word. RLE words are packed back to back into these
    beats (:func:`pack_bits`); a word may span two beats."""
    return 8 * ((rle_word_bits(cfg) + 7) // 8)


def y_beat_bits(cfg: PanaceaConfig) -> int:
    """One output row of a column block: ``cols`` lanes of int32."""
    return cfg.cols * ACC_BITS


#: Beats of the requantization header that precedes a column block's weights on ``w`` when a
#: GEMM requantizes: 4 beats of bias bytes, 4 of multiplier bytes (little-endian, byte j of
#: every column's int32 in beat j), 1 of right-shift amounts (``-shift``, 0..31).
RQ_HEADER_BEATS = 9


def requant_header(cfg: PanaceaConfig, bias, mult, shift) -> list:
    """The :data:`RQ_HEADER_BEATS` ``w`` beats of one column block: per column (lane c, zero
    past the block's columns) the int32 ``bias``, the int32 ``mult`` and ``-shift``
    (``shift`` in [-31, 0], :func:`golden_model.requant.requantize`)."""
    bias, mult, shift = (np.asarray(v, dtype=np.int64).reshape(-1) for v in (bias, mult, shift))
    n = len(bias)
    if not (len(mult) == len(shift) == n) or n > cfg.cols:
        raise ValueError(f"requant header: bias, mult, shift need the same length <= cols "
                         f"({cfg.cols}), got {len(bias)}, {len(mult)}, {len(shift)}")
    if n and (shift.min() < -31 or shift.max() > 0):
        raise ValueError(f"requant header: shift must be in [-31, 0], got {shift.tolist()}")
    beats = []
    for word in (bias, mult):
        u = word & 0xFFFFFFFF
        beats += [pack_lanes((u >> (8 * j)) & 0xFF, 8) for j in range(4)]
    beats.append(pack_lanes(-shift, 8))
    assert len(beats) == RQ_HEADER_BEATS
    return beats


def y_row_bytes(cfg: PanaceaConfig, requant: bool = False) -> int:
    """External-memory bytes of one ``y`` beat: ``cols`` int32 lanes, or ``cols`` uint8 lanes
    when the GEMM requantizes (they travel in the low ``cols * 8`` bits of the beat)."""
    return cfg.cols if requant else beat_bytes(y_beat_bits(cfg))


def beat_bytes(bits: int) -> int:
    """External-memory bytes of one beat/word: stored byte-aligned."""
    return (bits + 7) // 8


# ---- packed streams --------------------------------------------------------------------
class PackError(ValueError):
    """A packed stream too short for the items asked of it (``offset``: index of the first
    item that is missing or incomplete)."""

    def __init__(self, offset, message):
        self.offset = offset
        super().__init__(f"packed item {offset}: {message}")


def pack_bits(values, width: int, beat_bits: int) -> list:
    """Pack ``values`` (unsigned, each ``< 2**width``) back to back into beats of
    ``beat_bits``: item i occupies bits ``[i*width, (i+1)*width)`` of the concatenated stream,
    beat j holds stream bits ``[j*beat_bits, (j+1)*beat_bits)`` (LSB first). An item may span
    two or more beats. The remainder of the last beat is zero. ``ceil(len*width/beat_bits)``
    beats; no values, no beats."""
    if width < 1 or beat_bits < 1:
        raise ValueError(f"width and beat_bits must be >= 1, got {width}, {beat_bits}")
    acc, n = 0, 0
    for v in values:
        v = int(v)
        if not 0 <= v < (1 << width):
            raise ValueError(f"value {v:#x} does not fit {width} bits")
        acc |= v << (n * width)
        n += 1
    beats = -(-n * width // beat_bits)
    mask = (1 << beat_bits) - 1
    return [(acc >> (j * beat_bits)) & mask for j in range(beats)]


def unpack_bits(beats, width: int, beat_bits: int, count: int) -> list:
    """Inverse of :func:`pack_bits`: the first ``count`` items of ``width`` bits. The bits
    after them (the remainder of the last beat, and any later beat) are ignored. Raises
    :class:`PackError` naming the first incomplete item if the beats are too few, and
    :class:`ValueError` for a beat wider than ``beat_bits``."""
    acc = 0
    for j, b in enumerate(beats):
        b = int(b)
        if not 0 <= b < (1 << beat_bits):
            raise ValueError(f"beat {j} {b:#x} is wider than {beat_bits} bits")
        acc |= b << (j * beat_bits)
    have = len(beats) * beat_bits // width
    if have < count:
        raise PackError(have, f"stream truncated: {len(beats)} beats of {beat_bits} bits hold "
                              f"{have} items of {width} bits, {count} needed")
    mask = (1 << width) - 1
    return [(acc >> (i * width)) & mask for i in range(count)]


def packed_beats(count: int, width: int, beat_bits: int) -> int:
    """Beats of ``count`` items of ``width`` bits packed by :func:`pack_bits`."""
    return -(-count * width // beat_bits)


# ---- lanes ---------------------------------------------------------------------------
def pack_lanes(values, width: int) -> int:
    """Pack integers (two's complement if negative) into one int, lane 0 at the LSB."""
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(np.asarray(values).reshape(-1).tolist()):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack_lanes(beat: int, width: int, lanes: int, signed: bool) -> np.ndarray:
    mask = (1 << width) - 1
    vals = [(beat >> (i * width)) & mask for i in range(lanes)]
    if signed:
        vals = [v - (1 << width) if v >> (width - 1) else v for v in vals]
    return np.array(vals, dtype=np.int64)


# ---- RLE -----------------------------------------------------------------------------
def pack_rle_word(cfg: PanaceaConfig, kind: int, run: int, data=None) -> int:
    """One RLE word from its fields (:func:`rle_fields`); ``data`` is the G slices."""
    values = {"data": 0 if data is None else pack_lanes(data, cfg.ho_bits), "run": run,
              "kind": int(kind)}
    word, shift = 0, 0
    for name, bits in rle_fields(cfg):
        if not 0 <= values[name] < (1 << bits):
            raise ValueError(f"RLE {name} {values[name]} does not fit {bits} bits")
        word |= values[name] << shift
        shift += bits
    return word


def unpack_rle_word(cfg: PanaceaConfig, word: int):
    """Return ``(kind, run, data_int, slices)`` of one word (:func:`rle_fields`)."""
    fields, shift = {}, 0
    for name, bits in rle_fields(cfg):
        fields[name] = (word >> shift) & ((1 << bits) - 1)
        shift += bits
    data = fields["data"]
    return (fields["kind"], fields["run"], data,
            unpack_lanes(data, cfg.ho_bits, cfg.group_size, signed=False))


def rle_encode(cfg: PanaceaConfig, ho_tile, skip) -> list:
    """Encode one tile's high-order slices.

    Parameters
    ----------
    ho_tile : array (G, K) of high-order slices.
    skip : bool array (K,), True where the vector at k is skipped.
    """
    ho_tile = np.asarray(ho_tile)
    skip = np.asarray(skip, dtype=bool)
    G, K = ho_tile.shape
    if G != cfg.group_size:
        raise ValueError(f"tile has {G} rows, config group_size is {cfg.group_size}")
    if ho_tile.size and int(ho_tile.max()) >> cfg.ho_bits:
        raise ValueError(f"high-order slice {int(ho_tile.max())} does not fit {cfg.ho_bits} bits")
    words, pending = [], 0
    for k in range(K):
        if skip[k]:
            pending += 1
            continue
        while pending > cfg.max_run:
            words.append(pack_rle_word(cfg, SKIP, cfg.max_run))
            pending -= cfg.max_run
        words.append(pack_rle_word(cfg, LIT, pending, ho_tile[:, k]))
        pending = 0
    while pending > cfg.max_run:
        words.append(pack_rle_word(cfg, SKIP, cfg.max_run))
        pending -= cfg.max_run
    words.append(pack_rle_word(cfg, END, pending))
    return words


def rle_decode(cfg: PanaceaConfig, words, K: int, start: int = 0):
    """Decode one packet starting at ``words[start]``.

    Returns ``(positions, vectors, next_index)``: the literal positions (ints), their
    vectors (array n x G) and the index of the word after END. Raises :class:`RLEError`
    naming the offset of the first bad word, or of the end of a truncated stream.
    """
    G = cfg.group_size
    k, i = 0, start
    positions, vectors = [], []
    while True:
        if i >= len(words):
            raise RLEError(i, f"stream truncated: no END word (decoded {k} of K={K} vectors)",
                           "truncated")
        w = int(words[i])
        if w < 0 or w >> rle_word_bits(cfg):
            raise RLEError(i, f"word {w:#x} wider than {rle_word_bits(cfg)} bits", "width")
        kind, run, data, slices = unpack_rle_word(cfg, w)
        if kind == RESERVED:
            raise RLEError(i, "reserved kind 3", "kind")
        if kind != LIT and data:
            raise RLEError(i, f"{KIND_NAMES[kind]} word carries nonzero data {data:#x}", "data")
        if kind == SKIP and run != cfg.max_run:
            raise RLEError(i, f"SKIP run {run} is not the escape run {cfg.max_run}", "skip_run")
        k += run
        if kind == LIT:
            if k >= K:
                raise RLEError(i, f"literal at position {k} is past K={K}", "overrun")
            positions.append(k)
            vectors.append(slices)
            k += 1
        elif k > K:
            raise RLEError(i, f"{KIND_NAMES[kind]} run reaches position {k}, past K={K}", "overrun")
        i += 1
        if kind == END:
            if k != K:
                raise RLEError(i - 1, f"END at position {k}, expected K={K}", "short")
            vec = np.array(vectors, dtype=np.int64).reshape(len(vectors), G)
            return positions, vec, i


def rle_word_count(skip, max_run: int) -> np.ndarray:
    """Number of RLE words of each packet, without building them.

    ``skip`` is a bool array (..., K); returns an int array (...) equal to
    ``len(rle_encode(...))`` for each packet.
    """
    skip = np.asarray(skip, dtype=bool)
    lead = skip.shape[:-1]
    s = skip.reshape(-1, skip.shape[-1])
    counts = np.empty(s.shape[0], dtype=np.int64)
    for row in range(s.shape[0]):
        lit = np.flatnonzero(~s[row])
        # gaps before each literal, and the trailing gap before END
        bounds = np.concatenate(([-1], lit, [s.shape[1]]))
        gaps = np.diff(bounds) - 1
        escapes = np.maximum(0, (gaps - 1) // max_run).sum()
        counts[row] = len(lit) + 1 + escapes
    return counts.reshape(lead)
