"""The fast RTL path (:mod:`panacea_hdl.sim.fastsim`): the GEMM job on a compiled Verilator host.

Every expectation comes from the golden model's job (:func:`panacea_hdl.sim.gemm.make_job`):
the ``y`` beats of :func:`golden_model.streams.host_streams`, the integer reference result and
the counters of :func:`golden_model.cycle_model.predict`. One harness build per design
(cached in ``<build dir>/<name>-<digest>/sim_verilator_fast``); each run takes milliseconds.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from golden_model import formats
from golden_model.aqs_gemm import choose_r, reference_gemm
from golden_model.config import PRESETS
from golden_model.streams import unpack_y
from golden_model.workloads import random_weights, skewed_activations
from panacea_hdl import regmap
from panacea_hdl.sim.fastsim import FastSimError, build_harness, run_job_fast, use_fast
from panacea_hdl.sim.gemm import bench_env, build_dir, make_job

VARIANTS = ("tiny", "tiny_sibia", "tiny_dense", "tiny_t3", "tiny_t4", "tiny_t3_dense",
            "tiny_t4_sibia")


def _config(name):
    """A preset, or ``tiny_t<T>_<variant>``: a baseline of the tiles-per-pass preset (the same
    rows per pass)."""
    if name in PRESETS:
        return PRESETS[name]
    base, variant = name.rsplit("_", 1)
    return PRESETS[base].replace(name=name, variant=variant)


def _gemm(cfg, mode, *, seed, z=104):
    """A skewed GEMM whose M, N are not multiples of the pass/tile and K of nothing (as
    cocotb_bench's ``_shape``); returns ``(A, W, z, job)``."""
    M, K = 2 * cfg.rows_per_pass + 3, min(cfg.k_max, 37)
    N = cfg.cols + max(1, cfg.cols // 2) + 1
    A = skewed_activations(M, K, seed=seed, center=z)
    W = random_weights(K, N, seed=seed)
    L = 4 if 4 in cfg.splits else cfg.splits[0]
    return A, W, z, make_job(cfg, A, W, z, mode=mode, L=L, r=choose_r(A, L))


def _run(cfg, job, **kw):
    verilog, top, _ = bench_env(cfg)
    return run_job_fast(cfg, job, verilog, top, build_dir(cfg, "verilator_fast"), **kw)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_mode_bit_and_cycle_exact(name):
    """Each mode of the variant: the y beats, the result and every counter (cycles too)."""
    cfg = _config(name)
    for mode in cfg.modes:
        A, W, z, job = _gemm(cfg, mode, seed=1)
        beats, counters, info = _run(cfg, job)
        assert beats == job["y"], mode
        Y = unpack_y(beats, job["M"], job["N"], cfg)
        np.testing.assert_array_equal(Y, reference_gemm(A, W, z), err_msg=mode)
        assert counters == job["counters"], mode
        assert info["busy_cycles"] == job["counters"]["cycles"], mode


@pytest.mark.parametrize("name", VARIANTS)
def test_random_stalls(name):
    """Random valid/ready gaps on w, lo, ho and y: still bit-exact, every counter but cycles
    equal, and the stalls cost cycles."""
    cfg = _config(name)
    for i, mode in enumerate(cfg.modes):
        _, _, _, job = _gemm(cfg, mode, seed=10 + i)
        beats, counters, _ = _run(cfg, job, stalls=True, seed=i)
        assert beats == job["y"], mode
        pred = job["counters"]
        assert {k: v for k, v in counters.items() if k != "cycles"} == \
               {k: v for k, v in pred.items() if k != "cycles"}, mode
        assert counters["cycles"] > pred["cycles"], mode


def test_run_gemm_job_takes_the_fast_path_and_checks_it(monkeypatch):
    """``run_gemm_job(sim="verilator")`` runs the harness by default and its Y and counters
    go through the host check: a wrong beat or counter from the RTL is an RTLMismatch."""
    from panacea_hdl.sim.fastsim import fastsim
    from panacea_hdl.flows.jobs import RTLMismatch, run_gemm_job

    cfg = PRESETS["tiny"]
    A, W, z, _ = _gemm(cfg, "aqs", seed=2)
    rep = run_gemm_job(cfg, A, W, z, mode="aqs", L=4, sim="verilator")
    assert rep.rtl.harness == "fast"
    np.testing.assert_array_equal(rep.Y, reference_gemm(A, W, z))

    real = fastsim.read_result

    def corrupt(what):          # what the harness read back from the RTL, altered
        def read(*args, **kw):
            res = real(*args, **kw)
            if what == "y":
                res["y"][-1] ^= 1
            else:
                res["counters"]["skipped_vectors"] += 1
            return res
        return read

    for what, msg in (("y", "y differs from the golden result"), ("counter", "skipped_vectors")):
        monkeypatch.setattr(fastsim, "read_result", corrupt(what))
        with pytest.raises(RTLMismatch, match=msg):
            run_gemm_job(cfg, A, W, z, mode="aqs", L=4, sim="verilator")


def test_tiled_gemm_on_the_fast_path():
    """K beyond k_max: the host tiles the GEMM; every tile runs on the harness and is checked,
    with stalls too."""
    from panacea_hdl.flows.jobs import run_gemm_job

    cfg = PRESETS["tiny"]
    K = cfg.k_max + 37
    A = skewed_activations(7, K, seed=9)
    W = random_weights(K, 5, seed=9)
    for stalls in (False, True):
        rep = run_gemm_job(cfg, A, W, 104, mode="aqs", L=4, sim="verilator", stalls=stalls)
        assert rep.rtl.harness == "fast" and len(rep.tiles) == 2
        np.testing.assert_array_equal(rep.Y, reference_gemm(A, W, 104))


def test_backend_choice():
    assert use_fast("verilator", None) is True
    assert use_fast("icarus", None) is False
    assert use_fast("verilator", False) is False
    with pytest.raises(ValueError, match="Verilator only"):
        use_fast("icarus", True)


def test_malformed_job_is_refused_before_anything_runs(tmp_path):
    cfg = PRESETS["tiny"]
    _, _, _, job = _gemm(cfg, "aqs", seed=3)
    missing = {k: v for k, v in job.items() if k != "streams"}
    too_wide = dict(job, streams=dict(job["streams"], w=[1 << formats.w_beat_bits(cfg)]))
    other = _gemm(PRESETS["tiny_sibia"], "sibia", seed=3)[3]
    cases = [(missing, "missing key"), (too_wide, f"w beat 0 is not a {formats.w_beat_bits(cfg)}-bit"),
             (dict(job, M=-1), "M must be an int"), (other, "made for config 'tiny_sibia'")]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            run_job_fast(cfg, bad, tmp_path / "absent.v", "panacea_tiny", tmp_path)
    assert not any(tmp_path.iterdir()), "something was built for a malformed job"


@pytest.mark.parametrize("name, stream", [("tiny", "ho"), ("tiny", "lo")])
def test_truncated_packed_stream_is_an_error(name, stream):
    """The last beat of a packed stream missing: the harness ends the frame early (TLAST on
    the last beat it has), the core ends the GEMM with ERROR and the stream's TRUNCATED code,
    and the harness reports that STATUS at once instead of waiting."""
    cfg = PRESETS[name]
    _, _, _, job = _gemm(cfg, cfg.modes[-1], seed=4)
    job["streams"][stream] = job["streams"][stream][:-1]
    code = {"lo": regmap.ErrorCode.LO_TRUNCATED, "ho": regmap.ErrorCode.HO_TRUNCATED}[stream]
    status = regmap.STATUS_ERROR | code << regmap.STATUS_ERRCODE_SHIFT
    with pytest.raises(FastSimError, match=rf"STATUS {status:#x} \(expected DONE only"):
        _run(cfg, job, timeout_s=60)


def test_truncated_unframed_stream_times_out():
    """The dense variant's lo stream is not packed and ignores TLAST: its last beat missing is
    a stall; the harness stops at the STATUS poll budget (cocotb_bench's) with a clear error
    instead of hanging."""
    cfg = PRESETS["tiny_dense"]
    _, _, _, job = _gemm(cfg, cfg.modes[-1], seed=4)
    job["streams"]["lo"] = job["streams"]["lo"][:-1]
    t = time.perf_counter()
    with pytest.raises(FastSimError, match="core still busy after"):
        _run(cfg, job, timeout_s=60)
    assert time.perf_counter() - t < 60


def test_build_of_another_variant_is_refused():
    """A tiny job on the tiny_sibia build (same ports): INFO, which carries the variant, does
    not match; nothing runs."""
    cfg = PRESETS["tiny"]
    _, _, _, job = _gemm(cfg, "aqs", seed=5)
    sibia = PRESETS["tiny_sibia"]
    verilog, top, _ = bench_env(sibia)
    with pytest.raises(FastSimError, match=f"INFO reads {regmap.info_value(sibia):#x}, expected "
                                           f"{regmap.info_value(cfg):#x}"):
        run_job_fast(cfg, job, verilog, top, build_dir(sibia, "verilator_fast"))


def test_a_failing_status_is_reported():
    """An aqs job whose r does not fit the split (RVAL >= 2^(8-L)): the core refuses START
    with ERROR/BAD_PARAM; the harness reports STATUS."""
    cfg = PRESETS["tiny"]
    _, _, _, job = _gemm(cfg, "aqs", seed=5)
    bad = dict(job, r=1 << (8 - job["L"]))
    status = regmap.STATUS_ERROR | regmap.ErrorCode.BAD_PARAM << regmap.STATUS_ERRCODE_SHIFT
    with pytest.raises(FastSimError, match=rf"STATUS {status:#x} \(expected DONE only"):
        _run(cfg, bad)


_STUB = """
// A broken core with the ports of {top}: identifies itself like the real one, then is BUSY
// while {busy} (DONE after); never accepts a write whose data is 0xbeef; offers y beats
// while {y_valid}, withdrawing them whether taken or not.
module {top}(
  input clk, input rst,
  input [7:0] csr__awaddr, input [2:0] csr__awprot, input csr__awvalid, output csr__awready,
  input [31:0] csr__wdata, input [3:0] csr__wstrb, input csr__wvalid, output csr__wready,
  output [1:0] csr__bresp, output reg csr__bvalid = 0, input csr__bready,
  input [7:0] csr__araddr, input [2:0] csr__arprot, input csr__arvalid, output csr__arready,
  output reg [31:0] csr__rdata = 0, output [1:0] csr__rresp, output reg csr__rvalid = 0,
  input csr__rready,
  input [{w}:0] w__tdata, input w__tvalid, input w__tlast, output w__tready,
  input [{lo}:0] lo__tdata, input lo__tvalid, input lo__tlast, output lo__tready,
  input [{ho}:0] ho__tdata, input ho__tvalid, input ho__tlast, output ho__tready,
  output [{y}:0] y__tdata, output y__tvalid, output y__tlast, input y__tready,
  output busy, output irq);
  assign csr__awready = csr__awvalid & csr__wvalid & ~csr__bvalid & (csr__wdata != 32'hbeef);
  assign csr__wready = csr__awready;
  assign csr__bresp = 0;
  assign csr__rresp = 0;
  assign csr__arready = csr__arvalid & ~csr__rvalid;
  reg [31:0] cnt = 0;
  always @(posedge clk) cnt <= rst ? 32'd0 : cnt + 32'd1;
  always @(posedge clk)
    if (rst) csr__bvalid <= 0;
    else if (csr__awready) csr__bvalid <= 1;
    else if (csr__bready) csr__bvalid <= 0;
  always @(posedge clk)
    if (rst) csr__rvalid <= 0;
    else if (csr__arready) begin
      csr__rvalid <= 1;
      csr__rdata <= csr__araddr == {info_addr} ? 32'd{info} : csr__araddr == {kmax_addr} ? 32'd{kmax}
                    : csr__araddr == {status_addr} ? (busy ? 32'd{busy_bit} : 32'd{done_bit}) : 32'd0;
    end else if (csr__rready) csr__rvalid <= 0;
  assign {{w__tready, lo__tready, ho__tready, y__tlast}} = 0;
  assign y__tvalid = {y_valid};
  assign y__tdata = cnt;
  assign busy = {busy};
  assign irq = 0;
endmodule
"""


def _build(args):
    exe, info = build_harness(*args, jobs=1)
    return str(exe), info["cached"]


def _stub(cfg, path, *, busy, y_valid):
    top = "fastsim_stub"
    path.write_text(_STUB.format(
        top=top, w=formats.w_beat_bits(cfg) - 1, lo=formats.lo_bus_bits(cfg) - 1,
        ho=formats.ho_bus_bits(cfg) - 1, y=formats.y_beat_bits(cfg) - 1,
        info_addr=regmap.INFO, info=regmap.info_value(cfg), kmax_addr=regmap.KMAX,
        kmax=cfg.k_max, status_addr=regmap.STATUS, busy_bit=regmap.STATUS_BUSY,
        done_bit=regmap.STATUS_DONE, busy=busy, y_valid=y_valid))
    return path, top


def test_hung_design_fails_within_the_time_out(tmp_path):
    """A core that never finishes, and one that never answers a register write: a clear
    error from the cycle guards or the wall-clock guard, not a hang. (Its build checks the
    concurrent build.)"""
    cfg = PRESETS["tiny"]
    verilog, top = _stub(cfg, tmp_path / "stub.v", busy="1'b1", y_valid="1'b0")
    # two processes build the same design into the same directory at once: one builds,
    # the other waits on the lock and reuses it; no temporary directory is left behind
    bdir = tmp_path / "build"
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        built = list(pool.map(_build, [(verilog, top, bdir)] * 2))
    assert built[0][0] == built[1][0] and sorted(c for _, c in built) == [False, True], built
    assert sorted(p.name for p in bdir.iterdir() if p.is_dir()) == [Path(built[0][0]).parent.name]
    _, _, _, job = _gemm(cfg, "aqs", seed=6)
    # a prediction of 10**9 cycles makes the poll budget hours long: the wall-clock guard
    endless = dict(job, counters=dict(job["counters"], cycles=10**9))
    for bad, timeout_s, msg in (
            (job, 60, "core still busy after"),
            (dict(job, N=0xbeef), 60, r"write of DIM_N \(0x20\) got no response"),
            (endless, 2, r"did not finish within 2 s \(wall-clock guard\)")):
        t = time.perf_counter()
        with pytest.raises(FastSimError, match=msg):
            run_job_fast(cfg, bad, verilog, top, bdir, timeout_s=timeout_s)
        assert time.perf_counter() - t < 30


@pytest.mark.slow
@pytest.mark.parametrize("stalls", [False, True])
def test_default_preset(stalls):
    """The default core, the built-in workload in every mode (the CLI's main job), as
    ``test_top_cocotb.test_run_gemm_sim_default_preset`` runs it through cocotb."""
    from golden_model.workloads import builtin_workload

    cfg = PRESETS["default"]
    A, W, z = builtin_workload()
    for mode in cfg.modes:
        job = make_job(cfg, A, W, z, mode=mode, L=4, r=choose_r(A, 4))
        beats, counters, _ = _run(cfg, job, stalls=stalls, seed=3)
        assert beats == job["y"], mode
        for k, v in job["counters"].items():
            assert counters[k] >= v if (stalls and k == "cycles") else counters[k] == v, (mode, k)


def test_a_withdrawn_y_beat_is_a_protocol_error(tmp_path):
    """A core that drops a y beat it offered before the (stalling) host took it: reported,
    although the cocotb sink would not notice."""
    cfg = PRESETS["tiny"]
    verilog, top = _stub(cfg, tmp_path / "stub.v", busy="cnt < 32'd300", y_valid="cnt[0]")
    _, _, _, job = _gemm(cfg, "aqs", seed=7)
    with pytest.raises(FastSimError, match=r"y beat \d+ on offer was withdrawn before it was taken"):
        run_job_fast(cfg, job, verilog, top, tmp_path / "build", stalls=True)
