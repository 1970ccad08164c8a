# amaranth: UnusedElaboratable=no
"""Formal harnesses: the real RTL blocks of ``panacea_hdl`` driven by free inputs, with properties.

Each harness is an :class:`~amaranth.hdl.Elaboratable` whose inputs are ``AnySeq`` values
(any value in any cycle), constrained only by ``Assume`` statements that state the protocol
or the contract of the block's user, and whose ``Assert`` statements are the properties. The
harness holds the ``sync`` reset low: every register starts from its reset value (the
``init`` the proof's first cycle uses, unless a harness's script frees it) and ABORT / START /
``restart`` are the only clears.
"""

from __future__ import annotations

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, ResetSignal, Signal

from golden_model import formats
from golden_model.config import PanaceaConfig
from panacea_hdl import regmap
from panacea_hdl.rtl.csr import CSR
from panacea_hdl.regmap import ErrorCode
from panacea_hdl.rtl.rle_decoder import RLEDecoder
from panacea_hdl.rtl.top import PanaceaCore

__all__ = ["SMALL", "RLEDecoderHarness", "AXILiteHarness", "CounterHarness", "CoreHarness"]

#: A core small enough for the solver: G = 1, one PEA of one column, 4-bit high-order slices,
#: runs of 0..3, K up to 3 (an 8-bit RLE word): a pass is at most 2 (K + 1) = 8 words, so
#: every state of the decoder is reached within 10 cycles of a restart.
SMALL = PanaceaConfig(name="formal_small", group_size=1, pea_cols=1, num_peas=1, splits=(4,),
                      k_max=3, rle_run_bits=2)


def past(m, value, name):
    """A register holding ``value`` of the previous cycle (its reset value, 0, in the first)."""
    q = Signal.like(value, name=name, init=0)
    m.d.sync += q.eq(value)
    return q


def free(m, shape, name):
    """A signal that takes any value in any cycle (an ``AnySeq``)."""
    sig = Signal(shape, name=name)
    m.d.comb += sig.eq(AnySeq(sig.shape()))
    return sig


def no_reset(m):
    """Hold the ``sync`` reset inactive: the proof starts from the registers' reset values."""
    m.d.comb += Assume(~ResetSignal("sync"))


def assume_stream_source(m, valid, ready, payload, prefix):
    """Assume ``valid``/``payload`` obey the AXI4-Stream source rule (held until ``ready``)."""
    v_q = past(m, valid, f"{prefix}_valid_q")
    r_q = past(m, ready, f"{prefix}_ready_q")
    p_q = past(m, payload, f"{prefix}_payload_q")
    with m.If(v_q & ~r_q):
        m.d.comb += Assume(valid & (payload == p_q))


def assert_stream_source(m, valid, ready, payload, prefix):
    """Assert ``valid``/``payload`` obey the AXI4-Stream source rule (held until ``ready``)."""
    v_q = past(m, valid, f"{prefix}_valid_q")
    r_q = past(m, ready, f"{prefix}_ready_q")
    p_q = past(m, payload, f"{prefix}_payload_q")
    with m.If(v_q & ~r_q):
        m.d.comb += [
            Assert(valid, f"{prefix}: valid withdrawn before ready"),
            Assert(payload == p_q, f"{prefix}: payload changed before ready"),
        ]


