"""Requantization stage of the core (builds with ``config.requant``): between the output bank
and ``y``, turns each int32 output row into ``cols`` uint8 lanes when the GEMM enables it.

Per lane, exactly :func:`golden_model.requant.requantize` (TFLite / gemmlowp), in
:data:`golden_model.timing.REQUANT_CYCLES` (9) register stages, at most one carry chain each:

1. ``x = acc + bias`` (int32 wrap-around; ``acc`` itself when disabled), with the lane's
   multiplier and shift;
2. the four 16 x 16 partial products of ``x * mult`` (one DSP multiplier each on an FPGA),
   the saturation case ``x = mult = INT32_MIN`` and the product's sign (for the rounding
   nudge);
3. two half sums (``x_lo * mult`` and ``x_hi * mult``); 4. the 64-bit product;
5. ``+ nudge`` (``2**30``, or ``1 - 2**30`` for a negative product);
6. the doubled high word ``(ab + nudge) / 2**31``, truncated toward zero, or INT32_MAX;
7. the arithmetic right shift and the rounding bit; 8. their sum (``RoundingDivideByPOT``);
9. ``+ out_zp``, clamped to [0, 255]; lane c at bits ``[8c, 8c + 8)`` of the beat, the rest 0
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
        assert D == 9, "the stages below are the nine of golden_model.timing.REQUANT_CYCLES"

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

        # EN and OUT_ZP change only while the core is idle: registered copies for the last
        # stage keep the CSR's routing off its paths (the first stage reads EN itself)
        en, out_zp = Signal(name="en_r"), Signal(8, name="out_zp_r")
        m.d.sync += [en.eq(self.en), out_zp.eq(self.out_zp)]
        out_lanes, raw_lanes = [], []
        for c in range(cols):
            def reg(shape, name):
                return Signal(shape, name=f"{name}_{c}")
            acc = self.i.payload[c]
            # 1: bias add (int32 wrap), parameters sampled with the row
            x1, m1, s1 = reg(signed(32), "x1"), reg(signed(32), "m1"), reg(5, "s1")
            # 2: the four 16 x 16 partial products (one DSP multiplier each, no adder after
            #    it), the saturation case and the product's sign
            xl, xh, ml, mh = x1[:16], x1[16:].as_signed(), m1[:16], m1[16:].as_signed()
            pll2, plh2 = reg(unsigned(32), "pll2"), reg(signed(33), "plh2")
            phl2, phh2 = reg(signed(33), "phl2"), reg(signed(32), "phh2")
            sat2, pos2 = reg(1, "sat2"), reg(1, "pos2")
            # 3: two half sums; 4: the 64-bit product; 5: + nudge
            a3, b3 = reg(signed(50), "a3"), reg(signed(50), "b3")
            ab4, v5 = reg(signed(64), "ab4"), reg(signed(64), "v5")
            sat3, pos3, sat4, pos4, sat5 = (reg(1, n) for n in ("sat3", "pos3", "sat4", "pos4", "sat5"))
            # 6: high word; 7: rounding shift and rounding bit; 8: zero point and clamp
            h6, sh7, rnd7 = reg(signed(32), "h6"), reg(signed(32), "sh7"), reg(1, "rnd7")
            q8, y9 = reg(signed(32), "q8"), reg(8, "y9")
            half5, low5, half6, low6 = (reg(32, n) for n in ("half5", "low5", "half6", "low6"))
            # the shift and (for a disabled stage) the unchanged int32 row travel along
            sh = [s1] + [reg(5, f"s{j}") for j in range(2, 7)]          # s1 .. s6
            xr = [x1] + [reg(signed(32), f"x{j}") for j in range(2, 10)]  # x1 .. x9

            # (ab + nudge) / 2**31 truncated toward zero: the floor, plus one for a negative
            # value with nonzero low bits (a 33-bit carry chain)
            v_hi = Signal(signed(33), name=f"v_hi_{c}")
            m.d.comb += v_hi.eq(v5[31:].as_signed() + (v5[63] & (v5[:31] != 0)))
            # RoundingDivideByPOT's "remainder > (mask >> 1) + (x < 0)" for a shift s >= 1, with
            # remainder = x mod 2**s: the bit s-1 of x is set (remainder >= 2**(s-1)), and for a
            # negative x also a lower bit (remainder > 2**(s-1)); for s = 0 never. half is the
            # one-hot bit s-1, low the bits below it, both registered from the shift.
            thermo = Signal(32, name=f"thermo_{c}")     # bit i = (i < shift)
            m.d.comb += thermo.eq(Cat(*[sh[3] > i for i in range(32)]))
            rnd = Signal(name=f"rnd_{c}")
            m.d.comb += rnd.eq(((h6.as_unsigned() & half6) != 0)
                               & (~h6[31] | ((h6.as_unsigned() & low6) != 0)))
            v9 = Signal(signed(34), name=f"v9_{c}")
            m.d.comb += v9.eq(q8 + out_zp)
            neg9, over9 = v9[-1], ~v9[-1] & (v9[8:] != 0)     # clamp: bit tests, no compare
            with m.If(adv):
                m.d.sync += [
                    x1.eq(Mux(self.en, acc + bias[c], acc)), m1.eq(mult[c]), s1.eq(shift[c]),
                    pll2.eq(xl * ml), plh2.eq(xl * mh), phl2.eq(xh * ml), phh2.eq(xh * mh),
                    sat2.eq((x1 == INT32_MIN) & (m1 == INT32_MIN)),
                    pos2.eq((x1 == 0) | (m1 == 0) | (x1[31] == m1[31])),
                    a3.eq(pll2 + (plh2 << 16)), b3.eq(phl2 + (phh2 << 16)),
                    sat3.eq(sat2), pos3.eq(pos2),
                    ab4.eq(a3 + (b3 << 16)), sat4.eq(sat3), pos4.eq(pos3),
                    v5.eq(ab4 + Mux(pos4, 1 << 30, 1 - (1 << 30))), sat5.eq(sat4),
                    half5.eq(thermo ^ (thermo >> 1)), low5.eq(thermo >> 1),
                    h6.eq(Mux(sat5, INT32_MAX, v_hi)), half6.eq(half5), low6.eq(low5),
                    sh7.eq(h6 >> sh[5]), rnd7.eq(rnd),
                    q8.eq(sh7 + rnd7),
                    y9.eq(Mux(neg9, 0, Mux(over9, 255, v9[:8]))),
                    *[sh[j].eq(sh[j - 1]) for j in range(1, 6)],
                    *[xr[j].eq(xr[j - 1]) for j in range(1, 9)],
                ]
            out_lanes.append(y9)
            raw_lanes.append(xr[-1])
        rq_beat = Cat(*out_lanes, Const(0, 24 * cols))
        m.d.comb += self.o.payload.as_value().eq(Mux(en, rq_beat, Cat(*raw_lanes)))
        return m
