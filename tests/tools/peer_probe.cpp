// peer-probe: plays a Lightning peer, well or badly behaved, against a BOLT 8 listener so the
// functional tests can watch how sideboltd treats it.
//
//   peer-probe --connect HOST:PORT --node-id HEX --mode MODE [--count N] [--hold-ms M]
//              [--key HEX] [--scid BLOCKxTXxOUT]
//
// It prints one JSON line saying what happened and exits 0; 1 when it could not play its part
// (no TCP connection, handshake or init refused where the mode needs them); 2 on bad usage.
// Mode `good` first prints a "ready" line, then holds until --hold-ms passes or SIGTERM comes.
// Modes `bad-gossip` and `good-gossip` send --count channel_announcements (regtest), each
// followed by a channel_update, as fast as the daemon reads them: `bad-gossip` with signatures
// of some other digest (so they decode but do not verify), `good-gossip` correctly signed by
// random keys for channels that do not exist on chain. Bad updates name --scid (alternating
// directions) when given, else the announcement's channel; good ones always the latter. Then they read for --hold-ms,
// answering pings, and report the warnings received and whether the connection stayed up.
// --key is the probe's node key (32 bytes hex; default: a fresh one), so a second run can
// reconnect as the same peer.
// Plain blocking sockets: it is a test tool.

#include "gossip/signatures.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/network.h"
#include "wire/features.h"
#include "wire/gossip_messages.h"
#include "wire/message.h"
#include "net/noise.h"
#include "util/bytes.h"
#include "util/hex.h"

#include <nlohmann/json.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace sidebolt {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

//! The probe could not play its part; reported as {"error": ...} with exit code 1.
struct ProbeFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! Set by SIGTERM/SIGINT in mode `good`: ends the hold early but still reports.
volatile std::sig_atomic_t g_stop_requested = 0;
void RequestStop(int) { g_stop_requested = 1; }

struct Options {
    std::string host;
    uint16_t port;
    PubKey node_id;
    std::string mode;
    int count;
    milliseconds hold;
    //! --key: our node key; nullopt: a fresh one per connection.
    std::optional<PrivKey> key;
    //! --scid: the channel the gossip modes' channel_updates name.
    std::optional<ShortChannelId> scid;
};

