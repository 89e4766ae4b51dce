// Peer connections over real sockets on 127.0.0.1, in one io_context. Misbehaving peers are
// scripted with the raw handshake and transport, on a helper thread with blocking sockets.
#include "net/asio.h"
#include "net/peer_manager.h"
#include "util/hex.h"
#include "util/logging.h"
#include "util/sync.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace std::chrono_literals;

namespace {
Hash256 Chain(uint8_t fill)
{
    Hash256 hash;
    hash.fill(fill);
    return hash;
}

PeerManagerOptions FastOptions()
{
    PeerManagerOptions options;
    options.chain_hash = Chain(0x06);
    options.connection.handshake_timeout = 2s;
    options.init_timeout = 2s;
    return options;
}

//! Runs the io_context until `done` holds; false on timeout.
bool RunUntil(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        io.restart();
        io.run_for(5ms);
    }
    return true;
}

//! Runs `script` on a thread while the io_context serves the managers.
void RunScript(asio::io_context& io, const std::function<void()>& script)
{
    std::atomic<bool> finished{false};
    std::thread thread([&] {
        script();
        finished = true;
    });
    const bool ok = RunUntil(io, [&] { return finished.load(); }, 20s);
    thread.join();
    REQUIRE(ok);
}

//! A hand-driven BOLT 8 peer with a blocking socket; lets tests misbehave on purpose.
class RawPeer
{
public:
    RawPeer(uint16_t port, const PubKey& server_id) : m_socket(m_io)
    {
        m_socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        auto handshake = Handshake::Initiator(m_key, server_id);
        asio::write(m_socket, asio::buffer(handshake.WriteActOne()));
        ByteArray<Handshake::kActTwoSize> act_two;
        asio::read(m_socket, asio::buffer(act_two));
        const auto act_three = handshake.ReadActTwo(act_two);
        REQUIRE(act_three);
        asio::write(m_socket, asio::buffer(*act_three));
        m_cipher.emplace(std::move(handshake).Finish().cipher);
    }

    void Send(const Message& message)
    {
        const Bytes wire = m_cipher->Encrypt(EncodeMessage(message));
        asio::write(m_socket, asio::buffer(wire));
    }

    //! The next message, or nullopt once the other side has closed.
    std::optional<Message> Receive()
    {
        asio::error_code ec;
        ByteArray<TransportCipher::kLengthHeaderSize> header;
        asio::read(m_socket, asio::buffer(header), ec);
        if (ec) return std::nullopt;
        const auto length = m_cipher->DecryptLength(header);
        REQUIRE(length);
        Bytes body(*length + TransportCipher::kMacSize);
        asio::read(m_socket, asio::buffer(body), ec);
        if (ec) return std::nullopt;
        Bytes plain;
        REQUIRE(m_cipher->DecryptBody(body, plain));
        auto message = DecodeMessage(plain);
        REQUIRE(message);
        return std::move(*message);
    }

    //! Exchanges init as a well-behaved peer would.
    void Greet(const Hash256& chain)
    {
        const auto their_init = Receive();
        REQUIRE(their_init);
        REQUIRE(std::holds_alternative<InitMessage>(*their_init));
        InitMessage init;
        init.features = OurInitFeatures().ToWire();
        init.networks = std::vector<Hash256>{chain};
        Send(init);
    }

    //! Reads until the connection closes; returns what arrived.
    std::vector<Message> ReadUntilClosed()
    {
        std::vector<Message> messages;
        while (auto message = Receive()) messages.push_back(std::move(*message));
        return messages;
    }

    PubKey NodeId() const { return m_key.GetPubKey(); }

private:
    asio::io_context m_io;
    asio::ip::tcp::socket m_socket;
    PrivKey m_key = PrivKey::Generate();
    std::optional<TransportCipher> m_cipher;
};

//! Records a manager's events.
struct Events {
    struct Notice {
        PubKey node_id;
        MessageType type;
        ChannelNotice notice;
    };
    std::vector<std::pair<PubKey, std::string>> disconnected;
    std::vector<Message> messages;
    //! How many messages had arrived at each on_read_delivered.
    std::vector<size_t> reads_delivered;
    std::vector<Notice> notices;
    int connected{0};
    //! What on_connected numbered each connection, in order.
    std::vector<ConnectionId> connections;

    PeerHandlers Handlers()
    {
        return PeerHandlers{
            .on_connected =
                [this](const PubKey&, const FeatureBits&, ConnectionId connection) {
                    ++connected;
                    connections.push_back(connection);
                },
            .on_disconnected = [this](const PubKey& id, const std::string& reason) { disconnected.emplace_back(id, reason); },
            .on_message =
                [this](const PubKey&, const Message& message) {
                    messages.push_back(message);
                    // Pretend to handle odd custom types only.
                    return TypeOf(message) % 2 == 1;
                },
            .on_read_delivered = [this](const PubKey&) { reads_delivered.push_back(messages.size()); },
            .on_notice = [this](const PubKey& id, MessageType type, const ChannelNotice& notice) {
                notices.push_back(Notice{id, type, notice});
            },
        };
    }
};
} // namespace

