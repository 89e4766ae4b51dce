// The peer stack over real sockets: two peer managers, each with its own node key, io_context
// and thread (the networking of two daemons, in one process), talking over 127.0.0.1 TCP.
// net_bench.cpp measures the same cryptography without sockets; the difference is the cost of
// the sockets, the event loop and the peer manager.
//
// The work runs on the two network threads, so times are wall-clock (UseRealTime) and the CPU
// column is the whole process's (MeasureProcessCPUTime). The *_per_cpu_s counters divide the
// work by that CPU time (all threads, user and kernel): the rate per busy core, which stays
// meaningful when both threads run at once or the machine is shared; cpu_cores says how many
// cores were busy on average.
#include "primitives/key.h"
#include "net/asio.h"
#include "wire/message.h"
#include "net/noise.h"
#include "net/peer_connection.h"
#include "net/peer_manager.h"
#include "util/bytes.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>

using namespace sidebolt;

namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

//! Bounds every wait, so a lost connection fails the benchmark instead of hanging it.
constexpr auto kConnectTimeout = 10s;
constexpr auto kBatchTimeout = 30s;

//! An odd type in BOLT 1's experimental range (32768 and up): no implementation gives it a
//! meaning, and an unhandled odd type is ignored rather than closing the connection.
constexpr uint16_t kBenchType = 32769;
constexpr size_t kTypeSize = 2;

//! PeerManager::Send queues whatever it is given: past max_queued_bytes (4 MiB by default)
//! waiting to be written, the connection keeps reading but drops a peer that takes nothing
//! for drain_timeout, and past kHardQueueFactor (4) times that it disconnects at once. The
//! sender keeps at most half of max_queued_bytes sent but not yet received, so it stays in
//! the normal regime and its memory stays bounded.
constexpr size_t kWindowWireBytes = PeerConnectionOptions{}.max_queued_bytes / 2;
//! Refills in quarters of the window, so the pipe never runs dry while the sender waits.
constexpr size_t kChunksPerWindow = 4;

//! A count that network threads raise and the benchmark thread waits on. Raising it only
//! takes the lock once the count reaches what the waiter is waiting for.
class WaitableCount
{
public:
    void Add(uint64_t n)
    {
        if (m_count.fetch_add(n) + n < m_wake_at.load()) return;
        const std::lock_guard lock(m_mutex);
        m_reached.notify_all();
    }

    uint64_t Get() const { return m_count.load(); }

    //! False when `deadline` passes first.
    bool WaitAtLeast(uint64_t target, Clock::time_point deadline)
    {
        std::unique_lock lock(m_mutex);
        // Both sides are sequentially consistent: either Add sees this threshold and notifies
        // under the lock, or the predicate sees Add's count.
        m_wake_at.store(target);
        const bool reached = m_reached.wait_until(lock, deadline, [&] { return m_count.load() >= target; });
        m_wake_at.store(kNobodyWaits);
        return reached;
    }

private:
    static constexpr uint64_t kNobodyWaits = std::numeric_limits<uint64_t>::max();
    std::atomic<uint64_t> m_count{0};
    std::atomic<uint64_t> m_wake_at{kNobodyWaits};
    std::mutex m_mutex;
    std::condition_variable m_reached;
};

//! What one daemon's handlers report to the benchmark thread.
struct DaemonEvents {
    WaitableCount connected;
    WaitableCount disconnected;
    WaitableCount bench_messages;
    //! Plaintext bytes of the bench messages, type included.
    std::atomic<uint64_t> bench_bytes{0};
};

PeerHandlers CountingHandlers(DaemonEvents& events)
{
    return PeerHandlers{
        .on_connected = [&events](const PubKey&, const FeatureBits&, ConnectionId) { events.connected.Add(1); },
        .on_disconnected = [&events](const PubKey&, const std::string&) { events.disconnected.Add(1); },
        .on_message = [&events](const PubKey&, const Message& message) {
            const auto* other = std::get_if<OtherMessage>(&message);
            if (!other || other->type != kBenchType) return false;
            events.bench_bytes.fetch_add(kTypeSize + other->payload.size(), std::memory_order_relaxed);
            events.bench_messages.Add(1);
            return true;
        },
        .on_notice = nullptr,
    };
}

