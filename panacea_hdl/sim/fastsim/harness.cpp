// Compiled host of one Panacea GEMM on a Verilated core (panacea_hdl/sim/fastsim).
//
// It does what panacea_hdl/sim/cocotb_bench.py (run_job) does with cocotbext-axi, cycle by cycle
// in C++: reset, check INFO/KMAX, queue the w/lo/ho beats, program the parameter registers
// and START over AXI4-Lite, poll STATUS until BUSY clears, check STATUS, the streams, the y
// framing and the busy-cycle count, read the counters, and write the y beats and counters
// to a result file. What to write where (addresses, values, the beats) comes from the job
// file written by fastsim.py from the golden model's job; this file knows only the
// procedure and the signal-level rules:
//
//   * stream sources as cocotbext-axi's AxiStreamSource: at a clock edge, if the beat on
//     the bus was accepted (tvalid & tready) or none is on it, present the next beat unless
//     paused, else drop tvalid; tlast on the last beat of each frame (the job's "lasts";
//     without them the stream is one frame);
//   * the y sink as AxiStreamSink: tready = not paused (0 in reset); a beat is taken on
//     tvalid & tready; in addition (cocotbext-axi does not check it) a beat on offer must
//     stay, unchanged, until it is taken (AXI4-Stream);
//   * AXI4-Lite as AxiLiteMaster: AW and W valid together, each dropped after its
//     handshake, bready/rready high, one transaction at a time;
//   * random stalls (job "stalls 1 seed p"): every edge each source and the sink draw
//     "paused" with probability p (own generator per stream, seeded from seed).
//
// Handshakes are sampled after the inputs of a cycle settle and before its rising edge.
// Exit status: 0 ok, 1 a check failed (result file says which), 2 bad job file or usage,
// 3 time-out (cycle guard). Usage: Vharness JOB_FILE RESULT_FILE

#include "Vtop.h"
#include "verilated.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

// Verilator spells a "__" inside a port name as "___05F"
#define PORT(bus, sig) bus##___05F##sig

namespace {

// ---- port access for every width Verilator uses (CData .. QData, VlWide<N>) -------------
template <typename T> int words_of(const T&) { return sizeof(T) > 4 ? 2 : 1; }
template <std::size_t N> int words_of(const VlWide<N>&) { return static_cast<int>(N); }

template <typename T> void put(T& port, const uint32_t* w, int nw) {
    uint64_t v = w[0];
    if (nw > 1) v |= static_cast<uint64_t>(w[1]) << 32;
    port = static_cast<T>(v);
}
template <std::size_t N> void put(VlWide<N>& port, const uint32_t* w, int) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
template <typename T> void get(const T& port, uint32_t* w, int nw) {
    uint64_t v = static_cast<uint64_t>(port);
    w[0] = static_cast<uint32_t>(v);
    if (nw > 1) w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N> void get(const VlWide<N>& port, uint32_t* w, int) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

struct Reg {
    uint32_t addr = 0;
    uint32_t value = 0;
    std::string name;
};

struct Source {
    std::string name;
    int bits = 0;
    int nwords = 0;
    std::vector<uint32_t> data;  // beat i at [i * nwords, (i + 1) * nwords), LS word first
    std::vector<uint8_t> lasts;  // tlast of beat i (default: the last beat only)
    std::size_t count = 0;
    bool queued = false;          // cocotb_bench queues a stream only if it has beats
    std::size_t next = 0;         // next beat to present
    std::size_t consumed = 0;
    bool valid = false;
    bool last = false;
    std::size_t cur = 0;          // beat on the bus while valid
    bool stall = false;
    double p = 0.0;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> u{0.0, 1.0};

    bool draw_pause() { return stall && u(rng) < p; }
    const uint32_t* beat() const { return &data[cur * nwords]; }
};

struct Job {
    int reset_high = 3, reset_after = 2;
    std::vector<Reg> check_reads, writes, counters;
    Reg start;
    uint32_t status_addr = 0, busy_mask = 1, expect_mask = 0, expect_value = 0;
    long long poll_wait = 4, max_polls = 1;
    long long axi_timeout = 1000, y_timeout = 1000, cycle_limit = 0;
    bool stalls = false;
    unsigned long long seed = 0;
    double p = 0.0;
    std::string progress;
    int y_bits = 0;
};

struct Sample {  // DUT outputs after the inputs of a cycle settled, before its edge
    bool awready, wready, bvalid, arready, rvalid;
    uint32_t bresp, rresp, rdata;
};

class Timeout {
  public:
    explicit Timeout(std::string m) : msg(std::move(m)) {}
    std::string msg;
};

class JobError {
  public:
    explicit JobError(std::string m) : msg(std::move(m)) {}
    std::string msg;
};

std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "%#x", v);
    return b;
}

