"""Bit widths fixed by the numerics (``docs/decisions.md``): the base of every format.

This module imports nothing, so every other module of the golden model can use it.
"""

__all__ = ["ACT_BITS", "WEIGHT_BITS", "ACC_BITS"]

#: Bits of an activation (unsigned) and of a weight (signed).
ACT_BITS = 8
WEIGHT_BITS = 8
#: Accumulator / result width (two's complement).
ACC_BITS = 32
