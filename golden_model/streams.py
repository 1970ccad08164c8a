"""Host side of the core's data streams: what the host sends and what it gets back.

One GEMM, in stream order (see ``docs/formats.md``)::

    for block b in range(ceil(N / cols)):
        w:  K beats, beat k = W[k, b*cols : (b+1)*cols] (zero past N), int8 lanes
        for pass p in range(ceil(M / rows_per_pass)):
            lo: K vectors, vector k = AL[p*rows : (p+1)*rows, k], L-bit lanes (L = the
                run-time split), packed back to back into lo_bus_bits beats
            ho: RLE words of tile T*p, then T*p+1, ... T*p+T-1 (T = tiles_per_pass;
                each packet ends with END), each at the run-time split (slices of 8 - L
                bits, formats.narrow_rle_word), packed back to back into ho_bus_bits beats
            y (out): one beat per valid row m of the pass, lanes = Y[m, block columns]

With requantization (``requant``, builds with ``cfg.requant`` only) each block's ``w`` beats
are preceded by its :data:`~golden_model.formats.RQ_HEADER_BEATS` header beats
(:func:`~golden_model.formats.requant_header`: bias, multiplier, shift of the block's columns)
and a ``y`` beat carries ``cols`` uint8 lanes in its low ``cols * 8`` bits (upper bits 0).

Packing (:func:`~golden_model.formats.pack_bits`) restarts at every pass: a pass's ``lo``
vectors and ``ho`` words start at bit 0 of a fresh beat, and the remainder of a pass's last
beat is zero (ignored by the core). So the beats of a pass, and of a column block, are the
same for every block, whole beats.

With an activation buffer (``cfg.act_buffer_bytes``) ``lo`` and ``ho`` carry the passes of
the first column block only: the core replays them from its buffer for the other blocks
(``schedule`` still lists every block's consumption).

The w beats of a block come before its lo/ho data; lo and ho of one pass are consumed
concurrently, so they are separate streams.

By hardware variant (``cfg.variant``, ``docs/baselines.md``): ``panacea`` and ``sibia`` as
above; ``dense`` (the INT8 array) sends the whole activations on ``lo`` (8-bit lanes,
``lo[k]`` lane i = A[p*rows + i, k], one vector per beat) and nothing on ``ho``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .aqs_gemm import SlicePlan
from .config import ACC_BITS, PanaceaConfig
from .formats import (ho_bus_bits, lo_bus_bits, lo_vector_bits, narrow_rle_word, pack_bits,
                      pack_lanes, requant_header, rle_encode, rle_word_bits, unpack_lanes)

__all__ = ["HostStreams", "host_streams", "unpack_y", "pack_ho_words", "pack_ho_pass"]


@dataclass
class HostStreams:
    """Beats as Python ints, in the order the core consumes/produces them.

    ``lo`` and ``ho`` are the packed bus beats the host sends; ``lo_vectors`` (``L``-bit lanes)
    and ``ho_words`` (RLE words) are what they carry, unpacked, in the same order."""

    w: list = field(default_factory=list)
    lo: list = field(default_factory=list)
    ho: list = field(default_factory=list)
    y: list = field(default_factory=list)       # expected output beats
    #: per block, per pass: lo beats, ho beats, y beats, lo vectors, ho words
    #: (keys "lo", "ho", "y", "lo_vectors", "ho_words"; for drivers that pace streams)
    schedule: list = field(default_factory=list)
    lo_vectors: list = field(default_factory=list)
    ho_words: list = field(default_factory=list)
    #: beats per frame as sent on ``lo`` and ``ho``: one frame per pass (TLAST on its last
    #: beat, ``docs/formats.md``), the passes of every block sent (of the first block only
    #: with an activation buffer)
    frames: dict = field(default_factory=lambda: {"lo": [], "ho": []})


def pack_ho_pass(cfg: PanaceaConfig, words, L: int) -> list:
    """The ``ho`` beats of one pass's RLE ``words`` (decoder layout): each word narrowed to
    the split ``L`` (:func:`~golden_model.formats.narrow_rle_word`), packed back to back."""
    return pack_bits([narrow_rle_word(cfg, w, L) for w in words], rle_word_bits(cfg, L),
                     ho_bus_bits(cfg))


def pack_ho_words(cfg: PanaceaConfig, words, schedule, L: int) -> list:
    """The ``ho`` beats of a GEMM's RLE ``words`` (e.g. edited in place by a test), packed per
    pass at split ``L`` with the per-pass word counts of ``schedule``
    (:attr:`HostStreams.schedule`)."""
    beats, i = [], 0
    # with an activation buffer only the first column block's activations are sent
    for sched in (schedule[:1] if cfg.act_buffer_bytes else schedule):
        for s in sched:
            beats += pack_ho_pass(cfg, words[i:i + s["ho_words"]], L)
            i += s["ho_words"]
    if i != len(words):
        raise ValueError(f"schedule has {i} ho words, got {len(words)}")
    return beats


def host_streams(plan: SlicePlan, W, Y, cfg: PanaceaConfig, requant=None) -> HostStreams:
    """Build the input beats of one GEMM and the expected output beats.

    ``plan`` comes from :func:`golden_model.aqs_gemm.slice_plan` (or ``aqs_gemm``), ``W`` is
    the int8 weight (K x N) and ``Y`` the expected int32 result (M x N). ``requant``, a
    :class:`golden_model.requant.RequantParams` of N columns, makes the GEMM requantize: header
    beats before each block's weights, expected ``y`` beats of uint8 lanes. Raises
    :class:`ValueError` if ``cfg``'s variant cannot run the plan's mode, or ``requant`` is
    given for a config without the stage or with the wrong number of columns.
    """
    cfg.check_mode(plan.mode)
    if requant is not None:
        if not cfg.requant:
            raise ValueError(f"config {cfg.name!r} has no requantization stage (requant=False)")
        if requant.N != np.shape(W)[1]:
            raise ValueError(f"requant parameters for {requant.N} columns, W has {np.shape(W)[1]}")
        Y = requant.apply(Y)
    W = np.asarray(W)
    Y = np.asarray(Y)
    M, K = plan.M, plan.AH.shape[1]
    N = W.shape[1]
    cols, rows, G = cfg.cols, cfg.rows_per_pass, cfg.group_size
    blocks = math.ceil(N / cols)
    passes = plan.AH.shape[0] // rows
    Wp = np.zeros((K, blocks * cols), dtype=np.int64)
    Wp[:, :N] = W
    Yp = np.zeros((M, blocks * cols), dtype=np.int64)
    if requant is not None:     # lanes past N: acc 0 with zero parameters -> out_zp
        Yp[:, N:] = requant.out_zp
    Yp[:, :N] = Y
    y_lane = 8 if requant is not None else ACC_BITS

    # activation-side beats are the same for every block: build once
    lo_pass, ho_pass, lo_vec_pass, ho_word_pass = [], [], [], []
    lane = 8 if not cfg.caps.sliced else plan.L
    vbits = lo_vector_bits(cfg, plan.L)
    dense_array = not cfg.caps.sliced
    for p in range(passes):
        rs = slice(p * rows, (p + 1) * rows)
        if dense_array:     # whole activations (the padding rows are s * 2^L = 0 in dense mode)
            lanes = (plan.AH[rs].astype(np.int64) << plan.L) + plan.AL[rs]
        else:
            lanes = plan.AL[rs]
        vectors = [pack_lanes(lanes[:, k], lane) for k in range(K)]
        lo_vec_pass.append(vectors)
        lo_pass.append(pack_bits(vectors, vbits, lo_bus_bits(cfg)))
        words = []
        if not dense_array:
            T = cfg.tiles_per_pass
            for t in range(T * p, T * (p + 1)):
                words += rle_encode(cfg, plan.AH[t * G:(t + 1) * G], plan.vec_skip[t])
        ho_word_pass.append(words)
        ho_pass.append(pack_ho_pass(cfg, words, plan.L) if words else [])

    hs = HostStreams()
    for b in range(blocks):
        cs = slice(b * cols, (b + 1) * cols)
        if requant is not None:
            rq = requant.columns(slice(b * cols, min(N, (b + 1) * cols)))
            hs.w += requant_header(cfg, rq.bias, rq.mult, rq.shift)
        hs.w += [pack_lanes(Wp[k, cs], 8) for k in range(K)]
        sched = []
        for p in range(passes):
            if b == 0 or not cfg.act_buffer_bytes:     # else replayed from the buffer
                hs.lo += lo_pass[p]
                hs.ho += ho_pass[p]
                hs.lo_vectors += lo_vec_pass[p]
                hs.ho_words += ho_word_pass[p]
                hs.frames["lo"].append(len(lo_pass[p]))
                hs.frames["ho"].append(len(ho_pass[p]))
            valid = range(p * rows, min(M, (p + 1) * rows))
            hs.y += [pack_lanes(Yp[m, cs], y_lane) for m in valid]
            sched.append({"lo": len(lo_pass[p]), "ho": len(ho_pass[p]), "y": len(valid),
                          "lo_vectors": K, "ho_words": len(ho_word_pass[p])})
        hs.schedule.append(sched)
    return hs


def unpack_y(beats, M: int, N: int, cfg: PanaceaConfig, requant: bool = False) -> np.ndarray:
    """Reassemble the int32 result (M x N) from the y beats of one GEMM; with ``requant`` the
    uint8 result (the low ``cols`` bytes of each beat; the upper bits must be 0)."""
    cols = cfg.cols
    blocks = math.ceil(N / cols)
    if len(beats) != blocks * M:
        raise ValueError(f"expected {blocks * M} y beats for M={M}, N={N}, got {len(beats)}")
    Y = np.zeros((M, blocks * cols), dtype=np.int64)
    it = iter(beats)
    for b in range(blocks):
        for m in range(M):
            beat = next(it)
            if requant:
                if beat >> (8 * cols):
                    raise ValueError(f"requantized y beat {b * M + m} has bits set above its "
                                     f"{cols} uint8 lanes: {beat:#x}")
                Y[m, b * cols:(b + 1) * cols] = unpack_lanes(beat, 8, cols, signed=False)
            else:
                Y[m, b * cols:(b + 1) * cols] = unpack_lanes(beat, ACC_BITS, cols, signed=True)
    return Y[:, :N].astype(np.uint8 if requant else np.int32)