void parse_hex(const std::string& s, uint32_t* w, int nw, const std::string& what) {
    for (int i = 0; i < nw; ++i) w[i] = 0;
    if (s.empty()) throw JobError(what + ": empty beat");
    int word = 0, shift = 0;
    for (std::size_t j = s.size(); j-- > 0;) {
        char c = s[j];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else throw JobError(what + ": not a hex number: " + s.substr(0, 40));
        if (d) {
            if (word >= nw) throw JobError(what + ": beat wider than the port");
            w[word] |= d << shift;
        }
        shift += 4;
        if (shift == 32) { shift = 0; ++word; }
    }
}

class Harness {
  public:
    Harness(Job& job, Vtop* top) : job_(job), top_(top) {}

    Source src[3];  // w, lo, ho
    std::vector<uint32_t> y;  // y beats, y_words each
    std::vector<uint8_t> y_last;
    int y_words = 0;
    long long cycle = 0, busy_cycles = 0;
    bool y_ready = false;  // sink tready (0 in reset)
    bool in_reset = true;
    std::mt19937_64 y_rng;
    std::uniform_real_distribution<double> u{0.0, 1.0};
    long long busy_at_start = 0;
    // AXI4-Stream rule on y: a beat on offer (tvalid, not taken) stays, unchanged, until taken
    bool y_offered = false;
    std::vector<uint32_t> y_offer;
    std::string y_violation;
    std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();

    void drive_sources() {
        top_->PORT(w, tvalid) = src[0].valid;
        top_->PORT(w, tlast) = src[0].last;
        if (src[0].valid) put(top_->PORT(w, tdata), src[0].beat(), src[0].nwords);
        top_->PORT(lo, tvalid) = src[1].valid;
        top_->PORT(lo, tlast) = src[1].last;
        if (src[1].valid) put(top_->PORT(lo, tdata), src[1].beat(), src[1].nwords);
        top_->PORT(ho, tvalid) = src[2].valid;
        top_->PORT(ho, tlast) = src[2].last;
        if (src[2].valid) put(top_->PORT(ho, tdata), src[2].beat(), src[2].nwords);
        top_->PORT(y, tready) = y_ready;
    }