//! One daemon's networking: a peer manager on its own io_context, run by its own thread.
class Daemon
{
public:
    explicit Daemon(PeerHandlers handlers)
        : m_work(asio::make_work_guard(m_io)),
          m_manager(m_io, PrivKey::Generate(), PeerManagerOptions{}, std::move(handlers))
    {
    }
    ~Daemon()
    {
        // peer_manager.h: the manager is destroyed "after the io_context stopped".
        m_io.stop();
        if (m_thread.joinable()) m_thread.join();
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    //! Only before Run(): Listen must not race the network thread.
    uint16_t ListenOnLoopback() { return m_manager.Listen("127.0.0.1", 0).port(); }
    void Run() { m_thread = std::thread([this] { m_io.run(); }); }
    PeerManager& Manager() { return m_manager; }
    asio::io_context& Io() { return m_io; }

private:
    asio::io_context m_io;
    asio::executor_work_guard<asio::io_context::executor_type> m_work;
    PeerManager m_manager;
    std::thread m_thread;
};

//! Daemon A dials daemon B, which listens on 127.0.0.1.
class Loopback
{
public:
    Loopback() : m_a(CountingHandlers(m_a_events)), m_b(CountingHandlers(m_b_events)), m_b_port(m_b.ListenOnLoopback())
    {
        m_a.Run();
        m_b.Run();
    }

    //! Waits until A's connect succeeded and B received A's init (so B will report the
    //! disconnection too); the reason otherwise.
    std::optional<std::string> Connect()
    {
        const uint64_t attempt = m_connect_results.Get() + 1;
        const uint64_t b_connected = m_b_events.connected.Get() + 1;
        const auto deadline = Clock::now() + kConnectTimeout;
        m_a.Manager().Connect(m_b.Manager().NodeId(), "127.0.0.1", m_b_port, [this](const std::optional<std::string>& error) {
            {
                const std::lock_guard lock(m_error_mutex);
                m_connect_error = error;
            }
            m_connect_results.Add(1);
        });
        if (!m_connect_results.WaitAtLeast(attempt, deadline)) return "connect timed out";
        {
            const std::lock_guard lock(m_error_mutex);
            if (m_connect_error) return "connect failed: " + *m_connect_error;
        }
        if (!m_b_events.connected.WaitAtLeast(b_connected, deadline)) return "B never saw A's init";
        return std::nullopt;
    }

    //! Waits until both sides have dropped the peer.
    std::optional<std::string> Disconnect()
    {
        const uint64_t a_target = m_a_events.disconnected.Get() + 1;
        const uint64_t b_target = m_b_events.disconnected.Get() + 1;
        const auto deadline = Clock::now() + kConnectTimeout;
        m_a.Manager().Disconnect(m_b.Manager().NodeId());
        if (!m_a_events.disconnected.WaitAtLeast(a_target, deadline)) return "A never dropped B";
        if (!m_b_events.disconnected.WaitAtLeast(b_target, deadline)) return "B never saw A go";
        return std::nullopt;
    }

    //! Queues `count` copies of `message` from A to B. They are sent from A's network thread,
    //! where a daemon's channel layer would send them.
    void SendFromA(const Message& message, uint64_t count)
    {
        // Only A is captured: after a failed wait B may be gone before A's thread runs this.
        asio::post(m_a.Io(), [&manager = m_a.Manager(), to = m_b.Manager().NodeId(), message, count] {
            for (uint64_t i = 0; i < count; ++i) manager.Send(to, message);
        });
    }

    DaemonEvents& BEvents() { return m_b_events; }

private:
    // The handlers refer to the events: declared first, destroyed after the daemons.
    DaemonEvents m_a_events;
    DaemonEvents m_b_events;
    WaitableCount m_connect_results;
    std::mutex m_error_mutex;
    std::optional<std::string> m_connect_error;
    Daemon m_a;
    Daemon m_b;
    const uint16_t m_b_port;
};

//! Wall-clock and process CPU time over the timed loop, for the per-core counters.
class ProcessCpuMeter
{
public:
    ProcessCpuMeter() : m_wall_start(Clock::now()), m_cpu_start(std::clock()) {}