class RLEDecoderHarness(Elaboratable):
    """:class:`~panacea_hdl.rtl.rle_decoder.RLEDecoder` against the word rules of the spec.

    Free inputs: the word stream (``valid`` and ``payload`` held until ``ready``, as AXI4-Stream
    requires), ``restart``, ``active``, ``k_len`` and ``dense``. Contract of the sequencer
    (``panacea_hdl.rtl.top``), assumed: the first cycle restarts; ``1 <= K <= k_max``; K and
    ``dense`` change only in a restart cycle (they are CSR parameters, fixed while busy);
    ``restart`` and ``active`` are never high together (restart comes from LOAD / HANDOFF,
    active from PASS). Not covered: the skip controller's own restart in the cycle of a
    pass's last word when it chains the next pass (the pass overlap) — that path is checked
    by simulation (``sim_tests/unit/test_top.py``, the cocotb and fast-path benches).

    The decoder's position k is observable in every cycle: ``lit_k`` is ``k + run`` of the
    word on the bus (``lit_k - run``, modulo its width, is k). Each accepted word is
    classified by the rules of :func:`golden_model.formats.rle_decode` (priority KIND, DATA,
    DENSE_RUN, SKIP_RUN, OVERRUN, SHORT) at that position, with full-width arithmetic.
    Properties:

    * no hang: while ``active``, not finished and not in error, an offered word is accepted
      in the same cycle; at most ``2 (K + 1)`` words are accepted per pass (every word but
      END advances k, so a malformed stream cannot keep a pass busy);
    * the position never passes K (after a malformed word, which the decoder consumes with
      its run, it may: the pass is then dead, nothing more is accepted); a good word moves it
      as the spec says (LIT: k + run + 1, SKIP: k + run, END: 0 and the next tile); a literal
      is issued exactly for a good LIT, at ``k + run < K`` with the word's data; ``skipped``
      is a good word's run;
    * every malformed word sets ``error`` in the next cycle with its class in ``error_code``,
      and nothing is accepted after it until the restart, so the bad word is the last one
      accepted: its index is (words accepted) - 1, which is what the core reports in
      ERR_WORD (proved on the core by :class:`CoreHarness`); a good word never sets it;
    * ``finished`` rises exactly after the second good END.
    """

    def __init__(self, config=SMALL):
        self.config = config

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        no_reset(m)
        m.submodules.dut = dut = RLEDecoder(config=cfg)

        restart = free(m, 1, "restart")
        active = free(m, 1, "active")
        k_len = free(m, dut.k_len.shape(), "k_len")
        dense = free(m, 1, "dense")
        valid = free(m, 1, "valid")
        payload = free(m, len(dut.words.payload.as_value()), "payload")
        m.d.comb += [
            dut.restart.eq(restart), dut.active.eq(active), dut.k_len.eq(k_len),
            dut.dense.eq(dense), dut.words.valid.eq(valid), dut.words.payload.eq(payload),
        ]

        # ---- contract of the sequencer and of the stream source -----------------------------
        assume_stream_source(m, valid, dut.words.ready, payload, "words")
        k_q = past(m, k_len, "k_len_q")
        dense_q = past(m, dense, "dense_q")
        m.d.comb += [
            Assume(~Initial() | restart),
            Assume((k_len >= 1) & (k_len <= cfg.k_max)),
            Assume(restart | Initial() | ((k_len == k_q) & (dense == dense_q))),
            Assume(~(restart & active)),
        ]

        # ---- the spec's rules for the word on the bus, at the decoder's position -------------
        word = dut.words.payload
        kind, run = word.kind, word.run
        data_nz = word.data.as_value().any()
        K = Signal.like(k_len, name="K_ref")            # K of this pass (0 before the first)
        with m.If(restart):
            m.d.sync += K.eq(k_len)
        k = Signal(dut.lit_k.shape(), name="k_obs")    # the decoder's position
        m.d.comb += k.eq(dut.lit_k - run)
        pos = Signal(range(2 ** len(k) + cfg.max_run + 1), name="pos")
        m.d.comb += pos.eq(k + run)
        code = Signal(4, name="code_ref")
        with m.If(kind == formats.RESERVED):
            m.d.comb += code.eq(ErrorCode.RLE_KIND)
        with m.Elif((kind != formats.LIT) & data_nz):
            m.d.comb += code.eq(ErrorCode.RLE_DATA)
        with m.Elif(dense & (run != 0)):
            m.d.comb += code.eq(ErrorCode.RLE_DENSE_RUN)
        with m.Elif((kind == formats.SKIP) & (run != cfg.max_run)):
            m.d.comb += code.eq(ErrorCode.RLE_SKIP_RUN)
        with m.Elif((kind == formats.LIT) & (pos >= K)):
            m.d.comb += code.eq(ErrorCode.RLE_OVERRUN)
        with m.Elif((kind != formats.LIT) & (pos > K)):
            m.d.comb += code.eq(ErrorCode.RLE_OVERRUN)
        with m.Elif((kind == formats.END) & (pos != K)):
            m.d.comb += code.eq(ErrorCode.RLE_SHORT)
        with m.Else():
            m.d.comb += code.eq(ErrorCode.NONE)
        good = Signal(name="good_ref")
        m.d.comb += good.eq(code == ErrorCode.NONE)
        next_k = Signal(range(2 ** len(k) + cfg.max_run + 2), name="next_k_ref")
        m.d.comb += next_k.eq(Mux(kind == formats.LIT, pos + 1,
                                  Mux(kind == formats.END, 0, pos)))

        accept = Signal(name="accept")
        m.d.comb += accept.eq(valid & dut.words.ready)
        # what the accepted word must do, checked in the next cycle
        acc_q = Signal(name="accepted_q")
        good_q = Signal(name="good_q")
        code_q = Signal(4, name="code_q")
        next_k_q = Signal.like(next_k, name="next_k_q")
        end_q = Signal(name="end_q")
        tile_q = Signal(name="tile_q")
        fin_q = past(m, dut.finished, "finished_q")
        err_q = past(m, dut.error, "error_q")
        m.d.sync += [
            acc_q.eq(accept & ~restart), good_q.eq(good), code_q.eq(code),
            next_k_q.eq(next_k), end_q.eq(kind == formats.END), tile_q.eq(dut.lit_tile),
        ]
        n_words = Signal(range(4 * (cfg.k_max + 2)), name="n_words")
        err_index = Signal.like(n_words, name="err_index")
        with m.If(restart):
            m.d.sync += n_words.eq(0)
        with m.Elif(accept):
            m.d.sync += n_words.eq(n_words + 1)
            with m.If(~good):
                m.d.sync += err_index.eq(n_words)
        restart_q = past(m, restart, "restart_q")

        # ---- properties -------------------------------------------------------------------
        offered = active & valid & ~dut.finished & ~dut.error
        m.d.comb += [
            # no hang, and a pass ends (finished or error) within 2 (K + 1) words
            Assert(~offered | dut.words.ready, "an offered word is not accepted"),
            Assert(~(dut.words.ready & ~active), "ready while not active"),
            Assert(n_words <= 2 * (K + 1), "more than 2 (K + 1) words in one pass"),
            # the position never passes K, and moves as the spec says
            Assert(dut.error | (k <= K), "position past K"),
            Assert(dut.word_valid == accept, "word_valid is not the handshake"),
            Assert(dut.lit_valid == (accept & good & (kind == formats.LIT)),
                   "literal issued for a word that is not a good LIT"),
            Assert(~dut.lit_valid | ((dut.lit_k < K)
                                     & (dut.lit_ah.as_value() == word.data.as_value())),
                   "literal past K or with the wrong data"),
            Assert(dut.skipped == Mux(accept & good, run, 0), "skipped is not the good run"),
        ]
        with m.If(restart_q):
            m.d.comb += Assert((k == 0) & (dut.lit_tile == 0) & ~dut.finished & ~dut.error,
                               "restart does not return to k = 0, tile 0")
        with m.Elif(acc_q & good_q):
            m.d.comb += [
                Assert(k == next_k_q, "a good word moved the position wrongly"),
                Assert(dut.lit_tile == (tile_q | end_q), "wrong tile after a good word"),
                Assert(~dut.error, "a good word set error"),
                Assert(dut.finished == (end_q & tile_q), "finished is not the second END"),
            ]
        with m.Elif(acc_q):
            m.d.comb += [
                # every malformed word is flagged, with its class
                Assert(dut.error & (dut.error_code == code_q), "malformed word not flagged"),
                Assert(~dut.finished, "finished after a malformed word"),
            ]
        with m.Else():
            m.d.comb += [
                Assert(dut.error == err_q, "error changed without a word"),
                Assert(dut.finished == fin_q, "finished changed without a word"),
            ]
        m.d.comb += [
            # ... and is the last word accepted: its index is (words accepted) - 1
            Assert(~dut.error | (n_words == err_index + 1),
                   "a word was accepted after the malformed one"),
            Cover(dut.finished & (K == cfg.k_max)),
            Cover(dut.error & (dut.error_code == ErrorCode.RLE_OVERRUN)),
        ]
        return m


