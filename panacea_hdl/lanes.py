"""Per-lane arithmetic shared by the SWO, the DWO and the INT8 array.

One definition each of the signed-digit slice product and of the lane accumulator's
clear-wins rule, so the three operators cannot drift apart.
"""

from amaranth.hdl import Signal, signed

from golden_model.config import ACC_BITS
from golden_model.slicing import WEIGHT_SLICE_SHIFT

__all__ = ["slice_product", "lane_accumulator"]


def slice_product(x, digits):
    """``x * W`` from W's signed digits ``(wh, wl)``: ``x * WL + ((x * WH) << 4)``.

    Two slice multiplies per lane, as the bit-slice PE computes them
    (``panacea_hdl.weight_buffer.weight_digits`` gives the digits).
    """
    wh, wl = digits
    return x * wl + ((x * wh) << WEIGHT_SLICE_SHIFT)


def lane_accumulator(m, name, *, clear, add, value):
    """A 32-bit accumulator register ``name`` that adds ``value`` when ``add``.

    ``clear`` wins over an add in the same cycle (the result of that MAC is dropped).
    Returns the accumulator signal.
    """
    acc = Signal(signed(ACC_BITS), name=name)
    with m.If(clear):
        m.d.sync += acc.eq(0)
    with m.Elif(add):
        m.d.sync += acc.eq(acc + value)
    return acc
