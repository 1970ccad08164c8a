"""A readable table of a synthesis result (``panacea synth``)."""

from __future__ import annotations

from dataclasses import asdict

from .generic import BLOCKS

__all__ = ["format_synth"]


def _fmt_int(n):
    return "-" if n is None else f"{n:,}"


def format_synth(res) -> str:
    """A readable table of a :func:`run_synth` result (:class:`SynthResult`)."""
    rt = res.runtime_s
    head = (f"synthesis of {res.top} (config {res.config.get('name', '?')}), target {res.target}"
            f" [{res.tool}], {rt.get('total', 0):.1f} s")
    lines = [head, ""]
    if res.generic is not None:
        d = asdict(res.generic)
        lines += [
            f"generic cells          {_fmt_int(d['cells'])}  (flip-flops {_fmt_int(d['flip_flops'])})",
            f"logic transistors      {_fmt_int(d['transistors'])}  (CMOS NAND/NOR/NOT/DFF estimate)",
            f"memory bits            {_fmt_int(d['memory_bits'])}  (kept as macros; "
            f"{_fmt_int(d['memory_transistors'])} bit-cell transistors)",
            f"transistors with memory {_fmt_int(d['transistors_with_memory'])}",
            "",
        ]
        w = max(len(v) for v in BLOCKS.values())
        lines.append(f"{'block':<{w}} {'inst':>5} {'cells':>10} {'%':>6} {'transistors':>12} {'mem bits':>10}")
        tc, tt = max(d["cells"], 1), d["transistors"]
        for b, v in d["blocks"].items():
            lines.append(f"{BLOCKS.get(b, b):<{w}} {v['instances']:>5} {v['cells']:>10,} "
                         f"{100 * v['cells'] / tc:>5.1f}% {v['transistors']:>12,} {v['memory_bits']:>10,}")
        lines.append(f"{'total':<{w}} {'':>5} {d['cells']:>10,} {'100.0%':>6} {tt:>12,} {d['memory_bits']:>10,}")
        return "\n".join(lines)
    d = asdict(res.fpga)
    c, wr = d["core"], d["wrapper"]
    lines += [f"device                 {d['device']}, target clock {d['freq_target_mhz']:g} MHz",
              f"multipliers            {d['dsp']}", ""]
    lines.append(f"{'':22} {'core':>9} {'wrapper':>9}")
    for k, label in (("LUT4", "LUT4s"), ("FF", "flip-flops"), ("DSP", "DSP blocks"),
                     ("BRAM", "block RAMs")):
        lines.append(f"{label:<22} {c[k]:>9,} {wr[k]:>9,}")
    if d["fits"]:
        lines.append(f"Fmax (post-route)      {d['fmax_mhz']:.2f} MHz")
        util = ", ".join(f"{b} {v['used']}/{v['available']}" for b, v in d["utilization"].items()
                         if v["used"])
        lines.append(f"utilization            {util}")
    else:
        lines.append(d["fit_message"])
    return "\n".join(lines)
