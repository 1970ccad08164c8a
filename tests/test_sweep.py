"""panacea sweep (panacea_hdl.flows.sweep): a few tiny points on a 2-worker LocalCluster (cycle model
and Icarus), numbers checked against the golden model computed here; a point that fails cleanly;
a timeout; resuming re-runs nothing done (cache-file mtimes and the run counters); a sweep
killed mid-way continues; spec errors are one line, exit 2. Generic synthesis is a slow test."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from golden_model.aqs_gemm import aqs_gemm, choose_r, reference_gemm
from golden_model.config import PanaceaConfig, preset
from golden_model.cycle_model import predict
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl.flows import sweep
from panacea_hdl.cli import main
from panacea_hdl.flows.sweep import load_spec, parse_spec, pareto_front, point_name, run_sweep

REPO = Path(__file__).resolve().parent.parent
TINY = preset("tiny")
BEST = {"panacea": "aqs", "sibia": "sibia", "dense": "dense"}

# three variants of tiny (each other's baselines), one invalid point; skewed on the cycle
# model, uniform on Icarus (bit- and cycle-exact or the row fails)
MAIN_SPEC = {
    "name": "main",
    "base": "tiny",
    "grid": {"variant": ["panacea", "sibia", "dense"]},
    "points": [{"group_size": 0}],
    "workloads": ["skewed", {"name": "uniform", "sim": "icarus"}],
    "sim": "golden",
    "synth": [],
}


def _expected(cfg: PanaceaConfig, workload: str):
    """Cycles, energy and external bytes of the documented workload on ``cfg``, computed
    here from the golden model (not through the sweep or compare code)."""
    M, K, N = 4 * 2 * cfg.group_size, min(256, cfg.k_max), cfg.num_peas * cfg.pea_cols
    if workload == "skewed":
        A, z = skewed_activations(M, K, seed=2025), 100
    else:
        A, z = np.random.default_rng(2025).integers(0, 256, size=(M, K), dtype=np.uint8), 128
    W = random_weights(K, N, seed=2025)
    mode = BEST[cfg.variant]
    Y, plan = aqs_gemm(A, W, z, mode=mode, L=4, r=choose_r(A, 4), cfg=cfg)
    assert np.array_equal(Y, reference_gemm(A, W, z))
    p = predict(plan, N, cfg)
    return {"M": M, "K": K, "N": N, "mode": mode, "cycles": p.counters["cycles"],
            "energy_pj": p.energy_pj["total"], "ext_bytes": p.memory["total_bytes_rle"]}


def _results(rows):
    """Rows without the run times (which differ between runs)."""
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]


def _mtimes(out: Path) -> dict:
    return {p.relative_to(out): p.stat().st_mtime_ns for p in (out / "points").rglob("wl-*.json")}


@pytest.fixture(scope="module")
def main_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep_main")
    spec = parse_spec(MAIN_SPEC)
    d = run_sweep(spec, out_dir=tmp / "out", build_dir=tmp / "build", workers=2, progress=False)
    return spec, d, tmp


def test_main_sweep_rows(main_sweep):
    spec, d, tmp = main_sweep
    assert d["stats"]["engine"] == "LocalCluster" and d["stats"]["workers"] == 2
    assert d["stats"]["points"] == 4 and d["stats"]["points_submitted"] == 4
    rows = d["rows"]
    assert len(rows) == 4 * 2
    names = {r["point"] for r in rows}
    assert len(names) == 4 and all(n.startswith("sw_") for n in names)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 6
    for r in ok:
        cfg = TINY.replace(name="x", variant=r["variant"])
        want = _expected(cfg, r["workload"])
        assert r["mode"] == want.pop("mode")
        for k, v in want.items():
            assert r[k] == pytest.approx(v), (r["variant"], r["workload"], k)
        assert r["rtl_checked"] is (r["workload"] == "uniform")
        assert r["sim"] == ("icarus" if r["workload"] == "uniform" else "golden")
        assert r["error"] is None and r["area"] is None and r["time_us"] is None
    # every point has its own config name, and so its own build directory
    build = tmp / "build"
    for n in {r["point"] for r in ok}:
        dirs = list(build.glob(f"{n}-*"))
        assert len(dirs) == 1 and (dirs[0] / f"panacea_{n}.v").is_file()
        assert (dirs[0] / "sim_icarus").is_dir()
    assert not any(build.glob("tiny-*"))


def test_bad_point_is_a_failed_row(main_sweep):
    _, d, _ = main_sweep
    bad = [r for r in d["rows"] if r["group_size"] == 0]
    assert [r["workload"] for r in bad] == ["skewed", "uniform"]
    for r in bad:
        assert r["status"] == "failed" and r["cycles"] is None
        assert r["error"].startswith("config: ConfigError: group_size")


def test_ratios_to_the_same_shape_baselines(main_sweep):
    _, d, _ = main_sweep
    by = {(r["variant"], r["workload"]): r for r in d["rows"] if r["status"] == "ok"}
    for wl in ("skewed", "uniform"):
        p, s, q = by["panacea", wl], by["sibia", wl], by["dense", wl]
        assert p["speedup_vs_dense"] == pytest.approx(q["cycles"] / p["cycles"])
        assert p["speedup_vs_sibia"] == pytest.approx(s["cycles"] / p["cycles"])
        assert p["energy_vs_dense"] == pytest.approx(p["energy_pj"] / q["energy_pj"])
        assert p["ext_bytes_vs_sibia"] == pytest.approx(p["ext_bytes"] / s["ext_bytes"])
        assert q["speedup_vs_dense"] == 1.0 and s["speedup_vs_sibia"] == 1.0
        assert p["area_vs_dense"] is None            # no synthesis in this sweep
    # aqs skips on skewed data, the Sibia-like array cannot
    assert by["panacea", "skewed"]["speedup_vs_sibia"] > 1
    bad = [r for r in d["rows"] if r["status"] != "ok"]
    # group_size 0 has no baseline in the sweep (and no result): no ratios
    assert all(r["speedup_vs_dense"] is None for r in bad)


def test_outputs_csv_json_plots(main_sweep):
    _, d, tmp = main_sweep
    out = tmp / "out"
    with open(out / "sweep.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(d["rows"])
    assert list(table[0]) == d["columns"]
    for t, r in zip(table, d["rows"]):
        assert t["point"] == r["point"] and t["status"] == r["status"]
        assert t["cycles"] == ("" if r["cycles"] is None else str(r["cycles"]))
    j = json.loads((out / "sweep.json").read_text())
    assert j["rows"] == json.loads(json.dumps(d["rows"]))
    assert "same sweep" in j["baseline_rule"]
    for stem in ("pareto_area_time", "pareto_energy_time"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:500]


def test_pareto_front():
    pts = [(1, 5), (2, 2), (3, 1), (3, 3), (2, 2), (5, 5)]
    # (3, 3) and (5, 5) are dominated; equal points do not dominate each other
    assert pareto_front(pts) == [0, 1, 2, 4]


def test_resume_runs_nothing_done(main_sweep):
    spec, d, tmp = main_sweep
    out = tmp / "out"
    before = _mtimes(out)
    assert len(before) == 4 * 2
    again = run_sweep(spec, out_dir=out, build_dir=tmp / "build", workers=2, progress=False)
    assert again["stats"]["points_submitted"] == 0 and again["stats"]["items_run"] == 0
    assert again["stats"]["items_cached"] == 8 and again["stats"]["engine"] is None
    assert _mtimes(out) == before
    assert again["rows"] == d["rows"]

    # one item lost (as if the sweep had been killed before it finished): only it runs
    lost = next(p for p in before if "skewed" in p.name and p.parent.name == d["rows"][0]["point"])
    (out / lost).unlink()
    third = run_sweep(spec, out_dir=out, build_dir=tmp / "build", workers=1, progress=False)
    assert third["stats"]["points_submitted"] == 1 and third["stats"]["items_run"] == 1
    after = _mtimes(out)
    assert {p for p in after if after[p] != before.get(p)} == {lost}
    assert _results(third["rows"]) == _results(d["rows"])


def test_killed_sweep_continues(tmp_path):
    """SIGTERM the CLI once a point is cached; the re-run runs only the points not cached."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": "tiny", "grid": {"group_size": [1, 2, 3, 4]},
                                "workloads": ["skewed"], "sim": "golden", "synth": []}))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "panacea_hdl.cli", "--build-dir",
                             str(tmp_path / "build"), "sweep", str(spec), "-o", str(out),
                             "--workers", "1", "-q"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any((out / "points").glob("*/wl-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    done = _mtimes(out)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert 1 <= len(done) < 4
    d = run_sweep(load_spec(spec), out_dir=out, build_dir=tmp_path / "build", workers=1,
                  progress=False)
    assert d["stats"]["points_submitted"] == 4 - len(done)
    assert {p: t for p, t in _mtimes(out).items() if p in done} == done
    assert [r["status"] for r in d["rows"]] == ["ok"] * 4
    assert [r["group_size"] for r in d["rows"]] == [1, 2, 3, 4]


def test_timeout_is_a_failed_row(tmp_path):
    spec = parse_spec({"base": "tiny", "workloads": ["skewed"], "sim": "icarus", "synth": [],
                       "timeout": 0.5})
    d = run_sweep(spec, out_dir=tmp_path / "out", build_dir=tmp_path / "build", workers=1,
                  progress=False)
    [r] = d["rows"]
    assert r["status"] == "failed" and r["error"].startswith("timeout:")


def test_point_names_and_sampling():
    a = {**{k: v for k, v in TINY.to_dict().items() if k != "name"}}
    assert point_name(a) == point_name(dict(reversed(list(a.items()))))
    assert point_name(a) != point_name(dict(a, k_max=32))
    grid = {"group_size": [1, 2, 3], "pea_cols": [1, 2], "num_peas": [1, 2]}
    s1 = parse_spec({"base": "tiny", "grid": grid, "sample": {"n": 5, "seed": 7}})
    s2 = parse_spec({"base": "tiny", "grid": grid, "sample": {"n": 5, "seed": 7}})
    s3 = parse_spec({"base": "tiny", "grid": grid, "sample": {"n": 5, "seed": 8}})
    assert s1.points == s2.points and len(s1.points) == 5 and s1.points != s3.points
    full = parse_spec({"base": "tiny", "grid": grid})
    assert len(full.points) == 12 and all(p in full.points for p in s1.points)
    b = parse_spec({"base": "tiny", "grid": {"variant": ["panacea"], "k_max": [32, 64]},
                    "add_baselines": True})
    assert sorted((p["k_max"], p["variant"]) for p in b.points) == sorted(
        (k, v) for k in (32, 64) for v in ("panacea", "sibia", "dense"))
    # every PanaceaConfig field except the name can be swept, with no list of them to keep
    # (to_dict leaves `requant` and `act_buffer_bytes` out when off, so the dataclass fields
    # are the reference)
    assert set(sweep.CONFIG_FIELDS) == {f.name for f in dataclasses.fields(PanaceaConfig)} - {"name"}
    assert set(PanaceaConfig(requant=True, act_buffer_bytes=1 << 18).to_dict()) - {"name"} == \
        set(sweep.CONFIG_FIELDS)
    s = parse_spec({"grid": {"splits": [[4], [3, 4, 5]], "rle_run_bits": [3]}})
    assert [p["splits"] for p in s.points] == [[4], [3, 4, 5]]


def test_yaml_spec(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: tiny\ngrid:\n  group_size: [1, 2]\nworkloads:\n  - skewed\n"
                 "  - {name: uniform, sim: icarus}\nsynth: [generic]\n")
    s = load_spec(p)
    assert s.name == "s" and len(s.points) == 2 and s.synth == ("generic",)
    assert s.area == "generic"
    assert [(w["label"], w["sim"]) for w in s.workloads] == [("skewed", "golden"),
                                                              ("uniform", "icarus")]


@pytest.mark.parametrize("spec, words", [
    ({"grid": {"pass_height": [1, 2]}}, "unknown parameter(s) ['pass_height'] in grid"),
    ({"grid": {"group_size": 2}}, "grid.group_size must be a non-empty list"),
    ({"grid": {"name": ["a"]}}, "sets 'name'"),
    ({"workloads": ["nosuch"]}, "unknown workload 'nosuch'"),
    ({"workloads": ["missing.npz"]}, "does not exist"),
    ({"sim": "modelsim"}, "sim must be one of"),
    ({"synth": ["asic"]}, "synth must be a list"),
    ({"synth": [], "area": "ecp5"}, "area 'ecp5' must be one of the synth targets"),
    ({"base": "huge"}, "unknown preset 'huge'"),
    ({"gird": {}}, "unknown key(s) ['gird']"),
    ({"sample": {"n": 0}}, "sample.n must be a positive int"),
    ({"timeout": -1}, "timeout must be a positive number"),
])
def test_bad_spec_cli_exit_2(tmp_path, capsys, spec, words):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(spec))
    rc = main(["--build-dir", str(tmp_path / "b"), "sweep", str(p), "-o", str(tmp_path / "o"),
               "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panacea: error: ")
    assert words in lines[0]
    assert not (tmp_path / "o" / "sweep.csv").exists()


def test_unreadable_spec_cli_exit_2(tmp_path, capsys):
    p = tmp_path / "spec.json"
    p.write_text("{not json")
    assert main(["sweep", str(p), "-q"]) == 2
    assert capsys.readouterr().err.startswith("panacea: error: sweep spec")
    assert main(["sweep", str(tmp_path / "none.yaml"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_generic_synthesis_columns(tmp_path):
    """One tiny point with generic synthesis: the area columns are the synthesis results."""
    spec = parse_spec({"base": "tiny", "grid": {"variant": ["panacea", "dense"]},
                       "workloads": ["skewed"], "synth": ["generic"]})
    d = run_sweep(spec, out_dir=tmp_path / "out", build_dir=tmp_path / "build", workers=2,
                  progress=False)
    rows = {r["variant"]: r for r in d["rows"]}
    for v, r in rows.items():
        assert r["status"] == "ok", r["error"]
        [sdir] = (tmp_path / "build").glob(f"{r['point']}-*/synth_generic")
        s = json.loads((sdir / "synth.json").read_text())
        assert (r["generic_cells"], r["generic_transistors"]) == (s["cells"], s["transistors"])
        assert r["area"] == s["transistors"] and r["area_unit"] == "transistors"
    assert rows["dense"]["area"] < rows["panacea"]["area"]
    assert rows["panacea"]["area_vs_dense"] == pytest.approx(
        rows["panacea"]["area"] / rows["dense"]["area"])


def test_existing_scheduler_by_address_and_file(tmp_path, capsys):
    """--scheduler: the sweep runs on a cluster it did not start, which stays up after."""
    import logging

    from distributed import Client, LocalCluster

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": "tiny", "grid": {"group_size": [1, 2]},
                                "workloads": ["skewed"], "sim": "golden", "synth": []}))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      silence_logs=logging.ERROR, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        rc = main(["--build-dir", str(tmp_path / "build"), "sweep", str(spec), "-o",
                   str(tmp_path / "a"), "--scheduler", cluster.scheduler_address, "-q"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert f"on scheduler {cluster.scheduler_address} with 1 worker(s)" in out
        d = json.loads((tmp_path / "a" / "sweep.json").read_text())
        assert [r["status"] for r in d["rows"]] == ["ok", "ok"]
        sched_file = tmp_path / "scheduler.json"
        # what `dask scheduler --scheduler-file` writes, reduced to what a Client reads
        # (Client.write_scheduler_file can fail on this version once tasks have run)
        sched_file.write_text(json.dumps({"type": "Scheduler",
                                          "address": cluster.scheduler_address}))
        d2 = run_sweep(load_spec(spec), out_dir=tmp_path / "b", build_dir=tmp_path / "build",
                       scheduler=str(sched_file), progress=False)
        assert d2["stats"]["points_submitted"] == 2
        assert _results(d2["rows"]) == _results(d["rows"])
        assert client.submit(lambda: 41 + 1).result() == 42       # the cluster is still up
    assert main(["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"]) == 2
    assert "--workers sizes the embedded cluster" in capsys.readouterr().err


def test_tiles_per_pass_is_a_grid_key():
    """A config field like any other: each point carries its tiles_per_pass."""
    s = parse_spec({"base": "tiny", "grid": {"tiles_per_pass": [2, 3, 4]}, "sim": "golden"})
    assert [p["tiles_per_pass"] for p in s.points] == [2, 3, 4]
    assert all(p["group_size"] == 2 for p in s.points)
