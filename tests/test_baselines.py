"""The baseline variants in the golden model: config, stream formats, cycle model, budget, jobs.

Expected values are computed here independently (from A and W directly, closed-form timelines,
hand-derived budget numbers), never read back from the code under test.
"""

import json
import math

import numpy as np
import pytest

from golden_model.aqs_gemm import MODES, aqs_gemm, choose_r, reference_gemm
from golden_model.budget import multiplier_budget
from golden_model.config import (BASELINE_BASES, PRESETS, VARIANT_MODES, VARIANTS, ConfigError,
                                 PanaceaConfig, load_config)
from golden_model.cycle_model import predict
from golden_model.energy import ENERGY_PJ
from golden_model.formats import lo_beat_bits, rle_word_bits, unpack_lanes
from golden_model.streams import host_streams, unpack_y
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.cli import main
from panacea_hdl.flows.jobs import run_gemm_job


# ---- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["Sibia", "int8", "", 3, None])
def test_variant_is_validated(bad):
    with pytest.raises(ConfigError, match="variant"):
        PanaceaConfig(variant=bad)


def test_variant_modes_and_presets():
    assert VARIANTS == ("panacea", "sibia", "dense")
    assert PanaceaConfig().variant == "panacea" and PanaceaConfig().modes == MODES
    assert VARIANT_MODES == {"panacea": ("dense", "sibia", "aqs"), "sibia": ("dense", "sibia"),
                             "dense": ("dense",)}
    assert BASELINE_BASES == ("tiny", "default", "default_fpga", "tiny_t3", "tiny_t4",
                              "default_t3", "default_t4", "default_fpga_3pea")
    for base in BASELINE_BASES:
        for v in ("sibia", "dense"):
            cfg = PRESETS[f"{base}_{v}"]
            b = PRESETS[base]
            assert cfg.variant == v and cfg.name == f"{base}_{v}"
            for f in ("group_size", "pea_cols", "num_peas", "k_max", "splits", "rle_run_bits",
                      "tiles_per_pass"):
                assert getattr(cfg, f) == getattr(b, f), f
            assert (cfg.rows_per_pass, cfg.cols) == (b.rows_per_pass, b.cols)
    for name in ("tiny", "default", "default_fpga", "paper", "tiny_t3", "tiny_t4", "default_t3",
                 "default_t4", "default_fpga_3pea"):
        assert PRESETS[name].variant == "panacea"


def test_variant_in_json_and_old_json_loads_as_panacea(tmp_path):
    for name in ("tiny_sibia", "tiny_dense", "default_dense"):
        d = json.loads(PRESETS[name].to_json())
        assert d["config"]["variant"] == PRESETS[name].variant
        assert d["derived"]["modes"] == list(VARIANT_MODES[PRESETS[name].variant])
        p = tmp_path / f"{name}.json"
        p.write_text(PRESETS[name].to_json())
        assert load_config(p) == PRESETS[name]
    old = PRESETS["tiny"].to_dict()
    del old["variant"]                       # a params.json written before variants existed
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old))
    assert load_config(p) == PRESETS["tiny"]


def test_check_mode():
    for v, modes in VARIANT_MODES.items():
        cfg = PanaceaConfig(variant=v)
        for mode in MODES:
            if mode in modes:
                assert cfg.check_mode(mode) == mode
            else:
                with pytest.raises(ValueError, match=f"{mode!r} cannot run on the {v!r} variant"):
                    cfg.check_mode(mode)


# ---- formats and streams ----------------------------------------------------------------------
def test_lo_beat_width_by_variant():
    for base in ("tiny", "default"):
        b = PRESETS[base]
        assert lo_beat_bits(b) == 2 * b.group_size * max(b.splits)
        assert lo_beat_bits(PRESETS[f"{base}_sibia"]) == lo_beat_bits(b)
        assert lo_beat_bits(PRESETS[f"{base}_dense"]) == 2 * b.group_size * 8
        # the ho port keeps its width (same host interface) even where it carries nothing
        assert rle_word_bits(PRESETS[f"{base}_dense"]) == rle_word_bits(b)


def _gemm(M=13, K=21, N=11, seed=4, z=104):
    return skewed_activations(M, K, seed=seed, center=z), random_weights(K, N, seed=seed), z


def test_dense_streams_carry_whole_activations_and_no_ho():
    cfg = PRESETS["tiny_dense"]
    A, W, z = _gemm()
    M, K = A.shape
    Y, plan = aqs_gemm(A, W, z, mode="dense", L=4, r=0, cfg=cfg)
    hs = host_streams(plan, W, Y, cfg)
    rows = cfg.rows_per_pass
    passes = math.ceil(M / rows)
    blocks = math.ceil(W.shape[1] / cfg.cols)
    assert hs.ho == []
    assert len(hs.lo) == blocks * passes * K
    Ap = np.zeros((passes * rows, K), dtype=np.int64)      # padded rows are 0 in dense mode
    Ap[:M] = A
    for b in range(blocks):
        for p in range(passes):
            for k in range(K):
                beat = hs.lo[(b * passes + p) * K + k]
                assert beat >> (rows * 8) == 0
                lanes = unpack_lanes(beat, 8, rows, signed=False)
                np.testing.assert_array_equal(lanes, Ap[p * rows:(p + 1) * rows, k])
    assert all(s["ho"] == 0 and s["lo"] == K for sched in hs.schedule for s in sched)
    assert hs.lo == hs.lo_vectors       # whole int8 lanes fill the beat: packing is the identity
    np.testing.assert_array_equal(unpack_y(hs.y, M, W.shape[1], cfg), reference_gemm(A, W, z))


