"""Golden model of the activation buffer (``act_buffer_bytes``): sizes, counters, memory
traffic, host streams and M-blocking, with numbers derived by hand (docs/architecture.md,
"Activation buffer")."""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import slice_plan
from golden_model.config import PRESETS, ConfigError
from golden_model.cycle_model import ABUF_COUNTERS, COUNTERS, counter_names, predict
from golden_model.streams import host_streams
from golden_model.tiling import plan_tiles, tiled_gemm

TINY, TAB = PRESETS["tiny"], PRESETS["tiny_ab"]


def test_sizes_by_hand():
    # tiny: lo beat 4 rows x 5 bits = 3 bytes, RLE word 2*5 + 3 + 2 = 15 bits = 2 bytes, T = 2
    assert (TAB.abuf_lo_depth, TAB.abuf_ho_depth) == (512 // 7, (512 - 73 * 3) // 2) == (73, 146)
    # dense baseline: one lo beat = 4 whole activations = 4 bytes, no ho
    assert (PRESETS["tiny_ab_dense"].abuf_lo_depth, PRESETS["tiny_ab_dense"].abuf_ho_depth) == (128, 0)
    # default: 512 tokens = 64 passes of 8 rows at K = 384 -> 24576 lo beats (5 bytes) and at
    # most 64 * 2 * 385 = 49280 RLE words (4 bytes)
    d = PRESETS["default"]
    assert d.act_buffer_bytes == 327680
    assert d.abuf_lo_depth >= 64 * 384 and d.abuf_ho_depth >= 64 * 2 * 385
    for v in ("sibia", "dense"):
        assert PRESETS[f"default_{v}"].act_buffer_bytes == d.act_buffer_bytes
    assert PRESETS["default_dense"].abuf_lo_depth >= 512 * 384 // 8
    assert d.abuf_max_passes(384) >= 64
    # default_fpga: default with half the bytes (32 passes at K = 384), baselines alike
    f = PRESETS["default_fpga"]
    assert f == d.replace(name="default_fpga", act_buffer_bytes=160 * 1024)
    assert f.abuf_max_passes(384) == 32
    for v in ("sibia", "dense"):
        assert PRESETS[f"default_fpga_{v}"].act_buffer_bytes == f.act_buffer_bytes
    # default_fpga_3pea: default_fpga with 3 of its 4 PEAs (the same buffer; 24 columns)
    f3 = PRESETS["default_fpga_3pea"]
    assert f3 == f.replace(name="default_fpga_3pea", num_peas=3) and f3.cols == 24
    for v in ("sibia", "dense"):
        assert PRESETS[f"default_fpga_3pea_{v}"].act_buffer_bytes == f.act_buffer_bytes
    # without a buffer the config serializes as before
    assert "act_buffer_bytes" not in TINY.to_dict() and TAB.to_dict()["act_buffer_bytes"] == 512
    assert counter_names(TINY) == COUNTERS and counter_names(TAB) == COUNTERS + ABUF_COUNTERS
    with pytest.raises(ConfigError, match="one pass"):
        TINY.replace(act_buffer_bytes=400)      # 57 lo beats < k_max = 64


def _dense_plan(cfg, M, K):
    A = np.arange(M * K, dtype=np.uint8).reshape(M, K) + 1
    return slice_plan(A, mode="dense", L=4, r=0, cfg=cfg)


@pytest.mark.parametrize("name,act_beats,bus_beats", [("tiny_ab", 3 + 8, 2 + 7),
                                                      ("tiny_ab_sibia", 3 + 8, 2 + 7),
                                                      ("tiny_ab_dense", 3, 3)])
def test_counters_by_hand(name, act_beats, bus_beats):
    # M = 4 (one pass), K = 3, N = 9: three column blocks of 4 columns. Dense mode: every
    # vector a literal, 2 tiles x (3 LIT + END) = 8 words per pass (none in the INT8 array).
    # On the bus (packed, docs/formats.md): 3 vectors of 4 x 4 bits in 2 beats of 24 bits, 8
    # words at L = 4 of 2 x 4 + 3 + 2 = 13 bits (104 bits) in 7 beats of 16 bits; the buffer
    # holds the unpacked vectors and words (15 bits, the decoder's layout).
    cfg = PRESETS[name]
    base = PRESETS[name.replace("tiny_ab", "tiny")]
    plan_b, plan = _dense_plan(base, 4, 3), _dense_plan(cfg, 4, 3)
    pb, p = predict(plan_b, 9, base), predict(plan, 9, cfg)
    assert pb.counters["ext_in_words"] == 3 * (3 + bus_beats)
    assert p.counters["ext_in_words"] == 3 * 3 + bus_beats
    assert p.counters["abuf_writes"] == act_beats and p.counters["abuf_reads"] == 2 * act_beats
    for k in COUNTERS:          # the timeline and every other counter unchanged
        if k != "ext_in_words":
            assert p.counters[k] == pb.counters[k], k
    lo_b = 4 if name.endswith("dense") else 3          # bytes of a buffered vector
    lo_bus = 3 * 4 if name.endswith("dense") else 2 * 3
    assert p.memory["lo_bytes"] == lo_bus and pb.memory["lo_bytes"] == 3 * lo_bus
    ho_bus = 0 if name.endswith("dense") else 7 * 2     # 7 bus beats of 2 bytes
    ho_b = 0 if name.endswith("dense") else 8 * 2       # 8 buffered words of 15 bits: 2 bytes
    assert p.memory["ho_bytes_rle"] == ho_bus and pb.memory["ho_bytes_rle"] == 3 * ho_bus
    assert p.memory["weight_bytes"] == pb.memory["weight_bytes"] == 3 * 3 * 4
    assert p.energy_pj["act_buffer"] == pytest.approx(3 * (3 * lo_b + ho_b) * 1.25)


def test_host_streams_once():
    plan = _dense_plan(TAB, 6, 3)       # 2 passes
    W = np.ones((3, 9), dtype=np.int8)
    Y = np.zeros((6, 9), dtype=np.int32)
    hs, hb = host_streams(plan, W, Y, TAB), host_streams(plan, W, Y, TINY)
    assert len(hs.lo_vectors) == 2 * 3 and len(hb.lo_vectors) == 3 * 2 * 3
    assert hs.lo == hb.lo[:len(hb.lo) // 3] and hs.ho == hb.ho[:len(hb.ho) // 3]
    assert hs.w == hb.w and hs.y == hb.y


def test_run_too_big_refused():
    with pytest.raises(ValueError, match="activation buffer"):
        predict(_dense_plan(TAB, 16, 20), 4, TAB)     # 4 passes x 20 = 80 lo beats > 73


def test_m_blocking_by_hand():
    # K = 20: 73 // 20 = 3 passes of lo beats, 146 // (2 * 21) = 3 passes of worst-case words:
    # row blocks of 12 rows
    tiles = plan_tiles(40, 20, 9, TAB)
    assert [(t.m0, t.m1) for t in tiles] == [(0, 12), (12, 24), (24, 36), (36, 40)]
    assert all((t.k0, t.k1, t.n0, t.n1) == (0, 20, 0, 9) for t in tiles)
    assert len(plan_tiles(40, 20, 9, TINY)) == 1
    rng = np.random.default_rng(1)
    A = rng.integers(0, 256, (40, 20), dtype=np.uint8)
    W = rng.integers(-127, 128, (20, 9), dtype=np.int8)
    g, gb = (tiled_gemm(A, W, 3, mode="aqs", L=4, r=8, cfg=c) for c in (TAB, TINY))
    assert np.array_equal(g.Y, gb.Y)
    # weights re-read once per row block (4), activations once: 10 passes x 20 lo vectors of
    # 4 x 4 bits = 320 bits, packed in 14 beats of 3 B
    assert g.prediction.memory["weight_bytes"] == 4 * 3 * 20 * 4
    assert gb.prediction.memory["weight_bytes"] == 3 * 20 * 4
    assert g.prediction.memory["lo_bytes"] == 10 * 14 * 3
    assert gb.prediction.memory["lo_bytes"] == 3 * 10 * 14 * 3
    assert g.prediction.memory["ho_bytes_rle"] * 3 == gb.prediction.memory["ho_bytes_rle"]


def test_generic_synthesis_has_the_buffer(tmp_path):
    """Yosys (generic cells): two buffer memories of the derived depths and beat widths, one
    write and one read port each, in the breakdown's ``act_buffer`` block."""
    from golden_model import formats
    from panacea_hdl.flows.synth import run_synth

    d = run_synth(TAB, target="generic", out_dir=tmp_path)
    lo_w, ho_w = formats.lo_beat_bits(TAB), formats.rle_word_bits(TAB)       # 20, 15 bits
    mems = {(m["width"], m["depth"], m["rd_ports"], m["wr_ports"]) for m in d.generic.memories}
    assert {(lo_w, 73, 1, 1), (ho_w, 146, 1, 1)} <= mems
    b = d.generic.blocks["act_buffer"]
    assert b["instances"] == 2 and b["memory_bits"] == 73 * 20 + 146 * 15 and b["cells"] > 0