TEST_CASE("two managers connect, exchange init, list each other, ping and disconnect")
{
    asio::io_context io;
    Events a_events;
    Events b_events;
    const PrivKey a_key = PrivKey::Generate();
    const PrivKey b_key = PrivKey::Generate();
    PeerManager a(io, a_key, FastOptions(), a_events.Handlers());
    PeerManager b(io, b_key, FastOptions(), b_events.Handlers());
    const auto endpoint = b.Listen("127.0.0.1", 0);
    CHECK(endpoint.port() != 0);

    bool connected = false;
    int handlers_told_at_answer = 0;
    std::optional<std::string> connect_error;
    a.Connect(b.NodeId(), "127.0.0.1", endpoint.port(), [&](const std::optional<std::string>& error) {
        connected = true;
        connect_error = error;
        handlers_told_at_answer = a_events.connected;
    });
    REQUIRE(RunUntil(io, [&] { return connected && b.ListPeers().size() == 1; }));
    REQUIRE_FALSE(connect_error);
    // on_connected comes before the answer: a caller acting on the answer finds the peer known.
    CHECK(handlers_told_at_answer == 1);
    CHECK(a_events.connected == 1);
    CHECK(b_events.connected == 1);

    const auto a_peers = a.ListPeers();
    REQUIRE(a_peers.size() == 1);
    CHECK(a_peers[0].node_id == b.NodeId());
    CHECK(a_peers[0].direction == PeerDirection::kOutbound);
    CHECK(a_peers[0].address == "127.0.0.1:" + std::to_string(endpoint.port()));
    CHECK(a_peers[0].features == OurInitFeatures());
    CHECK(a_peers[0].bytes_in > 0);
    CHECK(a_peers[0].bytes_out > 0);
    CHECK_FALSE(a_peers[0].last_ping_rtt);
    const auto b_peers = b.ListPeers();
    CHECK(b_peers[0].node_id == a.NodeId());
    CHECK(b_peers[0].direction == PeerDirection::kInbound);

    // Connecting again to a connected peer succeeds at once and keeps one connection.
    bool again = false;
    a.Connect(b.NodeId(), "127.0.0.1", endpoint.port(), [&](const std::optional<std::string>& error) {
        again = !error;
    });
    REQUIRE(RunUntil(io, [&] { return again; }));
    CHECK(a.ListPeers().size() == 1);

    std::optional<Expected<std::chrono::microseconds, std::string>> rtt;
    a.Ping(b.NodeId(), 100, [&](const auto& result) { rtt = result; });
    REQUIRE(RunUntil(io, [&] { return rtt.has_value(); }));
    REQUIRE(rtt->has_value());
    CHECK(a.ListPeers()[0].last_ping_rtt == rtt->value());

    std::optional<Expected<std::chrono::microseconds, std::string>> refused;
    a.Ping(b.NodeId(), 65532, [&](const auto& result) { refused = result; });
    a.Ping(PrivKey::Generate().GetPubKey(), 1, [&](const auto& result) { CHECK_FALSE(result); });
    REQUIRE(RunUntil(io, [&] { return refused.has_value(); }));
    CHECK_FALSE(refused->has_value());

    // Odd custom messages reach the handler; the handler claims odd types.
    a.Send(b.NodeId(), OtherMessage{.type = 32769, .payload = {1, 2, 3}});
    REQUIRE(RunUntil(io, [&] { return !b_events.messages.empty(); }));
    CHECK(TypeOf(b_events.messages[0]) == 32769);
    // The read that brought it reports its end after handing it over.
    REQUIRE(RunUntil(io, [&] { return !b_events.reads_delivered.empty() && b_events.reads_delivered.back() == 1; }));

    // Several handed over together arrive in order, in one read.
    std::vector<Message> burst;
    for (uint8_t i = 0; i < 3; ++i) burst.push_back(OtherMessage{.type = 32771, .payload = {i}});
    a.Send(b.NodeId(), std::move(burst));
    REQUIRE(RunUntil(io, [&] { return b_events.messages.size() == 4 && b_events.reads_delivered.back() == 4; }));
    for (uint8_t i = 0; i < 3; ++i) {
        const auto* other = std::get_if<OtherMessage>(&b_events.messages[1 + i]);
        REQUIRE(other != nullptr);
        CHECK(other->payload == Bytes{i});
    }
    CHECK(std::ranges::count(b_events.reads_delivered, 4) == 1);
    CHECK(std::ranges::find(b_events.reads_delivered, 2) == b_events.reads_delivered.end());

    a.Disconnect(b.NodeId());
    REQUIRE(RunUntil(io, [&] { return a.ListPeers().empty() && b.ListPeers().empty(); }));
    REQUIRE(a_events.disconnected.size() == 1);
    CHECK(a_events.disconnected[0].second == "disconnect requested");
    CHECK(b_events.disconnected.size() == 1);
}

TEST_CASE("a replaced connection's number addresses nothing: sends and disconnects for it are dropped")
{
    asio::io_context io;
    Events a_events;
    Events a2_events;
    Events b_events;
    const PrivKey a_key = PrivKey::Generate();
    PeerManager a(io, a_key, FastOptions(), a_events.Handlers());
    PeerManager b(io, PrivKey::Generate(), FastOptions(), b_events.Handlers());
    const auto endpoint = b.Listen("127.0.0.1", 0);
    const auto connect = [&](PeerManager& from) {
        bool done = false;
        from.Connect(b.NodeId(), "127.0.0.1", endpoint.port(), [&](const std::optional<std::string>& error) {
            CHECK_FALSE(error);
            done = true;
        });
        REQUIRE(RunUntil(io, [&] { return done; }));
    };
    connect(a);
    REQUIRE(b_events.connections.size() == 1);
    const ConnectionId first = b_events.connections[0];
    CHECK(first >= 1);

    // The same node id connects again (a restarted node): the newer connection replaces the older.
    PeerManager a2(io, a_key, FastOptions(), a2_events.Handlers());
    connect(a2);
    REQUIRE(RunUntil(io, [&] { return b_events.connections.size() == 2 && a_events.disconnected.size() == 1; }));
    const ConnectionId second = b_events.connections[1];
    CHECK(second > first);

    // Meant for the first connection: neither sent on the second nor closing it.
    b.Send(a_key.GetPubKey(), first, {OtherMessage{.type = 32769, .payload = {1}}});
    b.Disconnect(a_key.GetPubKey(), first);
    b.Send(a_key.GetPubKey(), second, {OtherMessage{.type = 32769, .payload = {2}}});
    REQUIRE(RunUntil(io, [&] { return !a2_events.messages.empty(); }));
    REQUIRE(a2_events.messages.size() == 1);
    const auto* delivered = std::get_if<OtherMessage>(&a2_events.messages[0]);
    REQUIRE(delivered != nullptr);
    CHECK(delivered->payload == Bytes{2});
    CHECK(a2_events.disconnected.empty());
    REQUIRE(b.ListPeers().size() == 1);

    b.Disconnect(a_key.GetPubKey(), second);
    REQUIRE(RunUntil(io, [&] { return b.ListPeers().empty() && a2_events.disconnected.size() == 1; }));
}