def test_sibia_streams_equal_panacea_streams():
    A, W, z = _gemm(seed=6)
    for mode in ("dense", "sibia"):
        Y, plan = aqs_gemm(A, W, z, mode=mode, L=4, r=choose_r(A, 4), cfg=PRESETS["tiny"])
        a = host_streams(plan, W, Y, PRESETS["tiny"])
        b = host_streams(plan, W, Y, PRESETS["tiny_sibia"])
        assert (a.w, a.lo, a.ho, a.y, a.schedule) == (b.w, b.lo, b.ho, b.y, b.schedule)


@pytest.mark.parametrize("name, mode", [("tiny_sibia", "aqs"), ("tiny_dense", "aqs"),
                                        ("tiny_dense", "sibia"), ("default_dense", "aqs")])
def test_unsupported_modes_are_refused(name, mode):
    cfg = PRESETS[name]
    A, W, z = _gemm()
    Y, plan = aqs_gemm(A, W, z, mode=mode, L=4, cfg=cfg)      # the numerics know no variants
    assert np.array_equal(Y, reference_gemm(A, W, z))
    for f in (lambda: predict(plan, W.shape[1], cfg), lambda: host_streams(plan, W, Y, cfg)):
        with pytest.raises(ValueError, match="cannot run on the"):
            f()
    # the golden job refuses before any simulation (no build exists for this call)
    with pytest.raises(ValueError, match=f"mode '{mode}' cannot run on the '{cfg.variant}'"):
        run_gemm_job(cfg, A, W, z, mode=mode, sim="verilator")


# ---- cycle model ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny_dense", "default_dense"])
@pytest.mark.parametrize("M, K, N", [(13, 21, 11), (8, 64, 32), (1, 9, 1), (40, 17, 70)])
def test_dense_variant_prediction_closed_form(name, M, K, N):
    """Per block LOAD K, then passes of K cycles back to back: every pass but the block's last
    is chained (the bank is empty at its last issue: the previous pass was copied DRAIN + 1
    = 6 cycles after its own last issue and its rows left within K >= rows + 7 cycles); the
    last pass then DRAIN (5 cycles: issue register, digits, products, their sum,
    accumulators) + HANDOFF (1, the copy; the bank is empty by then). The LOAD overlap: with
    K <= k_max / 2 (every case here but K = 64 on tiny, k_max = 64) block b + 1's K rows go
    into the other buffer half during block b's first pass (K cycles, always-valid w), so
    only block 0's LOAD is on the timeline. So cycles = (1 or blocks) * K +
    blocks * (passes * K + 5 + 1) + rows of the last pass (sent after the last copy)."""
    cfg = PRESETS[name]
    if K > cfg.k_max:
        pytest.skip("K beyond k_max")
    A = skewed_activations(M, K, seed=M + K)
    W = random_weights(K, N, seed=N)
    _, plan = aqs_gemm(A, W, 100, mode="dense", L=4, r=0, cfg=cfg)
    pr = predict(plan, N, cfg)
    rows, cols = cfg.rows_per_pass, cfg.cols
    passes, blocks = math.ceil(M / rows), math.ceil(N / cols)
    assert passes == 1 or K >= rows + 7
    last_rows = M - (passes - 1) * rows
    # with the activation buffer (default_dense: 320 KiB) the lo beats come once, replayed
    sends = 1 if cfg.act_buffer_bytes else blocks
    want = {
        "cycles": (1 if 2 * K <= cfg.k_max else blocks) * K
                  + blocks * (passes * K + 5 + 1) + last_rows,
        "swo_busy": blocks * passes * K, "dwo_busy": 0, "comp_busy": blocks * (K + passes),
        "rle_words": 0, "skipped_vectors": 0, "wbuf_writes": blocks * K,
        "wbuf_reads": blocks * passes * K, "ext_in_words": blocks * K + sends * passes * K,
        "ext_out_words": blocks * M,
    }
    if cfg.act_buffer_bytes:
        want.update(abuf_writes=passes * K, abuf_reads=(blocks - 1) * passes * K)
    assert pr.counters == want
    macs = blocks * passes * rows * K * cols
    assert pr.work["int8_macs"] == macs
    assert pr.work["lo_products"] == pr.work["ho_products"] == 0
    assert pr.work["ideal_cycles"] == blocks * passes * K
    assert pr.memory["lo_bytes"] == sends * passes * K * rows             # one byte per A
    assert pr.memory["ho_bytes_rle"] == pr.memory["ho_bytes_raw"] == 0
    assert pr.energy_pj["int8_mults"] == pytest.approx(macs * 0.2)
    assert pr.energy_pj["slice_mults"] == 0
    assert pr.energy_pj["accumulate"] == pytest.approx(macs * 0.1)
    assert pr.energy_pj["total"] == pytest.approx(sum(v for k, v in pr.energy_pj.items()
                                                      if k != "total"))
    if cfg.act_buffer_bytes:        # one write or read of rows bytes per beat
        assert pr.energy_pj["act_buffer"] == pytest.approx(blocks * passes * K * rows * 1.25)


