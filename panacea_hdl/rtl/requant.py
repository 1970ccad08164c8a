"""Requantization stage of the core (builds with ``config.requant``): between the output bank
and ``y``, turns each int32 output row into ``cols`` uint8 lanes when the GEMM enables it.

Per lane, exactly :func:`golden_model.requant.requantize` (TFLite / gemmlowp), in
:data:`golden_model.timing.REQUANT_CYCLES` (6) register stages:

1. ``x = acc + bias`` (int32 wrap-around; ``acc`` itself when disabled), with the lane's
   multiplier and shift;
2. the two partial products ``x * mult[15:0]`` and ``x * mult[31:16]`` (a 32 x 32 multiply
   cut in two 32 x 16 ones), the saturation case ``x = mult = INT32_MIN`` and the product's
   sign (for the rounding nudge);
3. ``ab + nudge`` = ``lo + (hi << 16) + nudge``;
4. the doubled high word ``(ab + nudge) / 2**31``, truncated toward zero, or INT32_MAX;
5. the rounding right shift (``RoundingDivideByPOT``);
6. ``+ out_zp``, clamped to [0, 255]; lane c at bits ``[8c, 8c + 8)`` of the beat, the rest 0
   (disabled: the int32 lanes unchanged).

The per-column parameters arrive as the header of each column block on ``w``
(:data:`golden_model.formats.RQ_HEADER_BEATS` beats, :func:`golden_model.formats.requant_header`),
shifted in byte by byte per lane (``hdr_we``), and take effect at ``commit`` (every HANDOFF:
the bank is empty then, so every row it is loaded with belongs to the new block); each stage
carries the parameters it still needs, so rows of the previous block still in the pipeline
keep theirs. The pipeline moves while its last stage is empty or taken (a stall stops all of
it); ``flush`` drops everything but a beat already on offer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from golden_model.formats import RQ_HEADER_BEATS
from golden_model.timing import REQUANT_CYCLES
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, w_beat_layout, y_beat_layout

__all__ = ["RequantStage"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


class RequantStage(ConfigComponent):
    """The requantization pipeline (see the module docstring).

    Attributes
    ----------
    i : In(stream.Signature(y_beat_layout))
        Rows from the output bank; ``i_last`` marks the GEMM's last.
    o : Out(stream.Signature(y_beat_layout))
        Rows to ``y``, :data:`~golden_model.timing.REQUANT_CYCLES` cycles later; ``o_last``.
    en, out_zp : In(1), In(8)
        REQUANT.EN and OUT_ZP (stable while busy).
    hdr_we, hdr_data : In(1), In(w_beat_layout)
        A header beat is accepted on ``w`` this cycle.
    commit : In(1)
        The header's parameters apply to the rows accepted from now on.
    flush : In(1)
        Drop what is not on offer.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "i": In(stream.Signature(y_beat_layout(cfg))), "i_last": In(1),
            "o": Out(stream.Signature(y_beat_layout(cfg))), "o_last": Out(1),
            "en": In(1), "out_zp": In(8),
            "hdr_we": In(1), "hdr_data": In(w_beat_layout(cfg)), "commit": In(1),
            "flush": In(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        cols = cfg.cols
        m = Module()
        D = REQUANT_CYCLES
        assert D == 6, "the stages below are the six of golden_model.timing.REQUANT_CYCLES"

        # ---- per-column parameters: header shift registers, active copies -----------------
        hdr_bits = 8 * RQ_HEADER_BEATS
        bias, mult, shift = [], [], []
        for c in range(cols):
            sr = Signal(hdr_bits, name=f"hdr_{c}")
            with m.If(self.hdr_we):
                m.d.sync += sr.eq(Cat(sr[8:], self.hdr_data[c].as_unsigned()))
            b = Signal(signed(32), name=f"bias_{c}")
            k = Signal(signed(32), name=f"mult_{c}")
            s = Signal(5, name=f"shift_{c}")
            with m.If(self.commit):
                m.d.sync += [b.eq(sr[0:32]), k.eq(sr[32:64]), s.eq(sr[64:69])]
            bias.append(b)
            mult.append(k)
            shift.append(s)

        # ---- pipeline control ----------------------------------------------------------------
        valid = [Signal(name=f"v{j + 1}") for j in range(D)]
        last = [Signal(name=f"last{j + 1}") for j in range(D)]
        adv = Signal()
        m.d.comb += [adv.eq(~valid[-1] | self.o.ready), self.i.ready.eq(adv),
                     self.o.valid.eq(valid[-1]), self.o_last.eq(last[-1])]
        with m.If(adv):
            m.d.sync += [valid[0].eq(self.i.valid), last[0].eq(self.i_last)]
            for j in range(1, D):
                m.d.sync += [valid[j].eq(valid[j - 1]), last[j].eq(last[j - 1])]
        with m.If(self.flush):
            keep = valid[-1] & ~self.o.ready
            m.d.sync += [v.eq(0) for v in valid[:-1]]
            m.d.sync += [valid[-1].eq(keep), last[-1].eq(keep & last[-1])]

        en = self.en
        out_lanes, raw_lanes = [], []
        for c in range(cols):
            def reg(shape, name):
                return Signal(shape, name=f"{name}_{c}")
            acc = self.i.payload[c]
            # 1: bias add (int32 wrap), parameters sampled with the row
            x1, m1, s1 = reg(signed(32), "x1"), reg(signed(32), "m1"), reg(5, "s1")
            # 2: partial products, saturation, product sign
            lo2, hi2 = reg(signed(49), "lo2"), reg(signed(48), "hi2")
            sat2, pos2, x2, s2 = reg(1, "sat2"), reg(1, "pos2"), reg(signed(32), "x2"), reg(5, "s2")
            # 3: ab + nudge
            ab3, sat3, x3, s3 = reg(signed(64), "ab3"), reg(1, "sat3"), reg(signed(32), "x3"), reg(5, "s3")
            # 4: high word; the rounding bit's selectors from the shift (no carry chain later)
            h4, x4, s4 = reg(signed(32), "h4"), reg(signed(32), "x4"), reg(5, "s4")
            half4, low4 = reg(32, "half4"), reg(32, "low4")
            # 5: rounding shift
            q5, x5 = reg(signed(32), "q5"), reg(signed(32), "x5")
            # 6: zero point and clamp
            y6, x6 = reg(unsigned(8), "y6"), reg(signed(32), "x6")

            # RoundingDivideByPOT's "remainder > (mask >> 1) + (x < 0)" for a shift s >= 1, with
            # remainder = x mod 2**s: the bit s-1 of x is set (remainder >= 2**(s-1)), and for a
            # negative x also a lower bit (remainder > 2**(s-1)); for s = 0 never. half4 is the
            # one-hot bit s-1, low4 the bits below it, both registered from the shift.
            thermo = Signal(32, name=f"thermo_{c}")     # bits below s3: bit i = (i < s3)
            m.d.comb += thermo.eq(Cat(*[s3 > i for i in range(32)]))
            round5 = Signal(name=f"round_{c}")
            m.d.comb += round5.eq(((h4.as_unsigned() & half4) != 0)
                                  & (~h4[31] | ((h4.as_unsigned() & low4) != 0)))
            # (ab + nudge) / 2**31 truncated toward zero: the floor, plus one for a negative
            # value with nonzero low bits (one 33-bit carry chain instead of a 64-bit add)
            ab_hi = Signal(signed(33), name=f"ab_hi_{c}")
            m.d.comb += ab_hi.eq(ab3[31:].as_signed() + (ab3[63] & (ab3[:31] != 0)))
            v5 = Signal(signed(34), name=f"v5_{c}")
            m.d.comb += v5.eq(q5 + self.out_zp)
            with m.If(adv):
                m.d.sync += [
                    x1.eq(Mux(en, acc + bias[c], acc)), m1.eq(mult[c]), s1.eq(shift[c]),
                    lo2.eq(x1 * m1[0:16]), hi2.eq(x1 * m1[16:32].as_signed()),
                    sat2.eq((x1 == INT32_MIN) & (m1 == INT32_MIN)),
                    pos2.eq((x1 == 0) | (m1 == 0) | (x1[31] == m1[31])),
                    x2.eq(x1), s2.eq(s1),
                    ab3.eq(lo2 + (hi2 << 16) + Mux(pos2, 1 << 30, 1 - (1 << 30))),
                    sat3.eq(sat2), x3.eq(x2), s3.eq(s2),
                    h4.eq(Mux(sat3, INT32_MAX, ab_hi)),
                    x4.eq(x3), s4.eq(s3),
                    half4.eq(thermo ^ (thermo >> 1)), low4.eq(thermo >> 1),
                    q5.eq((h4 >> s4) + round5), x5.eq(x4),
                    y6.eq(Mux(v5 < 0, 0, Mux(v5 > 255, 255, v5))), x6.eq(x5),
                ]
            out_lanes.append(y6)
            raw_lanes.append(x6)
        rq_beat = Cat(*out_lanes, Const(0, 24 * cols))
        m.d.comb += self.o.payload.as_value().eq(Mux(en, rq_beat, Cat(*raw_lanes)))
        return m