TEST_CASE("init checks: unknown required features and foreign chains end the connection")
{
    asio::io_context io;
    Events b_events;
    PeerManagerOptions strange = FastOptions();
    SUBCASE("unknown required feature")
    {
        strange.features.Set(100);
    }
    SUBCASE("feature without its dependency")
    {
        strange.features.SetOptional(Feature::kZeroconf);
    }
    SUBCASE("other chain")
    {
        strange.chain_hash = Chain(0x07);
    }
    PeerManager a(io, PrivKey::Generate(), FastOptions());
    PeerManager b(io, PrivKey::Generate(), strange, b_events.Handlers());
    const auto endpoint = b.Listen("127.0.0.1", 0);
    bool done = false;
    std::optional<std::string> error;
    a.Connect(b.NodeId(), "127.0.0.1", endpoint.port(), [&](const std::optional<std::string>& e) {
        done = true;
        error = e;
    });
    REQUIRE(RunUntil(io, [&] { return done; }));
    REQUIRE(error);
    INFO(*error);
    CHECK((error->find("unknown required feature bits 100") != std::string::npos ||
           error->find("features without their dependencies 50") != std::string::npos ||
           error->find("no common chain") != std::string::npos));
    // a told b why with an error message before closing.
    REQUIRE(RunUntil(io, [&] { return a.ListPeers().empty() && b.ListPeers().empty(); }));
    CHECK(b_events.messages.empty());
    if (!b_events.notices.empty()) CHECK(b_events.notices[0].type == MessageType::kError);
}

