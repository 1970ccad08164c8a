"""Real MiniLM-L6 layer tiles (q/k/v, attention output, FFN in, FFN out) through the RTL on
Verilator in all three modes: bit-exact, every counter (cycles included) equal to the model."""

import pytest

pytest.importorskip("safetensors")

from golden_model.aqs_gemm import MODES  # noqa: E402
from golden_model.config import preset  # noqa: E402
from golden_model.minilm import MiniLMError, representative_tiles  # noqa: E402
from panacea_hdl.flows.jobs import run_gemm_job  # noqa: E402


def _tiles(cfg):
    try:
        return representative_tiles(cfg, sentences=["The museum opens at nine on weekdays.",
                                                    "Heavy rain delayed the train by almost an hour."])
    except MiniLMError as e:
        pytest.skip(str(e))


def _run_all(cfg, sim):
    seen = {}
    for t in _tiles(cfg):
        for mode in MODES:
            # run_gemm_job raises unless the RTL is bit-exact and its counters equal predict()
            rep = run_gemm_job(cfg, t["A"], t["W"], t["z"], mode=mode, L=t["L"], r=t["r"], sim=sim)
            assert rep["rtl"]["matches_golden"]
            seen[(t["group"], mode)] = rep["counters"]["cycles"]
    groups = {g for g, _ in seen}
    assert groups == {"qkv", "attn_out", "ffn_in", "ffn_out"}
    for g in groups:   # skipping never costs cycles on the same data
        assert seen[(g, "aqs")] <= seen[(g, "dense")]
    return seen


def test_minilm_tiles_on_verilator_tiny():
    _run_all(preset("tiny"), "verilator")


@pytest.mark.slow
def test_minilm_tiles_on_verilator_default():
    _run_all(preset("default"), "verilator")
