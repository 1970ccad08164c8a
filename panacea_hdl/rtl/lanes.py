"""The MAC lane pipeline shared by the SWO, the DWO, the compensator and the INT8 array.

One definition of each stage, so the operators cannot drift apart. A MAC issued in cycle t
(operands registered, weight row addressed on a synchronous read port) goes through

====  ==========================================================================
t+1   the weight row's signed digits ``(WH, WL)`` are formed and registered as radix-4
      codes (:func:`digit_stage`, one per column, shared by all rows of an operator), the
      operands as ``(x, -x)`` (:func:`operand_stage`)
t+2   the two slice products ``x*WL`` and ``x*WH`` are registered (:func:`product_stage`:
      each is a sum of two selected copies of ``x`` or ``2x``, radix 4)
t+3   they are combined, ``x*WL + (x*WH << 4)``, and registered (:func:`combine_stage`)
t+4   the combined products are added into the accumulators (:func:`lane_accumulator`)
====  ==========================================================================

Every register of a lane is as wide as the values it can hold (:func:`signed_bits` of the
operand's range times the digit or weight range), no wider: e.g. an SWO lane's combined
product ``AL * W`` is 13 bits, not the 16 a shape-based width gives. The DWO's shift by
``L`` is applied to its operands (``D << (L - min L)``, one multiplexer per row, and the
constant ``<< min L`` on the result), not to every lane's product.

so a MAC is in the accumulators at the edge ending t+4 (:data:`MAC_STAGES`; the top level
adds one issue register in front, ``panacea_hdl.rtl.top.ISSUE_CYCLES``, and
``golden_model.cycle_model.DRAIN_CYCLES`` is the sum). Every stage ends in a register: no path
goes from a memory's read data, or through a multiplier, into an adder chain of the
accumulators.
"""

from typing import NamedTuple

from amaranth.hdl import Mux, Signal, Value, signed, unsigned
from amaranth.lib import data

from golden_model.config import ACC_BITS, SPLIT_RANGE, WEIGHT_BITS
from golden_model.slicing import WEIGHT_SLICE_SHIFT, split_weight
from golden_model.timing import COMBINE_CYCLE, MAC_STAGES  # noqa: F401  (the lanes' contract)

__all__ = ["MAC_STAGES", "COMBINE_CYCLE", "SPLIT_BITS", "RADIX4_DIGIT", "SEL_ZERO", "SEL_POS",
           "SEL_NEG", "radix4_terms", "digit_stage", "operand_stage", "Operand", "Products",
           "signed_bits", "product_range", "DIGIT_RANGE", "WEIGHT_RANGE", "product_stage", "combine_stage",
           "delay", "shift_by_split", "lane_accumulator"]


#: Width of the split register L.
SPLIT_BITS = (SPLIT_RANGE.stop - 1).bit_length()


def delay(m, value, cycles, *, name):
    """``value`` delayed by ``cycles`` registers (``cycles`` >= 1); returns the last one."""
    for i in range(cycles):
        r = Signal.like(value, name=f"{name}_d{i + 1}")
        m.d.sync += r.eq(value)
        value = r
    return value


#: A weight digit in [-8, 8] in radix 4, ``d = 4 * t1 + t2`` with ``t1, t2`` in
#: {0, +-1, +-2} (Booth-style): ``s1``/``s2`` select 0, +x or -x (:data:`SEL_ZERO`,
#: :data:`SEL_POS`, :data:`SEL_NEG`) and ``k1``/``k2`` shift it by 0 or 1
#: (e.g. 7 = 4 * 2 - 1, 5 = 4 * 1 + 1, 6 = 4 * 1 + 2).
RADIX4_DIGIT = data.StructLayout({"s1": 2, "k1": 1, "s2": 2, "k2": 1})
SEL_ZERO, SEL_POS, SEL_NEG = 0, 1, 2


def _radix4_term(t):
    """``(sel, k)`` of a term in {0, +-1, +-2}."""
    if t == 0:
        return SEL_ZERO, 0
    return (SEL_NEG if t < 0 else SEL_POS), abs(t) >> 1


def radix4_terms(d):
    """``((s1, k1), (s2, k2))`` of the digit ``d`` in [-8, 8] (see :data:`RADIX4_DIGIT`)."""
    if not -8 <= d <= 8:
        raise ValueError(f"weight digit {d} outside [-8, 8]")
    for t1 in (0, 1, -1, 2, -2):
        t2 = d - 4 * t1
        if -2 <= t2 <= 2:
            return _radix4_term(t1), _radix4_term(t2)
    raise AssertionError(d)          # every digit in [-8, 8] has a radix-4 form