TEST_CASE("connection failures reach the connect callback")
{
    asio::io_context io;
    PeerManager a(io, PrivKey::Generate(), FastOptions());
    PeerManager b(io, PrivKey::Generate(), FastOptions());
    const auto endpoint = b.Listen("127.0.0.1", 0);

    std::optional<std::string> wrong_key;
    a.Connect(PrivKey::Generate().GetPubKey(), "127.0.0.1", endpoint.port(),
              [&](const std::optional<std::string>& e) { wrong_key = e.value_or("connected?!"); });
    REQUIRE(RunUntil(io, [&] { return wrong_key.has_value(); }));
    CHECK(wrong_key->find("handshake") != std::string::npos);

    asio::ip::tcp::acceptor unused(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const uint16_t closed_port = unused.local_endpoint().port();
    unused.close();
    std::optional<std::string> refused;
    a.Connect(b.NodeId(), "127.0.0.1", closed_port, [&](const std::optional<std::string>& e) { refused = e.value_or(""); });
    REQUIRE(RunUntil(io, [&] { return refused.has_value(); }));
    CHECK(refused->find("connect failed") == 0);
    CHECK(a.ListPeers().empty());
}

TEST_CASE("silent or lying peers are dropped during the handshake")
{
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    options.connection.handshake_timeout = 200ms;
    PeerManager b(io, PrivKey::Generate(), options);
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    RunScript(io, [&] {
        asio::io_context raw_io;
        asio::ip::tcp::socket silent(raw_io);
        silent.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        uint8_t byte;
        asio::error_code ec;
        asio::read(silent, asio::buffer(&byte, 1), ec);
        CHECK(ec == asio::error::eof);

        // Act one for someone else's key fails its MAC: closed without a word.
        asio::ip::tcp::socket wrong(raw_io);
        wrong.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        auto handshake = Handshake::Initiator(PrivKey::Generate(), PrivKey::Generate().GetPubKey());
        asio::write(wrong, asio::buffer(handshake.WriteActOne()));
        asio::read(wrong, asio::buffer(&byte, 1), ec);
        CHECK(ec == asio::error::eof);
    });
    CHECK(b.ListPeers().empty());
}

TEST_CASE("protocol violations after the handshake")
{
    asio::io_context io;
    Events events;
    PeerManagerOptions options = FastOptions();
    options.ping_interval = 50ms;
    options.pong_timeout = 150ms;
    PeerManager b(io, PrivKey::Generate(), options, events.Handlers());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();

    SUBCASE("first message must be init")
    {
        RunScript(io, [&] {
            RawPeer peer(port, b.NodeId());
            peer.Send(PingMessage{.num_pong_bytes = 1, .ignored = {}, .extension = {}});
            const auto messages = peer.ReadUntilClosed();
            REQUIRE(messages.size() == 1);
            CHECK(std::holds_alternative<InitMessage>(messages[0]));
        });
        CHECK(events.connected == 0);
    }
    SUBCASE("unanswered pings")
    {
        RunScript(io, [&] {
            RawPeer peer(port, b.NodeId());
            peer.Greet(options.chain_hash);
            const auto messages = peer.ReadUntilClosed();
            CHECK(std::any_of(messages.begin(), messages.end(), [](const Message& m) { return std::holds_alternative<PingMessage>(m); }));
        });
        REQUIRE(RunUntil(io, [&] { return !events.disconnected.empty(); }));
        CHECK(events.disconnected[0].second == "ping timeout");
    }
    SUBCASE("unknown odd messages are ignored, unknown even ones disconnect")
    {
        RunScript(io, [&] {
            RawPeer peer(port, b.NodeId());
            peer.Greet(options.chain_hash);
            peer.Send(OtherMessage{.type = 32771, .payload = {}});
            peer.Send(PingMessage{.num_pong_bytes = 7, .ignored = {}, .extension = {}});
            bool got_pong = false;
            while (auto message = peer.Receive()) {
                if (const auto* ping = std::get_if<PingMessage>(&*message)) peer.Send(*PongFor(*ping));
                if (const auto* pong = std::get_if<PongMessage>(&*message)) {
                    got_pong = pong->ignored.size() == 7;
                    break;
                }
            }
            CHECK(got_pong);
            peer.Send(OtherMessage{.type = 32770, .payload = {}});
            peer.ReadUntilClosed();
        });
        REQUIRE(RunUntil(io, [&] { return !events.disconnected.empty(); }));
        CHECK(events.disconnected[0].second == "unknown even message type 32770");
        CHECK(events.messages.size() >= 2);
    }
}

TEST_CASE("a peer that does not read its answers is dropped")
{
    asio::io_context io;
    Events events;
    PeerManagerOptions options = FastOptions();
    options.connection.max_queued_bytes = 64 * 1024;
    options.connection.drain_timeout = 300ms;
    PeerManager b(io, PrivKey::Generate(), options, events.Handlers());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    std::atomic<bool> dropped{false};
    std::thread flooder([&] {
        RawPeer peer(port, b.NodeId());
        peer.Greet(options.chain_hash);
        // Each ping asks for a maximal pong; never read any of them.
        for (int i = 0; i < 2000 && !dropped; ++i) {
            try {
                peer.Send(PingMessage{.num_pong_bytes = 65531, .ignored = {}, .extension = {}});
            } catch (const std::exception&) {
                break;
            }
        }
        while (!dropped) std::this_thread::sleep_for(10ms);
    });
    const bool ok = RunUntil(io, [&] { return !events.disconnected.empty(); }, 20s);
    dropped = true;
    flooder.join();
    REQUIRE(ok);
    CHECK(events.disconnected[0].second == "peer does not drain its messages");
}

namespace {
//! The index-th message of a flood: every other one gossip-sized, the rest spread over every
//! size up to 65535 bytes, so frames end anywhere in a read. The payload tells the index.
Message FloodMessage(size_t index)
{
    const size_t size = index % 2 == 0 ? 300 : 2 + (index * 7919) % (kMaxMessageSize - 1);
    return OtherMessage{.type = 32769, .payload = Bytes(size - 2, static_cast<uint8_t>(index))};
}

//! Checks that a manager receives a flood whole and in order.
struct FloodReceiver {
    size_t received{0};
    bool in_order{true};
    //! Why the peer was dropped; empty while connected.
    std::string disconnect_reason;

    PeerHandlers Handlers()
    {
        return PeerHandlers{
            .on_connected = nullptr,
            .on_disconnected = [this](const PubKey&, const std::string& reason) { disconnect_reason = reason; },
            .on_message =
                [this](const PubKey&, const Message& message) {
                    in_order = in_order && message == FloodMessage(received);
                    ++received;
                    return true;
                },
            .on_read_delivered = nullptr,
            .on_notice = nullptr,
        };
    }
};
} // namespace

TEST_CASE("two peers flooding each other at once keep reading, so both queues drain")
{
    // Each side queues far more than max_queued_bytes at once. When a full queue stopped our
    // reading, both sides stopped, nothing drained, and each dropped the other after drain_timeout.
    constexpr size_t kSoftLimit = size_t{8} << 20;
    constexpr size_t kFloodBytes = size_t{20} << 20;
    // Far over the soft limit but, framing included, under the hard one: it is queued at once.
    static_assert(kFloodBytes > 2 * kSoftLimit && kFloodBytes * 11 / 10 < PeerConnectionOptions::kHardQueueFactor * kSoftLimit);
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    options.connection.max_queued_bytes = kSoftLimit;
    // A deadlock never drains at all; a slow run (ThreadSanitizer, one io thread serving both
    // ends) can spend over 500 ms reading one socket buffer between two writes.
    options.connection.drain_timeout = 5s;
    FloodReceiver a_got;
    FloodReceiver b_got;
    PeerManager a(io, PrivKey::Generate(), options, a_got.Handlers());
    PeerManager b(io, PrivKey::Generate(), options, b_got.Handlers());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    bool connected = false;
    a.Connect(b.NodeId(), "127.0.0.1", port, [&](const std::optional<std::string>& error) { connected = !error; });
    REQUIRE(RunUntil(io, [&] { return connected && b.ListPeers().size() == 1; }));

    // A keep-alive ping arriving while the queue is over the soft limit is still answered, as
    // the peer took our previous answer: ping once before the flood, then as it starts.
    int pongs = 0;
    const auto count_pong = [&](const Expected<std::chrono::microseconds, std::string>& rtt) { pongs += rtt.has_value(); };
    a.Ping(b.NodeId(), 8, count_pong);
    b.Ping(a.NodeId(), 8, count_pong);
    REQUIRE(RunUntil(io, [&] { return pongs == 2; }));
    a.Ping(b.NodeId(), 8, count_pong);
    b.Ping(a.NodeId(), 8, count_pong);

    size_t count = 0;
    for (size_t bytes = 0; bytes < kFloodBytes; ++count) {
        const Message message = FloodMessage(count);
        a.Send(b.NodeId(), message);
        b.Send(a.NodeId(), message);
        bytes += std::get<OtherMessage>(message).payload.size() + 2;
    }
    const bool done = RunUntil(io, [&] {
        const bool delivered = a_got.received == count && b_got.received == count && pongs == 4;
        return delivered || !a_got.disconnect_reason.empty() || !b_got.disconnect_reason.empty();
    }, 60s);
    CHECK(a_got.disconnect_reason == "");
    CHECK(b_got.disconnect_reason == "");
    REQUIRE(done);
    CHECK(a_got.received == count);
    CHECK(b_got.received == count);
    CHECK(a_got.in_order);
    CHECK(b_got.in_order);
    CHECK(pongs == 4);
    CHECK(a.ListPeers().size() == 1);
    CHECK(b.ListPeers().size() == 1);
}

namespace {
//! A consumer of one peer's messages on a worker thread, held back until released: it pauses
//! the peer's reading at kHigh queued messages and resumes it at kLow, as the channel manager does.
class SlowConsumer
{
public:
    static constexpr size_t kHigh = 50;
    static constexpr size_t kLow = 10;

    SlowConsumer(PeerManager& manager, size_t expected)
        : m_manager(manager), m_expected(expected), m_worker([this](const std::stop_token& stop) { Run(stop); })
    {
    }

    //! on_message (the io_context's thread).
    void Push(const PubKey& from, const Message& message) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_from = from;
        m_queue.push_back(message);
        m_most_queued = std::max(m_most_queued, m_queue.size());
        // Told with the lock held, so that pauses and resumes are posted in the order decided.
        if (m_queue.size() >= kHigh && !m_paused) {
            m_paused = true;
            ++m_pauses;
            m_manager.PauseReading(from);
        }
    }

    void Release() { m_released = true; }
    size_t Consumed() const { return m_consumed; }
    bool InOrder() const { return m_in_order; }
    size_t MostQueued() const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        return m_most_queued;
    }
    int Pauses() const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        return m_pauses;
    }

private:
    void Run(const std::stop_token& stop) EXCLUDES(m_mutex)
    {
        while (!stop.stop_requested() && m_consumed < m_expected) {
            if (!m_released || !TakeOne()) std::this_thread::sleep_for(1ms);
        }
    }

    bool TakeOne() EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        if (m_queue.empty()) return false;
        const auto& payload = std::get<OtherMessage>(m_queue.front()).payload;
        m_in_order = m_in_order && payload.size() >= 4 && ReadIndex(payload) == m_consumed;
        m_queue.pop_front();
        ++m_consumed;
        if (m_paused && m_queue.size() <= kLow) {
            m_paused = false;
            m_manager.ResumeReading(*m_from);
        }
        return true;
    }

    static size_t ReadIndex(const Bytes& payload)
    {
        return size_t{payload[0]} << 24 | size_t{payload[1]} << 16 | size_t{payload[2]} << 8 | payload[3];
    }

    PeerManager& m_manager;
    const size_t m_expected;
    mutable Mutex m_mutex;
    std::deque<Message> m_queue GUARDED_BY(m_mutex);
    std::optional<PubKey> m_from GUARDED_BY(m_mutex);
    bool m_paused GUARDED_BY(m_mutex){false};
    int m_pauses GUARDED_BY(m_mutex){0};
    size_t m_most_queued GUARDED_BY(m_mutex){0};
    std::atomic<bool> m_released{false};
    std::atomic<size_t> m_consumed{0};
    std::atomic<bool> m_in_order{true};
    std::jthread m_worker;
};

