"""ONNX import (``golden_model.onnx_model``, ``panacea model onnx``): layers, capture, quantization.

Small models are built in-test with ``onnx.helper`` (``tests/onnx_models.py``) and checked
against numpy forward passes written independently of the importer; the quantized results
against the integer reference ``(A - z) @ W``; MiniLM written as ONNX against the numpy MiniLM.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx_models as om  # noqa: E402  (tests/ is on sys.path via conftest / rootdir)

from golden_model.aqs_gemm import reference_gemm  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.onnx_model import (OnnxModelError, capture, find_layers, onnx_report,  # noqa: E402
                                     read_inputs)
from panacea_hdl.cli import main  # noqa: E402


def _save(tmp_path, model, feeds, name="m"):
    mp, ip = tmp_path / f"{name}.onnx", tmp_path / f"{name}.npz"
    onnx.save(model, str(mp))
    np.savez(ip, **feeds)
    return mp, ip


def _float_feeds(K, n=5, rows=8, seed=7, mean=0.3):
    rng = np.random.default_rng(seed)
    return {f"x:{i}": rng.normal(mean, 1.0, (rows, K)).astype(np.float32) for i in range(n)}


# ---- layer discovery and capture ----------------------------------------------------------
def test_mlp_layers_weights_and_captured_inputs():
    m, w = om.mlp()
    layers, others = find_layers(m)
    assert [l.name for l in layers] == ["fc1", "fc2"] and others == []
    np.testing.assert_array_equal(layers[0].w, w["W1"].astype(np.float64))
    np.testing.assert_array_equal(layers[1].w, w["W2"].astype(np.float64))
    np.testing.assert_array_equal(layers[1].b, w["b2"].astype(np.float64))
    assert layers[0].b is None                       # the Add after a MatMul is not its bias
    x = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    cap = capture(m, [{"x": x}], [l.x for l in layers] + ["y"])
    x1, x2, y = om.mlp_forward(w, x)
    np.testing.assert_allclose(cap[layers[0].x][0], x1, rtol=1e-6)
    np.testing.assert_allclose(cap[layers[1].x][0], x2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cap["y"][0], y, rtol=1e-5, atol=1e-5)


def test_attention_transposed_weights_alpha_beta_and_computed_matmuls():
    m, w = om.attention()
    layers, others = find_layers(m)
    by = {l.name: l for l in layers}
    assert sorted(by) == ["k", "out", "q", "v"]
    assert sorted(others) == ["context", "scores"]
    np.testing.assert_array_equal(by["q"].w, w["Wq"])
    np.testing.assert_array_equal(by["k"].w, w["WkT"].T)          # Gemm transB
    np.testing.assert_array_equal(by["v"].w, w["WvT"].T)          # Transpose node
    np.testing.assert_allclose(by["out"].w, 0.5 * w["Wo"].astype(np.float64))   # alpha
    np.testing.assert_allclose(by["out"].b, 2.0 * w["bo"].astype(np.float64))   # beta * C
    x = np.random.default_rng(1).normal(size=(6, 16)).astype(np.float32)
    cap = capture(m, [{"x": x}], [by["out"].x, "y"])
    ref = om.attention_forward(w, x)
    np.testing.assert_allclose(cap[by["out"].x][0], ref["out"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cap["y"][0], ref["y"], rtol=1e-4, atol=1e-5)


def test_static_float_layers_match_golden_model(tmp_path):
    m, w = om.mlp()
    feeds = _float_feeds(16)
    mp, ip = _save(tmp_path, m, feeds)
    d = onnx_report(mp, cfg=preset("default"), inputs=ip, calibration=3)
    assert d["samples"] == {"calibration": 3, "evaluated": 2, "static": True}
    fc1 = d["layers"][0]
    # static: the scale comes from the 3 calibration samples only (min/max with 0 included)
    xc = np.concatenate([feeds[f"x:{i}"] for i in range(3)]).astype(np.float64)
    lo, hi = min(xc.min(), 0.0), max(xc.max(), 0.0)
    assert fc1["scale"] == pytest.approx((hi - lo) / 255, rel=1e-12)
    assert fc1["M"] == 16 and (fc1["K"], fc1["N"]) == (16, 32)
    assert fc1["macs"] == 16 * 16 * 32
    assert 25 < fc1["sqnr_db"] < 60
    sib, den = d["baselines"]
    assert fc1["speedup_vs_sibia"] == pytest.approx(fc1["designs"][sib]["cycles"]
                                                    / fc1["designs"]["default"]["cycles"])
    assert d["totals"]["default"]["cycles"] == sum(e["designs"]["default"]["cycles"]
                                                   for e in d["layers"])


def test_quantized_gemm_equals_integer_reference(tmp_path):
    """The run the report is made of: A quantized with the calibration's scale, Y exact."""
    from golden_model.onnx_model import quantize_layer

    m, w = om.mlp()
    layers, _ = find_layers(m)
    rng = np.random.default_rng(3)
    xc, xe = rng.normal(0.5, 1, (24, 16)), rng.normal(0.5, 1.5, (16, 16))   # eval range wider
    q = quantize_layer(layers[0], xc, xe, cfg=preset("default"))
    np.testing.assert_array_equal(q["Y"], reference_gemm(q["A"], q["W"], q["z"]))
    s = q["lq"].act.scale
    expect = np.clip(np.rint(xe / s) + q["z"], 0, 255)              # static: no re-calibration
    np.testing.assert_array_equal(q["A"], expect)
    assert (q["A"] == 255).any() or (q["A"] == 0).any()            # wider data clips
    W_scale = np.abs(w["W1"].astype(np.float64)).max(0) / 127
    np.testing.assert_array_equal(q["W"], np.clip(np.rint(w["W1"] / W_scale), -127, 127))


