"""The MAC lane pipeline shared by the SWO, the DWO, the compensator and the INT8 array.

One definition of each stage, so the operators cannot drift apart. A MAC issued in cycle t
(operands registered, weight row addressed on a synchronous read port) goes through

====  ==========================================================================
t+1   the weight row's signed digits ``(WH, WL)`` are formed and registered
      (:func:`digit_stage`, one per column, shared by all rows of an operator)
t+2   the two slice products ``x*WL`` and ``x*WH`` are registered (:func:`product_stage`)
t+3   they are combined, ``x*WL + (x*WH << 4)`` (the DWO shifts by L too), and registered
      (:func:`combine_stage`)
t+4   the combined products are added into the accumulators (:func:`lane_accumulator`)
====  ==========================================================================

so a MAC is in the accumulators at the edge ending t+4 (:data:`MAC_STAGES`; the top level
adds one issue register in front, ``panacea_hdl.top.ISSUE_CYCLES``, and
``golden_model.cycle_model.DRAIN_CYCLES`` is the sum). Every stage ends in a register: no path
goes from a memory's read data, or through a multiplier, into an adder chain of the
accumulators.
"""

from amaranth.hdl import Mux, Signal, signed, unsigned

from golden_model.config import ACC_BITS, SPLIT_RANGE
from golden_model.slicing import WEIGHT_SLICE_SHIFT

from .weight_buffer import WH_SHAPE, WL_SHAPE, weight_digits

__all__ = ["MAC_STAGES", "SPLIT_BITS", "digit_stage", "product_stage", "combine_stage",
           "delay", "shift_by_split", "lane_accumulator"]

#: Register stages from an issue at a PEA's inputs to its accumulators.
MAC_STAGES = 4

#: Width of the split register L.
SPLIT_BITS = (SPLIT_RANGE.stop - 1).bit_length()


def delay(m, value, cycles, *, name):
    """``value`` delayed by ``cycles`` registers (``cycles`` >= 1); returns the last one."""
    for i in range(cycles):
        r = Signal.like(value, name=f"{name}_d{i + 1}")
        m.d.sync += r.eq(value)
        value = r
    return value


def digit_stage(m, w_row, *, name):
    """Stage t+1: the signed digits ``(WH, WL)`` of every weight of ``w_row``, registered.

    ``w_row`` is the read data of a synchronous port addressed at the issue. Returns one
    ``(wh, wl)`` pair of registers per member of ``w_row``.
    """
    out = []
    for c in range(len(w_row)):
        wh = Signal(WH_SHAPE, name=f"{name}_wh_{c}")
        wl = Signal(WL_SHAPE, name=f"{name}_wl_{c}")
        dh, dl = weight_digits(w_row[c])
        m.d.sync += [wh.eq(dh), wl.eq(dl)]
        out.append((wh, wl))
    return out


def product_stage(m, x, digits, *, name):
    """Stage t+2: the two slice products ``(x*WH, x*WL)``, registered."""
    wh, wl = digits
    xs = x.shape()
    xw = xs.width + (0 if xs.signed else 1)             # as a signed operand
    ph = Signal(signed(xw + WH_SHAPE.width), name=f"{name}_ph")
    pl = Signal(signed(xw + WL_SHAPE.width), name=f"{name}_pl")
    m.d.sync += [ph.eq(x * wh), pl.eq(x * wl)]
    return ph, pl


def combine_stage(m, products, *, name, split=None, splits=None, gates=None):
    """Stage t+3: ``x*WL + (x*WH << 4)`` (``<< split`` too if given), registered.

    With ``gates`` (a list of conditions of the same cycle) one register per gate is made,
    holding the sum where its gate is high and 0 otherwise: the accumulators then add them
    without a multiplexer in front of their carry chains. Returns the register, or the list
    of registers with ``gates``.
    """
    ph, pl = products
    value = pl + (ph << WEIGHT_SLICE_SHIFT)
    if split is not None:
        value = shift_by_split(m, value, split, splits, name=f"{name}_shifted")
    if gates is None:
        p = Signal(signed(value.shape().width), name=name)
        m.d.sync += p.eq(value)
        return p
    out = []
    for i, gate in enumerate(gates):
        p = Signal(signed(value.shape().width), name=f"{name}_g{i}")
        m.d.sync += p.eq(Mux(gate, value, 0))
        out.append(p)
    return out


def shift_by_split(m, value, split, splits, *, name):
    """``value << split`` as a multiplexer over the supported splits only.

    DBS changes the split per layer; in hardware that is a small choice of shifts, not a
    barrel shifter. For a ``split`` outside ``splits`` the result is 0 (the top level rejects
    such a split with BAD_PARAM before a GEMM starts).

    Parameters
    ----------
    m : Module
    value : Value
    split : Value
        The run-time split L.
    splits : tuple of int
        ``config.splits``.
    name : str
        Name of the result signal.
    """
    shape = value.shape()
    width = shape.width + max(splits)
    out = Signal(signed(width) if shape.signed else unsigned(width), name=name)
    with m.Switch(split):
        for L in splits:
            with m.Case(L):
                m.d.comb += out.eq(value << L)
    return out


def lane_accumulator(m, name, *, init, init_value, addends):
    """Stage t+4: a 32-bit accumulator register ``name``.

    At the end of a cycle with ``init`` high it takes ``init_value`` (the compensation term),
    otherwise it adds the sum of ``addends`` (registers that are 0 when they hold no MAC, see
    :func:`combine_stage`). ``init`` wins: a MAC completing in the same cycle is dropped.
    Returns the accumulator signal.
    """
    acc = Signal(signed(ACC_BITS), name=name)
    total = acc
    for a in addends:
        total = total + a
    with m.If(init):
        m.d.sync += acc.eq(init_value)
    with m.Else():
        m.d.sync += acc.eq(total)
    return acc