Message IndexedMessage(size_t index, size_t payload_size)
{
    Bytes payload(payload_size, 0x33);
    for (size_t i = 0; i < 4; ++i) payload[i] = static_cast<uint8_t>(index >> (24 - 8 * i));
    return OtherMessage{.type = 32769, .payload = std::move(payload)};
}
} // namespace

TEST_CASE("flow control: a consumer that cannot keep up pauses reading; all arrives in order, nobody is dropped")
{
    constexpr size_t kCount = 3000;
    constexpr size_t kPayload = 1000;
    // What may still be handed over after PauseReading: the rest of the read buffer being delivered.
    constexpr size_t kFramesPerBuffer = TransportReader::kBufferSize / TransportCipher::EncryptedSize(kPayload + 2) + 1;
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    // Shorter than the pause: the pong to a ping sent while paused must not count as missing.
    options.pong_timeout = 200ms;
    std::vector<std::string> disconnects;
    const auto on_disconnected = [&](const PubKey&, const std::string& reason) { disconnects.push_back(reason); };
    SlowConsumer* consumer_of_receiver = nullptr;
    PeerManager sender(io, PrivKey::Generate(), options,
                       PeerHandlers{.on_connected = nullptr,
                                    .on_disconnected = on_disconnected,
                                    .on_message = nullptr,
                                    .on_read_delivered = nullptr,
                                    .on_notice = nullptr});
    PeerManager receiver(io, PrivKey::Generate(), options,
                         PeerHandlers{.on_connected = nullptr,
                                      .on_disconnected = on_disconnected,
                                      .on_message = [&](const PubKey& from, const Message& message) {
                                          consumer_of_receiver->Push(from, message);
                                          return true;
                                      },
                                      .on_read_delivered = nullptr,
                                      .on_notice = nullptr});
    // Declared last, so its worker thread stops before the managers go.
    const auto consumer = std::make_unique<SlowConsumer>(receiver, kCount);
    consumer_of_receiver = consumer.get();
    const uint16_t port = receiver.Listen("127.0.0.1", 0).port();
    bool connected = false;
    sender.Connect(receiver.NodeId(), "127.0.0.1", port, [&](const std::optional<std::string>& error) { connected = !error; });
    REQUIRE(RunUntil(io, [&] { return connected && receiver.ListPeers().size() == 1; }));

    // Enough to pause reading with more on its way than the read buffers take.
    constexpr size_t kBeforePing = SlowConsumer::kHigh + 2 * kFramesPerBuffer;
    for (size_t i = 0; i < kBeforePing; ++i) sender.Send(receiver.NodeId(), IndexedMessage(i, kPayload));
    REQUIRE(RunUntil(io, [&] { return !receiver.ListPeers().empty() && receiver.ListPeers()[0].reading_paused; }));
    // A ping whose pong arrives while we do not read: answered once reading resumes. The pong
    // timeout counts from a resume, so the rest of the flood goes behind the pong: reading
    // megabytes ahead of it within the timeout would depend on how loaded the machine is.
    std::optional<Expected<std::chrono::microseconds, std::string>> rtt;
    const PingMessage ping{.num_pong_bytes = 8, .ignored = {}, .extension = {}};
    const uint64_t sender_bytes_in = sender.ListPeers().at(0).bytes_in;
    receiver.Ping(sender.NodeId(), ping.num_pong_bytes, [&](const auto& result) { rtt = result; });
    // Once the sender has read the whole ping, its pong is queued.
    const size_t ping_frame = TransportCipher::EncryptedSize(EncodeMessage(ping).size());
    REQUIRE(RunUntil(io, [&] { return sender.ListPeers().at(0).bytes_in >= sender_bytes_in + ping_frame; }));
    for (size_t i = kBeforePing; i < kCount; ++i) sender.Send(receiver.NodeId(), IndexedMessage(i, kPayload));

    // Paused: reads stop (a read in progress may still complete), the connection stays up for
    // longer than the pong timeout, and what waits for the consumer stays bounded.
    const auto run_for = [&](std::chrono::milliseconds duration) {
        const auto until = std::chrono::steady_clock::now() + duration;
        RunUntil(io, [&] { return std::chrono::steady_clock::now() >= until; });
    };
    run_for(300ms);
    const uint64_t bytes_in = receiver.ListPeers().at(0).bytes_in;
    run_for(300ms);
    const auto paused = receiver.ListPeers();
    REQUIRE(paused.size() == 1);
    CHECK(paused[0].reading_paused);
    CHECK(paused[0].bytes_in == bytes_in);
    CHECK(bytes_in < kCount * kPayload / 2);
    CHECK(consumer->Consumed() == 0);
    CHECK(consumer->MostQueued() >= SlowConsumer::kHigh);
    CHECK(consumer->MostQueued() <= SlowConsumer::kHigh + kFramesPerBuffer);
    CHECK_FALSE(rtt.has_value());
    CHECK(disconnects.empty());

    consumer->Release();
    REQUIRE(RunUntil(io, [&] { return consumer->Consumed() == kCount && rtt.has_value(); }, 30s));
    CHECK(consumer->InOrder());
    CHECK(rtt->has_value());
    CHECK(consumer->Pauses() >= 1);
    CHECK(consumer->MostQueued() <= SlowConsumer::kHigh + kFramesPerBuffer);
    CHECK(disconnects.empty());
    REQUIRE(RunUntil(io, [&] { return !receiver.ListPeers().at(0).reading_paused; }));
    CHECK(sender.ListPeers().size() == 1);
}

