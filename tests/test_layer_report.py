"""Whole-layer reporting (golden only): compulsory bytes by hand, the energy split, whole-layer
figures as sums of per-tile predictions, the minilm-layers workload and its CLI errors."""

import importlib.util
import math

import numpy as np
import pytest

from golden_model import minilm
from golden_model.aqs_gemm import slice_plan
from golden_model.config import preset
from golden_model.cycle_model import predict
from golden_model.energy import ON_CHIP_GROUPS, energy_split
from golden_model.formats import rle_encode
from golden_model.layer_report import (best_blocking, check_tokens, compulsory_bytes,
                                       layer_figures)
from golden_model.tiling import plan_tiles
from golden_model.workloads import skewed_activations
from panacea_hdl.cli import main

HAVE_MINILM = importlib.util.find_spec(minilm.PACKAGE) is not None
BEST = {"tiny": "aqs", "tiny_sibia": "sibia", "tiny_dense": "dense",
        "tiny_ab": "aqs", "tiny_ab_sibia": "sibia", "tiny_ab_dense": "dense"}


def _hand_compulsory(A, N, mode, L, r, cfg):
    """Weights once (K x N int8, whole column blocks), activations once as stored, int32
    outputs once: written from the format definitions (docs/formats.md), not the cycle model."""
    M, K = A.shape
    blocks = -(-N // cfg.cols)
    rows, G, T = cfg.rows_per_pass, cfg.group_size, cfg.tiles_per_pass
    weights = blocks * K * cfg.cols                       # one int8 per weight, cols per beat
    outputs = blocks * M * cfg.cols * 4                   # one int32 per result
    passes = -(-M // rows)
    if cfg.variant == "dense":                            # whole int8 activations, padded rows
        return weights + passes * rows * K + outputs
    s = 0 if mode == "sibia" else r
    Ap = np.full((passes * rows, K), s << L, dtype=np.int64)
    Ap[:M] = A
    AH = Ap >> L
    lo_bus = 8 * math.ceil(rows * cfg.lo_bits / 8)        # one beat: rows lanes at the largest L
    lo = passes * math.ceil(K * rows * L / lo_bus) * lo_bus // 8     # packed L-bit lanes per pass
    # the ho stream carries each RLE word packed at the split: G slices of 8 - L bits, the
    # run, the 2-bit kind; its bus is the decoder's word (slices of ho_bits) in whole bytes
    rle_bits = G * (8 - L) + cfg.rle_run_bits + 2
    ho_bus = 8 * math.ceil((G * cfg.ho_bits + cfg.rle_run_bits + 2) / 8)
    ho = 0
    for p in range(passes):
        words = 0
        for t in range(T):
            tile = AH[(p * T + t) * G:(p * T + t + 1) * G]
            words += len(rle_encode(cfg, tile, (tile == s).all(axis=0)))
        ho += math.ceil(words * rle_bits / ho_bus) * ho_bus // 8
    return weights + lo + ho + outputs


@pytest.mark.parametrize("name", ["tiny", "tiny_sibia", "tiny_dense"])
@pytest.mark.parametrize("M,K,N,L", [(12, 40, 8, 4), (9, 150, 6, 5)])
def test_compulsory_bytes_by_hand(name, M, K, N, L):
    cfg = preset(name)
    A = skewed_activations(M, K, seed=M + K)
    r = 104 >> L
    c = compulsory_bytes(A, N, mode=BEST[name], L=L, r=r, cfg=cfg)
    assert c["total"] == _hand_compulsory(A, N, BEST[name], L, r, cfg)
    assert c["weights"] == -(-N // cfg.cols) * K * cfg.cols
    assert c["outputs"] == -(-N // cfg.cols) * M * cfg.cols * 4
    assert c["total"] == c["weights"] + c["activations"] + c["outputs"]


@pytest.mark.parametrize("name", ["tiny_ab", "tiny_ab_sibia", "tiny_ab_dense", "tiny"])
def test_whole_layer_is_the_sum_of_its_tiles(name):
    cfg = preset(name)
    M, K, N, L = 40, 100, 10, 4                  # row blocks (tiny_ab), K slices (k_max 64)
    A = skewed_activations(M, K, seed=7)
    mode, r = BEST[name], 6
    f = layer_figures(A, N, mode=mode, L=L, r=r, cfg=cfg)
    tiles = plan_tiles(M, K, N, cfg)
    preds = [predict(slice_plan(A[t.m0:t.m1, t.k0:t.k1], mode=mode, L=L, r=r, cfg=cfg),
                     t.n1 - t.n0, cfg) for t in tiles]
    assert f["tiles"] == len(tiles) > 1
    assert f["row_blocks"] * f["k_slices"] == len(tiles)      # one column range (N < DIM_MAX)
    assert f["k_slices"] == 2
    assert f["cycles"] == sum(p.counters["cycles"] for p in preds)
    assert f["counters"] == {k: sum(p.counters[k] for p in preds) for k in preds[0].counters}
    assert f["ext_bytes"] == sum(p.memory["total_bytes_rle"] for p in preds)
    assert f["act_bytes"] == sum(p.memory["lo_bytes"] + p.memory["ho_bytes_rle"] for p in preds)
    total = sum(p.energy_pj["total"] for p in preds)
    assert f["energy_pj"]["total"] == pytest.approx(total, rel=1e-12)
    assert f["energy_pj"]["external"] == pytest.approx(sum(p.energy_pj["external"] for p in preds))
    # K slices send every result once per slice: more than the compulsory minimum
    assert f["ext_bytes"] > f["compulsory"]["total"]


def test_one_k_slice_costs_the_weights_once_per_row_block():
    cfg = preset("tiny_ab")
    A = skewed_activations(64, 60, seed=3)
    f = layer_figures(A, 8, mode="aqs", L=4, r=6, cfg=cfg)
    assert f["k_slices"] == 1 and f["row_blocks"] > 1
    c = f["compulsory"]
    assert f["ext_bytes"] == c["total"] + (f["row_blocks"] - 1) * c["weights"]
    b = f["best_blocking"]
    assert 1 <= b["pooled_row_blocks"] <= b["data_row_blocks"] <= f["row_blocks"]
    assert best_blocking(A, 8, mode="aqs", L=4, r=6, cfg=preset("tiny")) is None


@pytest.mark.parametrize("name", ["tiny", "tiny_ab", "tiny_dense"])
def test_energy_split_sums_to_the_total(name):
    cfg = preset(name)
    A = skewed_activations(4, 48, seed=5)             # one pass: fits tiny_ab's buffer
    e = predict(slice_plan(A, mode=BEST[name], L=4, r=6, cfg=cfg), 8, cfg).energy_pj
    s = energy_split(e)
    assert s["on_chip"] + s["external"] == pytest.approx(e["total"], rel=1e-12)
    assert s["total"] == pytest.approx(e["total"], rel=1e-12)
    assert s["external"] == e["external"]
    assert s["multiplies"] == e["int8_mults"] + e["slice_mults"]
    assert s["on_chip"] == pytest.approx(sum(s[k] for k in ON_CHIP_GROUPS))
    assert (s["act_buffer"] > 0) == bool(cfg.act_buffer_bytes)


@pytest.mark.parametrize("bad", [0, -3, 4097, 2.5, True, "8"])
def test_check_tokens_refuses(bad):
    with pytest.raises(ValueError):
        check_tokens(bad)


@pytest.mark.skipif(not HAVE_MINILM, reason=minilm.INSTALL_HINT)
def test_minilm_layers_golden_on_tiny(tmp_path):
    from golden_model.layer_report import minilm_layer_inputs, token_ids
    from panacea_hdl.flows.layer_compare import format_layer_compare, run_layer_compare

    assert sum(len(t) for t in token_ids(8)) == 8
    assert sum(len(t) for t in token_ids(300)) == 300          # past the sentence pool: repeats
    d = run_layer_compare("tiny", tokens=8, sim="golden", out_dir=tmp_path)
    assert (tmp_path / "compare_layers.json").is_file()
    assert len(d["layers"]) == 36 and not d["rtl"]
    recs = {r["name"]: r for r in minilm_layer_inputs(8, preset("tiny"))}
    for name, e in d["layers"].items():
        assert (e["M"], e["z"], e["L"], e["r"]) == (8, recs[name]["z"], recs[name]["L"],
                                                    recs[name]["r"])
        assert e["K"] * e["N"] == recs[name]["W"].size
    for n, tot in d["totals"]["designs"].items():
        assert tot["cycles"] == sum(e["designs"][n]["cycles"] for e in d["layers"].values())
        assert tot["ext_bytes"] == sum(e["designs"][n]["ext_bytes"] for e in d["layers"].values())
        en = tot["energy_pj"]
        assert en["on_chip"] + en["external"] == pytest.approx(en["total"])
        assert sum(k["designs"][n]["cycles"] for k in d["kinds"].values()) == tot["cycles"]
    # the same GEMM on a layer as through the public tiling: L2.ffn_out on tiny_dense
    e = d["layers"]["L2.ffn_out"]
    f = layer_figures(recs["L2.ffn_out"]["A"], e["N"], mode="dense", L=e["L"], r=e["r"],
                      cfg=preset("tiny_dense"))
    assert f["cycles"] == e["designs"]["tiny_dense"]["cycles"]
    text = format_layer_compare(d)
    assert "L5.ffn_out" in text and "issue 14 targets" in text


def _err(capsys, argv):
    try:
        rc = main(argv)
    except SystemExit as e:            # argparse's own errors (one line too, exit 2)
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv,needle", [
    (["--workload", "minilm-layers", "--tokens", "0"], "--tokens must be in [1, 4096]"),
    (["--workload", "minilm-layers", "--tokens", "x"], "--tokens"),
    (["--workload", "minilm-layers", "--workload", "skewed"], "on its own"),
    (["--workload", "skewed", "--tokens", "8"], "--tokens is for --workload minilm-layers"),
    (["--workload", "minilm-layers", "--sim", "golden", "--rtl-layers", "L2.q"], "--rtl-layers"),
    (["--workload", "minilm-layers", "--rtl-layers", "L9.q"], "L9.q"),
    (["--workload", "minilm-layers", "--target", "generic"], "--target"),
    (["--workload", "minilm-layers", "--rtl-layers", ","], "no layer given"),
])
def test_cli_minilm_layers_bad_input_is_one_line(capsys, tmp_path, argv, needle):
    rc, out, err = _err(capsys, ["compare", "--base", "tiny", "-o", str(tmp_path / "c"), *argv])
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panacea: error: ") and needle in lines[0]
    assert not (tmp_path / "c" / "compare_layers.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MINILM, reason=minilm.INSTALL_HINT)
def test_minilm_layers_on_the_rtl_tiny(tmp_path):
    """One whole layer (K-sliced on tiny) on Verilator: every tile bit-exact and counter-exact,
    the summed counters equal to the whole-layer figures (run_layer_compare raises if not)."""
    from panacea_hdl.flows.layer_compare import run_layer_compare

    d = run_layer_compare("tiny", tokens=8, sim="verilator", rtl_layers="L2.ffn_out",
                          out_dir=tmp_path)
    assert list(d["rtl"]) == ["L2.ffn_out"]
    for n, v in d["rtl"]["L2.ffn_out"].items():
        f = d["layers"]["L2.ffn_out"]["designs"][n]
        assert v["cycles"] == f["cycles"] and v["tiles"] == f["tiles"] > 1
