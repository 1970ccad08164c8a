"""Golden model with ``tiles_per_pass`` T = 3 and 4: counters, timeline and streams derived by
hand from the definitions in docs/architecture.md (not copied from the implementation).

Pass timeline: LOAD K cycles; a pass takes P = max(K, words) cycles, its last issue in cycle e.
If the block has a further pass and the output bank is empty in cycle e, the pass is chained:
the next pass starts at e + 1 and the copy into the bank is in e + DRAIN + 1 (the pass
overlap). Otherwise DRAIN (5) cycles, then HANDOFF (1, the copy) once the bank is empty
(checked from the last DRAIN cycle on). The bank sends one y beat per valid row from the
cycle after the copy. Dense mode: every tile's
packet is K LIT words with run 0 and END(0), so a pass has T (K + 1) words.
"""

from __future__ import annotations

import json

import math

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, reference_gemm
from golden_model.config import PRESETS, PanaceaConfig, load_config
from golden_model.cycle_model import predict
from golden_model.formats import END, LIT, lo_beat_bits, pack_bits, pack_lanes, unpack_rle_word
from golden_model.budget import multiplier_budget
from golden_model.streams import host_streams, unpack_y

DRAIN, HANDOFF = 5, 1


def test_presets_and_rows_per_pass():
    for base, G in (("tiny", 2), ("default", 4)):
        for T in (3, 4):
            cfg = PRESETS[f"{base}_t{T}"]
            assert cfg.tiles_per_pass == T and cfg.rows_per_pass == T * G
            assert cfg.replace(name=base, tiles_per_pass=2) == PRESETS[base]
            assert lo_beat_bits(cfg) == T * G * cfg.lo_bits
            # the baselines keep the same rows per pass
            for v in ("sibia", "dense"):
                b = PRESETS[f"{base}_t{T}_{v}"]
                assert b == cfg.replace(name=b.name, variant=v)
                assert b.rows_per_pass == cfg.rows_per_pass
    assert PRESETS["tiny"].tiles_per_pass == PanaceaConfig().tiles_per_pass == 2


def test_params_json_carries_the_field(tmp_path):
    cfg = PRESETS["tiny_t3"]
    d = json.loads(cfg.to_json())
    assert d["config"]["tiles_per_pass"] == 3 and d["derived"]["tiles_per_pass"] == 3
    assert d["derived"]["rows_per_pass"] == 6
    p = tmp_path / "c.json"
    p.write_text(cfg.to_json())
    assert load_config(p) == cfg
    # a config file written before the field existed still loads (default 2)
    old = {k: v for k, v in PRESETS["tiny"].to_dict().items() if k != "tiles_per_pass"}
    p.write_text(json.dumps(old))
    assert load_config(p) == PRESETS["tiny"]
    assert PRESETS["tiny_t3"].digest != PRESETS["tiny"].replace(name="tiny_t3").digest


@pytest.mark.parametrize("T, M, passes, last_rows", [(3, 7, 2, 1), (4, 7, 1, 7), (4, 17, 3, 1)])
def test_dense_mode_counters_by_hand(T, M, passes, last_rows):
    cfg = PRESETS[f"tiny_t{T}"]
    K, N = 4, 4                                  # one column block (cols = 4)
    rng = np.random.default_rng(T)
    A = rng.integers(0, 256, (M, K)).astype(np.uint8)
    W = rng.integers(-127, 128, (K, N)).astype(np.int8)
    Y, plan = aqs_gemm(A, W, 3, mode="dense", L=4, r=0, cfg=cfg)
    np.testing.assert_array_equal(Y, reference_gemm(A, W, 3))
    c = predict(plan, N, cfg).counters
    words = T * (K + 1)                          # per pass
    assert words > K                             # the pass is DWO-bound
    # LOAD, then every pass `words` cycles back to back: a pass is chained when the bank is
    # empty at its last issue, and the previous pass's 2T rows leave within words >= 7 + 2T
    # cycles (copy DRAIN + 1 cycles after that pass's last issue, then 2T beats); the last pass
    # then DRAIN + HANDOFF (the bank is empty by then) and its rows
    assert words >= DRAIN + 2 + 2 * T
    assert c["cycles"] == K + passes * words + DRAIN + HANDOFF + last_rows
    assert c["swo_busy"] == passes * K
    assert c["dwo_busy"] == passes * T * K
    assert c["rle_words"] == passes * words
    assert c["skipped_vectors"] == 0
    assert c["comp_busy"] == K + passes
    assert c["wbuf_writes"] == K and c["wbuf_reads"] == passes * K + passes * T * K
    # packed beats per pass: K vectors of 2T lanes x 4 bits on the lo bus (2T x 5 bits rounded
    # up to bytes), `words` RLE words at L = 4 (2 slices x 4 bits + 3 run + 2 kind = 13 bits)
    # on the 16-bit ho bus
    lo_bus = 8 * math.ceil(2 * T * 5 / 8)
    assert c["ext_in_words"] == (K + passes * math.ceil(K * 2 * T * 4 / lo_bus)
                                 + passes * math.ceil(words * 13 / 16))
    assert c["ext_out_words"] == M


def _word(cfg, w):
    kind, run, _, slices = unpack_rle_word(cfg, w)
    return kind, run, [int(x) for x in slices]