int64_t MillisSince(Clock::time_point start)
{
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

enum class Io { kOk, kClosed, kTimedOut };

//! A blocking TCP socket whose reads give up at a deadline. A close or a reset by the peer
//! both count as "closed": a daemon that closes with our bytes still unread sends a reset.
class Socket
{
public:
    static Socket Connect(const std::string& host, uint16_t port)
    {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
            throw ProbeFailure("resolve " + host + ": " + gai_strerror(rc));
        }
        const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
        std::string error = "no address";
        for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
            Socket socket(::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
            if (socket.m_fd < 0) throw ProbeFailure(std::string("socket: ") + std::strerror(errno));
            // Linux bounds a blocking connect (and every send) by the send timeout.
            const timeval timeout{10, 0};
            setsockopt(socket.m_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
            if (::connect(socket.m_fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                // Each act and message goes out as written, not held back by Nagle's algorithm.
                const int on = 1;
                setsockopt(socket.m_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
                return socket;
            }
            error = std::strerror(errno);
        }
        throw ProbeFailure("connect " + host + ":" + std::to_string(port) + ": " + error);
    }

    explicit Socket(int fd) : m_fd(fd) {}
    Socket(Socket&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Socket& operator=(Socket&&) = delete;
    int Fd() const { return m_fd; }
    ~Socket()
    {
        if (m_fd >= 0) ::close(m_fd);
    }

    Io Send(ByteSpan data)
    {
        while (!data.empty()) {
            const ssize_t sent = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) return Io::kClosed;
            if (sent < 0) throw ProbeFailure(std::string("send: ") + std::strerror(errno));
            data = data.subspan(static_cast<size_t>(sent));
        }
        return Io::kOk;
    }

    //! Fills `out` completely unless the peer closes or the deadline passes first.
    Io Receive(MutableByteSpan out, Clock::time_point deadline)
    {
        while (!out.empty()) {
            size_t got = 0;
            if (const Io io = ReceiveSome(out, deadline, got); io != Io::kOk) return io;
            out = out.subspan(got);
        }
        return Io::kOk;
    }

    //! Throws away whatever arrives until the peer closes or the deadline passes.
    Io DrainUntilClosed(Clock::time_point deadline)
    {
        std::array<uint8_t, 4096> sink{};
        for (;;) {
            size_t got = 0;
            if (const Io io = ReceiveSome(sink, deadline, got); io != Io::kOk) return io;
        }
    }

private:
    Io ReceiveSome(MutableByteSpan out, Clock::time_point deadline, size_t& got)
    {
        for (;;) {
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
            if (left <= 0 || g_stop_requested) return Io::kTimedOut;
            pollfd waiter{m_fd, POLLIN, 0};
            const int ready = ::poll(&waiter, 1, static_cast<int>(std::min<int64_t>(left, 1'000'000)));
            if (ready < 0 && errno != EINTR) throw ProbeFailure(std::string("poll: ") + std::strerror(errno));
            if (ready <= 0) continue;
            const ssize_t received = ::recv(m_fd, out.data(), out.size(), 0);
            if (received == 0 || (received < 0 && errno == ECONNRESET)) return Io::kClosed;
            if (received < 0 && errno == EINTR) continue;
            if (received < 0) throw ProbeFailure(std::string("recv: ") + std::strerror(errno));
            got = static_cast<size_t>(received);
            return Io::kOk;
        }
    }

    int m_fd;
};

//! An established BOLT 8 transport. A read cut short by its deadline leaves the stream
//! mid-frame, so a timed-out session is only ever abandoned.
class Session
{
public:
    Session(Socket socket, TransportCipher cipher) : m_socket(std::move(socket)), m_cipher(std::move(cipher)) {}

    Io Send(const Message& message) { return m_socket.Send(m_cipher.Encrypt(EncodeMessage(message))); }

    Io Read(std::optional<Message>& out, Clock::time_point deadline)
    {
        ByteArray<TransportCipher::kLengthHeaderSize> header{};
        if (const Io io = m_socket.Receive(header, deadline); io != Io::kOk) return io;
        const auto length = m_cipher.DecryptLength(header);
        if (!length) throw ProbeFailure("the daemon sent a bad length MAC");
        Bytes body(size_t{*length} + TransportCipher::kMacSize);
        if (const Io io = m_socket.Receive(body, deadline); io != Io::kOk) return io;
        Bytes plain;
        if (!m_cipher.DecryptBody(body, plain)) throw ProbeFailure("the daemon sent a bad message MAC");
        auto message = DecodeMessage(plain);
        if (!message) throw ProbeFailure("the daemon sent an undecodable message: " + std::string(ToString(message.error())));
        out = std::move(*message);
        return Io::kOk;
    }

    Socket& Raw() { return m_socket; }
    TransportCipher& Cipher() { return m_cipher; }

private:
    Socket m_socket;
    TransportCipher m_cipher;
};

//! How long each network step of a mode's setup (connect, handshake, init, ping) may take.
constexpr milliseconds kStepTimeout{10'000};

Clock::time_point StepDeadline() { return Clock::now() + kStepTimeout; }

Session RunHandshake(Socket socket, const PrivKey& local_key, const PubKey& remote)
{
    auto handshake = Handshake::Initiator(local_key, remote);
    ByteArray<Handshake::kActTwoSize> act_two{};
    if (socket.Send(handshake.WriteActOne()) != Io::kOk || socket.Receive(act_two, StepDeadline()) != Io::kOk) {
        throw ProbeFailure("handshake: no act two from the daemon (wrong --node-id?)");
    }
    const auto act_three = handshake.ReadActTwo(act_two);
    if (!act_three) throw ProbeFailure("handshake: act two rejected: " + std::string(ToString(act_three.error())));
    if (socket.Send(*act_three) != Io::kOk) throw ProbeFailure("handshake: closed while sending act three");
    return Session(std::move(socket), std::move(handshake).Finish().cipher);
}

//! Reads until a message `wanted` accepts; answers the daemon's pings on the way.
Message ReadUntil(Session& session, const std::function<bool(const Message&)>& wanted, const std::string& what)
{
    const auto deadline = StepDeadline();
    for (;;) {
        std::optional<Message> message;
        if (const Io io = session.Read(message, deadline); io != Io::kOk) {
            throw ProbeFailure(what + ": " + (io == Io::kClosed ? "the daemon closed the connection" : "timed out"));
        }
        if (wanted(*message)) return std::move(*message);
        const auto* ping = std::get_if<PingMessage>(&*message);
        const auto pong = ping ? PongFor(*ping) : std::nullopt;
        if (pong && session.Send(*pong) != Io::kOk) throw ProbeFailure(what + ": the daemon closed the connection");
    }
}

//! BOLT 1: init is the first message each way; we offer what sidebolt itself offers.
void ExchangeInit(Session& session)
{
    InitMessage init;
    init.features = OurInitFeatures().ToWire();
    if (session.Send(init) != Io::kOk) throw ProbeFailure("init: the daemon closed the connection");
    const Message theirs = ReadUntil(session, [](const Message&) { return true; }, "init");
    if (!std::holds_alternative<InitMessage>(theirs)) throw ProbeFailure("init: the daemon's first message was not init");
}

//! A ping answered proves the daemon accepted our init (it only answers after init).
int64_t PingRoundTrip(Session& session)
{
    const auto sent = Clock::now();
    if (session.Send(PingMessage{.num_pong_bytes = 4, .ignored = {}, .extension = {}}) != Io::kOk) {
        throw ProbeFailure("ping: the daemon closed the connection");
    }
    ReadUntil(session, [](const Message& m) { return std::holds_alternative<PongMessage>(m); }, "ping");
    return MillisSince(sent);
}

Session Establish(const Options& options, const PrivKey& key)
{
    Session session = RunHandshake(Socket::Connect(options.host, options.port), key, options.node_id);
    ExchangeInit(session);
    return session;
}

//! The daemon's reaction to what was just sent at `offence`.
json AwaitClose(Socket& socket, Clock::time_point offence, milliseconds hold)
{
    const bool closed = socket.DrainUntilClosed(offence + hold) == Io::kClosed;
    return {{"closed_by_peer", closed}, {"after_ms", MillisSince(offence)}};
}

json SendAndAwaitClose(Socket& socket, ByteSpan bytes, milliseconds hold)
{
    const auto offence = Clock::now();
    if (socket.Send(bytes) == Io::kClosed) return {{"closed_by_peer", true}, {"after_ms", MillisSince(offence)}};
    return AwaitClose(socket, offence, hold);
}

json RandomBytes(const Options& options)
{
    Bytes noise(1024);
    std::random_device random;
    std::generate(noise.begin(), noise.end(), [&random] { return static_cast<uint8_t>(random()); });
    Socket socket = Socket::Connect(options.host, options.port);
    return SendAndAwaitClose(socket, noise, options.hold);
}

json TruncatedActOne(const Options& options)
{
    const auto act_one = Handshake::Initiator(PrivKey::Generate(), options.node_id).WriteActOne();
    Socket socket = Socket::Connect(options.host, options.port);
    return SendAndAwaitClose(socket, ByteSpan(act_one).first(20), options.hold);
}

json BadVersion(const Options& options)
{
    auto act_one = Handshake::Initiator(PrivKey::Generate(), options.node_id).WriteActOne();
    // BOLT 8: "If v is an unrecognized handshake version, the responder MUST abort".
    act_one[0] = 1;
    Socket socket = Socket::Connect(options.host, options.port);
    return SendAndAwaitClose(socket, act_one, options.hold);
}

json OversizedLength(const Options& options)
{
    // Lengths are u16 and the daemon accepts up to 65535, so nothing can be too long: claim
    // the largest message, send a sliver of it and stall. Only its pings can catch this.
    constexpr size_t kClaimed = kMaxMessageSize;
    constexpr size_t kSent = 100;
    Session session = Establish(options, PrivKey::Generate());
    const Bytes frame = session.Cipher().Encrypt(Bytes(kClaimed, 0));
    json out = SendAndAwaitClose(session.Raw(), ByteSpan(frame).first(TransportCipher::kLengthHeaderSize + kSent), options.hold);
    out["claimed_length"] = kClaimed;
    out["body_bytes_sent"] = kSent;
    return out;
}

json BadMac(const Options& options)
{
    Session session = Establish(options, PrivKey::Generate());
    Bytes frame = session.Cipher().Encrypt(EncodeMessage(PingMessage{.num_pong_bytes = 4, .ignored = {}, .extension = {}}));
    // The last byte of the length header's tag.
    frame[TransportCipher::kLengthHeaderSize - 1] ^= 0x01;
    return SendAndAwaitClose(session.Raw(), frame, options.hold);
}

json NoInit(const Options& options)
{
    Session session = RunHandshake(Socket::Connect(options.host, options.port), PrivKey::Generate(), options.node_id);
    return AwaitClose(session.Raw(), Clock::now(), options.hold);
}

//! Reads for `hold`, answering pings or not; reports whether the daemon hung up.
json Listen(Session& session, milliseconds hold, bool answer_pings)
{
    const auto start = Clock::now();
    const auto deadline = start + hold;
    int pings = 0;
    Io io = Io::kOk;
    while (io == Io::kOk) {
        std::optional<Message> message;
        io = session.Read(message, deadline);
        if (io != Io::kOk || !std::holds_alternative<PingMessage>(*message)) continue;
        ++pings;
        if (!answer_pings) continue;
        if (const auto pong = PongFor(std::get<PingMessage>(*message))) io = session.Send(*pong);
    }
    return {{"closed_by_peer", io == Io::kClosed},
            {"after_ms", MillisSince(start)},
            {answer_pings ? "pings_answered" : "pings_ignored", pings}};
}

json NoPong(const Options& options)
{
    Session session = Establish(options, PrivKey::Generate());
    return Listen(session, options.hold, false);
}

json Good(const Options& options)
{
    std::signal(SIGTERM, RequestStop);
    std::signal(SIGINT, RequestStop);
    const PrivKey key = PrivKey::Generate();
    const std::string id = ToHex(key.GetPubKey().span());
    Session session = Establish(options, key);
    const int64_t rtt = PingRoundTrip(session);
    std::cout << json{{"mode", options.mode}, {"event", "ready"}, {"id", id}, {"ping_rtt_ms", rtt}}.dump() << std::endl;
    json out = Listen(session, options.hold, true);
    out["id"] = id;
    return out;
}

json Churn(const Options& options)
{
    int completed = 0;
    int64_t slowest = 0;
    std::optional<std::string> first_error;
    const auto start = Clock::now();
    for (int i = 0; i < options.count; ++i) {
        const auto opened = Clock::now();
        try {
            Session session = Establish(options, PrivKey::Generate());
            PingRoundTrip(session);
            ++completed;
        } catch (const ProbeFailure& e) {
            if (!first_error) first_error = e.what();
        }
        slowest = std::max(slowest, MillisSince(opened));
    }
    const int64_t total = MillisSince(start);
    json out{{"count", options.count},
             {"completed", completed},
             {"failed", options.count - completed},
             {"total_ms", total},
             {"avg_ms", options.count > 0 ? static_cast<double>(total) / options.count : 0.0},
             {"max_ms", slowest}};
    if (first_error) out["first_error"] = *first_error;
    return out;
}

// ---- Gossip floods ---------------------------------------------------------------------------

//! Everything the daemon sent while we flooded it, read whole frame by whole frame (buffered, so
//! a read never stops mid-frame) without ever waiting on a send or a send on a read.
class GossipPeer
{
public:
    explicit GossipPeer(Session& session) : m_session(session) {}

    //! Sends `frames` (whole frames, encrypted by our cipher just now), reading whatever arrives
    //! meanwhile, then the pongs that reading called for. kTimedOut when the daemon took none
    //! of it for kStallTimeout (it stopped reading us).
    Io Send(ByteSpan frames)
    {
        const Io io = SendRaw(frames);
        return io == Io::kOk ? FlushPongs() : io;
    }

    //! Reads and handles what arrives until `deadline` or until `done` holds; kClosed if the
    //! daemon hung up (or sent what no peer may send).
    Io ReadUntil(Clock::time_point deadline, const std::function<bool()>& done = [] { return false; })
    {
        while (!m_closed && !done()) {
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) return Io::kTimedOut;
            pollfd waiter{m_session.Raw().Fd(), POLLIN, 0};
            const int ready = ::poll(&waiter, 1, static_cast<int>(std::min<int64_t>(left, 100)));
            if (ready < 0 && errno != EINTR) throw ProbeFailure(std::string("poll: ") + std::strerror(errno));
            if (ready > 0) ReadAvailable();
            if (const Io io = FlushPongs(); io != Io::kOk) return io;
        }
        return m_closed ? Io::kClosed : Io::kOk;
    }

    //! A ping of our own, answered within a step's timeout: the connection really works.
    bool PingAnswered()
    {
        if (m_closed) return false;
        const int before = m_pongs;
        const Bytes frame = m_session.Cipher().Encrypt(EncodeMessage(PingMessage{.num_pong_bytes = 4, .ignored = {}, .extension = {}}));
        if (Send(frame) != Io::kOk) return false;
        return ReadUntil(StepDeadline(), [&] { return m_pongs > before; }) == Io::kOk;
    }

    void Report(json& out) const
    {
        out["warnings"] = m_warnings;
        out["errors"] = m_errors;
        out["first_warning"] = m_first_warning;
        out["last_warning"] = m_last_warning;
        out["pings_answered"] = m_pings;
        out["gossip_received"] = m_gossip;
        out["other_received"] = m_other;
        out["undecodable_received"] = m_undecodable;
        out["closed_by_peer"] = m_closed && !m_stream_error;
        if (m_stream_error) out["stream_error"] = *m_stream_error;
    }

    int Warnings() const { return m_warnings; }
    bool Closed() const { return m_closed; }

private:
    static constexpr milliseconds kStallTimeout{30'000};

    //! Writes bytes as the socket takes them, reading meanwhile so that neither side waits on
    //! the other. The pongs reading calls for are queued: `bytes` may end mid-frame.
    Io SendRaw(ByteSpan bytes)
    {
        auto last_progress = Clock::now();
        while (!bytes.empty()) {
            if (m_closed) return Io::kClosed;
            pollfd waiter{m_session.Raw().Fd(), POLLIN | POLLOUT, 0};
            const int ready = ::poll(&waiter, 1, 100);
            if (ready < 0 && errno != EINTR) throw ProbeFailure(std::string("poll: ") + std::strerror(errno));
            if (ready > 0 && (waiter.revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadAvailable();
            if (m_closed) return Io::kClosed;
            if (ready > 0 && (waiter.revents & POLLOUT) != 0) {
                const ssize_t sent = ::send(m_session.Raw().Fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                    m_closed = true;
                    return Io::kClosed;
                }
                if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    throw ProbeFailure(std::string("send: ") + std::strerror(errno));
                }
                if (sent > 0) {
                    bytes = bytes.subspan(static_cast<size_t>(sent));
                    last_progress = Clock::now();
                }
            }
            if (Clock::now() - last_progress > kStallTimeout) return Io::kTimedOut;
        }
        return Io::kOk;
    }

    //! The pongs owed, encrypted only now so that frames go out in the order of their nonces.
    Io FlushPongs()
    {
        while (!m_pongs_owed.empty() && !m_closed) {
            Bytes frames;
            for (const PongMessage& pong : m_pongs_owed) m_session.Cipher().Encrypt(EncodeMessage(pong), frames);
            m_pongs_owed.clear();
            if (const Io io = SendRaw(frames); io != Io::kOk) return io;
        }
        return m_closed ? Io::kClosed : Io::kOk;
    }

    //! One read of what is there (poll said so), then every whole message in the buffer.
    void ReadAvailable()
    {
        const MutableByteSpan space = m_reader.FreeSpace();
        const ssize_t received = ::recv(m_session.Raw().Fd(), space.data(), space.size(), MSG_DONTWAIT);
        if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (received <= 0) {
            m_closed = true;
            return;
        }
        m_reader.Commit(static_cast<size_t>(received));
        for (;;) {
            Bytes plain;
            const auto status = m_reader.Next(m_session.Cipher(), plain);
            if (status == TransportReader::Status::kNeedMore) return;
            if (status != TransportReader::Status::kMessage) {
                m_stream_error = "the daemon sent a corrupt frame";
                m_closed = true;
                return;
            }
            Handle(plain);
            if (m_closed) return;
        }
    }

    void Handle(ByteSpan plain)
    {
        auto message = DecodeMessage(plain);
        if (!message) {
            ++m_undecodable;
            return;
        }
        if (const auto* warning = std::get_if<WarningMessage>(&*message)) {
            ++m_warnings;
            m_last_warning = Printable(warning->data);
            if (m_warnings == 1) m_first_warning = m_last_warning;
        } else if (std::holds_alternative<ErrorMessage>(*message)) {
            ++m_errors;
        } else if (const auto* ping = std::get_if<PingMessage>(&*message)) {
            ++m_pings;
            if (auto pong = PongFor(*ping)) m_pongs_owed.push_back(std::move(*pong));
        } else if (std::holds_alternative<PongMessage>(*message)) {
            ++m_pongs;
        } else if (const auto* other = std::get_if<OtherMessage>(&*message); other && IsGossipMessageType(other->type)) {
            ++m_gossip;
        } else {
            ++m_other;
        }
    }

    static std::string Printable(ByteSpan data)
    {
        std::string text;
        for (const uint8_t c : data.first(std::min<size_t>(data.size(), 200))) text += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
        return text;
    }

    Session& m_session;
    TransportReader m_reader;
    std::vector<PongMessage> m_pongs_owed;
    bool m_closed{false};
    std::optional<std::string> m_stream_error;
    int m_warnings{0};
    int m_errors{0};
    int m_pings{0};
    int m_pongs{0};
    int m_gossip{0};
    int m_other{0};
    int m_undecodable{0};
    std::string m_first_warning;
    std::string m_last_warning;
};

//! A channel's four keys: node and funding key of each side, node_id_1 the lesser.
struct ChannelKeys {
    ChannelKeys(PrivKey node_1, PrivKey node_2, PrivKey funding_1, PrivKey funding_2)
        : node{std::move(node_1), std::move(node_2)}, funding{std::move(funding_1), std::move(funding_2)},
          node_id{node[0].GetPubKey(), node[1].GetPubKey()}, funding_id{funding[0].GetPubKey(), funding[1].GetPubKey()}
    {
    }

    static ChannelKeys Generate()
    {
        PrivKey first = PrivKey::Generate();
        PrivKey second = PrivKey::Generate();
        if (!(first.GetPubKey() < second.GetPubKey())) std::swap(first, second);
        return ChannelKeys(std::move(first), std::move(second), PrivKey::Generate(), PrivKey::Generate());
    }

    std::array<PrivKey, 2> node;
    std::array<PrivKey, 2> funding;
    std::array<PubKey, 2> node_id;
    std::array<PubKey, 2> funding_id;
};

uint32_t UnixNow()
{
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

//! A digest nobody signs gossip over: what the bad signatures are of.
Hash256 OtherDigest(uint64_t i)
{
    Bytes text{'n', 'o', 't', ' ', 't', 'h', 'i', 's'};
    for (int shift = 0; shift < 64; shift += 8) text.push_back(static_cast<uint8_t>(i >> shift));
    return Sha256(text);
}

/**
 * Message i of a flood: a channel_announcement of channel 10000000+i (far beyond any regtest
 * tip: such a block does not exist), then a channel_update. `valid`: every signature correct.
 */
std::pair<Bytes, Bytes> FloodPair(const ChannelKeys& keys, uint32_t i, bool valid, const std::optional<ShortChannelId>& update_scid)
{
    // Signed below, once the rest is set (the signatures do not cover themselves).
    const EcdsaSignature unsigned_slot = keys.node[0].Sign(OtherDigest(0));
    ChannelAnnouncementMessage announcement{
        .node_signature_1 = unsigned_slot,
        .node_signature_2 = unsigned_slot,
        .bitcoin_signature_1 = unsigned_slot,
        .bitcoin_signature_2 = unsigned_slot,
        .features = {},
        .chain_hash = ChainHash(Network::Regtest),
        .short_channel_id = ShortChannelId{.block_height = 10'000'000 + i, .tx_index = 0, .output_index = 0},
        .node_id_1 = keys.node_id[0],
        .node_id_2 = keys.node_id[1],
        .bitcoin_key_1 = keys.funding_id[0],
        .bitcoin_key_2 = keys.funding_id[1],
        .trailing = {},
    };
    const Hash256 digest = valid ? AnnouncementDigest(announcement) : OtherDigest(i);
    announcement.node_signature_1 = keys.node[0].Sign(digest);
    announcement.node_signature_2 = keys.node[1].Sign(digest);
    announcement.bitcoin_signature_1 = keys.funding[0].Sign(digest);
    announcement.bitcoin_signature_2 = keys.funding[1].Sign(digest);

    const uint8_t direction = static_cast<uint8_t>(i % 2);
    ChannelUpdateMessage update{
        .signature = keys.node[direction].Sign(OtherDigest(~uint64_t{i})),
        .chain_hash = ChainHash(Network::Regtest),
        .short_channel_id = update_scid.value_or(announcement.short_channel_id),
        .timestamp = UnixNow(),
        .message_flags = ChannelUpdateMessage::kMustBeOneFlag,
        .channel_flags = direction,
        .cltv_expiry_delta = 40,
        .htlc_minimum_msat = Msat{1},
        .fee_base_msat = 1000,
        .fee_proportional_millionths = 1,
        .htlc_maximum_msat = Msat{1000},
        .trailing = {},
    };
    if (valid) update = SignChannelUpdate(std::move(update), keys.node[direction]);
    return {EncodeGossipMessage(announcement), EncodeGossipMessage(update)};
}

json GossipFlood(const Options& options, bool valid)
{
    // Keys are the slow part: a few sets, reused; every channel is distinct by its id.
    constexpr int kKeySets = 16;
    std::vector<ChannelKeys> keys;
    for (int i = 0; i < std::min(kKeySets, std::max(options.count, 1)); ++i) keys.push_back(ChannelKeys::Generate());
    std::vector<Bytes> messages;
    messages.reserve(2 * static_cast<size_t>(options.count));
    for (int i = 0; i < options.count; ++i) {
        // A valid update must be by a key of its channel: it names the announced one, never --scid.
        auto [announcement, update] = FloodPair(keys[static_cast<size_t>(i) % keys.size()], static_cast<uint32_t>(i), valid,
                                                valid ? std::nullopt : options.scid);
        messages.push_back(std::move(announcement));
        messages.push_back(std::move(update));
    }

    const PrivKey key = options.key.value_or(PrivKey::Generate());
    Session session = Establish(options, key);
    GossipPeer peer(session);

    // Encrypted in batches so each send() carries many frames.
    constexpr size_t kBatch = 64;
    const auto start = Clock::now();
    size_t sent = 0;
    Io io = Io::kOk;
    while (sent < messages.size() && io == Io::kOk) {
        Bytes frames;
        size_t in_batch = 0;
        for (; in_batch < kBatch && sent + in_batch < messages.size(); ++in_batch) {
            session.Cipher().Encrypt(messages[sent + in_batch], frames);
        }
        io = peer.Send(frames);
        if (io == Io::kOk) sent += in_batch;
    }
    const int64_t send_ms = MillisSince(start);
    const int warnings_during_flood = peer.Warnings();
    if (io == Io::kOk) peer.ReadUntil(Clock::now() + options.hold);
    const bool pong = !peer.Closed() && peer.PingAnswered();

    json out{{"id", ToHex(key.GetPubKey().span())},
             {"sent", sent},
             {"announcements_sent", (sent + 1) / 2},
             {"updates_sent", sent / 2},
             {"send_ms", send_ms},
             {"stalled", io == Io::kTimedOut},
             {"warnings_during_flood", warnings_during_flood},
             {"connection_up", !peer.Closed() && pong},
             {"ping_answered_after_hold", pong}};
    peer.Report(out);
    return out;
}

json BadGossip(const Options& options) { return GossipFlood(options, false); }
json GoodGossip(const Options& options) { return GossipFlood(options, true); }

const std::map<std::string, std::function<json(const Options&)>>& Modes()
{
    static const std::map<std::string, std::function<json(const Options&)>> modes{
        {"random-bytes", RandomBytes}, {"truncated-act1", TruncatedActOne}, {"bad-version", BadVersion},
        {"oversized-length", OversizedLength}, {"bad-mac", BadMac}, {"no-init", NoInit},
        {"no-pong", NoPong}, {"good", Good}, {"churn", Churn}, {"bad-gossip", BadGossip},
        {"good-gossip", GoodGossip},
    };
    return modes;
}

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int64_t ParseNumber(const std::string& flag, const std::string& text, int64_t max)
{
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < 0 || value > max) {
        throw UsageError(flag + ": expected a number from 0 to " + std::to_string(max) + ", got '" + text + "'");
    }
    return value;
}

//! "BLOCKxTXxOUTPUT", as listgraphchannels shows it.
ShortChannelId ParseScid(const std::string& text)
{
    const auto first = text.find('x');
    const auto second = first == std::string::npos ? std::string::npos : text.find('x', first + 1);
    if (second == std::string::npos) throw UsageError("--scid: expected BLOCKxTXxOUTPUT");
    return ShortChannelId{
        .block_height = static_cast<uint32_t>(ParseNumber("--scid", text.substr(0, first), 0xffffff)),
        .tx_index = static_cast<uint32_t>(ParseNumber("--scid", text.substr(first + 1, second - first - 1), 0xffffff)),
        .output_index = static_cast<uint16_t>(ParseNumber("--scid", text.substr(second + 1), 0xffff)),
    };
}

Options ParseOptions(int argc, char** argv)
{
    std::map<std::string, std::string> flags;
    for (int i = 1; i < argc; i += 2) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) throw UsageError(flag + " needs a value");
        flags[flag] = argv[i + 1];
    }
    const auto take = [&flags](const std::string& flag) -> std::optional<std::string> {
        const auto it = flags.find(flag);
        if (it == flags.end()) return std::nullopt;
        std::string value = it->second;
        flags.erase(it);
        return value;
    };
    const auto connect = take("--connect");
    const auto node_id = take("--node-id");
    const auto mode = take("--mode");
    if (!connect || !node_id || !mode) throw UsageError("--connect, --node-id and --mode are required");
    // HOST:PORT, with an IPv6 host in brackets.
    const auto colon = connect->rfind(':');
    if (colon == std::string::npos) throw UsageError("--connect: expected HOST:PORT");
    std::string host = connect->substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto port = static_cast<uint16_t>(ParseNumber("--connect", connect->substr(colon + 1), 65535));
    const auto id_bytes = TryParseHex(*node_id);
    const auto id = id_bytes ? PubKey::Parse(*id_bytes) : std::nullopt;
    if (!id) throw UsageError("--node-id: expected a 33-byte compressed public key in hex");
    if (!Modes().count(*mode)) throw UsageError("unknown --mode '" + *mode + "'");
    const auto count = take("--count");
    const auto hold = take("--hold-ms");
    std::optional<PrivKey> key;
    if (const auto text = take("--key")) {
        const auto bytes = TryParseHex(*text);
        key = bytes && bytes->size() == PrivKey::SIZE ? PrivKey::FromBytes(*bytes) : std::nullopt;
        if (!key) throw UsageError("--key: expected a 32-byte private key in hex");
    }
    std::optional<ShortChannelId> scid;
    if (const auto text = take("--scid")) scid = ParseScid(*text);
    if (!flags.empty()) throw UsageError("unknown option " + flags.begin()->first);
    return Options{
        .host = host,
        .port = port,
        .node_id = *id,
        .mode = *mode,
        .count = count ? static_cast<int>(ParseNumber("--count", *count, 1'000'000)) : 10,
        .hold = milliseconds(hold ? ParseNumber("--hold-ms", *hold, 86'400'000) : 10'000),
        .key = key,
        .scid = scid,
    };
}

int Run(int argc, char** argv)
{
    std::optional<Options> options;
    try {
        options = ParseOptions(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "peer-probe: " << e.what() << "\n"
                  << "usage: peer-probe --connect HOST:PORT --node-id HEX --mode MODE [--count N] [--hold-ms M]"
                     " [--key HEX] [--scid BLOCKxTXxOUT]\n"
                  << "modes: random-bytes truncated-act1 bad-version oversized-length bad-mac no-init no-pong good churn "
                     "bad-gossip good-gossip\n";
        return 2;
    }
    json out;
    int status = 0;
    try {
        out = Modes().at(options->mode)(*options);
    } catch (const std::exception& e) {
        out = {{"error", e.what()}};
        status = 1;
    }
    out["mode"] = options->mode;
    std::cout << out.dump() << std::endl;
    return status;
}

} // namespace
} // namespace sidebolt

int main(int argc, char** argv) { return sidebolt::Run(argc, argv); }
