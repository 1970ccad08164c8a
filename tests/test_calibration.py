"""Static calibration (``golden_model.calibration``): fixed parameters, smoothing, MiniLM report."""

from __future__ import annotations

import numpy as np
import pytest

from golden_model.aqs_gemm import reference_gemm
from golden_model.calibration import LayerQuant, apply_layer, calibrate_layer, smooth_factors
from golden_model.config import preset
from golden_model.model_report import minilm_static_report
from golden_model.quant import calibrate_activation


def _sqnr(ref, y):
    return 10 * np.log10((ref ** 2).sum() / ((ref - y) ** 2).sum())


def test_static_parameters_are_applied_unchanged():
    rng = np.random.default_rng(0)
    x_cal = rng.normal(0.2, 1.0, (32, 24))
    x_new = rng.normal(0.2, 3.0, (16, 24))                 # wider: must clip, not re-calibrate
    w = rng.normal(size=(24, 8))
    for path in ("w8a8_asym", "w8a8_asym_zpm", "w8a8_asym_zpm_dbs"):
        lq = calibrate_layer(x_cal, path=path, N=8, cfg=preset("default"))
        y, info = apply_layer(x_new, w, None, lq, cfg=preset("default"))
        assert info["act"] is lq.act and info["L"] == lq.L
        lo, hi = min(x_cal.min(), 0), max(x_cal.max(), 0)
        assert lq.act.scale == pytest.approx((hi - lo) / 255)             # from x_cal only
        assert (info["A"] == 255).any() and (info["A"] == 0).any()
        np.testing.assert_array_equal(info["Y"], reference_gemm(info["A"], info["W"], info["z"]))
        if lq.r is not None:
            assert info["r"] == lq.r                        # DBS's r is fixed too


def test_per_token_is_dynamic_and_asym_only():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 16)) * np.arange(1, 9)[:, None]
    lq = calibrate_layer(x, path="w8a8_asym", per_token=True)
    _, info = apply_layer(x, rng.normal(size=(16, 4)), None, lq)
    assert info["act"] == calibrate_activation(x, per_token=True)
    with pytest.raises(ValueError, match="per-token"):
        calibrate_layer(x, path="w8a8_asym_zpm", per_token=True)


def test_smoothing_keeps_the_product_and_tames_an_outlier_channel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 32))
    x[:, 5] *= 60.0                                            # one outlier channel
    w = rng.normal(size=(32, 16))
    s = smooth_factors(x, w, 0.5)
    np.testing.assert_allclose((x / s) @ (w * s[:, None]), x @ w, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(s, np.sqrt(np.abs(x).max(0) / np.abs(w).max(1)))
    plain = apply_layer(x, w, None, calibrate_layer(x, path="w8a8_asym"))[0]
    lq = calibrate_layer(x, path="w8a8_asym", w=w, smooth=0.5)
    smoothed, info = apply_layer(x, w, None, lq)
    np.testing.assert_array_equal(info["Y"], reference_gemm(info["A"], info["W"], info["z"]))
    assert _sqnr(x @ w, smoothed) > _sqnr(x @ w, plain) + 6            # > 4x less error power
    with pytest.raises(ValueError, match="weight"):
        calibrate_layer(x, path="w8a8_asym", smooth=0.5)
    with pytest.raises(ValueError, match="alpha"):
        smooth_factors(x, w, 1.5)


def test_layerquant_roundtrips_through_to_dict():
    lq = calibrate_layer(np.linspace(-1, 3, 64).reshape(8, 8), path="w8a8_asym")
    d = lq.to_dict()
    assert isinstance(lq, LayerQuant) and d["act"]["zero_point"] == lq.act.zero_point
    assert d["smoothed"] is False


def test_minilm_static_report_rejects_overlap():
    minilm = pytest.importorskip("golden_model.minilm")
    try:
        model = minilm.load_minilm()
    except minilm.MiniLMError as e:
        pytest.skip(str(e))
    with pytest.raises(ValueError, match="held-out"):
        minilm_static_report(["A cat.", "A dog."], ["A dog."], cfg=preset("default"), model=model)


@pytest.mark.slow
def test_cli_minilm_static_calibration(tmp_path, capsys):
    import json

    from golden_model.model_report import CALIBRATION_SENTENCES
    from panacea_hdl.cli import main

    cal = tmp_path / "cal.txt"
    cal.write_text("\n".join(CALIBRATION_SENTENCES[:6]) + "\n")
    held = tmp_path / "held.txt"
    held.write_text("The quick brown fox jumps over the lazy dog.\nRain again today.\n")
    rep = tmp_path / "static.json"
    assert main(["model", "minilm", "--calibration", str(cal), "--sentences", str(held),
                 "--report", str(rep)]) == 0
    d = json.loads(rep.read_text())
    assert len(d["calibration_sentences"]) == 6 and len(d["sentences"]) == 2
    for p in ("w8a8_sym", "w8a8_asym", "w8a8_asym_zpm", "w8a8_asym_zpm_dbs"):
        assert 0.95 < d["static"][p]["cosine_mean"] <= 1.0
    assert d["static"]["w8a8_asym"]["cosine_mean"] > d["static"]["w8a8_sym"]["cosine_mean"]
    assert "held-out" in capsys.readouterr().out
