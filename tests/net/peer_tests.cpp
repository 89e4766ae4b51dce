// Peer connections over real sockets on 127.0.0.1, in one io_context. Misbehaving peers are
// scripted with the raw handshake and transport, on a helper thread with blocking sockets.
#include "net/asio.h"
#include "net/peer_manager.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <thread>

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
    std::vector<std::pair<PubKey, std::string>> disconnected;
    std::vector<Message> messages;
    int connected{0};

    PeerHandlers Handlers()
    {
        return PeerHandlers{
            .on_connected = [this](const PubKey&, const FeatureBits&) { ++connected; },
            .on_disconnected = [this](const PubKey& id, const std::string& reason) { disconnected.emplace_back(id, reason); },
            .on_message =
                [this](const PubKey&, const Message& message) {
                    messages.push_back(message);
                    // Pretend to handle odd custom types only.
                    return TypeOf(message) % 2 == 1;
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
    std::optional<std::string> connect_error;
    a.Connect(b.NodeId(), "127.0.0.1", endpoint.port(), [&](const std::optional<std::string>& error) {
        connected = true;
        connect_error = error;
    });
    REQUIRE(RunUntil(io, [&] { return connected && b.ListPeers().size() == 1; }));
    REQUIRE_FALSE(connect_error);
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

    a.Disconnect(b.NodeId());
    REQUIRE(RunUntil(io, [&] { return a.ListPeers().empty() && b.ListPeers().empty(); }));
    REQUIRE(a_events.disconnected.size() == 1);
    CHECK(a_events.disconnected[0].second == "disconnect requested");
    CHECK(b_events.disconnected.size() == 1);
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
    if (!b_events.messages.empty()) CHECK(std::holds_alternative<ErrorMessage>(b_events.messages[0]));
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
