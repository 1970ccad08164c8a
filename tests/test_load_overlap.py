"""The LOAD overlap in the cycle model (``golden_model.timing.load_overlaps``), by hand.

Each expected cycle count below is derived from ``docs/architecture.md`` by hand, not read
from the model: a pass of P = max(K, words) cycles with its last issue in e; a block's last
pass then DRAIN (5 cycles, e + 1 .. e + 5), the copy (HANDOFF) in max(e + 5, first cycle the
bank is empty) + 1, and the next pass or block from the cycle after; the bank sends one row
per cycle after a copy; ``busy`` falls after the last row. With K <= k_max / 2 (and no
requantization header) block b + 1's K rows are written during block b's first pass (which
takes at least K cycles), so only block 0's LOAD is on the timeline; with K > k_max / 2 every
block loads before its passes, as before the overlap. ``tiny``: k_max = 64 (half 32),
4 columns, 2 tiles of 2 rows per pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import predict
from golden_model.formats import RQ_HEADER_BEATS
from golden_model.timing import REQUANT_CYCLES, load_overlaps


def _predict(name, M, K, N, mode="dense", **kw):
    cfg = PRESETS[name]
    rng = np.random.default_rng(M * 1000 + K)
    A = rng.integers(0, 256, size=(M, K), dtype=np.uint8)
    W = rng.integers(-127, 128, size=(K, N), dtype=np.int8)
    _, plan = aqs_gemm(A, W, 9, mode=mode, L=4, r=0, cfg=cfg)
    return predict(plan, N, cfg, **kw)


def test_load_overlaps_rule():
    assert load_overlaps(32, 64) and load_overlaps(1, 2)
    assert not load_overlaps(33, 64) and not load_overlaps(1, 1)
    assert not load_overlaps(5, 64, header=RQ_HEADER_BEATS)


@pytest.mark.parametrize("K, cycles", [
    # K = 20 <= 32: block 0 LOAD 0-19, pass 20-39, DRAIN 40-44, copy 45, rows 46-49; block 1
    # (loaded in 20-39) pass 46-65, DRAIN 66-70, copy 71, rows 72-75; block 2 (loaded in
    # 46-65) pass 72-91, DRAIN 92-96, copy 97, rows 98-101: 102 cycles
    (20, 102),
    # K = 32 = k_max / 2, the boundary: 32 + 3 * (32 + 5 + 1) + 4
    (32, 150),
    # K = 33 > 32: no room for a second block, each block LOAD 33 + pass 33 + DRAIN 5 + copy 1
    (33, 3 * (33 + 33 + 6) + 4),
    # K = 40: block 0 LOAD 0-39, pass 40-79, DRAIN 80-84, copy 85, rows 86-89; block 1 LOAD
    # 86-125, pass 126-165, DRAIN 166-170, copy 171, ...; block 2 copy 257, rows 258-261
    (40, 262),
])
def test_int8_array_three_blocks_one_pass(K, cycles):
    """tiny_dense, M = 4 (one pass of 4 rows), N = 12 (3 column blocks)."""
    p = _predict("tiny_dense", 4, K, 12)
    assert p.counters["cycles"] == cycles
    # the overlap moves no event: every block still writes its K rows, once
    assert p.counters["wbuf_writes"] == 3 * K
    assert p.counters["comp_busy"] == 3 * (K + 1)
    # one pass per block and always-valid streams: the lower bound is reached
    assert p.work["min_cycles"] == cycles


def test_sliced_pass_longer_than_the_load():
    """tiny, dense mode (every vector a literal): a pass of 2 tiles has 2 (K + 1) words, so
    K = 20 gives passes of 42 cycles. M = 4, N = 8 (2 blocks): block 0 LOAD 0-19, pass 20-61,
    DRAIN 62-66, copy 67, rows 68-71; block 1 (loaded in 20-39) pass 68-109, DRAIN 110-114,
    copy 115, rows 116-119: 120 cycles (140 without the overlap)."""
    p = _predict("tiny", 4, 20, 8)
    assert p.counters["cycles"] == 120 == 20 + 2 * (42 + 5 + 1) + 4


def test_chained_passes_then_next_block():
    """tiny_dense, M = 8 (two passes), K = 16, N = 8 (2 blocks). Block 0: LOAD 0-15, pass 0
    16-31 (e 31, the bank empty: chained), pass 1 32-47 (e 47); pass 0's copy 31 + 6 = 37,
    rows 38-41; pass 1 DRAIN 48-52, copy 53, rows 54-57 (bank empty from 58). Block 1 (loaded
    in 16-31): pass 0 54-69 (e 69 >= 58: chained), pass 1 70-85; pass 0's copy 75, rows 76-79;
    pass 1 DRAIN 86-90, copy 91, rows 92-95: 96 cycles."""
    p = _predict("tiny_dense", 8, 16, 8)
    assert p.counters["cycles"] == 96


def test_requantizing_gemm_keeps_every_load():
    """tiny_rq (the bit-slice tiny core; dense mode: passes of 2 (K + 1) = 42 words) with
    REQUANT.EN: the 9 header beats and K = 20 rows precede each of the 3 blocks (nothing
    double-buffers the header): 3 * (9 + 20 + 42 + 5 + 1) + 4 rows, + the stage's
    REQUANT_CYCLES; the same build without EN overlaps its LOADs: 20 + 3 * (42 + 6) + 4 + 9."""
    on = _predict("tiny_rq", 4, 20, 12, requant=True)
    assert on.counters["cycles"] == 3 * (RQ_HEADER_BEATS + 20 + 42 + 6) + 4 + REQUANT_CYCLES
    off = _predict("tiny_rq", 4, 20, 12)
    assert off.counters["cycles"] == 20 + 3 * (42 + 6) + 4 + REQUANT_CYCLES


def test_min_cycles_counts_one_load():
    """The stalled-run lower bound with the overlap: block 0's LOAD, then per block its passes
    back to back + DRAIN + copy, then the last pass's rows. tiny_dense M = 8, K = 16, N = 8:
    16 + 2 * (2 * 16 + 6) + 4 = 96 (here every pass but a block's last chains anyway, so the
    bound is met); without the overlap (K = 40 > 32) each block adds its LOAD."""
    assert _predict("tiny_dense", 8, 16, 8).work["min_cycles"] == 96
    assert _predict("tiny_dense", 8, 40, 8).work["min_cycles"] == 2 * (40 + 2 * 40 + 6) + 4