def _digit_register(m, bits, digit_of, *, name):
    """Register the radix-4 code of the digit ``digit_of(raw)`` of the raw bits ``bits``.

    The code is a table of the raw weight bits, not of the digit's value: no adder (the
    borrow of ``WH``) in front of it.
    """
    r = Signal(RADIX4_DIGIT, name=name)
    with m.Switch(bits):
        for raw in range(1 << len(bits)):
            with m.Case(raw):
                (s1, k1), (s2, k2) = radix4_terms(digit_of(raw))
                m.d.sync += r.eq(RADIX4_DIGIT.const({"s1": s1, "k1": k1, "s2": s2, "k2": k2}))
    return r


def digit_stage(m, w_row, *, name):
    """Stage t+1: the signed digits ``(WH, WL)`` of every weight of ``w_row``, registered as
    radix-4 codes (:data:`RADIX4_DIGIT`).

    ``w_row`` is the read data of a synchronous port addressed at the issue. Returns one
    ``(wh, wl)`` pair of registers per member of ``w_row``. The digits are those of
    ``golden_model.slicing.split_weight``, tabulated from the raw bits (no adder for the
    borrow of ``WH``): ``WL`` depends on bits 0-3 only, ``WH`` on bits 3-7 only.
    """
    n = WEIGHT_SLICE_SHIFT

    def as_int8(raw):
        return raw - 256 if raw >= 128 else raw

    def wl_of(raw):                 # raw = bits 0 .. n-1
        return int(split_weight(as_int8(raw))[1])

    def wh_of(raw):                 # raw = bits n-1 .. 2n-1
        return int(split_weight(as_int8(raw << (n - 1)))[0])

    out = []
    for c in range(len(w_row)):
        w = Value.cast(w_row[c])
        out.append((_digit_register(m, w[n - 1:2 * n], wh_of, name=f"{name}_wh_{c}"),
                    _digit_register(m, w[:n], wl_of, name=f"{name}_wl_{c}")))
    return out


