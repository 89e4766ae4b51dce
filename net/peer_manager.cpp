#include "net/peer_manager.h"

#include "wire/wire.h"
#include "util/hex.h"
#include "util/logging.h"
#include "util/sync.h"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <utility>

namespace sidebolt {
namespace {
using Clock = std::chrono::steady_clock;

//! Inbound handshakes closed each time accept fails for lack of file descriptors: enough for
//! the RPC server and the bitcoind client to get some until the next try.
constexpr size_t kHandshakesClosedPerDescriptorShortage = 8;
//! Accept keeps failing while descriptors are short: say so at most this often.
constexpr auto kAcceptWarningInterval = std::chrono::seconds(60);

//! EMFILE: this process is at its limit; ENFILE: the whole system is.
bool IsOutOfDescriptors(const asio::error_code& ec)
{
    return ec == asio::error::no_descriptors || ec == asio::error_code(ENFILE, asio::system_category());
}

bool IsPublicV4(const asio::ip::address_v4& address)
{
    const auto b = address.to_bytes();
    const bool is_private = b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 100 && (b[1] & 0xc0) == 64) ||
                            (b[0] == 169 && b[1] == 254) || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
                            (b[0] == 192 && b[1] == 168) || b[0] >= 224;
    return !is_private;
}

bool IsPublicV6(const asio::ip::address_v6& address)
{
    if (address.is_v4_mapped()) return IsPublicV4(asio::ip::make_address_v4(asio::ip::v4_mapped, address));
    const auto b = address.to_bytes();
    // Unique local fc00::/7 and the special ranges asio names.
    const bool is_private = (b[0] & 0xfe) == 0xfc || address.is_loopback() || address.is_unspecified() ||
                            address.is_link_local() || address.is_site_local() || address.is_multicast();
    return !is_private;
}

std::string JoinBits(const std::vector<size_t>& bits)
{
    std::string out;
    for (const size_t bit : bits) {
        if (!out.empty()) out += ',';
        out += std::to_string(bit);
    }
    return out;
}

//! An `error` or `warning` received.
struct Notice {
    MessageType type;
    const ChannelNotice* notice;
};

std::optional<Notice> NoticeOf(const Message& message)
{
    if (const auto* error = std::get_if<ErrorMessage>(&message)) return Notice{MessageType::kError, error};
    if (const auto* warning = std::get_if<WarningMessage>(&message)) return Notice{MessageType::kWarning, warning};
    return std::nullopt;
}

//! "an error for channel <id>: <data>", with the data only in printable form (BOLT 1).
std::string DescribeNotice(const Notice& n)
{
    const std::string channel = n.notice->IsForAllChannels() ? "all channels" : "channel " + ToHex(n.notice->channel_id);
    return std::string(n.type == MessageType::kError ? "an error" : "a warning") + " for " + channel + ": " +
           PrintableNoticeData(n.notice->data);
}

//! A listening socket, and the timer that paces accepting again after accept failed.
struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io), retry_timer(io) {}
    asio::ip::tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
};

//! What ties a connection's callbacks to the manager's state for that connection.
struct Link {
    //! Creation order (the ConnectionId), and the connection's key while it is in its handshake.
    ConnectionId serial{0};
    //! Known once the handshake is done.
    std::optional<PubKey> node_id;
    //! Outbound only, until init is exchanged or the attempt fails.
    PeerManager::ConnectCallback connect_callback;
};

struct PendingPing {
    uint16_t num_pong_bytes;
    Clock::time_point sent;
    PeerManager::PingCallback callback;
};

struct Peer {
    Peer(const asio::any_io_executor& executor, std::shared_ptr<Link> link_in, std::shared_ptr<PeerConnection> connection_in)
        : link(std::move(link_in)), connection(std::move(connection_in)), ping_timer(executor), pong_timer(executor)
    {
    }
    std::shared_ptr<Link> link;
    std::shared_ptr<PeerConnection> connection;
    // Fields ListPeers reads: written under the manager's mutex.
    bool init_received{false};
    FeatureBits features;
    std::chrono::system_clock::time_point connected_since{std::chrono::system_clock::now()};
    std::optional<std::chrono::microseconds> last_ping_rtt;
    // Network-thread only.
    std::deque<PendingPing> pings;
    //! Waits for init first, then paces our periodic pings.
    asio::steady_timer ping_timer;
    asio::steady_timer pong_timer;
};
} // namespace

