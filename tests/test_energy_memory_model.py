"""Every memory and energy term of the cycle model, per variant, against its own formula.

The counts below are derived by hand from the shapes and the formats (beat widths of the
``tiny`` presets: G = 2, 4 columns, 2 tiles of 2 rows per pass, packed lo vectors of 4 x L = 16
bits (L = 4) in 24-bit lo beats, RLE words at the split of 2 slices x (8 - L) + 3 run + 2 kind =
13 bits packed in 16-bit ho beats (both restarted per pass, ``docs/formats.md``), w beats of 32 bits, y rows of 4 x 32
bits; dense-mode GEMMs,
where every high-order vector is a literal), then multiplied by the energy table
(:data:`golden_model.energy.ENERGY_PJ`). None is read back from the model under test: halving
a byte count, dropping a factor (columns, rows, tiles, blocks) or an event from a term fails
here.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm
from golden_model.config import PRESETS
from golden_model.cycle_model import predict
from golden_model.energy import ENERGY_PJ as E


def _predict(name, M, K, N, mode="dense", L=4):
    cfg = PRESETS[name]
    rng = np.random.default_rng(1)
    A = rng.integers(0, 256, size=(M, K), dtype=np.uint8)
    W = rng.integers(-128, 128, size=(K, N), dtype=np.int8)
    _, plan = aqs_gemm(A, W, 7, mode=mode, L=L, r=0, cfg=cfg)
    return predict(plan, N, cfg)


# (preset, M, K, N) -> hand-derived counters, bytes and events
#   blocks = ceil(N / 4), passes = ceil(M / 4); sliced variants in dense mode: per pass
#   T * K = 6 literal vectors and T * (K + 1) = 8 RLE words (a literal per vector, END per tile);
#   packed per pass: K = 3 lo vectors x 16 bits = 48 bits -> 2 beats of 24 bits (6 bytes),
#   8 words x 13 bits = 104 bits -> 7 beats of 16 bits (14 bytes)
# cycles (docs/architecture.md): LOAD K; a pass P = max(K, words) cycles, last issue in e; a
#   block's pass with a further pass is chained when the bank is empty in e (next pass at e + 1,
#   copy in e + 6), else DRAIN 5 + HANDOFF 1: copy in max(e + 5, first empty cycle) + 1 and
#   the next pass / block from the cycle after; rows leave one per cycle after a copy; the LOAD
#   overlap (K = 3 <= k_max / 2 = 32): block 1's 3 rows are written during block 0's first pass,
#   so block 1 starts right after block 0's last copy, with no LOAD of its own
CASES = {
    # one block, one pass
    ("tiny", 4, 3, 4): dict(
        # LOAD 0-2, pass 3-10 (8 words), DRAIN 11-15, copy 16, 4 rows 17-20
        counters=dict(cycles=3 + 8 + 5 + 1 + 4, swo_busy=3, dwo_busy=6, comp_busy=3 + 1, rle_words=8, skipped_vectors=0,
                      wbuf_writes=3, wbuf_reads=3 + 6, ext_in_words=3 + 2 + 7, ext_out_words=4),
        memory=dict(weight_bytes=3 * 4,                 # K w beats of 4 bytes
                    lo_bytes=2 * 3,                     # 2 lo beats of 24 bits -> 3 bytes
                    ho_bytes_rle=7 * 2,                 # 7 ho beats of 16 bits -> 2 bytes
                    ho_bytes_raw=6,                     # T * K vectors of 2 x 4 bits: 48 bits
                    out_bytes=4 * 16),                  # M rows of 4 int32
        slice_products=2 * 3 * 4 * 4 + 2 * 6 * 2 * 4,   # lo: 2 per row, col, k; ho: 2 per lit
        int8_macs=0,
        acc_adds=(3 * 4 + 6 * 2) * 4,                   # SWO rows + DWO rows, per column
    ),
    # two blocks, two passes (the last with one valid row)
    ("tiny", 5, 3, 5): dict(
        # LOAD 3 (block 0 only); per block: pass 0 (8) chained, pass 1 (8), DRAIN 5 (pass 0's
        # copy 6 after its e, its 4 rows gone 5 later: before pass 1's DRAIN ends), HANDOFF 1;
        # then 1 row
        counters=dict(cycles=3 + 2 * (2 * 8 + 5 + 1) + 1,
                      swo_busy=2 * 2 * 3, dwo_busy=2 * 2 * 6, comp_busy=2 * (3 + 2),
                      rle_words=2 * 2 * 8, skipped_vectors=0, wbuf_writes=2 * 3,
                      wbuf_reads=2 * (2 * 3 + 2 * 6), ext_in_words=2 * (3 + 2 * 2 + 2 * 7),
                      ext_out_words=2 * 5),
        memory=dict(weight_bytes=2 * 3 * 4, lo_bytes=2 * 2 * 2 * 3, ho_bytes_rle=2 * 2 * 7 * 2,
                    ho_bytes_raw=2 * 2 * 6, out_bytes=2 * 5 * 16),
        slice_products=2 * (2 * 2 * 3 * 4 * 4) + 2 * (2 * 2 * 6) * 2 * 4,
        int8_macs=0,
        acc_adds=(12 * 4 + 24 * 2) * 4,
    ),
    # the Sibia-like array: the same PEAs, the same stream formats
    ("tiny_sibia", 4, 3, 4): dict(
        counters=dict(cycles=21, swo_busy=3, dwo_busy=6, comp_busy=4, rle_words=8, skipped_vectors=0,
                      wbuf_writes=3, wbuf_reads=9, ext_in_words=12, ext_out_words=4),
        memory=dict(weight_bytes=12, lo_bytes=6, ho_bytes_rle=14, ho_bytes_raw=6, out_bytes=64),
        slice_products=96 + 96, int8_macs=0, acc_adds=(12 + 12) * 4,
    ),
    # the INT8 array: whole activations on lo (4 x 8 bits, one vector per beat, not packed),
    # no ho stream, no DWO
    ("tiny_dense", 5, 3, 5): dict(
        # LOAD 0-2, pass 0 3-5 (e0 = 5) chained, pass 1 6-8; pass 0's copy in e0 + 6 = 11, its
        # 4 rows 12-15; pass 1's DRAIN ends in 13, the bank is empty in 16, copy 17; block 1
        # (loaded in 3-5) from 18 the same 15 cycles (copy 32), its last row in 33
        counters=dict(cycles=3 + 2 * 15 + 1, swo_busy=2 * 2 * 3, dwo_busy=0,
                      comp_busy=2 * (3 + 2), rle_words=0,
                      skipped_vectors=0, wbuf_writes=2 * 3, wbuf_reads=2 * 2 * 3,
                      ext_in_words=2 * (3 + 2 * 3), ext_out_words=2 * 5),
        memory=dict(weight_bytes=2 * 3 * 4, lo_bytes=2 * 2 * 3 * 4, ho_bytes_rle=0,
                    ho_bytes_raw=0, out_bytes=2 * 5 * 16),
        slice_products=0, int8_macs=2 * 2 * 3 * 4 * 4,  # one MAC per row, column, k
        acc_adds=12 * 4 * 4,
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: "-".join(map(str, c)))
def test_counters_memory_and_energy_terms(case):
    name, M, K, N = case
    exp = CASES[case]
    p = _predict(name, M, K, N)
    got = {k: p.counters[k] for k in exp["counters"]}
    assert got == exp["counters"]

    mem = exp["memory"]
    assert {k: p.memory[k] for k in mem} == mem
    assert p.memory["total_bytes_rle"] == (mem["weight_bytes"] + mem["lo_bytes"]
                                           + mem["ho_bytes_rle"] + mem["out_bytes"])
    assert p.memory["total_bytes_raw"] == (mem["weight_bytes"] + mem["lo_bytes"]
                                           + mem["ho_bytes_raw"] + mem["out_bytes"])

    c = exp["counters"]
    cols = 4
    terms = {
        "int8_mults": exp["int8_macs"] * E["int8_mult"],
        "slice_mults": exp["slice_products"] * E["slice_mult"],
        "accumulate": exp["acc_adds"] * E["add32"],
        "compensator": c["comp_busy"] * cols * E["add32"],
        "weight_buffer": (c["wbuf_reads"] + c["wbuf_writes"]) * cols * E["sram_byte"],
        "external": p.memory["total_bytes_rle"] * E["dram_byte"],
    }
    assert set(p.energy_pj) == set(terms) | {"total"}
    for k, v in terms.items():
        assert p.energy_pj[k] == pytest.approx(v), k
    assert p.energy_pj["total"] == pytest.approx(sum(terms.values()))
    w = p.work
    assert w["int8_macs"] == exp["int8_macs"]
    assert w["lo_products"] + w["ho_products"] == exp["slice_products"]
