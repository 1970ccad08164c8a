"""MiniLM with on-chip requantization of the linear outputs (golden_model/minilm_requant.py):
which layers requantize, bit-exactness with golden_model.requant, agreement with the float path
within 1 LSB, and the embedding accuracy it costs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from golden_model import minilm
from golden_model.minilm_requant import REQUANT_KINDS, RequantLinear, output_calibration
from golden_model.requant import requantize

if importlib.util.find_spec(minilm.PACKAGE) is None:
    pytest.skip(f"MiniLM weights package missing: {minilm.INSTALL_HINT}", allow_module_level=True)

SENTENCES = list(minilm.DEFAULT_SENTENCES[:4])


@pytest.fixture(scope="module")
def runs():
    model = minilm.load_minilm()
    hook = RequantLinear("w8a8_asym")
    return (minilm.forward(SENTENCES, model=model),
            minilm.forward(SENTENCES, path="w8a8_asym", model=model),
            minilm.forward(SENTENCES, linear=hook, model=model), hook)


def test_which_layers_requantize(runs):
    hook = runs[3]
    done = {n for n, rec in hook.records.items() if rec["requant"]}
    assert len(hook.records) == 36
    assert done == {n for n in hook.records if minilm.layer_kind(n) in REQUANT_KINDS}
    assert len(done) == 30 and "ffn_out" not in REQUANT_KINDS


def test_records_are_the_requant_stage_and_within_one_lsb_of_float(runs):
    for name, rec in runs[3].records.items():
        if not rec["requant"]:
            continue
        p = rec["params"]
        y_u8 = requantize(rec["Y"], p.bias, p.mult, p.shift, p.out_zp)
        np.testing.assert_array_equal(rec["y_u8"], y_u8, err_msg=name)
        # the same output quantized from the path's float result (bias in float)
        fl = np.clip(np.round(rec["y"] / rec["out_scale"]) + rec["out_zp"], 0, 255)
        assert np.abs(fl - y_u8.astype(np.float64)).max() <= 1, name
        assert (p.shift <= 0).all() and (p.mult >= 1 << 30).all()


def test_embedding_accuracy(runs):
    fp32, asym, rq, _ = runs
    c_rq, c_asym = minilm.cosine(rq, fp32), minilm.cosine(asym, fp32)
    assert c_rq.min() > 0.98, c_rq
    assert c_asym.mean() - c_rq.mean() < 0.01


def test_output_calibration_and_bad_kinds():
    assert output_calibration(np.array([-1.0, 3.0])) == (4.0 / 255, 64)
    assert output_calibration(np.array([2.0, 3.0]))[1] == 0     # 0 kept in range
    assert output_calibration(np.zeros(3)) == (1.0, 0)
    with pytest.raises(ValueError, match="kinds must be among"):
        RequantLinear(kinds=("qkv",))