@pytest.mark.parametrize("act_dtype", [np.uint8, np.int8])
def test_qdq_matmul_uses_model_scales(tmp_path, act_dtype):
    m, w = om.qdq_matmul(act_dtype=act_dtype)
    feeds = _float_feeds(24, seed=11, mean=0.0)
    mp, ip = _save(tmp_path, m, feeds)
    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip, calibration=2)
    (e,) = d["layers"]
    assert e["kind"] == "qdq" and e["matches_onnxruntime"] is True
    shift = 128 if act_dtype == np.int8 else 0
    assert e["z"] == int(w["a_zp"]) + shift and e["scale"] == pytest.approx(0.02)
    # the integer GEMM: A from the model's QuantizeLinear (numpy, round half to even)
    from golden_model.onnx_model import quantize_layer
    layers, _ = find_layers(m)
    x = np.concatenate([feeds[f"x:{i}"] for i in range(2, 5)])
    lo, hi = (-128, 127) if act_dtype == np.int8 else (0, 255)
    A = (np.clip(np.rint(x / np.float32(0.02)) + int(w["a_zp"]), lo, hi) + shift).astype(np.uint8)
    q = quantize_layer(layers[0], None, None, cfg=preset("tiny"), A_cal=A, A_eval=A)
    np.testing.assert_array_equal(q["W"], w["Wq"])
    Y = (A.astype(np.int64) - e["z"]) @ w["Wq"].astype(np.int64)
    np.testing.assert_array_equal(q["Y"], Y)
    y = Y * 0.02 * w["w_scale"].astype(np.float64)
    np.testing.assert_allclose(q["y"], y, rtol=1e-6)


def test_matmul_integer_with_zero_point_is_exact(tmp_path):
    m, w = om.matmul_integer()
    rng = np.random.default_rng(5)
    feeds = {f"A:{i}": rng.integers(0, 80, (8, 20)).astype(np.uint8) for i in range(3)}
    mp, ip = _save(tmp_path, m, feeds)
    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip, calibration=1)
    (e,) = d["layers"]
    assert e["kind"] == "integer" and e["z"] == 9 and e["matches_onnxruntime"] is True
    cap = capture(m, [{"A": feeds[f"A:{i}"]} for i in (1, 2)], ["Y"])
    A = np.concatenate([feeds["A:1"], feeds["A:2"]]).astype(np.int64)
    np.testing.assert_array_equal(np.concatenate(cap["Y"]), (A - 9) @ w["B"].astype(np.int64))


