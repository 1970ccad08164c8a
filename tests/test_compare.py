"""panacea compare (panacea_hdl.flows.compare): tiny vs its baselines on Verilator with generic area,
numbers checked against the golden model and recomputed from the table; workload errors; the
synthesis cache; the ECP5 path is a slow test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, choose_r, reference_gemm
from golden_model.budget import multiplier_budget
from golden_model.config import preset
from golden_model.cycle_model import predict
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.paths import BUILD_DIR_ENV, design_dir
from panacea_hdl.flows.compare import (CompareResult, design_area, format_compare, make_workloads,
                                       plot_compare, run_compare)

TINY = preset("tiny")
NAMES = ("tiny", "tiny_sibia", "tiny_dense")
MODES = {"tiny": "aqs", "tiny_sibia": "sibia", "tiny_dense": "dense"}


def _skewed_tiny():
    """The documented skewed workload for tiny, built here independently of compare.py."""
    M, K, N = 4 * 2 * TINY.group_size, min(256, TINY.k_max), TINY.num_peas * TINY.pea_cols
    A = skewed_activations(M, K, seed=2025)
    W = random_weights(K, N, seed=2025)
    return A, W, 100


@pytest.fixture(scope="module")
def tiny_generic(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_tiny")
    d = run_compare("tiny", workloads=("skewed",), sim="verilator", target="generic", out_dir=out)
    return d, out


def test_tiny_generic_sane(tiny_generic):
    d, out = tiny_generic
    assert list(d.designs) == list(NAMES)
    assert d.target == "generic" and d.basis == "per_cycle" and d.sim == "verilator"
    assert d.area_unit == "transistor"
    assert any("no Fmax" in n for n in d.notes)
    for n, v in d.designs.items():
        assert v["mode"] == MODES[n]
        assert v["cells"] > 0 and v["flip_flops"] > 0 and v["transistors"] > 0
        assert v["area"] == v["transistors"]
        assert v["fmax_mhz"] is None
    w = d.workloads["skewed"]
    for v in w["designs"].values():
        assert v["cycles"] > 0 and v["energy_pj"] > 0 and v["ext_bytes"] > 0
        assert v["time_us"] is None              # no Fmax for generic
        assert v["rtl_checked"] is True
    assert json.loads((out / "compare.json").read_text()) == json.loads(json.dumps(d.to_dict()))


def test_tiny_areas_are_the_synthesis_results(tiny_generic):
    d, _ = tiny_generic
    for n, v in d.designs.items():
        s = json.loads((design_dir(preset(n)) / "synth_generic" / "synth.json").read_text())
        assert s["config"]["name"] == n
        assert (v["cells"], v["transistors"], v["memory_bits"]) == (
            s["cells"], s["transistors"], s["memory_bits"])
    # the variants differ: the INT8 array is smaller than the bit-slice arrays
    a = {n: v["transistors"] for n, v in d.designs.items()}
    assert a["tiny_dense"] < a["tiny_sibia"] < a["tiny"]


def test_tiny_cycles_and_energy_equal_the_cycle_model(tiny_generic):
    d, _ = tiny_generic
    A, W, z = _skewed_tiny()
    L = 4
    r = choose_r(A, L)
    w = d.workloads["skewed"]
    assert (w["M"], w["K"], w["N"], w["z"], w["L"], w["r"]) == (16, 64, 4, z, L, r)
    for n in NAMES:
        cfg = preset(n)
        Y, plan = aqs_gemm(A, W, z, mode=MODES[n], L=L, r=r, cfg=cfg)
        assert np.array_equal(Y, reference_gemm(A, W, z))
        p = predict(plan, W.shape[1], cfg)
        v = w["designs"][n]
        assert v["cycles"] == p.counters["cycles"], n
        assert v["energy_pj"] == pytest.approx(p.energy_pj["total"])
        assert v["mult_energy_pj"] == pytest.approx(p.energy_pj["int8_mults"] + p.energy_pj["slice_mults"])
        assert v["ext_bytes"] == p.memory["total_bytes_rle"]
    # on skewed data aqs skips and sibia cannot: fewer cycles than the Sibia-like array
    assert w["designs"]["tiny"]["cycles"] < w["designs"]["tiny_sibia"]["cycles"]


def test_tiny_ratios_recomputed_from_the_table(tiny_generic):
    d, _ = tiny_generic
    w = d.workloads["skewed"]["designs"]
    des = d.designs
    for n in NAMES:
        assert w[n]["throughput"] == pytest.approx(1 / w[n]["cycles"])
        assert w[n]["throughput_per_area"] == pytest.approx(1 / w[n]["cycles"] / des[n]["transistors"])
    p = w["tiny"]
    for b in NAMES[1:]:
        r = d.ratios["skewed"][b]
        q = w[b]
        assert r["speedup"] == pytest.approx(q["cycles"] / p["cycles"])
        assert r["perf_per_area"] == pytest.approx(
            (q["cycles"] * des[b]["transistors"]) / (p["cycles"] * des["tiny"]["transistors"]))
        assert r["energy"] == pytest.approx(p["energy_pj"] / q["energy_pj"])
        assert r["mult_energy"] == pytest.approx(p["mult_energy_pj"] / q["mult_energy_pj"])
        dr = d.design_ratios[b]
        assert dr["pp_bits"] == pytest.approx(multiplier_budget(TINY)["pp_bits"]
                                              / multiplier_budget(preset(b))["pp_bits"])
        assert dr["area"] == pytest.approx(des["tiny"]["transistors"] / des[b]["transistors"])
        assert dr["fmax"] is None
        assert dr["area_with_memory"] == pytest.approx(des["tiny"]["transistors_with_memory"]
                                                       / des[b]["transistors_with_memory"])
    for n in NAMES:
        assert des[n]["pp_bits"] == multiplier_budget(preset(n))["pp_bits"]


def test_tiny_format(tiny_generic):
    d, _ = tiny_generic
    text = format_compare(d)
    for n in NAMES:
        assert n in text
        assert str(d.workloads["skewed"]["designs"][n]["cycles"]) in text
        assert f"{d.designs[n]['transistors']:,}" in text
    assert f"{d.ratios['skewed']['tiny_sibia']['speedup']:.2f}x" in text
    assert "GEMM/cycle/transistor" in text


def test_format_from_saved_json(tiny_generic):
    """compare.json re-read (keys sorted by a JSON tool) gives the same report."""
    d, out = tiny_generic
    again = json.loads(json.dumps(json.loads((out / "compare.json").read_text()), sort_keys=True))
    assert format_compare(CompareResult.from_dict(again)) == format_compare(d)


def test_tiny_plots(tiny_generic, tmp_path):
    d, _ = tiny_generic
    paths = plot_compare(d, tmp_path)
    assert {p.name for p in paths} == {f"compare_{s}.{e}" for s in ("cycles", "perf_area", "energy")
                                       for e in ("png", "svg")}
    for p in paths:
        assert p.parent == tmp_path and p.stat().st_size > 5000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert "<svg" in p.read_text()[:2000]
    assert json.loads((tmp_path / "compare.json").read_text())["base"] == "tiny"


# ---- workloads -----------------------------------------------------------------------------
def test_bad_workload_names_raise_before_running(tmp_path):
    for bad in (("nope",), ("skewed", "skewed"), (str(tmp_path / "missing.npz"),), (),
                ("minilm-layers",)):             # whole layers: run_layer_compare
        with pytest.raises(ValueError):
            run_compare("tiny", workloads=bad, target="generic", out_dir=tmp_path)
    assert not (tmp_path / "compare.json").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        run_compare("tiny", target="ice40", out_dir=tmp_path)
    with pytest.raises(ValueError):
        run_compare("tiny", sim="modelsim", out_dir=tmp_path)
    with pytest.raises(ValueError):
        run_compare("tiny_dense", out_dir=tmp_path)        # a baseline is not a base
    with pytest.raises(ValueError):
        run_compare("paper", out_dir=tmp_path)              # no baselines built for it
    with pytest.raises(ValueError):
        run_compare("huge", out_dir=tmp_path)


def test_npz_workloads(tmp_path):
    rng = np.random.default_rng(1)
    A = rng.integers(0, 256, size=(5, 20), dtype=np.uint8)
    W = rng.integers(-127, 128, size=(20, 3), dtype=np.int8)
    good = tmp_path / "layer7.npz"
    np.savez(good, A=A, W=W, z=np.int64(77))
    (w,) = make_workloads(TINY, [good])
    assert w["name"] == "layer7" and w["z"] == 77 and w["L"] == 4 and w["r"] == choose_r(A, 4)
    assert np.array_equal(w["A"], A) and np.array_equal(w["W"], W)
    np.savez(tmp_path / "lr.npz", A=A, W=W, z=np.int64(77), L=np.int64(3), r=np.int64(9))
    (w,) = make_workloads(TINY, [str(tmp_path / "lr.npz")])
    assert (w["L"], w["r"]) == (3, 9)
    cases = {
        "noz.npz": dict(A=A, W=W),
        "floatA.npz": dict(A=A.astype(np.float32), W=W, z=np.int64(1)),
        "uint8W.npz": dict(A=A, W=W.view(np.uint8), z=np.int64(1)),
        "vecz.npz": dict(A=A, W=W, z=np.arange(3)),
        "bigz.npz": dict(A=A, W=W, z=np.int64(300)),
        "kmismatch.npz": dict(A=A, W=W[:10], z=np.int64(1)),
        "badL.npz": dict(A=A, W=W, z=np.int64(1), L=np.int64(6)),
        "bigr.npz": dict(A=A, W=W, z=np.int64(1), r=np.int64(99)),
    }
    for fname, arrays in cases.items():
        np.savez(tmp_path / fname, **arrays)
        with pytest.raises(ValueError):
            make_workloads(TINY, [tmp_path / fname])
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(ValueError):
        make_workloads(TINY, [junk])
    with pytest.raises(ValueError):
        make_workloads(TINY, [tmp_path / "data.csv"])


def test_uniform_is_the_worst_case():
    """Uniform activations leave aqs almost nothing to skip: slower than the INT8 array."""
    (w,) = make_workloads(TINY, ["uniform"])
    assert w["A"].dtype == np.uint8 and w["A"].shape == (16, 64) and w["z"] == 128
    _, plan = aqs_gemm(w["A"], w["W"], w["z"], mode="aqs", L=w["L"], r=w["r"], cfg=TINY)
    _, plan_d = aqs_gemm(w["A"], w["W"], w["z"], mode="dense", L=w["L"], r=w["r"],
                         cfg=preset("tiny_dense"))
    assert plan.stats()["frac_vectors_skipped"] < 0.05
    assert (predict(plan, w["W"].shape[1], TINY).counters["cycles"]
            > 1.5 * predict(plan_d, w["W"].shape[1], preset("tiny_dense")).counters["cycles"])


def test_minilm_workload_is_four_tiles():
    pytest.importorskip("safetensors")
    from golden_model.minilm import MiniLMError, representative_tiles

    try:
        ws = make_workloads(TINY, ["minilm"])
    except MiniLMError:
        pytest.skip("MiniLM model package not installed")
    tiles = representative_tiles(TINY)
    assert [w["name"] for w in ws] == [f"minilm:{t['name']}" for t in tiles]
    for w, t in zip(ws, tiles):
        assert np.array_equal(w["A"], t["A"]) and np.array_equal(w["W"], t["W"])
        assert (w["z"], w["L"], w["r"]) == (t["z"], t["L"], t["r"])


# ---- synthesis cache -----------------------------------------------------------------------
def test_synth_cache_follows_the_verilog(tmp_path, monkeypatch):
    """A cached synth.json is reused only beside a byte-identical Verilog file, and only if
    Yosys read the RTLIL (results of the older Verilog frontend are synthesized again)."""
    from panacea_hdl.flows import synth
    from panacea_hdl.rtl.generate import generate, top_name

    calls = []

    def area(cells):
        return dict(cells=cells, cells_by_type={}, flip_flops=0, transistors=2 * cells,
                    cmos_cells_by_type={}, memory_bits=0, memory_transistors=cells,
                    transistors_with_memory=3 * cells, memories=[], blocks={}, modules={})

    def fake_run_synth(cfg, *, target, out_dir, progress=False, **kw):
        calls.append(out_dir)
        return synth.SynthResult(target=target, top=top_name(cfg), config=cfg.to_dict(),
                                 out_dir=str(out_dir), tool="fake", runtime_s={},
                                 generic=synth.GenericArea(**area(1)), frontend="rtlil")

    monkeypatch.setattr(synth, "run_synth", fake_run_synth)
    monkeypatch.setenv(BUILD_DIR_ENV, str(tmp_path / "build"))
    sdir = design_dir(TINY) / "synth_generic"
    sdir.mkdir(parents=True)
    vtext = generate(TINY)["verilog"].read_text()
    cached = {"target": "generic", "top": "panacea_tiny", "config": TINY.to_dict(),
              "out_dir": str(sdir), "tool": "fake", "runtime_s": {}, "frontend": "rtlil",
              **area(11)}
    (sdir / "synth.json").write_text(json.dumps(cached))
    (sdir / "panacea_tiny.v").write_text(vtext)
    s, hit = design_area(TINY, "generic")
    assert hit is True and s.generic.cells == 11 and not calls
    # resynth=True ignores the cache; a result for another config is not reused
    s, hit = design_area(TINY, "generic", resynth=True)
    assert s.generic.cells == 1 and len(calls) == 1
    (sdir / "synth.json").write_text(json.dumps(dict(cached, config=preset("tiny_sibia").to_dict())))
    assert design_area(TINY, "generic")[1] is False and len(calls) == 2
    # a synth.json of another layout (missing figures) is not reused either
    (sdir / "synth.json").write_text(json.dumps({k: v for k, v in cached.items() if k != "cells"}))
    assert design_area(TINY, "generic")[1] is False and len(calls) == 3
    # nor one from the Verilog frontend (no "frontend" key: written before RTLIL was read)
    (sdir / "synth.json").write_text(json.dumps({k: v for k, v in cached.items() if k != "frontend"}))
    assert design_area(TINY, "generic")[1] is False and len(calls) == 4
    (sdir / "synth.json").write_text(json.dumps(cached))
    assert design_area(TINY, "generic")[1] is True and len(calls) == 4
    (sdir / "panacea_tiny.v").write_text(vtext.replace("module", "module ", 1))
    s, hit = design_area(TINY, "generic")
    assert hit is False and s.generic.cells == 1 and calls[-1] == sdir and len(calls) == 5


def test_router_and_timeout_reach_synthesis_and_the_cache(tmp_path, monkeypatch):
    """compare's router goes to nextpnr with its timeout, and a cached ECP5 result is reused
    only for the router it was made with (tools stubbed)."""
    from panacea_hdl.flows import synth
    from panacea_hdl.flows.compare import _cache_usable
    from panacea_hdl.rtl.generate import top_name

    calls = []

    def fake_run_synth(cfg, *, target, out_dir, progress=False, **kw):
        calls.append(kw)
        return synth.SynthResult(
            target=target, top=top_name(cfg), config=cfg.to_dict(), out_dir=str(out_dir),
            tool="fake", runtime_s={}, frontend="rtlil",
            fpga=synth.FpgaResult(device="d", freq_target_mhz=100.0, seed=1, dsp="LUTs (-nodsp)",
                                  core={}, core_cells_by_type={}, wrapper={}, fits=True,
                                  fit_message="", fmax_mhz=1.0, utilization={},
                                  router=kw["router"]))

    monkeypatch.setattr(synth, "run_synth", fake_run_synth)
    monkeypatch.setenv(BUILD_DIR_ENV, str(tmp_path / "build"))
    s, hit = design_area(TINY, "ecp5", router="router2", timeout=120.0)
    assert hit is False and calls == [{"dsp": "off", "router": "router2", "timeout": 120.0}]
    assert _cache_usable(s, TINY, "ecp5", "router2") and not _cache_usable(s, TINY, "ecp5")
    assert not _cache_usable(s, TINY, "ecp5", "router1")
    with pytest.raises(ValueError, match="router"):
        run_compare("tiny", router="router3", out_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="synth_timeout"):
        run_compare("tiny", synth_timeout=0, out_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists() and len(calls) == 1


def test_cli_routers_are_synthesis_routers():
    from panacea_hdl import cli
    from panacea_hdl.flows.synth import ROUTERS

    assert cli.ROUTERS == ROUTERS


@pytest.mark.parametrize("argv,needle", [
    (["--target", "generic", "--router", "router2"], "--router"),
    (["--router", "router3"], "--router"),
    (["--synth-timeout", "0"], "--synth-timeout"),
    (["--synth-timeout", "x"], "--synth-timeout"),
    (["--synth-timeout", "inf"], "--synth-timeout"),
    (["--synth-timeout", "nan"], "--synth-timeout"),
    (["--workload", "minilm-layers", "--router", "router2"], "--router"),
])
def test_cli_router_and_timeout_bad_input_is_one_line(capsys, tmp_path, argv, needle):
    from panacea_hdl.cli import main

    try:
        rc = main(["compare", "--base", "tiny", "-o", str(tmp_path / "c"), *argv])
    except SystemExit as e:            # argparse's own errors (one line too, exit 2)
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("panacea: error: ")
    assert needle in lines[0] and not (tmp_path / "c").exists()


# ---- ECP5 ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_ecp5(tmp_path):
    d = run_compare("tiny", workloads=("skewed",), sim="verilator", target="ecp5", out_dir=tmp_path)
    assert d.basis == "per_second" and d.area_unit == "LUT4"
    w = d.workloads["skewed"]["designs"]
    for n, v in d.designs.items():
        assert v["fits"] is True and v["fmax_mhz"] > 1 and v["LUT4_equiv"] >= v["LUT4"] > 0
        assert v["DSP"] == 0                      # multipliers in LUTs
        assert w[n]["time_us"] == pytest.approx(w[n]["cycles"] / v["fmax_mhz"])
        assert w[n]["throughput_per_area"] == pytest.approx(
            v["fmax_mhz"] * 1e6 / w[n]["cycles"] / v["LUT4_equiv"])
    for b in NAMES[1:]:
        assert d.ratios["skewed"][b]["perf_per_area"] == pytest.approx(
            w["tiny"]["throughput_per_area"] / w[b]["throughput_per_area"])
    assert "Fmax MHz" in format_compare(d)
    assert len(plot_compare(d)) == 6