    //! Sets cpu_cores and returns the CPU seconds all threads spent since construction.
    double Stop(benchmark::State& state) const
    {
        const double cpu_seconds = static_cast<double>(std::clock() - m_cpu_start) / CLOCKS_PER_SEC;
        const double wall_seconds = std::chrono::duration<double>(Clock::now() - m_wall_start).count();
        if (wall_seconds > 0) state.counters["cpu_cores"] = cpu_seconds / wall_seconds;
        return cpu_seconds;
    }

private:
    Clock::time_point m_wall_start;
    std::clock_t m_cpu_start;
};

//! One connection per iteration: TCP connect, BOLT 8 handshake, init exchange, then disconnect
//! seen by both sides.
void BM_LoopbackConnect(benchmark::State& state)
{
    Loopback loopback;
    const ProcessCpuMeter meter;
    for (auto _ : state) {
        auto error = loopback.Connect();
        if (!error) error = loopback.Disconnect();
        if (error) {
            state.SkipWithError(error->c_str());
            break;
        }
    }
    const double cpu_seconds = meter.Stop(state);
    state.SetItemsProcessed(state.iterations());
    if (cpu_seconds > 0) state.counters["conns_per_cpu_s"] = static_cast<double>(state.iterations()) / cpu_seconds;
}
BENCHMARK(BM_LoopbackConnect)->Unit(benchmark::kMicrosecond)->UseRealTime()->MeasureProcessCPUTime();

//! Sends messages [sent, end) from A, keeping the unreceived ones within `window`, and waits
//! until B has them all.
std::optional<std::string> StreamBatch(Loopback& loopback, const Message& message, uint64_t sent, uint64_t end,
                                       uint64_t window)
{
    WaitableCount& received = loopback.BEvents().bench_messages;
    const uint64_t chunk = std::max<uint64_t>(1, window / kChunksPerWindow);
    const auto deadline = Clock::now() + kBatchTimeout;
    while (sent < end) {
        const uint64_t count = std::min(chunk, end - sent);
        if (sent + count > window && !received.WaitAtLeast(sent + count - window, deadline)) {
            return "B stopped receiving";
        }
        loopback.SendFromA(message, count);
        sent += count;
    }
    if (!received.WaitAtLeast(end, deadline)) return "batch not fully received";
    return std::nullopt;
}

//! range(0): plaintext size of each message, its 2-byte type included (BOLT 8 caps it at
//! 65535); range(1): messages per iteration.
void BM_LoopbackStream(benchmark::State& state)
{
    const auto message_size = static_cast<size_t>(state.range(0));
    const auto batch = static_cast<uint64_t>(state.range(1));
    Loopback loopback;
    if (const auto error = loopback.Connect()) {
        state.SkipWithError(error->c_str());
        return;
    }
    const Message message{OtherMessage{.type = kBenchType, .payload = Bytes(message_size - kTypeSize, 0x5a)}};
    const uint64_t window = std::max<uint64_t>(1, kWindowWireBytes / TransportCipher::EncryptedSize(message_size));
    const ProcessCpuMeter meter;
    uint64_t sent = 0;
    for (auto _ : state) {
        if (const auto error = StreamBatch(loopback, message, sent, sent + batch, window)) {
            state.SkipWithError(error->c_str());
            break;
        }
        sent += batch;
    }
    const double cpu_seconds = meter.Stop(state);
    const uint64_t received_bytes = loopback.BEvents().bench_bytes.load();
    if (!state.error_occurred() && received_bytes != sent * message_size) state.SkipWithError("byte count mismatch");
    state.SetItemsProcessed(static_cast<int64_t>(sent));
    state.SetBytesProcessed(static_cast<int64_t>(received_bytes));
    if (cpu_seconds > 0) {
        state.counters["MB_per_cpu_s"] = static_cast<double>(received_bytes) / 1e6 / cpu_seconds;
        state.counters["msgs_per_cpu_s"] = static_cast<double>(sent) / cpu_seconds;
    }
}
BENCHMARK(BM_LoopbackStream)
    ->Args({100, 10'000})
    ->Args({static_cast<int64_t>(kMaxMessageSize), 500})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
} // namespace