def test_random_inputs_are_said_plainly(tmp_path):
    m, _ = om.mlp()
    mp = tmp_path / "m.onnx"
    onnx.save(m, str(mp))
    d = onnx_report(mp, cfg=preset("tiny"), calibration=2)
    assert "RANDOM" in d["data"] and d["samples"]["calibration"] == 2


# ---- inputs -------------------------------------------------------------------------------
def test_read_inputs_checks_names_dtypes_shapes(tmp_path):
    m, _ = om.mlp()
    ok = tmp_path / "ok.npz"
    np.savez(ok, **{"x:0": np.zeros((2, 16), np.float32), "x:1": np.zeros((3, 16), np.float32)})
    assert [f["x"].shape for f in read_inputs(m, ok)] == [(2, 16), (3, 16)]
    for arrays, msg in [({"y": np.zeros((2, 16), np.float32)}, "not an input"),
                        ({"x": np.zeros((2, 16), np.float64)}, "dtype float64"),
                        ({"x": np.zeros((2, 15), np.float32)}, "shape"),
                        ({"x:0": np.zeros((2, 16), np.float32),
                          "x:2": np.zeros((2, 16), np.float32)}, "indices")]:
        p = tmp_path / "bad.npz"
        np.savez(p, **arrays)
        with pytest.raises(OnnxModelError, match=msg):
            read_inputs(m, p)


# ---- CLI errors: one line, exit 2, nothing written ---------------------------------------
def _cli_error(capsys, argv, needle, report):
    assert main(argv + ["--report", str(report)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("panacea: error:") and len(err.splitlines()) == 1, err
    assert needle in err, err
    assert not report.exists()
    assert not list(report.parent.glob(".*.tmp"))


def test_cli_errors(tmp_path, capsys):
    rep = tmp_path / "out" / "r.json"
    m, _ = om.mlp()
    mp, ip = _save(tmp_path, m, _float_feeds(16))
    notonnx = tmp_path / "x.onnx"
    notonnx.write_bytes(b"this is not a protobuf \x00\xff\xfe")
    _cli_error(capsys, ["model", "onnx", str(notonnx)], "not an ONNX model", rep)
    dyn = tmp_path / "dyn.onnx"
    onnx.save(om.dynamic_weight(), str(dyn))
    _cli_error(capsys, ["model", "onnx", str(dyn)], "dynamic weight", rep)
    left = tmp_path / "left.onnx"          # W @ x: a constant on the left is not a weight
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [8, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4, 3])
    g = onnx.helper.make_graph([onnx.helper.make_node("MatMul", ["W", "x"], ["y"], name="mm")],
                               "g", [x], [y], [onnx.numpy_helper.from_array(
                                   np.ones((4, 8), np.float32), "W")])
    onnx.save(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)]),
              str(left))
    _cli_error(capsys, ["model", "onnx", str(left)], "'W' is the left operand", rep)
    uns = tmp_path / "uns.onnx"
    onnx.save(om.unsupported_weight_op(), str(uns))
    _cli_error(capsys, ["model", "onnx", str(uns)], "unsupported operator Mul", rep)
    missing = tmp_path / "missing.npz"
    np.savez(missing, **{"z:0": np.zeros((2, 16), np.float32)})
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(missing)], "'z:0'", rep)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"x:0": np.zeros((2, 16), np.int32)})
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(wrong)], "dtype int32", rep)
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(empty)], "holds no array", rep)
    one = tmp_path / "one.npy"
    np.save(one, np.zeros((2, 16), np.float32))
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(one)], "is one .npy array", rep)
    shape = tmp_path / "shape.npz"
    np.savez(shape, **{"x:0": np.zeros((2, 9), np.float32)})
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(shape)], "shape (2, 9)", rep)
    _cli_error(capsys, ["model", "onnx", str(mp), "--inputs", str(ip), "--calibration", "5"],
               "leaves no sample", rep)
    att = tmp_path / "att.onnx"
    onnx.save(om.attention()[0], str(att))
    _cli_error(capsys, ["model", "onnx", str(att), "--sim", "icarus", "--layers", "scores"],
               "dynamic weight", rep)
    _cli_error(capsys, ["model", "onnx", str(mp), "--sim", "icarus", "--layers", "fc9"],
               "no layer named 'fc9'", rep)


