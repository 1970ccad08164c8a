"""AMBA AXI4-Lite and AXI4-Stream signatures, and adapters between AXI4-Stream and ``lib.stream``.

Signatures are written from the point of view of the *initiator* (manager / transmitter),
like :class:`amaranth.lib.stream.Signature`: a subordinate port is ``In(AXI4LiteSignature())``
and a stream input is ``In(AXI4StreamSignature(w))``. Member names are the AXI names, so a
port ``csr`` becomes ``csr__awaddr`` etc. in the Verilog; cocotbext-axi binds it with
``AxiLiteBus.from_prefix(dut, "csr", bus_separator="__")`` (and ``AxiStreamBus`` likewise).
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4LiteSignature", "AXI4StreamSignature", "AXIStreamToStream", "StreamToAXIStream",
           "RESP_OKAY", "RESP_SLVERR"]

#: AXI response codes.
RESP_OKAY = 0b00
RESP_SLVERR = 0b10


def _check_width(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    return value


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite, seen from the manager.

    Parameters
    ----------
    addr_width : int
        Byte address width (1..64).
    data_width : int
        Data width, 32 or 64 (AXI4-Lite allows only these).

    Members
    -------
    awaddr, awprot, awvalid, wdata, wstrb, wvalid, bready, araddr, arprot, arvalid, rready : Out
    awready, wready, bresp, bvalid, arready, rdata, rresp, rvalid : In
    """

    def __init__(self, *, addr_width=8, data_width=32):
        self._addr_width = _check_width("addr_width", addr_width, 1, 64)
        if data_width not in (32, 64):
            raise ValueError(f"data_width must be 32 or 64 for AXI4-Lite, got {data_width!r}")
        self._data_width = data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })

    @property
    def addr_width(self):
        return self._addr_width

    @property
    def data_width(self):
        return self._data_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __repr__(self):
        return f"AXI4LiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"


class AXI4StreamSignature(wiring.Signature):
    """AXI4-Stream (tdata, tvalid, tready, tlast), seen from the transmitter.

    Parameters
    ----------
    data_width : int
        Width of ``tdata`` in bits (any width >= 1; the beats of this core are not
        byte-multiples, so there is no ``tkeep``).
    """

    def __init__(self, data_width):
        self._data_width = _check_width("data_width", data_width, 1, 1 << 16)
        super().__init__({
            "tdata": Out(data_width), "tvalid": Out(1), "tready": In(1), "tlast": Out(1),
        })

    @property
    def data_width(self):
        return self._data_width

    def __eq__(self, other):
        return type(other) is type(self) and other.data_width == self.data_width

    def __repr__(self):
        return f"AXI4StreamSignature({self.data_width})"


class AXIStreamToStream(wiring.Component):
    """Receive an AXI4-Stream as a ``lib.stream``; ``tlast`` comes out as ``last``.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of the output stream; ``tdata`` has its width.

    Attributes
    ----------
    axis : In(AXI4StreamSignature(width))
    o : Out(stream.Signature(shape))
    last : Out(1)
        ``tlast`` of the beat on ``o`` (qualified by ``o.valid``; consumers that frame
        nothing leave it unconnected).
    """

    def __init__(self, shape):
        self._shape = shape
        width = Shape.cast(shape).width
        super().__init__({
            "axis": In(AXI4StreamSignature(width)),
            "o": Out(stream.Signature(shape)),
            "last": Out(1),
        })

    @property
    def shape(self):
        return self._shape

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.o.payload.eq(self.axis.tdata),
            self.o.valid.eq(self.axis.tvalid),
            self.last.eq(self.axis.tlast),
            self.axis.tready.eq(self.o.ready),
        ]
        return m


class StreamToAXIStream(wiring.Component):
    """Send a ``lib.stream`` as an AXI4-Stream; ``last`` (valid with the payload) drives ``tlast``.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of the input stream.

    Attributes
    ----------
    i : In(stream.Signature(shape))
    last : In(1)
        ``tlast`` of the beat on ``i`` (qualified by ``i.valid``).
    axis : Out(AXI4StreamSignature(width))
    """

    def __init__(self, shape):
        self._shape = shape
        width = Shape.cast(shape).width
        super().__init__({
            "i": In(stream.Signature(shape)),
            "last": In(1),
            "axis": Out(AXI4StreamSignature(width)),
        })

    @property
    def shape(self):
        return self._shape

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.axis.tdata.eq(self.i.payload),
            self.axis.tvalid.eq(self.i.valid),
            self.axis.tlast.eq(self.i.valid & self.last),
            self.i.ready.eq(self.axis.tready),
        ]
        return m