TEST_CASE("a pause belongs to the node: a new connection exchanges init, then stays paused until resumed")
{
    asio::io_context io;
    Events sender_events;
    Events receiver_events;
    PeerManager sender(io, PrivKey::Generate(), FastOptions(), sender_events.Handlers());
    PeerManager receiver(io, PrivKey::Generate(), FastOptions(), receiver_events.Handlers());
    const uint16_t port = receiver.Listen("127.0.0.1", 0).port();
    // Paused before it ever connects, as after a reconnection while its old messages still wait.
    receiver.PauseReading(sender.NodeId());
    bool connected = false;
    sender.Connect(receiver.NodeId(), "127.0.0.1", port, [&](const std::optional<std::string>& error) { connected = !error; });
    REQUIRE(RunUntil(io, [&] { return connected && receiver.ListPeers().size() == 1; }));
    CHECK(receiver.ListPeers()[0].reading_paused);
    CHECK_FALSE(sender.ListPeers().at(0).reading_paused);

    for (uint8_t i = 0; i < 10; ++i) sender.Send(receiver.NodeId(), OtherMessage{.type = 32769, .payload = {i}});
    const auto until = std::chrono::steady_clock::now() + 300ms;
    RunUntil(io, [&] { return std::chrono::steady_clock::now() >= until; });
    CHECK(receiver_events.messages.empty());

    receiver.ResumeReading(sender.NodeId());
    REQUIRE(RunUntil(io, [&] { return receiver_events.messages.size() == 10; }));
    for (uint8_t i = 0; i < 10; ++i) CHECK(receiver_events.messages[i] == Message{OtherMessage{.type = 32769, .payload = {i}}});
    // What was buffered while paused is delivered on resuming, and that delivery is reported too.
    REQUIRE_FALSE(receiver_events.reads_delivered.empty());
    CHECK(receiver_events.reads_delivered.back() == 10);
    CHECK_FALSE(receiver.ListPeers().at(0).reading_paused);
    CHECK(receiver_events.disconnected.empty());
    CHECK(sender_events.disconnected.empty());
}

TEST_CASE("our queue toward a peer that reads nothing: dropped after drain_timeout, never past the hard limit")
{
    asio::io_context io;
    PeerConnectionOptions options;
    options.max_queued_bytes = 64 * 1024;
    options.drain_timeout = 300ms;
    const PrivKey key = PrivKey::Generate();
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::shared_ptr<PeerConnection> connection;
    bool established = false;
    std::optional<std::string> closed;
    acceptor.async_accept([&](const asio::error_code& ec, asio::ip::tcp::socket socket) {
        REQUIRE_FALSE(ec);
        connection = PeerConnection::Accept(std::move(socket), key, options,
                                            PeerConnection::Handlers{
                                                .on_established = [&](const PubKey&) { established = true; },
                                                .on_message = nullptr,
                                                .on_read_delivered = nullptr,
                                                .on_closed = [&](const std::string& reason) { closed = reason; },
                                            });
    });
    // Completes the handshake, then never reads.
    std::jthread silent_peer([&key, port = acceptor.local_endpoint().port()](const std::stop_token& stop) {
        RawPeer peer(port, key.GetPubKey());
        while (!stop.stop_requested()) std::this_thread::sleep_for(10ms);
    });
    REQUIRE(RunUntil(io, [&] { return established; }));
    const Message message{OtherMessage{.type = 32769, .payload = Bytes(30000, 0x5a)}};

    SUBCASE("over the soft limit, the drain timer drops it")
    {
        // Sends whenever the queue is back under the soft limit, so the hard limit never acts.
        const auto stay_over_soft_limit = [&] {
            while (!connection->IsClosed() && connection->QueuedBytes() <= options.max_queued_bytes) {
                CHECK(connection->Send(message));
            }
            return closed.has_value();
        };
        REQUIRE(RunUntil(io, stay_over_soft_limit));
        CHECK(*closed == "peer does not drain its messages");
    }
    SUBCASE("queuing past the hard limit closes the connection")
    {
        size_t most_queued = 0;
        while (connection->Send(message)) most_queued = std::max(most_queued, connection->QueuedBytes());
        CHECK(connection->IsClosed());
        CHECK(most_queued <= options.HardQueueLimit());
        CHECK(most_queued + TransportCipher::EncryptedSize(30002) > options.HardQueueLimit());
        REQUIRE(RunUntil(io, [&] { return closed.has_value(); }));
        CHECK(*closed == "send queue over 262144 bytes");
    }
}

TEST_CASE("remote_addr is only offered for public addresses")
{
    using asio::ip::make_address;
    using asio::ip::tcp;
    CHECK(ToHex(*PublicAddressDescriptor(tcp::endpoint(make_address("8.8.4.4"), 9735))) == "0108080404" "2607");
    CHECK(ToHex(*PublicAddressDescriptor(tcp::endpoint(make_address("2001:4860::8888"), 9735))) ==
          "02200148600000000000000000000088882607");
    for (const char* address : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.1.1", "100.64.0.1",
                                "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:192.168.1.1"}) {
        CAPTURE(address);
        CHECK_FALSE(PublicAddressDescriptor(tcp::endpoint(make_address(address), 9735)));
    }
    CHECK(PublicAddressDescriptor(tcp::endpoint(make_address("::ffff:8.8.8.8"), 1)));
}

TEST_CASE("ListPeers and the posted calls are safe from other threads")
{
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    options.ping_interval = 5ms;
    PeerManager a(io, PrivKey::Generate(), options);
    PeerManager b(io, PrivKey::Generate(), options);
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    std::atomic<bool> stop{false};
    std::atomic<int> pongs{0};
    std::thread rpc([&] {
        // What an RPC thread does: connect, list, ping, all while the network thread runs.
        a.Connect(b.NodeId(), "127.0.0.1", port, [](const std::optional<std::string>&) {});
        while (!stop) {
            for (const auto& peer : a.ListPeers()) {
                CHECK(peer.bytes_in > 0);
                a.Ping(peer.node_id, 8, [&](const auto& rtt) { pongs += rtt.has_value(); });
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    const bool ok = RunUntil(io, [&] { return pongs >= 20; });
    stop = true;
    rpc.join();
    CHECK(ok);
}

TEST_CASE("connecting to our own node id fails at once")
{
    asio::io_context io;
    Events events;
    PeerManager a(io, PrivKey::Generate(), FastOptions(), events.Handlers());
    const uint16_t port = a.Listen("127.0.0.1", 0).port();
    std::optional<std::string> error;
    a.Connect(a.NodeId(), "127.0.0.1", port, [&](const std::optional<std::string>& e) { error = e.value_or("connected?!"); });
    // Posted, then answered without touching the network.
    io.poll();
    REQUIRE(error);
    CHECK(*error == "cannot connect to our own node id");
    io.run_for(100ms);
    CHECK(a.ListPeers().empty());
    CHECK(events.connected == 0);
    CHECK(events.disconnected.empty());
}

namespace {
uint16_t PortOf(const sockaddr_storage& address)
{
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

//! TCP_NODELAY of each TCP connection of this process with `port` at either end.
std::vector<int> NoDelayOfConnections(uint16_t port)
{
    std::vector<int> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::stoi(entry.path().filename().string());
        sockaddr_storage local{};
        sockaddr_storage remote{};
        socklen_t local_size = sizeof(local);
        socklen_t remote_size = sizeof(remote);
        // Listening sockets have no peer; the directory's own descriptor is no socket.
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
            getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_size) != 0 || local.ss_family != AF_INET) {
            continue;
        }
        if (PortOf(local) != port && PortOf(remote) != port) continue;
        int value = -1;
        socklen_t value_size = sizeof(value);
        REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &value_size) == 0);
        out.push_back(value);
    }
    return out;
}
} // namespace

