"""The panacea command: files in, files out, one-line errors with exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from golden_model.aqs_gemm import reference_gemm
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.cli import main


@pytest.fixture
def gemm_files(save_gemm):
    return save_gemm(11, 37, 13, seed=5)


@pytest.mark.parametrize("mode", ["dense", "sibia", "aqs"])
def test_gemm_golden_writes_exact_result_and_report(gemm_files, mode):
    d, A, W = gemm_files
    rc = main(["gemm", "--act", str(d / "A.npy"), "--weight", str(d / "W.npy"),
               "--zero-point", "97", "--mode", mode, "--preset", "tiny",
               "--out", str(d / "Y.npy"), "--report", str(d / "r.json"), "-q"])
    assert rc == 0
    Y = np.load(d / "Y.npy")
    assert Y.dtype == np.int32 and np.array_equal(Y, reference_gemm(A, W, 97))
    rep = json.loads((d / "r.json").read_text())
    assert rep["mode"] == mode and rep["shape"] == {"M": 11, "K": 37, "N": 13}
    assert rep["counters"]["cycles"] >= rep["prediction"]["work"]["ideal_cycles"]
    assert rep["prediction"]["memory"]["total_bytes_rle"] > 0


def _err(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


@pytest.mark.parametrize("change, message", [
    ({"A": lambda A: A.astype(np.int16)}, "activation must have dtype uint8"),
    ({"W": lambda W: W.astype(np.float32)}, "weight must have dtype int8"),
    ({"W": lambda W: W[:-2]}, "shape mismatch"),
    ({"W": lambda W: np.full_like(W, -128)}, "[-127, 127]"),
    ({"z": "256"}, "zero point must be in [0, 255]"),
    ({"split": "7"}, "split L=7 is not supported"),
    ({"r": "99"}, "r must be an int in [0, 15]"),
])
def test_gemm_errors_are_one_line(gemm_files, capsys, change, message):
    d, A, W = gemm_files
    np.save(d / "A2.npy", change.get("A", lambda a: a)(A))
    np.save(d / "W2.npy", change.get("W", lambda w: w)(W))
    argv = ["gemm", "--act", str(d / "A2.npy"), "--weight", str(d / "W2.npy"),
            "--zero-point", change.get("z", "3"), "--split", change.get("split", "4"),
            "--out", str(d / "Y.npy"), "-q"]
    if "r" in change:
        argv += ["--r", change["r"]]
    rc, err = _err(capsys, argv)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("panacea: error:") and message in err[0], err
    assert not (d / "Y.npy").exists()


def test_missing_and_unreadable_files(tmp_path, capsys):
    rc, err = _err(capsys, ["gemm", "--act", str(tmp_path / "none.npy"), "--weight",
                            str(tmp_path / "none.npy"), "--zero-point", "0", "--out",
                            str(tmp_path / "Y.npy")])
    assert rc == 2 and "does not exist" in err[0]
    (tmp_path / "junk.npy").write_text("not numpy")
    rc, err = _err(capsys, ["gemm", "--act", str(tmp_path / "junk.npy"), "--weight",
                            str(tmp_path / "junk.npy"), "--zero-point", "0", "--out",
                            str(tmp_path / "Y.npy")])
    assert rc == 2 and "is not a .npy array" in err[0]


def test_bad_config_file(tmp_path, gemm_files, capsys):
    d, _, _ = gemm_files
    (tmp_path / "c.json").write_text(json.dumps({"group_size": 0}))
    rc, err = _err(capsys, ["gemm", "--config", str(tmp_path / "c.json"), "--act", str(d / "A.npy"),
                            "--weight", str(d / "W.npy"), "--zero-point", "0", "--out",
                            str(tmp_path / "Y.npy")])
    assert rc == 2 and "group_size" in err[0]


@pytest.mark.parametrize("value, words", [
    (0, "tiles_per_pass must be in [2, 16], got 0"), (-1, "tiles_per_pass must be in"),
    (2.5, "tiles_per_pass must be an int"), ("3", "tiles_per_pass must be an int"),
    (9, "rows per pass) must be <= 32, got 9 * 4 = 36"),
])
def test_bad_tiles_per_pass_is_one_line_exit_2(tmp_path, gemm_files, capsys, value, words):
    d, _, _ = gemm_files
    (tmp_path / "c.json").write_text(json.dumps({"group_size": 4, "tiles_per_pass": value}))
    rc, err = _err(capsys, ["gemm", "--config", str(tmp_path / "c.json"), "--act", str(d / "A.npy"),
                            "--weight", str(d / "W.npy"), "--zero-point", "0", "--out",
                            str(tmp_path / "Y.npy")])
    assert rc == 2 and len(err) == 1 and err[0].startswith("panacea: error: ") and words in err[0]


def test_k_larger_than_buffer_is_tiled(tmp_path, capsys):
    A = skewed_activations(2, 65, seed=1)
    W = random_weights(65, 2, seed=1)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "W.npy", W)
    rc = main(["gemm", "--preset", "tiny", "--act", str(tmp_path / "A.npy"), "--weight",
               str(tmp_path / "W.npy"), "--zero-point", "0", "--out", str(tmp_path / "Y.npy"),
               "--report", str(tmp_path / "r.json")])
    assert rc == 0
    assert np.array_equal(np.load(tmp_path / "Y.npy"), reference_gemm(A, W, 0))
    assert [t["k"] for t in json.loads((tmp_path / "r.json").read_text())["tiles"]] == \
        [[0, 32], [32, 65]]


def test_console_script_help_documents_options():
    out = subprocess.run([sys.executable, "-m", "panacea_hdl.cli", "gemm", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for opt in ("--act", "--weight", "--zero-point", "--mode", "--preset", "--config", "--out",
                "--report", "--sim", "--stalls", "--split"):
        assert opt in out