class PeerManager::Impl : public std::enable_shared_from_this<Impl>
{
public:
    Impl(asio::io_context& io, const PrivKey& node_key, PeerManagerOptions options, PeerHandlers handlers)
        : m_io(io), m_key(node_key), m_options(std::move(options)), m_handlers(std::move(handlers))
    {
    }

    asio::ip::tcp::endpoint Listen(const std::string& address, uint16_t port)
    {
        const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address), port);
        auto listener = std::make_shared<Listener>(m_io);
        listener->acceptor.open(endpoint.protocol());
        listener->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        listener->acceptor.bind(endpoint);
        listener->acceptor.listen();
        m_listeners.push_back(listener);
        Accept(listener);
        return listener->acceptor.local_endpoint();
    }

    void Connect(const PubKey& node_id, const std::string& host, uint16_t port, ConnectCallback callback)
    {
        if (m_stopped) return callback("peer manager stopped");
        // The handshake would succeed with ourselves, and the inbound half would then replace
        // the outbound one as "a new connection" from the same node id.
        if (node_id == m_key.Pub()) return callback("cannot connect to our own node id");
        if (const auto peer = FindPeer(node_id); peer && peer->init_received) return callback(std::nullopt);
        auto link = std::make_shared<Link>();
        link->connect_callback = std::move(callback);
        auto connection = PeerConnection::Connect(m_io.get_executor(), host, port, m_key, node_id, m_options.connection,
                                                  MakeHandlers(link));
        Track(link, connection);
    }

    void Disconnect(const PubKey& node_id, std::optional<ConnectionId> connection)
    {
        const auto peer = FindPeer(node_id);
        if (peer && (!connection || peer->link->serial == *connection)) peer->connection->Close("disconnect requested");
    }

    std::vector<PeerInfo> ListPeers() const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        std::vector<PeerInfo> out;
        for (const auto& [node_id, peer] : m_peers) {
            if (!peer->init_received) continue;
            out.push_back(PeerInfo{
                .node_id = node_id,
                .address = peer->connection->RemoteAddress(),
                .direction = peer->connection->Direction(),
                .features = peer->features,
                .connected_since = peer->connected_since,
                .bytes_in = peer->connection->BytesIn(),
                .bytes_out = peer->connection->BytesOut(),
                .last_ping_rtt = peer->last_ping_rtt,
                .reading_paused = m_read_paused.contains(node_id),
            });
        }
        return out;
    }

    void Ping(const PubKey& node_id, uint16_t num_pong_bytes, PingCallback callback)
    {
        const auto peer = FindPeer(node_id);
        if (!peer || !peer->init_received) return callback(std::string("peer not connected"));
        if (num_pong_bytes >= PingMessage::kNoPongThreshold) return callback(std::string("num_pong_bytes must be below 65532"));
        SendPing(peer, num_pong_bytes, std::move(callback));
    }

    void Send(const PubKey& node_id, std::optional<ConnectionId> connection, std::span<const Message> messages)
    {
        const auto peer = FindPeer(node_id);
        if (!peer || !peer->init_received || (connection && peer->link->serial != *connection)) return;
        for (const Message& message : messages) peer->connection->Send(message);
    }

    void SetReadPaused(const PubKey& node_id, bool paused) EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            if (paused ? !m_read_paused.insert(node_id).second : m_read_paused.erase(node_id) == 0) return;
        }
        // Before init the pause waits for it (HandleInit), so that init still arrives.
        const auto peer = FindPeer(node_id);
        if (!peer || !peer->init_received) return;
        if (paused) return peer->connection->PauseReading();
        peer->connection->ResumeReading();
        // The pong timer waited while we read nothing; it counts from now.
        if (!peer->pings.empty()) ArmPongTimer(peer);
    }

    void Stop()
    {
        m_stopped = true;
        for (const auto& listener : m_listeners) {
            asio::error_code ignored;
            listener->acceptor.close(ignored);
            listener->retry_timer.cancel();
        }
        m_listeners.clear();
        // Closing posts each connection's on_closed, which removes it from these containers.
        for (const auto& [serial, connection] : m_handshaking) connection->Close("shutting down");
        for (const auto& peer : AllPeers()) peer->connection->Close("shutting down");
    }

    const PubKey& NodeId() const { return m_key.Pub(); }

    //! Runs `task` on the network thread, if the manager still exists by then.
    template <typename Task>
    void Post(Task task)
    {
        asio::post(m_io, [weak = weak_from_this(), task = std::move(task)]() mutable {
            if (const auto self = weak.lock()) task(*self);
        });
    }