def signed_bits(lo, hi):
    """Width of the narrowest signed value holding every integer in ``[lo, hi]``."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def _shape_range(shape):
    w = shape.width
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if shape.signed else (0, (1 << w) - 1)


def _times(lo, hi, flo, fhi):
    """The range of ``x * f`` for ``x`` in ``[lo, hi]`` and ``f`` in ``[flo, fhi]``."""
    corners = (lo * flo, lo * fhi, hi * flo, hi * fhi)
    return min(corners), max(corners)


#: Range of a weight digit (``WH``, ``WL``) and of a whole int8 weight.
DIGIT_RANGE = (-8, 8)
WEIGHT_RANGE = (-(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1)


class Operand(NamedTuple):
    """A lane operand as :func:`operand_stage` registers it: ``x``, ``-x`` and the range of
    ``x`` the widths of the later stages follow from."""
    pos: Value
    neg: Value
    lo: int
    hi: int


def product_range(lo, hi):
    """The range of ``x * W`` (an int8 weight) for ``x`` in ``[lo, hi]``."""
    return _times(lo, hi, *WEIGHT_RANGE)


class Products(NamedTuple):
    """The two slice products ``(x*WH, x*WL)`` of :func:`product_stage` and the range of the
    whole product ``x*W`` (the width of :func:`combine_stage`'s sum)."""
    ph: Value
    pl: Value
    lo: int
    hi: int


def operand_stage(m, x, *, name, neg=None, lo=None, hi=None):
    """Register ``(x, -x)`` beside the digits: the product stage only selects and shifts.

    ``neg`` is an expression for ``-x`` when it is cheaper than negating ``x`` (e.g. the
    difference the other way round). ``lo`` / ``hi`` narrow the range of ``x`` below what its
    shape allows (e.g. ``AH - s`` of two ``H``-bit values is in ``[-(2**H - 1), 2**H - 1]``):
    every later register and adder of the lane is as wide as the values it can hold, no wider.
    Returns an :class:`Operand`.
    """
    slo, shi = _shape_range(Value.cast(x).shape())
    lo = slo if lo is None else lo
    hi = shi if hi is None else hi
    if not slo <= lo <= hi <= shi:
        raise ValueError(f"operand range [{lo}, {hi}] outside its shape's [{slo}, {shi}]")
    pos = Signal(signed(signed_bits(lo, hi)), name=f"{name}_pos")
    neg_r = Signal(signed(signed_bits(-hi, -lo)), name=f"{name}_neg")
    m.d.sync += [pos.eq(x), neg_r.eq(-x if neg is None else neg)]
    return Operand(pos, neg_r, lo, hi)


def _term(operand, sel, k, width):
    base = Mux(sel == SEL_NEG, operand.neg, Mux(sel == SEL_POS, operand.pos, 0))
    return (base << k)[:width].as_signed()


def product_stage(m, operand, digits, *, name):
    """Stage t+2: the two slice products ``(x*WH, x*WL)``, registered.

    ``operand`` is an :class:`Operand` from :func:`operand_stage`. Each product of ``x`` by a
    digit in [-8, 8] is ``4 * t1 + t2`` with ``t1, t2`` in {0, +-x, +-2x}
    (:data:`RADIX4_DIGIT`): two 5-way multiplexers and one adder, not an array multiplier.
    The registers are as wide as ``x * [-8, 8]`` needs (the sum is exact modulo their width,
    and the true value fits). Returns :class:`Products`.
    """
    width = signed_bits(*_times(operand.lo, operand.hi, *DIGIT_RANGE))
    out = []
    for digit, part in zip(digits, ("ph", "pl")):
        p = Signal(signed(width), name=f"{name}_{part}")
        m.d.sync += p.eq((_term(operand, digit.s1, digit.k1, width) << 2)
                         + _term(operand, digit.s2, digit.k2, width))
        out.append(p)
    return Products(*out, *product_range(operand.lo, operand.hi))


def combine_stage(m, products, *, name, split=None, splits=None, gates=None):
    """Stage t+3: ``x*WL + (x*WH << 4)`` (``<< split`` too if given), registered.

    With ``gates`` (a list of conditions of the same cycle) one register per gate is made,
    holding the sum where its gate is high and 0 otherwise: the accumulators then add them
    without a multiplexer in front of their carry chains. Returns the register, or the list
    of registers with ``gates``.
    """
    value = products.pl + (products.ph << WEIGHT_SLICE_SHIFT)
    width = signed_bits(products.lo, products.hi)     # x * W: exact modulo 2**width
    if split is not None:
        value = shift_by_split(m, value[:width].as_signed(), split, splits,
                               name=f"{name}_shifted")
        width += max(splits)
    if gates is None:
        p = Signal(signed(width), name=name)
        m.d.sync += p.eq(value)
        return p
    out = []
    for i, gate in enumerate(gates):
        p = Signal(signed(width), name=f"{name}_g{i}")
        m.d.sync += p.eq(Mux(gate, value, 0))
        out.append(p)
    return out


def shift_by_split(m, value, split, splits, *, name, base=0):
    """``value << (split - base)`` as a multiplexer over the supported splits only.

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
    base : int
        Subtracted from every shift (at most ``min(splits)``): the rest of the shift is a
        constant the caller applies where it is only wiring.
    """
    if not 0 <= base <= min(splits):
        raise ValueError(f"base must be in [0, {min(splits)}], got {base!r}")
    shape = value.shape()
    width = shape.width + max(splits) - base
    out = Signal(signed(width) if shape.signed else unsigned(width), name=name)
    with m.Switch(split):
        for L in splits:
            with m.Case(L):
                m.d.comb += out.eq(value << (L - base))
    return out


def lane_accumulator(m, name, *, init, init_value, addends):
    """Stage t+4: a 32-bit accumulator register ``name``.

    At the end of a cycle it takes ``base + sum(addends)`` (registers that are 0 when they hold
    no MAC, see :func:`combine_stage`), with ``base`` = ``init_value`` (the compensation term)
    when ``init`` (a flag, or a tuple of flags: any of them) is high, else the accumulator
    itself. So a MAC completing in the cycle of an
    init is kept on top of the term: the first products of the next pass land in the cycle
    its predecessor is copied to the output bank (the pass overlap, ``docs/architecture.md``).
    Returns the accumulator signal.
    """
    acc = Signal(signed(ACC_BITS), name=name)
    if len(addends) > 1:
        # the narrow addends are summed on their own (a carry chain as wide as their sum),
        # then added to the accumulator: without the kept signal Yosys merges the three-input
        # sum into one $macc, a 32-bit carry-save layer (two LUTs per bit) in front of the
        # 32-bit carry chain (ECP5: 127 instead of 86 LUT4 equivalents per accumulator)
        part = addends[0]
        for a in addends[1:]:
            part = part + a
        addend = Signal(part.shape(), name=f"{name}_addend", attrs={"keep": 1})
        m.d.comb += addend.eq(part)
    else:
        addend = addends[0]
    # at an init the term, else the accumulator, plus the addend in both cases (the pass
    # overlap: a chained pass's first products land in its predecessor's copy cycle); with
    # several init flags, one multiplexer per flag (each bit a function of the flags, the
    # term and the accumulator, in one LUT: no OR of the flags in front)
    base = acc
    for flag in (init if isinstance(init, (tuple, list)) else (init,)):
        base = Mux(flag, init_value, base)
    m.d.sync += acc.eq(base + addend)
    return acc
