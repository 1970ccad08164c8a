"""``panacea gemm --requant FILE.npz``: the uint8 result of golden_model.requant, the report's
counters with the header, and one-line errors (exit 2) for bad files or configs."""

import json

import numpy as np
import pytest

from golden_model.aqs_gemm import reference_gemm
from golden_model.config import PRESETS
from golden_model.requant import requant_params
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.cli import main


@pytest.fixture
def files(tmp_path):
    A = skewed_activations(11, 37, seed=5)
    W = random_weights(37, 13, seed=5)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "W.npy", W)
    rng = np.random.default_rng(1)
    rq = requant_params(rng.uniform(2e-4, 3e-3, 13), bias=rng.integers(-9000, 9000, 13), out_zp=120)
    np.savez(tmp_path / "rq.npz", bias=rq.bias.astype(np.int32), mult=rq.mult.astype(np.int32),
             shift=rq.shift.astype(np.int32), out_zp=np.uint8(120))
    return tmp_path, A, W, rq


def _argv(d, *extra, rq="rq.npz", preset="tiny_rq"):
    return ["gemm", "--preset", preset, "--act", str(d / "A.npy"), "--weight", str(d / "W.npy"),
            "--zero-point", "97", "--requant", str(d / rq), "--out", str(d / "Y.npy"), "-q", *extra]


def test_gemm_requant_golden(files):
    d, A, W, rq = files
    assert main(_argv(d, "--report", str(d / "r.json"))) == 0
    Y = np.load(d / "Y.npy")
    assert Y.dtype == np.uint8 and np.array_equal(Y, rq.apply(reference_gemm(A, W, 97)))
    rep = json.loads((d / "r.json").read_text())
    assert rep["requant"]["out_zp"] == 120 and rep["requant"]["mult"] == rq.mult.tolist()
    assert rep["prediction"]["memory"]["out_bytes"] == 11 * 4 * PRESETS["tiny_rq"].cols
    # the same file with real scales instead of mult + shift gives the same result
    np.savez(d / "rq2.npz", bias=rq.bias, scale=rq.mult * 2.0 ** (rq.shift - 31), out_zp=120)
    assert main(_argv(d, rq="rq2.npz")) == 0
    assert np.array_equal(np.load(d / "Y.npy"), Y)


def test_gemm_requant_on_the_rtl(files):
    d, A, W, rq = files
    assert main(_argv(d, "--sim", "icarus")) == 0
    assert np.array_equal(np.load(d / "Y.npy"), rq.apply(reference_gemm(A, W, 97)))


@pytest.mark.parametrize("arrays, preset, message", [
    ({"bias": [0] * 13, "mult": [1 << 30] * 13, "shift": [0] * 13}, "tiny_rq", "out_zp"),
    ({"mult": [1 << 30] * 13, "shift": [1] * 13, "out_zp": 0}, "tiny_rq", "shift must be in"),
    ({"mult": [1 << 30] * 12, "shift": [0] * 13, "out_zp": 0}, "tiny_rq", "mult must have 13 values"),
    ({"mult": [1 << 30] * 13, "out_zp": 0}, "tiny_rq", "either mult and shift or scale"),
    ({"scale": [0.5] * 13, "mult": [1] * 13, "shift": [0] * 13, "out_zp": 0}, "tiny_rq",
     "either mult and shift or scale"),
    ({"scale": [2.0] * 13, "out_zp": 0}, "tiny_rq", "shift must be in"),
    ({"scale": [0.1] * 13, "out_zp": 300}, "tiny_rq", "out_zp must be an int in [0, 255]"),
    ({"scale": [0.1] * 13, "out_zp": 0, "zp": 1}, "tiny_rq", "unknown array"),
    ({"scale": [0.1] * 13, "out_zp": 0}, "tiny", "has no requantization stage"),
])
def test_gemm_requant_errors_are_one_line(files, capsys, arrays, preset, message):
    d, *_ = files
    np.savez(d / "bad.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    rc = main(_argv(d, rq="bad.npz", preset=preset))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not (d / "Y.npy").exists()


def test_gemm_requant_file_errors(files, capsys):
    d, *_ = files
    np.save(d / "one.npy", np.zeros(3))
    for name, message in (("missing.npz", "does not exist"), ("one.npy", "single .npy array"),
                          ("A.npy", "single .npy array")):
        rc = main(_argv(d, rq=name))
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and message in err[0], err
    # K beyond one run of the core: the host would have to add partial sums after requantizing
    A = skewed_activations(2, 65, seed=1)
    W = random_weights(65, 13, seed=1)
    np.save(d / "A.npy", A)
    np.save(d / "W.npy", W)
    rc = main(_argv(d))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "needs the GEMM in one run of the core" in err[0], err
