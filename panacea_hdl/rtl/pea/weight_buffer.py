"""Weight buffer of one PEA.

(The weight digits are formed after the read ports: :func:`panacea_hdl.rtl.lanes.digit_stage`.)

The buffer holds the PEA's ``pea_cols`` int8 lanes of every weight row ``k < k_max`` of the
current column block. It has one write port (LOAD) and two synchronous, non-transparent read
ports: port A feeds the SWO, port B the DWO, so both operators can issue in the same cycle
(the INT8 array of the ``dense`` variant builds it with port A only).

Ping-pong (the LOAD overlap, ``docs/architecture.md``): with K <= ``k_max // 2`` the buffer is
two halves of ``k_max // 2`` rows, row k of half h at address ``k + h * (k_max // 2)``; the
passes of a column block read one half (``r_half``) while the next block's LOAD writes the
other (``w_half``). A write and a read of the same cycle are then in different halves (and
without the overlap LOAD writes and PASS reads never share a cycle), so transparency is not
needed. With K > ``k_max // 2`` both halves are 0 and the addresses are the rows.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from panacea_hdl.rtl.layouts import ConfigComponent, check_config, k_shape, w_row_layout

__all__ = ["WeightBuffer"]


class WeightBuffer(ConfigComponent):
    """``k_max`` rows of ``w_row_layout`` with one write port and two read ports.

    Parameters
    ----------
    config : PanaceaConfig
        Sets the depth (``k_max``) and the row layout (``pea_cols`` int8 lanes).
    read_ports : int
        2 (ports A and B, the bit-slice PEAs) or 1 (port A only, the INT8 array).

    Attributes
    ----------
    w_en, w_addr, w_data : In
        Write row ``w_addr`` with ``w_data`` at the end of a cycle where ``w_en`` is high.
    w_half, r_half : In(1)
        The half written and the half both read ports read (the LOAD overlap; 0 when
        K > ``k_max // 2``, where ``w_addr`` and the read addresses may reach ``k_max - 1``).
    a_en, a_addr : In
        Read port A (SWO): with ``a_en`` high in cycle t, ``a_data`` holds row ``a_addr``
        from cycle t+1 until the next enabled read.
    a_data : Out
    b_en, b_addr, b_data
        Read port B (DWO), the same as port A (only with ``read_ports=2``).
    """

    def __init__(self, *, config, read_ports=2):
        self._config = check_config(config)
        if isinstance(read_ports, bool) or read_ports not in (1, 2):
            raise ValueError(f"read_ports must be 1 or 2, got {read_ports!r}")
        self._read_ports = read_ports
        row, k = w_row_layout(config), k_shape(config)
        members = {
            "w_en": In(1), "w_addr": In(k), "w_data": In(row), "w_half": In(1), "r_half": In(1),
            "a_en": In(1), "a_addr": In(k), "a_data": Out(row),
        }
        if read_ports == 2:
            members.update({"b_en": In(1), "b_addr": In(k), "b_data": Out(row)})
        super().__init__(members)

    @property
    def read_ports(self):
        """Number of read ports (1 or 2)."""
        return self._read_ports

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        m.submodules.mem = mem = Memory(shape=w_row_layout(cfg), depth=cfg.k_max, init=[])
        half = cfg.k_max // 2

        def addr(k, hi, name):
            # row k of half hi; with hi = 1, k < half, so for a power-of-two half the offset
            # is one OR gate (no adder in front of the memory's address)
            a = Signal.like(k, name=name)
            if half and half & (half - 1) == 0:
                m.d.comb += a.eq(k | (hi << (half.bit_length() - 1)))
            else:
                m.d.comb += a.eq(k + Mux(hi, half, 0))
            return a

        wp = mem.write_port()
        rd_a = mem.read_port(transparent_for=())
        m.d.comb += [
            wp.en.eq(self.w_en), wp.addr.eq(addr(self.w_addr, self.w_half, "w_row")),
            wp.data.eq(self.w_data),
            rd_a.en.eq(self.a_en), rd_a.addr.eq(addr(self.a_addr, self.r_half, "a_row")),
            self.a_data.eq(rd_a.data),
        ]
        if self._read_ports == 2:
            rd_b = mem.read_port(transparent_for=())
            m.d.comb += [
                rd_b.en.eq(self.b_en), rd_b.addr.eq(addr(self.b_addr, self.r_half, "b_row")),
                self.b_data.eq(rd_b.data),
            ]
        return m
