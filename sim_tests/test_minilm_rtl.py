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
            assert rep.rtl is not None
            seen[(t["group"], mode)] = rep.counters["cycles"]
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


@pytest.mark.slow
def test_whole_minilm_on_the_rtl_over_dask(tmp_path):
    """Every one of the 36 linear layers of MiniLM-L6 on the default core (Verilator), column
    chunks fanned out over a 2-worker LocalCluster: each chunk bit- and cycle-exact (checked in
    run_gemm_job), and the embeddings from the RTL equal the golden AQS path's bit for bit."""
    import json

    import numpy as np

    from panacea_hdl.cli import main

    rc = main(["model", "minilm", "--preset", "default", "--sim", "verilator", "--workers", "2",
               "--sentences", str(_sentence_file(tmp_path)),
               "--report", str(tmp_path / "r.json"),
               "--save-embeddings", str(tmp_path / "e.npz")])
    assert rc == 0
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["equal_to_golden"] is True and d["max_abs_diff"] == 0.0
    assert len(d["layers"]) == 36 and d["cycles"] > 0
    assert len(d["workers"]) == 2                     # both workers ran chunks
    assert sum(v["runs"] for v in d["workers"].values()) == sum(
        rec["chunks"] for rec in d["layers"].values())
    emb = np.load(tmp_path / "e.npz")["embeddings"]
    assert emb.shape == (1, 384)


def _sentence_file(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("A short sentence.\n")
    return p


def test_minilm_rtl_options_need_sim(capsys):
    from panacea_hdl.cli import main

    assert main(["model", "minilm", "--workers", "2"]) == 2
    assert "--workers and --scheduler need --sim" in capsys.readouterr().err