def free_csr(m, config):
    """A :class:`~panacea_hdl.rtl.csr.CSR` whose bus (manager side) and core inputs are free."""
    m.submodules.dut = dut = CSR(config=config)
    for name in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                 "araddr", "arprot", "arvalid", "rready"):
        port = getattr(dut.bus, name)
        m.d.comb += port.eq(free(m, len(port), f"m_{name}"))
    for name in ("busy", "done", "error", "errcode", "err_word", "counters_clear"):
        port = getattr(dut, name)
        m.d.comb += port.eq(free(m, len(port), f"in_{name}"))
    m.d.comb += dut.counter_inc.eq(free(m, len(dut.counter_inc.as_value()), "in_inc"))
    return dut


class AXILiteHarness(Elaboratable):
    """:class:`~panacea_hdl.rtl.csr.CSR` (the AXI4-Lite subordinate) against a transaction counter.

    Free inputs: the manager's side of the bus, held as AXI requires (a ``valid`` and its
    payload stay until ``ready``), and the core's status and counter inputs. The monitor
    counts the AW, W, B, AR and R handshakes. Properties:

    * every write gets exactly one B response and every read exactly one R response: a
      response needs an AW *and* a W (for B) or an AR (for R) not yet answered, at most one
      request of each kind is outstanding (so no request is answered twice), and an
      answerable request has its response offered (``bvalid`` / ``rvalid``) in the next cycle;
    * the subordinate's ``bvalid``/``bresp`` and ``rvalid``/``rdata``/``rresp`` are held until
      ``bready``/``rready``.
    """

    def __init__(self, config=SMALL):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        no_reset(m)
        dut = free_csr(m, self.config)
        bus = dut.bus

        # ---- the manager holds each request until it is accepted ----------------------------
        assume_stream_source(m, bus.awvalid, bus.awready, bus.awaddr, "aw")
        assume_stream_source(m, bus.wvalid, bus.wready, Cat(bus.wdata, bus.wstrb), "w")
        assume_stream_source(m, bus.arvalid, bus.arready, bus.araddr, "ar")

        # ---- transaction counting monitor -----------------------------------------------------
        aw_go = bus.awvalid & bus.awready
        w_go = bus.wvalid & bus.wready
        b_go = bus.bvalid & bus.bready
        ar_go = bus.arvalid & bus.arready
        r_go = bus.rvalid & bus.rready
        # requests not yet answered (counted wide, so a second outstanding one would show)
        aw_open = Signal(2, name="aw_open")
        w_open = Signal(2, name="w_open")
        ar_open = Signal(2, name="ar_open")
        m.d.sync += [
            aw_open.eq(aw_open + aw_go - b_go),
            w_open.eq(w_open + w_go - b_go),
            ar_open.eq(ar_open + ar_go - r_go),
        ]
        # an answerable request whose response is not offered yet: never two cycles in a row
        b_due = Signal(name="b_due")
        r_due = Signal(name="r_due")
        m.d.comb += [
            b_due.eq((aw_open != 0) & (w_open != 0) & ~bus.bvalid),
            r_due.eq((ar_open != 0) & ~bus.rvalid),
        ]
        b_due_q = past(m, b_due, "b_due_q")
        r_due_q = past(m, r_due, "r_due_q")

        m.d.comb += [
            Assert(aw_open <= 1, "two writes outstanding (AW)"),
            Assert(w_open <= 1, "two writes outstanding (W)"),
            Assert(ar_open <= 1, "two reads outstanding"),
            Assert(~bus.bvalid | ((aw_open == 1) & (w_open == 1)),
                   "B response without an AW and a W"),
            Assert(~bus.rvalid | (ar_open == 1), "R response without an AR"),
            Assert(~(b_due & b_due_q), "write not answered"),
            Assert(~(r_due & r_due_q), "read not answered"),
            # ready exactly when no request of its kind is open (and no response pending)
            Assert(bus.bvalid | (bus.awready == (aw_open == 0)), "AW ready"),
            Assert(bus.bvalid | (bus.wready == (w_open == 0)), "W ready"),
            Assert(bus.rvalid | (bus.arready == (ar_open == 0)), "AR ready"),
            Cover(b_go & (bus.bresp == 0)),
            Cover(r_go & (bus.rresp == 0)),
        ]
        assert_stream_source(m, bus.bvalid, bus.bready, bus.bresp, "b")
        assert_stream_source(m, bus.rvalid, bus.rready, bus.rdata, "r_data")
        assert_stream_source(m, bus.rvalid, bus.rready, bus.rresp, "r_resp")
        return m