TEST_CASE("peer sockets have TCP_NODELAY at both ends")
{
    asio::io_context io;
    PeerManager a(io, PrivKey::Generate(), FastOptions());
    PeerManager b(io, PrivKey::Generate(), FastOptions());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    bool connected = false;
    a.Connect(b.NodeId(), "127.0.0.1", port, [&](const std::optional<std::string>& error) { connected = !error; });
    REQUIRE(RunUntil(io, [&] { return connected && b.ListPeers().size() == 1; }));
    // a's outbound socket and b's accepted one; without the option, getsockopt says 0.
    CHECK(NoDelayOfConnections(port) == std::vector<int>{1, 1});
}

namespace {
//! A blocking client socket opened up front, so it needs no new descriptor when it connects.
class IdleClient
{
public:
    explicit IdleClient(asio::io_context& io) : m_socket(io) { m_socket.open(asio::ip::tcp::v4()); }

    void Connect(uint16_t port) { m_socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)); }

    //! Whether the other end closes within `timeout`. Plain POSIX calls: it runs while the
    //! process may have no descriptor to spare (see DescriptorShortage).
    bool ClosedWithin(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd entry{.fd = m_socket.native_handle(), .events = POLLIN, .revents = 0};
            if (left.count() <= 0 || poll(&entry, 1, static_cast<int>(left.count())) != 1) return false;
            std::array<uint8_t, 64> skipped;
            const ssize_t read = recv(m_socket.native_handle(), skipped.data(), skipped.size(), 0);
            if (read == 0 || (read < 0 && errno == ECONNRESET)) return true;
        }
    }

private:
    asio::ip::tcp::socket m_socket;
};
} // namespace

TEST_CASE("beyond max_inbound_handshakes idle connections, the oldest is closed")
{
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    options.max_inbound_handshakes = 2;
    options.connection.handshake_timeout = 10s;
    PeerManager b(io, PrivKey::Generate(), options);
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    asio::io_context client_io;
    IdleClient first(client_io);
    IdleClient second(client_io);
    IdleClient third(client_io);
    RunScript(io, [&] {
        // Accepted in this order, so the third one makes the first the oldest of three.
        first.Connect(port);
        second.Connect(port);
        third.Connect(port);
        CHECK(first.ClosedWithin(5s));
        CHECK_FALSE(second.ClosedWithin(100ms));
        // An honest peer still gets in, and closes the next oldest, the second.
        RawPeer peer(port, b.NodeId());
        peer.Greet(options.chain_hash);
        CHECK(second.ClosedWithin(5s));
        CHECK_FALSE(third.ClosedWithin(100ms));
        for (int i = 0; i < 500 && b.ListPeers().empty(); ++i) std::this_thread::sleep_for(10ms);
        CHECK(b.ListPeers().size() == 1);
    });
}

namespace {
//! Lowers this process's RLIMIT_NOFILE and takes every free descriptor but `spare`, so the
//! next `spare + 1`th one fails with EMFILE; Release gives some back. Undone on destruction.
//!
//! UBSan checks a vtable it has not met before by writing it to a pipe, which fails without
//! descriptors: a false "invalid vptr". Code run meanwhile should have run before (warmed
//! up), and test assertions wait until the shortage is over.
class DescriptorShortage
{
public:
    explicit DescriptorShortage(size_t spare)
    {
        REQUIRE(getrlimit(RLIMIT_NOFILE, &m_saved) == 0);
        m_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        REQUIRE(m_null >= 0);
        // The limit is on descriptor numbers: just above the highest open one, a few more.
        int highest = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
            highest = std::max(highest, std::stoi(entry.path().filename().string()));
        }
        rlimit lowered = m_saved;
        lowered.rlim_cur = static_cast<rlim_t>(highest) + 1 + 16;
        REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
        for (int fd; (fd = fcntl(m_null, F_DUPFD_CLOEXEC, 0)) >= 0;) m_taken.push_back(fd);
        REQUIRE(errno == EMFILE);
        Release(spare);
    }

    ~DescriptorShortage()
    {
        Release(m_taken.size());
        close(m_null);
        setrlimit(RLIMIT_NOFILE, &m_saved);
    }

    DescriptorShortage(const DescriptorShortage&) = delete;
    DescriptorShortage& operator=(const DescriptorShortage&) = delete;

    void Release(size_t count)
    {
        for (size_t i = 0; i < count && !m_taken.empty(); ++i) {
            close(m_taken.back());
            m_taken.pop_back();
        }
    }

    //! How many descriptors could be opened now.
    size_t Free() const
    {
        std::vector<int> probes;
        for (int fd; (fd = fcntl(m_null, F_DUPFD_CLOEXEC, 0)) >= 0;) probes.push_back(fd);
        for (const int fd : probes) close(fd);
        return probes.size();
    }

private:
    rlimit m_saved{};
    int m_null{-1};
    std::vector<int> m_taken;
};

std::chrono::nanoseconds ProcessCpuTime()
{
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}
} // namespace