private:
    PeerConnection::Handlers MakeHandlers(const std::shared_ptr<Link>& link)
    {
        const std::weak_ptr<Impl> weak = weak_from_this();
        return PeerConnection::Handlers{
            .on_established = [weak, link](const PubKey& remote) { if (auto self = weak.lock()) self->OnEstablished(link, remote); },
            .on_message = [weak, link](Message message) { if (auto self = weak.lock()) self->OnMessage(link, message); },
            .on_read_delivered =
                [weak, link] {
                    const auto self = weak.lock();
                    if (self && link->node_id && self->m_handlers.on_read_delivered) self->m_handlers.on_read_delivered(*link->node_id);
                },
            .on_closed = [weak, link](const std::string& reason) { if (auto self = weak.lock()) self->OnClosed(link, reason); },
        };
    }

    void Track(const std::shared_ptr<Link>& link, const std::shared_ptr<PeerConnection>& connection)
    {
        link->serial = m_next_serial++;
        m_handshaking.emplace(link->serial, connection);
    }

    void Accept(const std::shared_ptr<Listener>& listener)
    {
        listener->acceptor.async_accept([weak = weak_from_this(), listener](const asio::error_code& ec, asio::ip::tcp::socket socket) {
            const auto self = weak.lock();
            if (!self || self->m_stopped || ec == asio::error::operation_aborted) return;
            if (ec) return self->RetryAcceptLater(listener, ec);
            self->OnAccepted(std::move(socket));
            self->Accept(listener);
        });
    }

    void OnAccepted(asio::ip::tcp::socket socket)
    {
        auto link = std::make_shared<Link>();
        const auto connection = PeerConnection::Accept(std::move(socket), m_key, m_options.connection, MakeHandlers(link));
        Track(link, connection);
        const auto handshakes = OpenInboundHandshakes();
        if (handshakes.size() > m_options.max_inbound_handshakes) {
            Log("net")->debug("more than {} inbound connections in their handshake: closing the oldest",
                              m_options.max_inbound_handshakes);
            CloseFirst(handshakes, handshakes.size() - m_options.max_inbound_handshakes, "too many inbound handshakes");
        }
    }

    //! A failed accept consumes nothing: the connection it was for stays queued, and out of
    //! descriptors it fails even with none queued (Linux takes the descriptor first). Retrying
    //! at once would fail at once, and spin until descriptors come back.
    //!
    //! Out of descriptors, the oldest inbound connections still in their handshake are closed:
    //! the ones an attacker leaves idle would otherwise keep the last descriptors from the RPC
    //! server, the bitcoind client and honest peers. This runs as soon as an accept takes the
    //! last descriptor, as the accept armed next fails at once.
    void RetryAcceptLater(const std::shared_ptr<Listener>& listener, const asio::error_code& ec)
    {
        ++m_accept_failures;
        if (IsOutOfDescriptors(ec)) {
            m_closed_for_descriptors += CloseFirst(OpenInboundHandshakes(), kHandshakesClosedPerDescriptorShortage,
                                                   "closed to free a file descriptor");
        }
        if (const auto now = Clock::now(); now >= m_next_accept_warning) {
            Log("net")->warn("accepting a peer connection failed: {} (since the last warning: {} failed accepts, {} "
                             "inbound handshakes closed to free file descriptors); retrying every {} ms",
                             ec.message(), m_accept_failures, m_closed_for_descriptors, m_options.accept_retry_delay.count());
            m_accept_failures = 0;
            m_closed_for_descriptors = 0;
            m_next_accept_warning = now + kAcceptWarningInterval;
        }
        listener->retry_timer.expires_after(m_options.accept_retry_delay);
        listener->retry_timer.async_wait([weak = weak_from_this(), listener](const asio::error_code& timer_ec) {
            const auto self = weak.lock();
            if (timer_ec || !self || self->m_stopped) return;
            self->Accept(listener);
        });
    }

    //! Inbound connections in their handshake and not closing yet, oldest first.
    std::vector<std::shared_ptr<PeerConnection>> OpenInboundHandshakes() const
    {
        std::vector<std::shared_ptr<PeerConnection>> out;
        for (const auto& [serial, connection] : m_handshaking) {
            if (connection->Direction() == PeerDirection::kInbound && !connection->IsClosed()) out.push_back(connection);
        }
        return out;
    }

    //! Closes the first `count` of `connections`; returns how many it closed.
    static size_t CloseFirst(const std::vector<std::shared_ptr<PeerConnection>>& connections, size_t count,
                             const std::string& reason)
    {
        const size_t closing = std::min(count, connections.size());
        for (size_t i = 0; i < closing; ++i) connections[i]->Close(reason);
        return closing;
    }

    //! Only this thread changes m_peers, but reading it locked too keeps the rule simple (and
    //! checked): m_peers is only touched with m_mutex held.
    std::shared_ptr<Peer> FindPeer(const PubKey& node_id) const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        const auto it = m_peers.find(node_id);
        return it != m_peers.end() ? it->second : nullptr;
    }

    std::vector<std::shared_ptr<Peer>> AllPeers() const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        std::vector<std::shared_ptr<Peer>> out;
        for (const auto& [node_id, peer] : m_peers) out.push_back(peer);
        return out;
    }

    bool IsReadPaused(const PubKey& node_id) const EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        return m_read_paused.contains(node_id);
    }

    //! The live peer entry of `link`, or nullptr when the link is stale (replaced or closed).
    std::shared_ptr<Peer> PeerOf(const std::shared_ptr<Link>& link) const
    {
        if (!link->node_id) return nullptr;
        const auto peer = FindPeer(*link->node_id);
        return peer && peer->link == link ? peer : nullptr;
    }

    void OnEstablished(const std::shared_ptr<Link>& link, const PubKey& remote)
    {
        const auto handshaking = m_handshaking.find(link->serial);
        if (handshaking == m_handshaking.end()) return;
        const auto connection = handshaking->second;
        m_handshaking.erase(handshaking);
        if (m_stopped) return connection->Close("shutting down");
        // BOLT 1: "MUST use a single connection per peer"; the newer one wins, as the older one
        // is usually a connection the peer has already given up on.
        if (FindPeer(remote)) RemovePeer(remote, "replaced by a new connection", true);
        link->node_id = remote;
        auto peer = std::make_shared<Peer>(m_io.get_executor(), link, connection);
        {
            const MutexLock lock(m_mutex);
            m_peers.emplace(remote, peer);
        }
        SendInit(*peer);
        peer->ping_timer.expires_after(m_options.init_timeout);
        peer->ping_timer.async_wait([weak_peer = std::weak_ptr(peer)](const asio::error_code& ec) {
            const auto p = weak_peer.lock();
            if (!ec && p && !p->init_received) p->connection->Close("no init received");
        });
    }

    void SendInit(Peer& peer)
    {
        InitMessage init;
        init.features = m_options.features.ToWire();
        init.networks = std::vector<Hash256>{m_options.chain_hash};
        // BOLT 1: "SHOULD set remote_addr to reflect the remote IP address (and port) of an
        // incoming connection".
        const auto& endpoint = peer.connection->RemoteEndpoint();
        if (peer.connection->Direction() == PeerDirection::kInbound && endpoint) {
            init.remote_addr = PublicAddressDescriptor(*endpoint);
        }
        peer.connection->Send(init);
    }

    void OnMessage(const std::shared_ptr<Link>& link, const Message& message)
    {
        const auto peer = PeerOf(link);
        if (!peer) return;
        if (!peer->init_received) return HandleInit(link, peer, message);
        if (const auto notice = NoticeOf(message)) return HandleNotice(*link->node_id, *notice);
        if (const auto* ping = std::get_if<PingMessage>(&message)) {
            if (auto pong = PongFor(*ping)) peer->connection->SendReply(*pong);
            return;
        }
        if (const auto* pong = std::get_if<PongMessage>(&message)) return HandlePong(peer, *pong);
        // A repeated init carries nothing we act on.
        if (std::holds_alternative<InitMessage>(message)) return;
        const bool handled = m_handlers.on_message && m_handlers.on_message(*link->node_id, message);
        if (!handled && std::holds_alternative<OtherMessage>(message) &&
            ActionForUnknownType(TypeOf(message)) == UnknownMessageAction::kDisconnect) {
            peer->connection->Close("unknown even message type " + std::to_string(TypeOf(message)));
        }
    }

    void HandleInit(const std::shared_ptr<Link>& link, const std::shared_ptr<Peer>& peer, const Message& message)
    {
        const auto* init = std::get_if<InitMessage>(&message);
        // BOLT 1: the sender "MUST send init as the first Lightning message for any connection".
        // An error instead usually says why the peer refuses ours: keep its reason.
        if (const auto notice = NoticeOf(message); !init && notice) {
            Log("net")->warn("peer {} sent {} instead of init", peer->connection->Describe(), DescribeNotice(*notice));
            return peer->connection->Close("peer sent " + DescribeNotice(*notice) + " instead of init");
        }
        if (!init) return peer->connection->Close("first message was not init");
        const FeatureBits features = init->CombinedFeatures();
        Log("net")->debug("init from {}: features {}", peer->connection->Describe(), DescribeFeatures(features));
        if (const auto unknown = UnknownRequiredFeatures(features, m_options.features); !unknown.empty()) {
            return SendErrorAndClose(*peer, "unknown required feature bits " + JoinBits(unknown));
        }
        if (const auto missing = MissingDependencies(features); !missing.empty()) {
            std::vector<size_t> bits;
            for (const Feature feature : missing) bits.push_back(RequiredBit(feature));
            return SendErrorAndClose(*peer, "features without their dependencies " + JoinBits(bits));
        }
        if (init->networks && std::find(init->networks->begin(), init->networks->end(), m_options.chain_hash) == init->networks->end()) {
            return SendErrorAndClose(*peer, "no common chain");
        }
        {
            const MutexLock lock(m_mutex);
            peer->init_received = true;
            peer->features = features;
        }
        // A node paused on an earlier connection stays paused: what it sent there may still be
        // waiting for our consumer. Pausing here holds back the messages read along with init.
        if (IsReadPaused(*link->node_id)) peer->connection->PauseReading();
        SchedulePing(peer);
        // The consumers hear of the peer before `connect` is answered: a `fundchannel` sent on
        // that answer must find the peer connected.
        if (m_handlers.on_connected) m_handlers.on_connected(*link->node_id, features, link->serial);
        if (auto callback = std::exchange(link->connect_callback, nullptr)) callback(std::nullopt);
    }

    void HandleNotice(const PubKey& node_id, const Notice& notice)
    {
        Log("net")->warn("peer {} sent {}", ToHex(node_id.span()), DescribeNotice(notice));
        if (m_handlers.on_notice) m_handlers.on_notice(node_id, notice.type, *notice.notice);
    }

    void SendErrorAndClose(Peer& peer, const std::string& text)
    {
        Log("net")->debug("sending error to {}: {}", peer.connection->Describe(), text);
        ErrorMessage error;
        error.data.assign(text.begin(), text.end());
        peer.connection->Send(error);
        peer.connection->CloseAfterFlush(text);
    }

    void SchedulePing(const std::shared_ptr<Peer>& peer)
    {
        peer->ping_timer.expires_after(m_options.ping_interval);
        peer->ping_timer.async_wait([weak = weak_from_this(), weak_peer = std::weak_ptr(peer)](const asio::error_code& ec) {
            const auto self = weak.lock();
            const auto p = weak_peer.lock();
            if (ec || !self || !p || p->connection->IsClosed()) return;
            // One keep-alive in flight at a time; the pong timer watches it.
            if (p->pings.empty()) self->SendPing(p, 0, nullptr);
            self->SchedulePing(p);
        });
    }

    void SendPing(const std::shared_ptr<Peer>& peer, uint16_t num_pong_bytes, PingCallback callback)
    {
        peer->pings.push_back(PendingPing{num_pong_bytes, Clock::now(), std::move(callback)});
        peer->connection->Send(PingMessage{.num_pong_bytes = num_pong_bytes, .ignored = {}, .extension = {}});
        if (peer->pings.size() == 1) ArmPongTimer(peer);
    }

    //! The pong is due pong_timeout after the ping, or after we resumed reading: while our
    //! reading was paused (flow control), the pong may have been sitting unread.
    Clock::time_point PongDeadline(const Peer& peer) const
    {
        return std::max(peer.pings.front().sent, peer.connection->ReadingSince()) + m_options.pong_timeout;
    }

    void ArmPongTimer(const std::shared_ptr<Peer>& peer)
    {
        peer->pong_timer.expires_at(PongDeadline(*peer));
        peer->pong_timer.async_wait([weak = weak_from_this(), weak_peer = std::weak_ptr(peer)](const asio::error_code& ec) {
            const auto self = weak.lock();
            const auto p = weak_peer.lock();
            if (ec || !self || !p || p->pings.empty()) return;
            // Resuming re-arms the timer.
            if (p->connection->IsReadPaused()) return;
            if (Clock::now() < self->PongDeadline(*p)) return self->ArmPongTimer(p);
            p->connection->Close("ping timeout");
        });
    }

    void HandlePong(const std::shared_ptr<Peer>& peer, const PongMessage& pong)
    {
        // An unsolicited pong is harmless; BOLT 1 only allows (not requires) closing.
        if (peer->pings.empty()) return;
        PendingPing ping = std::move(peer->pings.front());
        peer->pings.pop_front();
        if (pong.ignored.size() != ping.num_pong_bytes) {
            if (ping.callback) ping.callback(std::string("pong of the wrong length"));
            return peer->connection->Close("pong length does not match our ping");
        }
        const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ping.sent);
        {
            const MutexLock lock(m_mutex);
            peer->last_ping_rtt = rtt;
        }
        if (peer->pings.empty()) {
            peer->pong_timer.cancel();
        } else {
            ArmPongTimer(peer);
        }
        if (ping.callback) ping.callback(rtt);
    }

    void OnClosed(const std::shared_ptr<Link>& link, const std::string& reason)
    {
        m_handshaking.erase(link->serial);
        if (PeerOf(link)) RemovePeer(*link->node_id, reason, false);
        if (auto callback = std::exchange(link->connect_callback, nullptr)) callback(reason);
    }

    //! Forgets a peer: fails what waited on it and tells the layers above.
    void RemovePeer(const PubKey& node_id, const std::string& reason, bool close_connection) EXCLUDES(m_mutex)
    {
        std::shared_ptr<Peer> peer;
        {
            const MutexLock lock(m_mutex);
            const auto it = m_peers.find(node_id);
            peer = it->second;
            m_peers.erase(it);
        }
        peer->ping_timer.cancel();
        peer->pong_timer.cancel();
        if (close_connection) peer->connection->Close(reason);
        for (auto& ping : peer->pings) {
            if (ping.callback) ping.callback(std::string("disconnected: ") + reason);
        }
        if (auto callback = std::exchange(peer->link->connect_callback, nullptr)) callback(reason);
        Log("net")->debug("peer {} removed: {}", peer->connection->Describe(), reason);
        if (peer->init_received && m_handlers.on_disconnected) m_handlers.on_disconnected(node_id, reason);
    }

    asio::io_context& m_io;
    //! Our node key, with its public key derived once for all handshakes.
    const StaticKeyPair m_key;
    const PeerManagerOptions m_options;
    const PeerHandlers m_handlers;
    bool m_stopped{false};
    std::vector<std::shared_ptr<Listener>> m_listeners;
    //! Connections in their handshake by Link::serial, so oldest first.
    std::map<uint64_t, std::shared_ptr<PeerConnection>> m_handshaking;
    ConnectionId m_next_serial{1};
    // Since the last accept warning.
    size_t m_accept_failures{0};
    size_t m_closed_for_descriptors{0};
    Clock::time_point m_next_accept_warning{};
    //! Guards m_peers' structure, m_read_paused and the Peer fields ListPeers reads (those are
    //! members of Peer, so the analysis cannot check them: they are written under it by hand).
    mutable Mutex m_mutex;
    std::map<PubKey, std::shared_ptr<Peer>> m_peers GUARDED_BY(m_mutex);
    //! Nodes whose reading is paused (PauseReading), connected or not.
    std::set<PubKey> m_read_paused GUARDED_BY(m_mutex);
};