def test_cli_missing_graph_input_name(tmp_path, capsys):
    m, _ = om.mlp()
    mp, _ = _save(tmp_path, m, {})
    two = tmp_path / "two.onnx"
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    m2.graph.input.append(onnx.helper.make_tensor_value_info("mask", onnx.TensorProto.FLOAT,
                                                             ["batch"]))
    onnx.save(m2, str(two))
    ip = tmp_path / "in.npz"
    np.savez(ip, **{"x": np.zeros((2, 16), np.float32)})
    _cli_error(capsys, ["model", "onnx", str(two), "--inputs", str(ip)], "missing input 'mask'",
               tmp_path / "r.json")


def test_cli_report_and_plots(tmp_path, capsys):
    m, _ = om.attention()
    rng = np.random.default_rng(2)
    mp, ip = _save(tmp_path, m, {f"x:{i}": rng.normal(size=(8, 16)).astype(np.float32)
                                 for i in range(4)})
    rep, plots = tmp_path / "r" / "report.json", tmp_path / "plots"
    assert main(["model", "onnx", str(mp), "--inputs", str(ip), "--calibration", "2",
                 "--preset", "tiny", "--report", str(rep), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "tiny_sibia" in out and "SQNR" in out
    d = json.loads(rep.read_text())
    assert [e["name"] for e in d["layers"]] == ["q", "k", "v", "out"]
    for e in d["layers"]:
        assert sum(e["ho_histogram"]["counts"]) == e["M"] * e["K"]
        assert math.isfinite(e["sqnr_db"])
    for f in ("onnx_skip_speedup.png", "onnx_high_slices.png"):
        assert (plots / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- RTL ------------------------------------------------------------------------------------
def test_sim_layer_on_rtl_icarus(tmp_path):
    m, _ = om.mlp()
    mp, ip = _save(tmp_path, m, _float_feeds(16, n=3, rows=4))
    from panacea_hdl.flows.jobs import run_gemm_job

    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip, calibration=1, layers=["fc2"],
                    sim="icarus", gemm_job=run_gemm_job)
    e = d["layers"][1]
    assert e["rtl"]["bit_exact"] and e["rtl"]["cycles"] == e["designs"]["tiny"]["cycles"]


# ---- MiniLM as an ONNX graph ---------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm_graph():
    from golden_model.minilm import MiniLMError, load_minilm
    from golden_model.minilm_onnx import build_minilm_onnx

    try:
        model = load_minilm()
    except MiniLMError as e:
        pytest.skip(str(e))
    return model, build_minilm_onnx(model)


def test_minilm_onnx_layer_inputs_match_numpy_minilm(minilm_graph):
    from golden_model.minilm import capture_layer_inputs, forward, layer_names
    from golden_model.minilm_onnx import sentence_inputs

    model, g = minilm_graph
    sents = ["The quick brown fox jumps over the lazy dog.", "Rain again today."]
    layers, others = find_layers(g)
    assert [l.name for l in layers] == layer_names()
    assert len(others) == 12                                         # scores, context x 6
    ref = capture_layer_inputs(sents, model=model)
    feeds = [{"input_ids": v} for v in sentence_inputs(sents, model).values()]
    cap = capture(g, feeds, [l.x for l in layers] + ["embedding"])
    for l in layers:
        w, b = model.linear_params(int(l.name[1]), l.name.split(".", 1)[1])
        np.testing.assert_array_equal(l.w, w.astype(np.float64))
        if l.op == "Gemm":
            np.testing.assert_array_equal(l.b, b.astype(np.float64))
        else:                                       # MatMul: its bias is a separate Add
            assert l.op == "MatMul" and l.b is None
        got = np.concatenate(cap[l.x])
        scale = np.abs(ref[l.name]).max()
        np.testing.assert_allclose(got, ref[l.name], rtol=0, atol=2e-5 * scale, err_msg=l.name)
    np.testing.assert_allclose(np.stack(cap["embedding"]), forward(sents, model=model),
                               atol=2e-6)


def test_dynamic_quantized_matmul_integer_zero_point_per_sample(tmp_path):
    m, w = om.dynamic_quant_matmul_integer()
    rng = np.random.default_rng(8)
    feeds = {f"x:{i}": rng.normal(0.5 * i, 1.0 + i, (4, 20)).astype(np.float32) for i in range(4)}
    mp, ip = _save(tmp_path, m, feeds)
    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip, calibration=1)
    (e,) = d["layers"]
    assert e["z"] == "per-row" and e["matches_onnxruntime"] is True
    cap = capture(m, [{"x": feeds[f"x:{i}"]} for i in (1, 2, 3)], ["xq", "xz", "Yi"])
    assert len({int(z) for z in cap["xz"]}) == 3               # the samples' zero points differ
    Y = np.concatenate([(a.astype(np.int64) - int(z)) @ w["B"].astype(np.int64)
                        for a, z in zip(cap["xq"], cap["xz"])])
    np.testing.assert_array_equal(np.concatenate(cap["Yi"]), Y)


def test_qlinear_matmul_requantized_output(tmp_path):
    from golden_model.onnx_model import quantize_layer

    m, w = om.qlinear_matmul()
    rng = np.random.default_rng(9)
    feeds = {f"A:{i}": rng.integers(60, 160, (6, 16)).astype(np.uint8) for i in range(2)}
    mp, ip = _save(tmp_path, m, feeds)
    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip)
    (e,) = d["layers"]
    assert e["kind"] == "integer" and e["z"] == 100 and e["matches_onnxruntime"] is True
    layers, _ = find_layers(m)
    A = feeds["A:0"]
    q = quantize_layer(layers[0], None, None, cfg=preset("tiny"), A_cal=A, A_eval=A)
    Y = (A.astype(np.int64) - 100) @ w["B"].astype(np.int64)
    np.testing.assert_array_equal(q["Y"], Y)
    np.testing.assert_allclose(q["y"], Y * 0.05 * w["b_s"].astype(np.float64), rtol=1e-6)


