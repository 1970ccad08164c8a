"""cocotb runs of one PEA (tiny preset, and tiny_t4: four tiles per pass) on Icarus and Verilator, driven from golden data.

The job (all modes, all splits of the preset, M not a multiple of the pass, one case with
K = k_max and extreme values) is built here from ``golden_model`` and handed to
``sim_tests/benches/tb_pea.py`` as JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, reference_gemm, skip_value
from golden_model.config import PRESETS
from golden_model.slicing import join_activation
from panacea_hdl.rtl.pea.pea import PEA
from panacea_hdl.sim.runner import BUILD_ROOT, SIMULATORS, run_cocotb, write_verilog

CONFIG = PRESETS["tiny"]


def _activations(cfg, M, K, L, r, rng):
    """Skewed activations: many tile vectors all r or all 0, so every mode skips some."""
    G = cfg.group_size
    Mp = -(-M // G) * G
    AH = rng.integers(0, 1 << (8 - L), (Mp, K))
    for t in range(Mp // G):
        kind = rng.choice(3, K, p=[0.4, 0.25, 0.35])
        AH[t * G:(t + 1) * G, kind == 0] = r
        AH[t * G:(t + 1) * G, kind == 1] = 0
    AL = rng.integers(0, 1 << L, (Mp, K))
    return ((AH << L) | AL)[:M].astype(np.uint8)


def build_job(cfg, seed=1):
    rng = np.random.default_rng(seed)
    rows, G, cols = cfg.rows_per_pass, cfg.group_size, cfg.pea_cols
    T = cfg.tiles_per_pass
    cases = []
    combos = [(mode, L) for mode in ("dense", "sibia", "aqs") for L in cfg.splits]
    for i, (mode, L) in enumerate(combos + [("aqs", max(cfg.splits))]):
        extreme = i == len(combos)
        M = 2 * rows - 1
        K = cfg.k_max if extreme else int(rng.integers(5, 30))
        r = int(rng.integers(1, 1 << (8 - L)))
        z = 255 if extreme else int(rng.integers(0, 256))
        if extreme:   # W = +-127, activations at their extremes
            W = rng.choice([-127, 127], (K, cols)).astype(np.int8)
            A = rng.choice([0, 255, r << L], (M, K)).astype(np.uint8)
        else:
            W = rng.integers(-127, 128, (K, cols)).astype(np.int8)
            A = _activations(cfg, M, K, L, r, rng)
        Y, plan = aqs_gemm(A, W, z, mode=mode, L=L, r=r, cfg=cfg)
        assert (Y == reference_gemm(A, W, z)).all()
        Y_full = reference_gemm(join_activation(plan.AH, plan.AL, L), W, z)   # padded rows too
        assert (Y_full[:M] == Y).all()
        passes = []
        for p in range(plan.AH.shape[0] // rows):
            lo = [plan.AL[p * rows:(p + 1) * rows, k].tolist() for k in range(K)]
            lits = [[t, k, plan.AH[p * rows + t * G:p * rows + (t + 1) * G, k].tolist()]
                    for t in range(T) for k in range(K) if not plan.vec_skip[T * p + t, k]]
            passes.append({"lo": lo, "lits": lits,
                           "y": Y_full[p * rows:(p + 1) * rows].tolist()})
        cases.append({"name": f"{mode}-L{L}" + ("-extreme" if extreme else ""),
                      "s": skip_value(mode, r), "z": z, "L": L, "gaps": 0.0 if i % 2 else 0.3,
                      "w": W.astype(int).tolist(), "passes": passes})
    return {"seed": seed, "config": {**cfg.to_dict(), **cfg.derived()}, "cases": cases}


@pytest.mark.parametrize("cfg", [CONFIG, PRESETS["tiny_t4"]], ids=lambda c: c.name)
@pytest.mark.parametrize("sim", SIMULATORS)
def test_pea_cocotb(sim, cfg):
    name = f"pea_{cfg.name}"
    build_dir = BUILD_ROOT / name / f"cocotb_{sim}"
    src = write_verilog(PEA(config=cfg), name, build_dir / f"{name}.v")
    job = build_dir / "job.json"
    job.write_text(json.dumps(build_job(cfg)))
    run_cocotb(sources=[src], toplevel=name, test_module="tb_pea", sim=sim,
               build_dir=build_dir, env={"PEA_JOB": str(job)}, seed=1)
