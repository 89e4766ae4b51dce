#ifndef SIDEBOLT_NET_PEER_MANAGER_H
#define SIDEBOLT_NET_PEER_MANAGER_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "net/asio.h"
#include "wire/expected.h"
#include "wire/features.h"
#include "wire/message.h"
#include "net/peer_connection.h"


#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

struct PeerManagerOptions {
    //! Sent as init `networks`; peers whose `networks` lack it are dropped.
    Hash256 chain_hash{};
    FeatureBits features = OurInitFeatures();
    PeerConnectionOptions connection;
    //! Their init must arrive this soon after the transport is up.
    std::chrono::milliseconds init_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds ping_interval{std::chrono::seconds(60)};
    //! A ping unanswered this long drops the peer (BOLT 1: MAY close, MUST NOT fail channels).
    std::chrono::milliseconds pong_timeout{std::chrono::seconds(30)};
    //! Inbound connections allowed in their handshake at once (at least 1). One more closes the
    //! oldest: an honest handshake takes a round trip or two, so a connection still in its
    //! handshake when many newer ones arrived was most likely left idle to hold a descriptor.
    size_t max_inbound_handshakes{128};
    //! After accept fails (out of file descriptors, say), how long before trying again: an
    //! immediate retry would fail at once, for as long as the cause lasts.
    std::chrono::milliseconds accept_retry_delay{500};
};

//! A snapshot of one connected peer (init exchanged), for listpeers.
struct PeerInfo {
    PubKey node_id;
    std::string address;
    PeerDirection direction;
    //! Their init features, global and local combined.
    FeatureBits features;
    std::chrono::system_clock::time_point connected_since;
    uint64_t bytes_in{0};
    uint64_t bytes_out{0};
    std::optional<std::chrono::microseconds> last_ping_rtt;
    //! Reading from the peer is paused (PauseReading): our side cannot keep up with it.
    bool reading_paused{false};
};

//! Numbers each connection the manager makes or accepts, in the order they start (the first is
//! 1). A layer that handles a peer's events later, on a thread of its own, addresses what it
//! sends with the number on_connected gave: what it meant for a connection that has been
//! replaced is dropped rather than sent on the next one, where it would break the new
//! connection's protocol (BOLT 2 reestablishes each connection from its own first message).
using ConnectionId = uint64_t;

//! Events for the layers above (channels, gossip). All run on the io_context's thread.
struct PeerHandlers {
    std::function<void(const PubKey& node_id, const FeatureBits& their_features, ConnectionId connection)> on_connected;
    std::function<void(const PubKey& node_id, const std::string& reason)> on_disconnected;
    //! Every message after init except ping and pong. Return false for a type you do not
    //! handle: an unknown even type then closes the connection, as BOLT 1 requires.
    //! Messages keep coming however much we queue for the peer, so a handler that answers
    //! must not let a peer's requests grow the queue without bound (see Send).
    std::function<bool(const PubKey& node_id, const Message& message)> on_message;
    //! The messages of one read from a peer's socket have all gone to on_message: a consumer
    //! that handles them on another thread can wake it once for the lot.
    std::function<void(const PubKey& node_id)> on_read_delivered;
    //! An `error` or `warning` (`type` says which) from a connected peer, already logged; these
    //! do not reach on_message. BOLT 1: on an error, the receiver "MUST fail the channel
    //! referred to by channel_id" (every channel with the peer when it is all zero) and "MUST
    //! ignore the message" when no channel of that peer is referred to.
    std::function<void(const PubKey& node_id, MessageType type, const ChannelNotice& notice)> on_notice;
};

//! Owns the node's peer connections: listens, connects out, keeps one connection per node id
//! (a newer connection replaces an older one), exchanges and checks `init`, answers and sends
//! pings, and drops peers that break the BOLT 1 rules or stop answering.
//!
//! Idle inbound connections cannot take every file descriptor: at most max_inbound_handshakes
//! of them wait in their handshake, and once accept fails for lack of descriptors the oldest
//! ones are closed, so the rest of the daemon (RPC clients, bitcoind) is not left without.
//!
//! Connect, Disconnect, Ping, Send, PauseReading, ResumeReading and Stop may be called from any
//! thread (they are posted to the io_context, and run in the order they were called);
//! ListPeers is thread-safe; callbacks run on the io_context's thread. Listen
//! must be called before the io_context runs or on its thread, and the manager destroyed after
//! the io_context stopped or on its thread.
class PeerManager
{
public:
    //! nullopt once connected with init exchanged, else why it failed (at once for our own id).
    using ConnectCallback = std::function<void(const std::optional<std::string>& error)>;
    using PingCallback = std::function<void(const Expected<std::chrono::microseconds, std::string>& rtt)>;

    PeerManager(asio::io_context& io, const PrivKey& node_key, PeerManagerOptions options, PeerHandlers handlers = {});
    ~PeerManager();
    PeerManager(const PeerManager&) = delete;
    PeerManager& operator=(const PeerManager&) = delete;

    //! Starts accepting on address:port (port 0: any free port) and returns the bound endpoint.
    //! Throws asio::system_error when the address cannot be bound.
    asio::ip::tcp::endpoint Listen(const std::string& address, uint16_t port);
    void Connect(const PubKey& node_id, const std::string& host, uint16_t port, ConnectCallback callback);
    void Disconnect(const PubKey& node_id);
    //! Closes the node's connection only while it is still `connection`.
    void Disconnect(const PubKey& node_id, ConnectionId connection);
    std::vector<PeerInfo> ListPeers() const;
    //! Sends a ping asking for `num_pong_bytes` (below 65532, or no pong would come) and
    //! reports the round trip.
    void Ping(const PubKey& node_id, uint16_t num_pong_bytes, PingCallback callback);
    //! Queues a message to a connected peer; dropped if it is not connected. A peer whose queue
    //! would grow past PeerConnectionOptions::HardQueueLimit() is disconnected instead: keep
    //! what is sent but not yet received under max_queued_bytes.
    void Send(const PubKey& node_id, Message message);
    //! The same for several, queued in one go: they leave in one write when the socket is free.
    void Send(const PubKey& node_id, std::vector<Message> messages);
    //! Queues them only while the node's connection is still `connection`; dropped otherwise.
    void Send(const PubKey& node_id, ConnectionId connection, std::vector<Message> messages);
    //! Flow control for a consumer of on_message that cannot keep up: stops reading from the
    //! node (its data waits in the kernel and TCP window; the connection stays up) until
    //! ResumeReading. Messages already read are still delivered: at most one read buffer
    //! (TransportReader::kBufferSize bytes) more arrives after this call. The pause belongs to
    //! the node, not the connection: a new connection from it stays paused after init. While
    //! paused, pongs are not read: the pong timeout counts from when reading resumes.
    void PauseReading(const PubKey& node_id);
    void ResumeReading(const PubKey& node_id);
    //! Stops listening and closes every connection.
    void Stop();

    const PubKey& NodeId() const;

private:
    class Impl;
    std::shared_ptr<Impl> m_impl;
};

//! The BOLT 7 address descriptor of a public IPv4/IPv6 endpoint, for init `remote_addr`;
//! nullopt for loopback, private, link-local and similar addresses (BOLT 1: "SHOULD NOT set
//! private addresses as remote_addr").
std::optional<Bytes> PublicAddressDescriptor(const asio::ip::tcp::endpoint& endpoint);

} // namespace sidebolt

#endif