def test_smoothing_through_the_onnx_path(tmp_path):
    m, _ = om.mlp()
    rng = np.random.default_rng(12)
    feeds = {}
    for i in range(5):
        x = rng.normal(0.0, 1.0, (16, 16))
        x[:, 3] *= 50.0                                         # an outlier input channel
        feeds[f"x:{i}"] = x.astype(np.float32)
    mp, ip = _save(tmp_path, m, feeds)
    # per batch, so that no evaluated value falls outside the calibrated range
    plain = onnx_report(mp, cfg=preset("default"), inputs=ip)
    smooth = onnx_report(mp, cfg=preset("default"), inputs=ip, smooth=0.5)
    assert "smoothed alpha 0.5" in smooth["layers"][0]["source"]
    assert smooth["layers"][0]["sqnr_db"] > plain["layers"][0]["sqnr_db"] + 1.0   # 32.0 -> 34.7 dB


def test_sim_layer_beyond_k_max_is_tiled_on_the_host(tmp_path):
    from panacea_hdl.flows.jobs import run_gemm_job

    m, _ = om.mlp(K=80, H=4, N=2)                       # fc1: K = 80 > tiny's k_max = 64
    mp, ip = _save(tmp_path, m, _float_feeds(80, n=2, rows=4))
    d = onnx_report(mp, cfg=preset("tiny"), inputs=ip, calibration=1, layers=["fc1"],
                    sim="icarus", gemm_job=run_gemm_job)
    e = d["layers"][0]
    assert e["K"] == 80 and e["k_tiled"] and d["notes"]
    assert e["rtl"]["bit_exact"] and e["rtl"]["cycles"] == e["designs"]["tiny"]["cycles"]