TEST_CASE("out of file descriptors, accept waits before retrying and closes idle inbound handshakes")
{
    asio::io_context io;
    PeerManagerOptions options = FastOptions();
    // Only the shortage closes the idle connection here.
    options.connection.handshake_timeout = 30s;
    options.accept_retry_delay = 100ms;
    Events events;
    PeerManager b(io, PrivKey::Generate(), options, events.Handlers());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    asio::io_context client_io;
    IdleClient idle(client_io);
    // Warm-up for UBSan (see DescriptorShortage): accept, handshake, close and logging. Once
    // b has closed its end, it holds no descriptor the shortage could get back by surprise.
    RunScript(io, [&] {
        RawPeer warm_up(port, b.NodeId());
        warm_up.Greet(options.chain_hash);
    });
    REQUIRE(RunUntil(io, [&] { return events.disconnected.size() == 1; }));
    Log("net")->warn("test: running out of file descriptors on purpose, {} expected", "warnings");
    std::chrono::nanoseconds cpu_used{};
    bool idle_closed = false;
    size_t free_after = 0;
    {
        DescriptorShortage shortage(0);
        // Accept fails on `idle` and there is nothing to close: the acceptor must wait, not spin.
        idle.Connect(port);
        const auto cpu_before = ProcessCpuTime();
        io.restart();
        io.run_for(1s);
        cpu_used = ProcessCpuTime() - cpu_before;

        // A descriptor comes back and the next try accepts `idle` with it. That leaves none, so
        // the accept after it fails at once (Linux takes the descriptor before looking for a
        // connection), and `idle`, the oldest connection in its handshake, is closed for it.
        shortage.Release(1);
        RunScript(io, [&] { idle_closed = idle.ClosedWithin(5s); });
        // A few more tries, with nobody waiting: they must leave the descriptor alone.
        io.restart();
        io.run_for(300ms);
        free_after = shortage.Free();
    }
    INFO("CPU while accept failed for 1 s: " << std::chrono::duration_cast<std::chrono::milliseconds>(cpu_used).count() << " ms");
    CHECK(cpu_used < 300ms);
    CHECK(idle_closed);
    // The idle connection no longer holds the last descriptor; nothing else took it.
    CHECK(free_after == 1);

    // With descriptors back, honest peers connect as before.
    RunScript(io, [&] {
        RawPeer peer(port, b.NodeId());
        peer.Greet(options.chain_hash);
        for (int i = 0; i < 500 && b.ListPeers().empty(); ++i) std::this_thread::sleep_for(10ms);
        CHECK(b.ListPeers().size() == 1);
    });
}

TEST_CASE("errors and warnings from a peer reach on_notice with their channel id and data")
{
    asio::io_context io;
    Events events;
    const PeerManagerOptions options = FastOptions();
    PeerManager b(io, PrivKey::Generate(), options, events.Handlers());
    const uint16_t port = b.Listen("127.0.0.1", 0).port();
    Hash256 channel_id;
    channel_id.fill(0xab);
    PubKey peer_id = PrivKey::Generate().GetPubKey();
    RunScript(io, [&] {
        RawPeer peer(port, b.NodeId());
        peer_id = peer.NodeId();
        peer.Greet(options.chain_hash);
        ErrorMessage error;
        error.channel_id = channel_id;
        error.data = {'b', 'a', 'd', ' ', 's', 'i', 'g'};
        peer.Send(error);
        WarningMessage warning;
        warning.data = {0x00, 0xff};
        peer.Send(warning);
        // A ping answered proves both notices were read before it.
        peer.Send(PingMessage{.num_pong_bytes = 1, .ignored = {}, .extension = {}});
        while (auto message = peer.Receive()) {
            if (std::holds_alternative<PongMessage>(*message)) break;
        }
        // Notices do not end the connection.
        CHECK(b.ListPeers().size() == 1);
    });
    REQUIRE(events.notices.size() == 2);
    CHECK(events.notices[0].node_id == peer_id);
    CHECK(events.notices[0].type == MessageType::kError);
    CHECK(events.notices[0].notice.channel_id == channel_id);
    CHECK(events.notices[0].notice.data == Bytes{'b', 'a', 'd', ' ', 's', 'i', 'g'});
    CHECK(events.notices[1].type == MessageType::kWarning);
    CHECK(events.notices[1].notice.IsForAllChannels());
    CHECK(events.notices[1].notice.data == Bytes{0x00, 0xff});
    // Notices are not messages for on_message.
    CHECK(events.messages.empty());
}

TEST_CASE("an error instead of init ends the connection with its text as the reason")
{
    asio::io_context io;
    PeerManager a(io, PrivKey::Generate(), FastOptions());
    std::optional<std::string> outcome;
    // a connects out; the other side is played raw, to answer a's init with an error.
    RunScript(io, [&] {
        asio::io_context raw_io;
        asio::ip::tcp::acceptor acceptor(raw_io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const PrivKey raw_key = PrivKey::Generate();
        const StaticKeyPair raw_pair(raw_key);
        a.Connect(raw_key.GetPubKey(), "127.0.0.1", acceptor.local_endpoint().port(),
                  [&](const std::optional<std::string>& error) { outcome = error.value_or("connected"); });
        asio::ip::tcp::socket socket = acceptor.accept();
        auto handshake = Handshake::Responder(raw_pair);
        ByteArray<Handshake::kActOneSize> act_one;
        asio::read(socket, asio::buffer(act_one));
        const auto act_two = handshake.ReadActOne(act_one);
        REQUIRE(act_two);
        asio::write(socket, asio::buffer(*act_two));
        ByteArray<Handshake::kActThreeSize> act_three;
        asio::read(socket, asio::buffer(act_three));
        REQUIRE_FALSE(handshake.ReadActThree(act_three));
        auto cipher = std::move(handshake).Finish().cipher;
        ErrorMessage error;
        error.data = {'n', 'o', ' ', 'c', 'h', 'a', 'i', 'n'};
        const Bytes wire = cipher.Encrypt(EncodeMessage(error));
        asio::write(socket, asio::buffer(wire));
        asio::error_code ec;
        uint8_t byte = 0;
        while (!ec) asio::read(socket, asio::buffer(&byte, 1), ec);
    });
    REQUIRE(RunUntil(io, [&] { return outcome.has_value(); }));
    CHECK(*outcome == "peer sent an error for all channels: no chain instead of init");
}

TEST_CASE("a second listener cannot take a peer port in use")
{
    asio::io_context io;
    PeerManager first(io, PrivKey::Generate(), FastOptions());
    PeerManager second(io, PrivKey::Generate(), FastOptions());
    const uint16_t port = first.Listen("127.0.0.1", 0).port();
    CHECK_THROWS_AS(second.Listen("127.0.0.1", port), asio::system_error);
}