def test_sibia_variant_predicts_the_panacea_timeline():
    """Same SWO/DWO/decoder: the sibia variant's prediction equals panacea's for its modes."""
    A, W, z = _gemm(M=30, K=50, N=9, seed=2)
    for base in ("tiny", "default"):
        for mode in ("dense", "sibia"):
            _, plan = aqs_gemm(A, W, z, mode=mode, L=4, cfg=PRESETS[base])
            a = predict(plan, 9, PRESETS[base]).to_dict()
            b = predict(plan, 9, PRESETS[f"{base}_sibia"]).to_dict()
            assert a == b
            assert a["work"]["int8_macs"] == 0 and a["energy_pj"]["int8_mults"] == 0


def test_energy_table_int8_mult():
    assert ENERGY_PJ["int8_mult"] == 0.2          # Horowitz ISSCC 2014, 8-bit multiply
    assert ENERGY_PJ["int8_mult"] == 4 * ENERGY_PJ["slice_mult"]


# ---- multiplier budget --------------------------------------------------------------------------
def test_multiplier_budget_numbers():
    """Hand-derived: splits (3, 4, 5) give lo_bits = 5, ho_bits = 5; WL 4 bits, WH 5 bits."""
    want = {  # per column: SWO 2G x (5*4 + 5*5), DWO G x (6*4 + 6*5) (sibia: 5*4 + 5*5)
        "tiny": (4 * 45, 2 * 54), "tiny_sibia": (4 * 45, 2 * 45), "tiny_dense": (0, 0),
        "default": (8 * 45, 4 * 54), "default_sibia": (8 * 45, 4 * 45), "default_dense": (0, 0),
        # T tiles per pass: SWO T x G rows, the DWO stays G rows
        "tiny_t3": (6 * 45, 2 * 54), "tiny_t3_sibia": (6 * 45, 2 * 45), "tiny_t3_dense": (0, 0),
        "tiny_t4": (8 * 45, 2 * 54), "tiny_t4_sibia": (8 * 45, 2 * 45), "tiny_t4_dense": (0, 0),
    }
    for name, (swo, dwo) in want.items():
        cfg = PRESETS[name]
        b = multiplier_budget(cfg)
        int8 = cfg.tiles_per_pass * cfg.group_size * 64 if cfg.variant == "dense" else 0
        assert (b["swo_pp_bits_per_col"], b["dwo_pp_bits_per_col"], b["int8_pp_bits_per_col"]) \
            == (swo, dwo, int8), name
        assert b["pp_bits_per_col"] == swo + dwo + int8
        assert b["pp_bits"] == (swo + dwo + int8) * cfg.cols
    assert multiplier_budget(PRESETS["tiny"])["pp_bits_per_col"] == 288
    assert multiplier_budget(PRESETS["tiny_dense"])["pp_bits_per_col"] == 256
    assert multiplier_budget(PRESETS["default"])["pp_bits_per_col"] == 576
    assert multiplier_budget(PRESETS["default_dense"])["pp_bits_per_col"] == 512


# ---- jobs and CLI ------------------------------------------------------------------------------
def test_golden_job_on_the_dense_variant():
    A, W, z = _gemm(seed=9)
    rep = run_gemm_job(PRESETS["tiny_dense"], A, W, z, mode="dense")
    np.testing.assert_array_equal(rep.Y, reference_gemm(A, W, z))
    assert rep.counters["rle_words"] == 0 and rep.config.variant == "dense"


def test_cli_default_mode_follows_the_variant(tmp_path, capsys):
    A, W, z = _gemm(seed=3)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "W.npy", W)
    base = ["gemm", "--act", str(tmp_path / "A.npy"), "--weight", str(tmp_path / "W.npy"),
            "--zero-point", str(z), "--out", str(tmp_path / "Y.npy"), "-q"]
    for preset, mode in (("tiny_dense", "dense"), ("tiny_sibia", "sibia"), ("tiny", "aqs")):
        assert main(base + ["--preset", preset, "--report", str(tmp_path / "r.json")]) == 0
        assert json.loads((tmp_path / "r.json").read_text())["mode"] == mode
        np.testing.assert_array_equal(np.load(tmp_path / "Y.npy"), reference_gemm(A, W, z))
    capsys.readouterr()
    assert main(base + ["--preset", "tiny_dense", "--mode", "aqs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["panacea: error: mode 'aqs' cannot run on the 'dense' variant "
                   "(config 'tiny_dense' supports: dense)"]