    // One clock cycle: settle the inputs, sample the handshakes, rising edge, update the host.
    Sample tick() {
        top_->clk = 0;
        top_->eval();
        Sample s;
        s.awready = top_->PORT(csr, awready);
        s.wready = top_->PORT(csr, wready);
        s.bvalid = top_->PORT(csr, bvalid);
        s.bresp = top_->PORT(csr, bresp);
        s.arready = top_->PORT(csr, arready);
        s.rvalid = top_->PORT(csr, rvalid);
        s.rresp = top_->PORT(csr, rresp);
        s.rdata = top_->PORT(csr, rdata);
        const bool ready[3] = {top_->PORT(w, tready) != 0, top_->PORT(lo, tready) != 0,
                               top_->PORT(ho, tready) != 0};
        const bool busy = top_->busy;
        const bool y_valid = top_->PORT(y, tvalid);
        if (y_offered && y_violation.empty()) {
            std::vector<uint32_t> now(y_words);
            if (y_valid) get(top_->PORT(y, tdata), now.data(), y_words);
            if (!y_valid || now != y_offer)
                y_violation = "y beat " + std::to_string(y_last.size()) + " on offer was " +
                              (y_valid ? "changed" : "withdrawn") + " before it was taken (cycle " +
                              std::to_string(cycle) + ")";
        }
        y_offered = y_valid && !y_ready && !in_reset;
        if (y_offered) {
            y_offer.resize(y_words);
            get(top_->PORT(y, tdata), y_offer.data(), y_words);
        }
        if (y_valid && y_ready) {
            std::size_t n = y.size();
            y.resize(n + y_words);
            get(top_->PORT(y, tdata), &y[n], y_words);
            y_last.push_back(top_->PORT(y, tlast) ? 1 : 0);
        }
        top_->clk = 1;
        top_->eval();
        ++cycle;
        if (busy) ++busy_cycles;
        for (int i = 0; i < 3; ++i) {
            Source& q = src[i];
            const bool fire = q.valid && ready[i];
            if (fire) ++q.consumed;
            const bool paused = q.draw_pause();
            if (fire || !q.valid) {
                if (q.queued && q.next < q.count && !paused) {
                    q.cur = q.next++;
                    q.valid = true;
                    q.last = q.lasts[q.cur] != 0;
                } else {
                    q.valid = false;
                    q.last = false;
                }
            }
        }
        const bool y_paused = job_.stalls && u(y_rng) < job_.p;
        y_ready = !in_reset && !y_paused;
        drive_sources();
        if ((cycle & 0xffff) == 0) {
            if (cycle > job_.cycle_limit)
                throw Timeout("no result after " + std::to_string(cycle) + " cycles (cycle guard)");
            progress();
        }
        return s;
    }

    void progress() {
        if (job_.progress.empty()) return;
        auto now = std::chrono::steady_clock::now();
        if (now - last_progress < std::chrono::milliseconds(500)) return;
        last_progress = now;
        std::string tmp = job_.progress + ".tmp";
        std::FILE* f = std::fopen(tmp.c_str(), "w");
        if (!f) return;
        std::fprintf(f, "%lld", busy_cycles - busy_at_start);
        std::fclose(f);
        std::rename(tmp.c_str(), job_.progress.c_str());
    }

    void reset() {
        in_reset = true;
        top_->rst = 1;
        drive_sources();
        for (int i = 0; i < job_.reset_high; ++i) tick();
        top_->rst = 0;
        in_reset = false;
        for (int i = 0; i < job_.reset_after; ++i) tick();
    }

    uint32_t write(const Reg& r) {
        top_->PORT(csr, awaddr) = r.addr;
        top_->PORT(csr, awprot) = 0;
        top_->PORT(csr, awvalid) = 1;
        top_->PORT(csr, wdata) = r.value;
        top_->PORT(csr, wstrb) = 0xf;
        top_->PORT(csr, wvalid) = 1;
        top_->PORT(csr, bready) = 1;
        for (long long i = 0; i < job_.axi_timeout; ++i) {
            const bool aw = top_->PORT(csr, awvalid), wv = top_->PORT(csr, wvalid);
            Sample s = tick();
            if (aw && s.awready) top_->PORT(csr, awvalid) = 0;
            if (wv && s.wready) top_->PORT(csr, wvalid) = 0;
            if (s.bvalid) return s.bresp;
        }
        throw Timeout("AXI4-Lite write of " + r.name + " (" + hex32(r.addr) + ") got no response within " +
                      std::to_string(job_.axi_timeout) + " cycles");
    }

    uint32_t read(uint32_t addr, const std::string& name, uint32_t* resp) {
        top_->PORT(csr, araddr) = addr;
        top_->PORT(csr, arprot) = 0;
        top_->PORT(csr, arvalid) = 1;
        top_->PORT(csr, rready) = 1;
        for (long long i = 0; i < job_.axi_timeout; ++i) {
            const bool ar = top_->PORT(csr, arvalid);
            Sample s = tick();
            if (ar && s.arready) top_->PORT(csr, arvalid) = 0;
            if (s.rvalid) {
                *resp = s.rresp;
                return s.rdata;
            }
        }
        throw Timeout("AXI4-Lite read of " + name + " (" + hex32(addr) + ") got no response within " +
                      std::to_string(job_.axi_timeout) + " cycles");
    }

