"""scripts/compare_tiles.py and scripts/work_stealing.py: what they compute (no synthesis,
no model run here)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from golden_model.config import preset
from golden_model.fileio import to_json
from panacea_hdl.flows.compare import make_workloads

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _compare_dict(base, cycles, areas, mem, skipped):
    """A compare.json-shaped dict: one workload 'w' (4 x 8 x 2 = 64 MACs)."""
    variants = {"panacea": base, "sibia": f"{base}_sibia", "dense": f"{base}_dense"}
    designs = {n: {"variant": v, "area": areas[v], "transistors_with_memory": mem[v]}
               for v, n in variants.items()}
    wl = {"M": 4, "K": 8, "N": 2,
          "designs": {n: {"cycles": cycles[v], "frac_vectors_skipped": skipped[v]}
                      for v, n in variants.items()}}
    ratios = {"w": {variants[v]: {"speedup": cycles[v] / cycles["panacea"], "energy": 0.5,
                                  "ext_bytes": 0.9} for v in ("sibia", "dense")}}
    return {"base": base, "designs": designs, "workload_order": ["w"], "workloads": {"w": wl},
            "ratios": ratios}


def test_summary_per_cycle_and_area_by_hand():
    ct = _load("compare_tiles")
    d = _compare_dict("tiny", cycles={"panacea": 16, "sibia": 32, "dense": 16},
                      areas={"panacea": 200, "sibia": 190, "dense": 160},
                      mem={"panacea": 400, "sibia": 390, "dense": 320},
                      skipped={"panacea": 0.5, "sibia": 0.0, "dense": 0.0})
    s = ct.summarize({2: d}, "generic")
    r = s["w"][2]
    assert r["shape"] == "4x8x2" and r["base"] == "tiny"
    assert r["panacea"]["macs_per_cycle_per_area"] == pytest.approx(64 / 16 / 200)
    assert r["dense"]["macs_per_cycle_per_area_with_memory"] == pytest.approx(64 / 16 / 320)
    # equal cycles: perf/area = the inverse area ratio
    assert r["vs_dense"]["perf_per_area_per_cycle"] == pytest.approx(160 / 200)
    assert r["vs_dense"]["perf_per_area_with_memory"] == pytest.approx(320 / 400)
    assert r["vs_sibia"]["perf_per_area_per_cycle"] == pytest.approx(2 * 190 / 200)
    assert r["vs_sibia"]["speedup"] == 2.0
    text = ct.format_table(s, "generic")
    assert "| w | 2 | 4x8x2 | 16 | 50.0% | " in text
    assert "| 1.00x / 0.80x / 0.80x / 0.500 | 2.00x / 1.90x |" in text


def test_table_of_a_saved_run(tmp_path, capsys):
    ct = _load("compare_tiles")
    d = _compare_dict("tiny", cycles={"panacea": 10, "sibia": 20, "dense": 10},
                      areas={"panacea": 100, "sibia": 100, "dense": 50},
                      mem={"panacea": 1, "sibia": 1, "dense": 1},
                      skipped={"panacea": 0.25, "sibia": 0.0, "dense": 0.0})
    s = ct.summarize({3: d}, "ecp5")
    p = tmp_path / "tiles.json"
    p.write_text(to_json({"target": "ecp5", "workload_order": ["w"], "summary": s}))
    assert ct.main(["--table", str(p)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| workload | T |") and "MACs/cycle/kLUT4" in out[0]
    # 64 MACs / 10 cycles / 100 LUT4 = 0.064 per LUT4, 64 per kLUT4; half the INT8 array's per area
    assert out[2] == "| w | 3 | 4x8x2 | 10 | 25.0% | 64.000 | 10 | 1.00x / 0.50x / 0.500 | 2.00x / 2.00x |"
    p.write_text("{}")
    assert ct.main(["--table", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("panacea: error:")


def test_same_shape_workloads_are_the_same_gemm_on_every_design(tmp_path):
    ct = _load("compare_tiles")
    paths = ct.write_same_shape("tiny", 24, tmp_path)
    shapes = set()
    for T in (2, 3, 4):
        wls = make_workloads(preset(ct.base_name("tiny", T)), paths)
        assert [w["name"] for w in wls] == ["skewed24", "uniform24"]
        for w in wls:
            assert w["A"].shape == (24, 64) and w["W"].shape == (64, 4) and w["L"] == 4
            shapes.add((w["name"], w["A"].tobytes(), w["W"].tobytes(), w["z"]))
    assert len(shapes) == 2             # identical for every T
    assert {s[3] for s in shapes} == {100, 128}


def test_rows_not_a_multiple_of_the_passes(capsys):
    ct = _load("compare_tiles")
    assert ct.main(["--scale", "tiny", "--rows", "20", "-q"]) == 2   # T = 3: 6 rows per pass
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("panacea: error: --rows 20")


def test_stealing_rule_against_brute_force():
    ws = _load("work_stealing")
    # by hand: K = 64, no literal, T = 2: s = 21 gives max(43, 42) = 43
    assert ws.pass_issue_cycles(64, 0, 2) == (64, 43, 21)
    # the DWO already the bottleneck: nothing to steal
    assert ws.pass_issue_cycles(64, 70, 2) == (70, 70, 0)
    rng = np.random.default_rng(1)
    for _ in range(300):
        K, T = int(rng.integers(1, 200)), int(rng.integers(2, 5))
        w = int(rng.integers(0, 2 * K))
        best = min(max(K - s, w + T * s) for s in range(K + 1))
        today, stolen, s = ws.pass_issue_cycles(K, w, T)
        assert today == max(K, w) and stolen == best
        assert max(K - s, w + T * s) == stolen and 0 <= s <= K