def test_aqs_pass_of_four_tiles_by_hand():
    """One pass of 4 tiles (G = 2, M = 8, K = 3, r = 6, L = 4): the packets come in tile order
    and the pass takes max(K, words) cycles."""
    cfg = PRESETS["tiny_t4"]
    K, N, L, r, z = 3, 5, 4, 6, 100
    A = np.full((8, K), (r << L) + 5, dtype=np.uint8)      # every vector skippable...
    A[2, 1] = (7 << L) + 1                                 # ...but tile 1 at k = 1
    A[7, 0] = (3 << L) + 2                                 # ...and tile 3 at k = 0 and k = 2
    A[7, 2] = (0 << L) + 9
    W = np.arange(K * N, dtype=np.int8).reshape(K, N) - 7
    Y, plan = aqs_gemm(A, W, z, mode="aqs", L=L, r=r, cfg=cfg)
    np.testing.assert_array_equal(Y, reference_gemm(A, W, z))
    hs = host_streams(plan, W, Y, cfg)
    per_block = [_word(cfg, w) for w in hs.ho_words[:len(hs.ho_words) // 2]]
    assert per_block == [
        (END, 3, [0, 0]),                                   # tile 0: all skipped
        (LIT, 1, [7, r]), (END, 1, [0, 0]),                 # tile 1 (rows 2, 3): k = 1
        (END, 3, [0, 0]),                                   # tile 2: all skipped
        (LIT, 0, [r, 3]), (LIT, 1, [r, 0]), (END, 0, [0, 0]),   # tile 3 (rows 6, 7): k = 0, 2
    ]
    # lo: 3 vectors of 8 x 4 bits in 40-bit beats (3 beats); ho: 7 words at L = 4 of
    # 2 x 4 + 3 + 2 = 13 bits (91 bits) in 16-bit beats (6 beats)
    assert hs.schedule == [[{"lo": 3, "ho": 6, "y": 8, "lo_vectors": K, "ho_words": 7}]] * 2
    # lo vector k: the 8 rows' low slices, row i in lane i, L = 4 bits each
    assert hs.lo_vectors[0] == pack_lanes([5, 5, 5, 5, 5, 5, 5, 2], L)
    assert hs.lo_vectors[2] == pack_lanes([5, 5, 5, 5, 5, 5, 5, 9], L)
    assert hs.lo[:3] == pack_bits(hs.lo_vectors[:3], 32, 40)
    np.testing.assert_array_equal(unpack_y(hs.y, 8, N, cfg), Y)
    c = predict(plan, N, cfg).counters
    # 2 column blocks (cols 4, N 5), one pass each (never chained: a block's last pass); block
    # 0: LOAD 0..2, pass max(3, 7) in 3..9, DRAIN 10..14, copy (HANDOFF) in 15, its 8 beats in
    # 16..23; block 1 was loaded in 3..5 (the LOAD overlap, K = 3 <= k_max / 2), so its pass
    # runs in 16..22, DRAIN 23..27 (the bank is empty from 24), copy 28, its 8 beats end the GEMM
    assert c["cycles"] == K + 2 * (7 + DRAIN + HANDOFF) + 8 == 37
    assert c["rle_words"] == 2 * 7 and c["dwo_busy"] == 2 * 3
    assert c["skipped_vectors"] == 2 * (4 * K - 3)
    assert c["swo_busy"] == 2 * K and c["ext_out_words"] == 2 * 8


def test_aqs_padding_tiles_of_three():
    """M = 7 on T = 3 (6 rows per pass): pass 1 holds row 6, row 7 is padding (high slice r)
    and tiles 4 and 5 are only padding: each is one END(K) word."""
    cfg = PRESETS["tiny_t3"]
    K, L, r = 5, 4, 6
    A = np.full((7, K), (r << L) + 1, dtype=np.uint8)
    W = np.ones((K, 3), dtype=np.int8)
    Y, plan = aqs_gemm(A, W, 0, mode="aqs", L=L, r=r, cfg=cfg)
    assert plan.vec_skip.shape == (6, K) and plan.vec_skip.all()
    hs = host_streams(plan, W, Y, cfg)
    assert [_word(cfg, w)[:2] for w in hs.ho_words] == [(END, K)] * 6
    # lo: 5 vectors of 6 x 4 bits = 120 bits in 32-bit beats; ho: 3 words of 15 bits in 16-bit beats
    assert hs.schedule == [[{"lo": 4, "ho": 3, "y": 6, "lo_vectors": K, "ho_words": 3},
                            {"lo": 4, "ho": 3, "y": 1, "lo_vectors": K, "ho_words": 3}]]
    c = predict(plan, 3, cfg).counters
    # pass = max(K, 3 words) = K. Pass 0 (cycles K .. 2K-1) is chained (the bank is empty):
    # pass 1 runs in 2K .. 3K-1 and pass 0's copy is in cycle 2K + DRAIN = 15, its 6 rows in
    # 16..21. Pass 1's DRAIN ends in 3K + 4 = 19 but the bank is busy: WAIT_BANK until it is
    # empty (22), the copy in 23, its 1 row in 24
    assert c["cycles"] == 2 * K + DRAIN + 1 + 6 + HANDOFF + 1 + 1 == 25
    assert c["skipped_vectors"] == 6 * K and c["dwo_busy"] == 0 and c["rle_words"] == 6


def test_multiplier_budget_follows_rows():
    for T in (2, 3, 4):
        cfg = PRESETS["tiny"].replace(tiles_per_pass=T)
        b = multiplier_budget(cfg)
        assert b["multipliers_per_col"] == 2 * T * 2 + 2 * 2       # SWO 2 per row, DWO 2 per G row
        assert multiplier_budget(cfg.replace(variant="dense"))["multipliers_per_col"] == T * 2