    uint32_t read_ok(uint32_t addr, const std::string& name, std::vector<std::string>& problems) {
        uint32_t resp = 0;
        uint32_t v = read(addr, name, &resp);
        if (resp != 0) problems.push_back("read " + name + " (" + hex32(addr) + "): resp " + std::to_string(resp));
        return v;
    }

  private:
    Job& job_;
    Vtop* top_;
};

// can a port whose C++ type holds nwords 32-bit words carry beats of this many bits?
// (Verilator: up to 32 bits in one word, 33..64 in a QData, more in VlWide<ceil(bits/32)>)
bool port_bits_ok(int bits, int nwords) { return (bits + 31) / 32 == nwords; }

void read_job(const char* path, Job& job, Source* src, int y_words) {
    std::ifstream in(path);
    if (!in) throw JobError(std::string("cannot read job file ") + path);
    std::string tok;
    in >> tok;
    int version = 0;
    in >> version;
    if (tok != "panacea-fastsim" || version != 1) throw JobError("not a fastsim job file (version 1)");
    const char* names[3] = {"w", "lo", "ho"};
    bool ended = false;
    while (in >> tok) {
        if (tok == "end") { ended = true; break; }
        if (tok == "reset") {
            in >> job.reset_high >> job.reset_after;
        } else if (tok == "check_read" || tok == "write" || tok == "counter") {
            Reg r;
            in >> r.addr;
            if (tok != "counter") in >> r.value;
            in >> r.name;
            (tok == "check_read" ? job.check_reads : tok == "write" ? job.writes : job.counters).push_back(r);
        } else if (tok == "start") {
            in >> job.start.addr >> job.start.value;
            job.start.name = "CTRL";
        } else if (tok == "status") {
            in >> job.status_addr >> job.busy_mask >> job.expect_mask >> job.expect_value;
        } else if (tok == "poll") {
            in >> job.poll_wait >> job.max_polls;
        } else if (tok == "guards") {
            in >> job.axi_timeout >> job.y_timeout >> job.cycle_limit;
        } else if (tok == "stalls") {
            int on = 0;
            in >> on >> job.seed >> job.p;
            job.stalls = on != 0;
        } else if (tok == "progress") {
            in >> job.progress;
            if (job.progress == "-") job.progress.clear();
        } else if (tok == "widths") {  // w lo ho y: must fit the build's ports
            int b[4] = {0, 0, 0, 0};
            in >> b[0] >> b[1] >> b[2] >> b[3];
            const int nw[4] = {src[0].nwords, src[1].nwords, src[2].nwords, y_words};
            for (int i = 0; i < 4; ++i)
                if (!in || b[i] <= 0 || !port_bits_ok(b[i], nw[i]))
                    throw JobError("beat width " + std::to_string(b[i]) + " of " + (i < 3 ? names[i] : "y") +
                                   " does not fit the build's port (the job was made for another config)");
            for (int i = 0; i < 3; ++i) src[i].bits = b[i];
            job.y_bits = b[3];
        } else if (tok == "stream") {
            std::string name;
            long long bits = 0, count = 0;
            in >> name >> bits >> count;
            int i = 0;
            while (i < 3 && name != names[i]) ++i;
            if (i == 3) throw JobError("unknown stream " + name);
            if (count < 0 || bits <= 0) throw JobError("stream " + name + ": bad width or count");
            Source& q = src[i];
            if (q.bits == 0) throw JobError("job file: 'stream' before 'widths'");
            if (q.bits != bits)
                throw JobError("stream " + name + " has " + std::to_string(bits) + "-bit beats, the build's port has " +
                               std::to_string(q.bits) + " (the job was made for another config)");
            q.count = static_cast<std::size_t>(count);
            q.data.assign(q.count * q.nwords, 0);
            std::string h;
            for (std::size_t b = 0; b < q.count; ++b) {
                if (!(in >> h)) throw JobError("stream " + name + ": file ends after " + std::to_string(b) + " beats");
                parse_hex(h, &q.data[b * q.nwords], q.nwords, "stream " + name + " beat " + std::to_string(b));
            }
            q.lasts.assign(q.count, 0);
            if (q.count) q.lasts[q.count - 1] = 1;
        } else if (tok == "lasts") {  // lasts NAME n i_1 .. i_n: the beats with tlast (after 'stream')
            std::string name;
            long long n = 0;
            in >> name >> n;
            int i = 0;
            while (i < 3 && name != names[i]) ++i;
            if (i == 3) throw JobError("unknown stream " + name);
            Source& q = src[i];
            if (n < 0 || q.lasts.size() != q.count) throw JobError("lasts " + name + ": bad count or before 'stream'");
            std::fill(q.lasts.begin(), q.lasts.end(), 0);
            for (long long j = 0; j < n; ++j) {
                long long b = -1;
                in >> b;
                if (!in || b < 0 || static_cast<std::size_t>(b) >= q.count)
                    throw JobError("lasts " + name + ": beat index out of range");
                q.lasts[static_cast<std::size_t>(b)] = 1;
            }
        } else {
            throw JobError("unknown job directive '" + tok + "'");
        }
        if (!in) throw JobError("job file: bad value after '" + tok + "'");
    }
    if (!ended) throw JobError("job file is truncated (no 'end')");
    if (job.writes.empty() || job.start.name.empty() || job.counters.empty() || job.cycle_limit <= 0)
        throw JobError("job file lacks register writes, start, counters or guards");
}


}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s JOB_FILE RESULT_FILE\n", argv[0]);
        return 2;
    }
    const char* result_path = argv[2];
    auto* ctx = new VerilatedContext;
    ctx->fatalOnError(false);
    auto* top = new Vtop{ctx};
    Job job;
    Harness h(job, top);
    const char* names[3] = {"w", "lo", "ho"};
    h.src[0].nwords = words_of(top->PORT(w, tdata));
    h.src[1].nwords = words_of(top->PORT(lo, tdata));
    h.src[2].nwords = words_of(top->PORT(ho, tdata));
    h.y_words = words_of(top->PORT(y, tdata));
    for (int i = 0; i < 3; ++i) h.src[i].name = names[i];

    std::string status = "ok", message;
    std::vector<std::string> problems;
    std::vector<uint32_t> counter_values;
    uint32_t status_reg = 0;
    long long sim_cycles = 0, gemm_busy = 0;
    double sim_seconds = 0.0, sim_cpu_seconds = 0.0;
    int rc = 0;
    try {
        read_job(argv[1], job, h.src, h.y_words);
        std::mt19937_64 seeder(job.seed);
        for (auto& q : h.src) {
            q.stall = job.stalls;
            q.p = job.p;
            q.rng.seed(seeder());
        }
        h.y_rng.seed(seeder());

        // ---- cocotb_bench.setup: reset, INFO and KMAX identify the build --------------------
        h.reset();
        for (const Reg& r : job.check_reads) {
            uint32_t v = h.read_ok(r.addr, r.name, problems);
            if (v != r.value)
                throw JobError(r.name + " reads " + hex32(v) + ", expected " + hex32(r.value) +
                               ": the build is not of this job's config");
        }
        // ---- Host.run_job ------------------------------------------------------------
        const long long cycle0 = h.cycle;
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t cpu0 = std::clock();
        for (auto& q : h.src) q.queued = q.count > 0;  // an empty frame would never complete
        for (const Reg& r : job.writes) {
            uint32_t resp = h.write(r);
            if (resp != 0)
                throw JobError("write " + hex32(r.value) + " to " + r.name + " (" + hex32(r.addr) + "): resp " +
                               std::to_string(resp));
        }
        if (uint32_t resp = h.write(job.start))
            throw JobError("write START: resp " + std::to_string(resp));
        const long long busy0 = h.busy_cycles;
        h.busy_at_start = busy0;
        bool idle = false;
        for (long long i = 0; i < job.max_polls; ++i) {
            status_reg = h.read_ok(job.status_addr, "STATUS", problems);
            if (!(status_reg & job.busy_mask)) { idle = true; break; }
            for (long long c = 0; c < job.poll_wait; ++c) h.tick();
        }
        if (!idle)
            throw Timeout("core still busy after ~" + std::to_string(job.max_polls * 8) + " cycles (STATUS " +
                          hex32(status_reg) + ")");
        if ((status_reg & job.expect_mask) != job.expect_value)
            problems.push_back("STATUS " + hex32(status_reg) + " (expected DONE only: " + hex32(job.expect_value) + ")");
        for (auto& q : h.src)
            if (q.consumed != q.count)
                problems.push_back(q.name + " stream not fully consumed (" + std::to_string(q.consumed) + " of " +
                                   std::to_string(q.count) + " beats)");
        if (problems.empty()) {
            auto frames = [&]() {
                long long n = 0;
                for (auto l : h.y_last) n += l;
                return n;
            };
            for (long long c = 0; c < job.y_timeout && frames() == 0; ++c) h.tick();
            const long long nf = frames();
            if (nf == 0)
                problems.push_back("no complete y frame (" + std::to_string(h.y_last.size()) + " beats, no tlast) within " +
                                   std::to_string(job.y_timeout) + " cycles of the end");
            else if (nf > 1 || !h.y_last.back())
                problems.push_back("tlast before the GEMM's last beat (more than one y frame)");
        }
        if (!h.y_violation.empty()) problems.push_back(h.y_violation);
        gemm_busy = h.busy_cycles - busy0;
        for (const Reg& r : job.counters) counter_values.push_back(h.read_ok(r.addr, r.name, problems));
        for (std::size_t i = 0; i < job.counters.size(); ++i)
            if (job.counters[i].name == "cycles" && counter_values[i] != static_cast<uint32_t>(gemm_busy))
                problems.push_back("cycles counter " + std::to_string(counter_values[i]) + " != busy cycles " +
                                   std::to_string(gemm_busy));
        sim_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sim_cpu_seconds = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
        sim_cycles = h.cycle - cycle0;
        if (!problems.empty()) {
            status = "problem";
            rc = 1;
            for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
        }
    } catch (const JobError& e) {
        status = "job-error";
        message = e.msg;
        rc = 2;
    } catch (const Timeout& e) {
        status = "timeout";
        message = e.msg;
        rc = 3;
    }
    top->final();

    std::FILE* f = std::fopen(result_path, "w");
    if (!f) {
        std::fprintf(stderr, "fastsim: cannot write %s\n", result_path);
        return 2;
    }
    std::fprintf(f, "panacea-fastsim-result 1\nstatus %s\nmessage %s\n", status.c_str(), message.c_str());
    std::fprintf(f, "status_reg %u\nbusy_cycles %lld\nsim_cycles %lld\nsim_seconds %.9f\n"
                 "sim_cpu_seconds %.9f\ntotal_cycles %lld\n",
                 status_reg, gemm_busy, sim_cycles, sim_seconds, sim_cpu_seconds, h.cycle);
    for (std::size_t i = 0; i < counter_values.size(); ++i)
        std::fprintf(f, "counter %s %u\n", job.counters[i].name.c_str(), counter_values[i]);
    std::fprintf(f, "y %zu\n", h.y_last.size());
    for (std::size_t b = 0; b < h.y_last.size(); ++b) {
        for (int w = h.y_words; w-- > 0;) std::fprintf(f, "%08x", h.y[b * h.y_words + w]);
        std::fprintf(f, " %d\n", h.y_last[b]);
    }
    std::fprintf(f, "end\n");
    std::fclose(f);
    if (rc) std::fprintf(stderr, "fastsim: %s: %s\n", status.c_str(), message.c_str());
    delete top;
    delete ctx;
    return rc;
}
