"""cocotb runs of the RLE decoder's generated Verilog (tiny preset) on Icarus and Verilator.

Builds ``RLEDecoder`` once per simulator under ``build/rle_decoder_tiny/<sim>/`` and runs
``sim_tests/benches/tb_rle_decoder.py`` on a job of golden passes: random valid passes
(``rle_encode``), K = 1 and K = k_max, dense mode, and malformed streams (each followed by a
good pass, so recovery after restart is checked). Expectations come from
``golden_model.formats.rle_decode`` through the unit tests' cross-checked ``expected_pass``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden_model import formats
from golden_model.config import preset
from golden_model.formats import LIT, SKIP, END, pack_rle_word, rle_encode
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.rle_decoder import RLEDecoder
from panacea_hdl.sim.runner import BUILD_ROOT, SIMULATORS, run_cocotb, write_verilog
from sim_tests.unit.test_rle_decoder import expected_pass, random_pass

CFG = preset("tiny")
TOP = "rle_decoder_tiny"


def make_case(name, words, K, dense, p_valid):
    lits, consumed, finished, code, offset = expected_pass(CFG, words, K, dense)
    runs = [formats.unpack_rle_word(CFG, w)[1] for w in words[:consumed]]
    if offset is not None:
        runs[offset] = 0
    return {"name": name, "words": [int(w) for w in words], "K": int(K), "dense": bool(dense),
            "p_valid": p_valid,
            "expect": {"lits": [[int(t), int(k), [int(x) for x in v]] for t, k, v in lits],
                       "consumed": consumed, "finished": finished, "code": int(code),
                       "skipped": [int(r) for r in runs]}}


def build_job(seed=2024):
    rng = np.random.default_rng(seed)
    G = CFG.group_size
    cases = []
    for n in range(12):
        K = int(rng.choice([1, 5, CFG.max_run + 1, 23, CFG.k_max]))
        p_skip = float(rng.choice([0.0, 0.5, 0.9, 1.0]))
        words, _, _ = random_pass(CFG, K, p_skip, rng)
        cases.append(make_case(f"valid{n}", words, K, False, float(rng.choice([1.0, 0.6]))))
    ah = rng.integers(0, 1 << CFG.ho_bits, size=(G, 9))
    dense_words = rle_encode(CFG, ah, np.zeros(9, bool)) * 2
    cases.append(make_case("dense", dense_words, 9, True, 0.8))
    good, _, _ = random_pass(CFG, 20, 0.5, rng)
    garbage = [pack_rle_word(CFG, LIT, 0, [1] * G)] * 3            # offered after the bad word
    bad = [
        ("skip_data", good[:3] + [pack_rle_word(CFG, SKIP, 1) | 1] + good[3:], False, ErrorCode.RLE_DATA),
        ("kind3", [3 << (G * CFG.ho_bits + CFG.rle_run_bits)] + good, False, ErrorCode.RLE_KIND),
        ("overrun", [pack_rle_word(CFG, SKIP, CFG.max_run)] * 3 + garbage, False, ErrorCode.RLE_OVERRUN),
        ("short", good[:len(good) // 2] + [pack_rle_word(CFG, END, 0)] + garbage, False,
         ErrorCode.RLE_SHORT),
        ("dense_run", dense_words[:4] + [pack_rle_word(CFG, SKIP, 1)] + dense_words[4:], True,
         ErrorCode.RLE_DENSE_RUN),
    ]
    for name, words, dense, code in bad:
        K = 9 if dense else 20
        case = make_case(name, words, K, dense, 0.7)
        assert case["expect"]["code"] == code, (name, case["expect"]["code"])
        cases.append(case)
        cases.append(make_case(name + "+recover", good, 20, False, 0.7))
    return {"group_size": G, "ho_bits": CFG.ho_bits, "word_bits": formats.rle_word_bits(CFG),
            "seed": seed, "cases": cases}


@pytest.mark.parametrize("sim", SIMULATORS)
def test_rle_decoder_cocotb(sim):
    build_dir = BUILD_ROOT / TOP / sim
    src = write_verilog(RLEDecoder(config=CFG), TOP, build_dir / f"{TOP}.v")
    job = build_dir / "job.json"
    job.write_text(json.dumps(build_job()))
    run_cocotb(sources=[src], toplevel=TOP, test_module="tb_rle_decoder", sim=sim,
               build_dir=build_dir, env={"RLE_JOB": str(job)}, seed=1)
