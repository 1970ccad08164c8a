"""The pin-light I/O wrapper that places a core with thousands of ports on an FPGA package."""

from __future__ import annotations

import math

from .emit import top_ports
from .tools import SynthError

__all__ = ["io_wrapper", "WRAPPER"]

#: Name of the I/O wrapper module of the FPGA flows.
WRAPPER = "panacea_synth_wrap"


def io_wrapper(text, top, name=WRAPPER):
    """Verilog of a pin-light wrapper around module ``top`` for FPGA place-and-route.

    Ports ``clk``, ``sin``, ``sout``. Every core input except ``clk`` is a bit of one shift
    register fed from ``sin``; all core outputs go into an XOR tree of 4-input groups with a
    register after every level, whose last register drives ``sout``. All core logic stays
    observable and controllable, every wrapper path is one LUT deep.

    Returns
    -------
    (str, dict)
        The Verilog text and the wrapper's own flip-flop count
        (``{"in_bits", "out_bits", "ffs"}``).
    """
    ports = top_ports(text, top)
    ins = [(n, w) for d, n, w in ports if d == "input" and n != "clk"]
    outs = [(n, w) for d, n, w in ports if d == "output"]
    if any(d == "inout" for d, _, _ in ports):
        raise SynthError(f"module {top} has inout ports; the wrapper does not handle them")
    if not any(n == "clk" for d, n, _ in ports if d == "input"):
        raise SynthError(f"module {top} has no clk input")
    n_in = sum(w for _, w in ins)
    n_out = sum(w for _, w in outs)
    lines = [f"module {name}(clk, sin, sout);", "  input clk;", "  input sin;", "  output sout;"]
    conns = ["    .clk(clk)"]
    if n_in:
        lines += [f"  reg [{n_in - 1}:0] chain = {n_in}'d0;",
                  "  always @(posedge clk) chain <= {chain, sin};"]
        pos = 0
        for n, w in ins:
            conns.append(f"    .{n} (chain[{pos + w - 1}:{pos}])")
            pos += w
    ffs = n_in
    if n_out:
        lines.append(f"  wire [{n_out - 1}:0] o;")
        pos = 0
        for n, w in outs:
            conns.append(f"    .{n} (o[{pos + w - 1}:{pos}])")
            pos += w
        prev, width, level = "o", n_out, 0
        while True:
            level += 1
            groups = math.ceil(width / 4)
            cur = f"x{level}"
            lines.append(f"  reg [{groups - 1}:0] {cur} = {groups}'d0;")
            terms = [f"^{prev}[{min(4 * g + 3, width - 1)}:{4 * g}]" for g in range(groups)]
            lines.append(f"  always @(posedge clk) {cur} <= {{{', '.join(reversed(terms))}}};")
            ffs += groups
            prev, width = cur, groups
            if groups == 1:
                break
        lines.append(f"  assign sout = {prev}[0];")
    else:
        lines.append("  assign sout = ^chain;")
    lines.append(f"  {top} core (\n" + ",\n".join(conns) + "\n  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", {"in_bits": n_in, "out_bits": n_out, "ffs": ffs}