std::optional<Bytes> PublicAddressDescriptor(const asio::ip::tcp::endpoint& endpoint)
{
    const auto address = endpoint.address();
    Bytes out;
    WireWriter writer(out);
    if (address.is_v4() && IsPublicV4(address.to_v4())) {
        writer.WriteU8(1);
        writer.WriteBytes(address.to_v4().to_bytes());
    } else if (address.is_v6() && IsPublicV6(address.to_v6())) {
        writer.WriteU8(2);
        writer.WriteBytes(address.to_v6().to_bytes());
    } else {
        return std::nullopt;
    }
    writer.WriteU16(endpoint.port());
    return out;
}

PeerManager::PeerManager(asio::io_context& io, const PrivKey& node_key, PeerManagerOptions options, PeerHandlers handlers)
    : m_impl(std::make_shared<Impl>(io, node_key, std::move(options), std::move(handlers)))
{
}

PeerManager::~PeerManager() { m_impl->Stop(); }

asio::ip::tcp::endpoint PeerManager::Listen(const std::string& address, uint16_t port) { return m_impl->Listen(address, port); }

void PeerManager::Connect(const PubKey& node_id, const std::string& host, uint16_t port, ConnectCallback callback)
{
    m_impl->Post([node_id, host, port, callback = std::move(callback)](Impl& impl) mutable {
        impl.Connect(node_id, host, port, std::move(callback));
    });
}

