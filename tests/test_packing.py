"""Packed external formats (issue 14.2): formats.pack_bits / unpack_bits, the packed lo and ho
streams of host_streams, and the memory terms of the cycle model, each against its own
hand-derived formula."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden_model.aqs_gemm import aqs_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import predict
from golden_model import formats
from golden_model.formats import (PackError, ho_bus_bits, lo_bus_bits, lo_vector_bits, pack_bits,
                                  packed_beats, rle_word_bits, unpack_bits, unpack_lanes,
                                  widen_rle_word)
from golden_model.streams import host_streams, pack_ho_words
from golden_model.workloads import skewed_activations


def test_pack_bits_by_hand():
    # three 5-bit items in 8-bit beats: item 1 spans beats 0 and 1, the rest of beat 1 is zero
    assert pack_bits([0b10101, 0b00111, 0b11000], 5, 8) == [0b11110101, 0b1100000, ]
    assert pack_bits([], 5, 8) == []
    assert pack_bits([3], 2, 2) == [3]
    with pytest.raises(ValueError):
        pack_bits([32], 5, 8)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 64), st.data())
def test_pack_unpack_round_trip(width, beat_bits, data):
    values = data.draw(st.lists(st.integers(0, (1 << width) - 1), max_size=40))
    beats = pack_bits(values, width, beat_bits)
    assert len(beats) == packed_beats(len(values), width, beat_bits) == math.ceil(
        len(values) * width / beat_bits)
    assert all(0 <= b < (1 << beat_bits) for b in beats)
    assert unpack_bits(beats, width, beat_bits, len(values)) == values
    # the bits after the last item are zero
    total = sum(b << (j * beat_bits) for j, b in enumerate(beats))
    assert total >> (len(values) * width) == 0
    if beats:       # one beat fewer: the first item it cut off is named
        with pytest.raises(PackError) as e:
            unpack_bits(beats[:-1], width, beat_bits, len(values))
        assert e.value.offset == (len(beats) - 1) * beat_bits // width
        assert e.value.offset < len(values)


def test_bus_widths():
    tiny = PRESETS["tiny"]
    assert lo_bus_bits(tiny) == 24 and ho_bus_bits(tiny) == 16 and rle_word_bits(tiny) == 15
    assert [lo_vector_bits(tiny, L) for L in tiny.splits] == [12, 16, 20]
    for cfg in PRESETS.values():
        assert lo_bus_bits(cfg) % 8 == 0 and ho_bus_bits(cfg) % 8 == 0
        assert all(lo_bus_bits(cfg) >= lo_vector_bits(cfg, L) for L in cfg.splits)
        assert ho_bus_bits(cfg) >= rle_word_bits(cfg)
    dense = PRESETS["tiny_dense"]
    assert lo_bus_bits(dense) == lo_vector_bits(dense, 3) == 4 * 8


@pytest.mark.parametrize("L", [3, 4, 5])
@pytest.mark.parametrize("name", ["tiny", "tiny_t3"])
def test_host_streams_packed_at_the_split(name, L):
    cfg = PRESETS[name]
    M, K, N = 11, 13, 5
    A = skewed_activations(M, K, seed=L)
    W = np.random.default_rng(L).integers(-127, 128, (K, N)).astype(np.int8)
    Y, plan = aqs_gemm(A, W, 7, mode="aqs", L=L, r=int(np.bincount(A.reshape(-1) >> L).argmax()),
                       cfg=cfg)
    hs = host_streams(plan, W, Y, cfg)
    rows, vb = cfg.rows_per_pass, lo_vector_bits(cfg, L)
    i_lo = i_ho = i_v = i_w = 0
    for sched in hs.schedule:
        for s in sched:
            n_lo, n_ho = s["lo"], s["ho"]
            assert n_lo == math.ceil(K * rows * L / lo_bus_bits(cfg))
            # words at the split: G slices of 8 - L bits + run + kind (docs/formats.md)
            word_bits = cfg.group_size * (8 - L) + cfg.rle_run_bits + 2
            assert rle_word_bits(cfg, L) == word_bits
            assert n_ho == math.ceil(s["ho_words"] * word_bits / ho_bus_bits(cfg))
            vecs = unpack_bits(hs.lo[i_lo:i_lo + n_lo], vb, lo_bus_bits(cfg), K)
            assert vecs == hs.lo_vectors[i_v:i_v + K]
            words = unpack_bits(hs.ho[i_ho:i_ho + n_ho], word_bits, ho_bus_bits(cfg),
                                s["ho_words"])
            assert [widen_rle_word(cfg, w, L) for w in words] == hs.ho_words[i_w:i_w + s["ho_words"]]
            i_lo, i_ho, i_v, i_w = i_lo + n_lo, i_ho + n_ho, i_v + K, i_w + s["ho_words"]
    assert (i_lo, i_ho) == (len(hs.lo), len(hs.ho))
    # lane i of vector k is AL of row i at k, L bits
    lanes = unpack_lanes(hs.lo_vectors[1], L, rows, signed=False)
    np.testing.assert_array_equal(lanes, plan.AL[:rows, 1])
    assert pack_ho_words(cfg, hs.ho_words, hs.schedule, L) == hs.ho


def test_memory_terms_by_hand():
    """Each memory term against its formula, by hand, on tiny (cols 4, rows 4, G 2, H 5, R 3)."""
    cfg = PRESETS["tiny"]
    M, K, N, L = 9, 13, 7, 4          # 2 column blocks, 3 passes
    A = skewed_activations(M, K, seed=5)
    W = np.random.default_rng(5).integers(-127, 128, (K, N)).astype(np.int8)
    Y, plan = aqs_gemm(A, W, 3, mode="aqs", L=L, r=int(np.bincount(A.reshape(-1) >> L).argmax()),
                       cfg=cfg)
    hs = host_streams(plan, W, Y, cfg)
    p = predict(plan, N, cfg)
    mem, c = p.memory, p.counters
    blocks, passes = 2, 3
    # w: K rows of 4 int8 per block
    assert mem["weight_bytes"] == blocks * K * 4
    # lo: per pass K vectors of 4 lanes x 4 bits = 208 bits = 26 bytes = 9 beats of 3 bytes (27)
    assert mem["lo_bytes"] == blocks * passes * 27
    # ho: per pass n words of 2 slices x (8 - L = 4) bits + 3-bit run + 2-bit kind = 13 bits
    # (15 in the decoder's layout, slices of H = 5 bits), in 2-byte beats
    words = [s["ho_words"] for s in hs.schedule[0]]
    assert mem["ho_bytes_rle"] == blocks * sum(2 * math.ceil(n * 13 / 16) for n in words)
    assert mem["ho_bytes_rle"] == 2 * len(hs.ho)
    # raw: per pass 2 tiles x K vectors of 2 x 4 bits, packed: 208 bits = 26 bytes
    assert mem["ho_bytes_raw"] == blocks * passes * 26
    assert mem["out_bytes"] == blocks * M * 4 * 4
    assert c["ext_in_words"] == len(hs.w) + len(hs.lo) + len(hs.ho)
    assert c["rle_words"] == len(hs.ho_words)
    # dense mode on the INT8 array: whole bytes, one vector per beat
    dense = PRESETS["tiny_dense"]
    Yd, pd = aqs_gemm(A, W, 3, mode="dense", L=4, r=0, cfg=dense)
    md = predict(pd, N, dense).memory
    assert md["lo_bytes"] == blocks * passes * K * 4 and md["ho_bytes_rle"] == 0


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_rle_word_at_the_split(name):
    """A packed word at split L is kind, run, then each slice's low 8 - L bits, back to back
    (docs/formats.md); widening restores the decoder's word; a slice that does not fit
    8 - L bits cannot be sent at L."""
    cfg = PRESETS[name]
    G, H, R = cfg.group_size, cfg.ho_bits, cfg.rle_run_bits
    rng = np.random.default_rng(3)
    for L in cfg.splits:
        h = 8 - L
        for kind in (formats.LIT, formats.SKIP, formats.END):
            slices = [int(v) for v in rng.integers(0, 1 << h, G)] if kind == formats.LIT else None
            run = int(rng.integers(0, 1 << R))
            word = formats.pack_rle_word(cfg, kind, run, slices)
            packed = int(kind) | run << 2 | sum(v << (2 + R + i * h)       # by hand
                                                for i, v in enumerate(slices or [0] * G))
            assert formats.narrow_rle_word(cfg, word, L) == packed
            assert formats.widen_rle_word(cfg, packed, L) == word
            assert packed < 1 << rle_word_bits(cfg, L) == 1 << (G * h + R + 2)
        if h < H:
            wide = formats.pack_rle_word(cfg, formats.LIT, 0, [1 << h] + [0] * (G - 1))
            with pytest.raises(ValueError, match="cannot be sent at split"):
                formats.narrow_rle_word(cfg, wide, L)
    with pytest.raises(ValueError, match="not one of the config's splits"):
        rle_word_bits(cfg, 6)