class CounterHarness(Elaboratable):
    """The performance counters of :class:`~panacea_hdl.rtl.csr.CSR` never decrease unless cleared.

    Free inputs: everything (bus, status, per-cycle increments, ``counters_clear``). Each
    counter's value is at least its value of the previous cycle unless ``counters_clear`` was
    high then (the core raises it only at START: :class:`CoreHarness`). The counters wrap
    modulo 2**32 (``docs/registers.md``), so the property assumes they stay below 2**31
    (a GEMM shorter than 2**31 cycles).
    """

    def __init__(self, config=SMALL):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        no_reset(m)
        dut = free_csr(m, self.config)
        clear_q = past(m, dut.counters_clear, "clear_q")
        for i, name in enumerate(regmap.COUNTERS):
            c = dut.counters[i]
            c_q = past(m, c, f"{name}_q")
            m.d.comb += [
                Assume(c < (1 << 31)),
                Assert(clear_q | (c >= c_q), f"counter {name} decreased"),
            ]
        return m


class CoreHarness(Elaboratable):
    """:class:`~panacea_hdl.rtl.top.PanaceaCore` with a free host, free input streams and ``y`` ready.

    The core is elaborated here so that the harness can observe its CSR block's
    ``counters_clear``, ``error``, ``errcode`` and ``err_word`` ports. Free inputs: the
    AXI4-Lite manager and the ``w``, ``lo``, ``ho`` sources (each ``valid`` and its payload
    held until ``ready``), and ``y.tready``. :meth:`script` cuts the PEAs out (``cutpoint``:
    their outputs take any value in any cycle), so the properties hold for any datapath
    result; none of them depends on the arithmetic, whose equivalence with the golden model
    the simulation tests check. It also lets the parameter registers start from any value
    (the host can write any value while the core is idle, so these states are reachable),
    which saves the ~12 cycles of register writes before a START.

    Parameters
    ----------
    config : PanaceaConfig
    check : {"y_stream", "counters", "err_word"}
        The property to prove (one per job: Yosys then drops the logic it does not read):

        * ``y_stream``: the ``y`` stream (the core's AXI4-Stream source, fed by the output
          bank) holds ``tvalid``, ``tdata`` and ``tlast`` until ``tready``;
        * ``counters``: the counters clear only while the core is idle (at START); with
          :class:`CounterHarness` (monotone unless cleared), they never decrease while busy;
        * ``err_word``: a malformed RLE word stops the GEMM with ERR_WORD = its index in the
          GEMM's ``ho`` stream (the words accepted since START, minus one: the decoder
          accepts nothing after it, :class:`RLEDecoderHarness`).
    """

    CHECKS = ("y_stream", "counters", "err_word")

    def __init__(self, config=SMALL, *, check):
        if check not in self.CHECKS:
            raise ValueError(f"check must be one of {self.CHECKS}, got {check!r}")
        self.config = config
        self.check = check

    def script(self):
        """Yosys commands for the proof: cut out the PEAs, free the parameter registers."""
        cuts = "\n".join(f"cutpoint top.dut/pea{i}" for i in range(self.config.num_peas))
        params = " ".join(f"w:dut.csr.{name}" for name in
                          ("mode", "rval", "zp", "split", "dim_m", "dim_k", "dim_n"))
        return f"{cuts}\nflatten\nsetattr -unset init w:dut.csr.reg_* {params}"

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        no_reset(m)
        core = PanaceaCore(config=cfg)
        m.submodules.dut = core_m = core.elaborate(platform)
        csr = core_m.submodules.csr

        for name in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                     "araddr", "arprot", "arvalid", "rready"):
            port = getattr(core.csr, name)
            m.d.comb += port.eq(free(m, len(port), f"m_{name}"))
        bus = core.csr
        assume_stream_source(m, bus.awvalid, bus.awready, bus.awaddr, "aw")
        assume_stream_source(m, bus.wvalid, bus.wready, Cat(bus.wdata, bus.wstrb), "w")
        assume_stream_source(m, bus.arvalid, bus.arready, bus.araddr, "ar")
        for name in ("w", "lo", "ho"):
            axis = getattr(core, name)
            m.d.comb += [
                axis.tvalid.eq(free(m, 1, f"{name}_tvalid")),
                axis.tdata.eq(free(m, len(axis.tdata), f"{name}_tdata")),
                axis.tlast.eq(free(m, 1, f"{name}_tlast")),
            ]
            assume_stream_source(m, axis.tvalid, axis.tready, Cat(axis.tdata, axis.tlast),
                                 f"{name}_src")
        m.d.comb += core.y.tready.eq(free(m, 1, "y_tready"))

        # passes begun since START (saturating), for the covers
        passes = Signal(2, name="passes")
        with m.If(csr.counters_clear):
            m.d.sync += passes.eq(0)
        with m.Elif(core_m.submodules.ctrl.restart & (passes != 3)):
            m.d.sync += passes.eq(passes + 1)

        if self.check == "y_stream":
            assert_stream_source(m, core.y.tvalid, core.y.tready,
                                 Cat(core.y.tdata, core.y.tlast), "y")
            m.d.comb += [
                Cover(core.y.tvalid & core.y.tready & core.y.tlast),
                Cover(core.y.tvalid & ~core.y.tready & (passes == 2)),  # 1st pass's rows wait
            ]

        if self.check == "counters":
            m.d.comb += [
                Assert(~(csr.counters_clear & core.busy), "counters cleared while busy"),
                Cover(csr.counters_clear),
            ]

        if self.check == "err_word":
            n_ho = Signal(8, name="n_ho")          # ho words accepted since START
            words = core.ho_unpack.o                # the RLE words unpacked from the ho beats
            with m.If(csr.counters_clear):
                m.d.sync += n_ho.eq(0)
            with m.Elif(core.busy & words.valid & words.ready):
                m.d.sync += n_ho.eq(n_ho + 1)
            error_q = past(m, csr.error, "error_q")
            rle_error = Signal(name="rle_error")
            m.d.comb += rle_error.eq(csr.error & ~error_q
                                     & (csr.errcode != ErrorCode.BAD_PARAM)
                                     & (csr.errcode != ErrorCode.ABORTED)
                                     & (csr.errcode != ErrorCode.LO_TRUNCATED)
                                     & (csr.errcode != ErrorCode.HO_TRUNCATED))
            # a truncated ho frame (TLAST before the pass's last word): every word loaded was
            # taken, so the first missing one is the count of words taken
            ho_cut = Signal(name="ho_cut")
            m.d.comb += ho_cut.eq(csr.error & ~error_q & (csr.errcode == ErrorCode.HO_TRUNCATED))
            m.d.comb += [
                Assert(~rle_error | (csr.err_word == (n_ho - 1)[:8]),
                       "ERR_WORD is not the index of the malformed word"),
                Assert(~ho_cut | (csr.err_word == n_ho),
                       "ERR_WORD is not the first missing word of a truncated ho frame"),
                Cover(rle_error),
                Cover(rle_error & (passes == 2)),   # in the GEMM's second pass
                Cover(ho_cut),
            ]
        return m