void PeerManager::Disconnect(const PubKey& node_id)
{
    m_impl->Post([node_id](Impl& impl) { impl.Disconnect(node_id, std::nullopt); });
}

void PeerManager::Disconnect(const PubKey& node_id, ConnectionId connection)
{
    m_impl->Post([node_id, connection](Impl& impl) { impl.Disconnect(node_id, connection); });
}

std::vector<PeerInfo> PeerManager::ListPeers() const { return m_impl->ListPeers(); }

void PeerManager::Ping(const PubKey& node_id, uint16_t num_pong_bytes, PingCallback callback)
{
    m_impl->Post([node_id, num_pong_bytes, callback = std::move(callback)](Impl& impl) mutable {
        impl.Ping(node_id, num_pong_bytes, std::move(callback));
    });
}

void PeerManager::Send(const PubKey& node_id, Message message)
{
    m_impl->Post([node_id, message = std::move(message)](Impl& impl) { impl.Send(node_id, std::nullopt, std::span(&message, 1)); });
}

void PeerManager::Send(const PubKey& node_id, std::vector<Message> messages)
{
    m_impl->Post([node_id, messages = std::move(messages)](Impl& impl) { impl.Send(node_id, std::nullopt, messages); });
}

void PeerManager::Send(const PubKey& node_id, ConnectionId connection, std::vector<Message> messages)
{
    m_impl->Post([node_id, connection, messages = std::move(messages)](Impl& impl) { impl.Send(node_id, connection, messages); });
}

void PeerManager::PauseReading(const PubKey& node_id)
{
    m_impl->Post([node_id](Impl& impl) { impl.SetReadPaused(node_id, true); });
}

void PeerManager::ResumeReading(const PubKey& node_id)
{
    m_impl->Post([node_id](Impl& impl) { impl.SetReadPaused(node_id, false); });
}

void PeerManager::Stop()
{
    m_impl->Post([](Impl& impl) { impl.Stop(); });
}

const PubKey& PeerManager::NodeId() const { return m_impl->NodeId(); }

} // namespace sidebolt
