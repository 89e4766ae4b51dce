#ifndef SIDEBOLT_NET_PEER_CONNECTION_H
#define SIDEBOLT_NET_PEER_CONNECTION_H

#include "primitives/key.h"
#include "net/asio.h"
#include "wire/message.h"
#include "net/noise.h"
#include "util/bytes.h"


#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace sidebolt {

enum class PeerDirection { kInbound, kOutbound };

struct PeerConnectionOptions {
    //! From the first byte (or the connect attempt) until the transport is established.
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(30)};
    //! Largest decrypted message accepted; BOLT 8 caps it at 65535 anyway.
    size_t max_message_size{kMaxMessageSize};
    //! Soft limit on the encrypted bytes waiting to be written. Above it, answers the peer asks
    //! for (pongs) are refused once it asks faster than it reads them, and the drain timer runs.
    //! We keep reading whatever the queue: two peers that both stopped reading while their own
    //! queues were full would wait for each other forever.
    size_t max_queued_bytes{size_t{4} << 20};
    //! Queuing past the hard limit, kHardQueueFactor times the soft one, closes the connection.
    static constexpr size_t kHardQueueFactor = 4;
    size_t HardQueueLimit() const { return kHardQueueFactor * max_queued_bytes; }
    //! Above the soft limit, how long the peer may take nothing from the queue before it is
    //! dropped: slow readers stay, peers that stopped reading go.
    std::chrono::milliseconds drain_timeout{std::chrono::seconds(60)};
};

//! One encrypted BOLT 8 connection over TCP: runs the handshake, then reads framed messages,
//! decodes them and hands them over, and writes through a bounded queue.
//!
//! Memory per connection is bounded: each message read is handed over as soon as it is decoded
//! (what the handler keeps is its own business), and the send queue never exceeds its hard
//! limit (see PeerConnectionOptions::max_queued_bytes).
//!
//! All calls and handlers run on the socket's executor (one thread). Handlers are dropped once
//! the connection closes; on_closed runs exactly once, posted, so it never re-enters the caller.
class PeerConnection : public std::enable_shared_from_this<PeerConnection>
{
public:
    struct Handlers {
        //! The transport is up; `remote` is the peer's node id.
        std::function<void(const PubKey& remote)> on_established;
        std::function<void(Message message)> on_message;
        //! Every message of one read from the socket has gone to on_message.
        std::function<void()> on_read_delivered;
        std::function<void(const std::string& reason)> on_closed;
    };

    //! Responder side of an accepted socket.
    static std::shared_ptr<PeerConnection> Accept(asio::ip::tcp::socket socket, const StaticKeyPair& local_key,
                                                  const PeerConnectionOptions& options, Handlers handlers);
    //! Resolves, connects and runs the handshake as initiator towards `remote_id`.
    static std::shared_ptr<PeerConnection> Connect(const asio::any_io_executor& executor, const std::string& host,
                                                   uint16_t port, const StaticKeyPair& local_key, const PubKey& remote_id,
                                                   const PeerConnectionOptions& options, Handlers handlers);

    //! Encrypts and queues a message; false when it was not queued: before the transport is up,
    //! once closing, or when it would take the queue past its hard limit, which closes the
    //! connection (its messages can no longer all be delivered in order). A sender with a lot
    //! to say keeps QueuedBytes() under about max_queued_bytes.
    bool Send(const Message& message);
    bool SendEncoded(ByteSpan message);
    //! Send for an answer the peer asked for (a pong): over the soft limit, a peer that asks
    //! again before taking our previous answer asks faster than it reads, and would make the
    //! queue grow at its will: the connection is closed instead.
    bool SendReply(const Message& message);
    void Close(const std::string& reason);
    //! Stops reading and closes once everything queued is written (bounded by drain_timeout).
    void CloseAfterFlush(const std::string& reason);
    //! Flow control, for a receiver that cannot keep up: no message is handed over and the
    //! socket is not read until ResumeReading, so the peer's data waits in the kernel and the
    //! TCP window rather than in our memory. Takes effect before the next message is handed
    //! over; a read already in progress still completes into our bounded read buffer.
    void PauseReading();
    void ResumeReading();
    bool IsReadPaused() const { return m_read_paused; }
    //! When reading last resumed (or the connection was made): a timeout waiting for the
    //! peer's answer counts from here, as nothing it sent while paused was read.
    std::chrono::steady_clock::time_point ReadingSince() const { return m_reading_since; }

    PeerDirection Direction() const { return m_direction; }
    //! "ip:port" of the other end ("" until the socket is connected).
    const std::string& RemoteAddress() const { return m_remote_address; }
    const std::optional<asio::ip::tcp::endpoint>& RemoteEndpoint() const { return m_remote_endpoint; }
    bool IsEstablished() const { return m_cipher.has_value(); }
    bool IsClosed() const { return m_closed; }
    //! "<node id>@<address>" once the node id is known (from the start for outbound), else the
    //! address: how logs name the connection.
    std::string Describe() const;
    size_t QueuedBytes() const { return m_pending.size() + m_in_flight.size() - m_in_flight_written; }
    //! Wire bytes, handshake included; readable from any thread.
    uint64_t BytesIn() const { return m_bytes_in.load(std::memory_order_relaxed); }
    uint64_t BytesOut() const { return m_bytes_out.load(std::memory_order_relaxed); }

    PeerConnection(asio::ip::tcp::socket socket, PeerDirection direction, Handshake handshake,
                   const PeerConnectionOptions& options, Handlers handlers);

private:
    void SetRemote(const asio::ip::tcp::endpoint& endpoint);
    //! With -loglevel=debug: the type and size of each message, never its content.
    void LogMessage(bool outgoing, ByteSpan message) const;
    void SetNoDelay();
    void StartHandshakeTimer();
    void RunResponder();
    void RunInitiator();
    void WriteAct(ByteSpan act, std::function<void()> next);
    void ReadAct(size_t size, std::function<void(ByteSpan)> next);
    void FailHandshake(HandshakeError error);
    void Established();

    void Read();
    void DeliverMessages();
    void StartWrite();
    //! Starts the write after the tasks already queued on the connection's thread, so that the
    //! messages they send go out together.
    void ScheduleWrite();
    void OnWritten(size_t written);
    //! Starts or stops watching the peer drain the queue as it crosses the soft limit.
    void WatchDrain();
    void WaitForDrain();
    //! The BytesOut() value once everything queued so far is written.
    uint64_t QueueEnd() const { return BytesOut() + QueuedBytes(); }

    asio::ip::tcp::socket m_socket;
    asio::steady_timer m_timer;
    //! Looked up once: the per-message debug check must stay cheap.
    std::shared_ptr<spdlog::logger> m_log;
    PeerDirection m_direction;
    PeerConnectionOptions m_options;
    Handlers m_handlers;
    std::string m_remote_address;
    std::optional<asio::ip::tcp::endpoint> m_remote_endpoint;
    std::optional<PubKey> m_remote_id;

    std::optional<Handshake> m_handshake;
    ByteArray<Handshake::kActThreeSize> m_act{};
    std::optional<TransportCipher> m_cipher;

    TransportReader m_reader;
    Bytes m_plain;
    //! A read is issued and not completed yet.
    bool m_reading{false};
    bool m_read_paused{false};
    std::chrono::steady_clock::time_point m_reading_since{std::chrono::steady_clock::now()};

    //! Encrypted frames not yet handed to the socket, and the ones being written (the first
    //! m_in_flight_written bytes already are); swapped so the buffers keep their capacity.
    Bytes m_pending;
    Bytes m_in_flight;
    size_t m_in_flight_written{0};
    bool m_writing{false};
    bool m_write_scheduled{false};
    //! The queue went over the soft limit and has not come back to half of it.
    bool m_over_limit{false};
    //! While over the limit: when the peer is dropped unless it takes more of the queue.
    std::chrono::steady_clock::time_point m_drain_deadline;
    //! QueueEnd() after our latest SendReply: the peer has taken that answer once BytesOut()
    //! reaches it.
    uint64_t m_reply_end{0};
    std::optional<std::string> m_close_after_flush;
    bool m_closed{false};

    std::atomic<uint64_t> m_bytes_in{0};
    std::atomic<uint64_t> m_bytes_out{0};
};

//! The BOLT name of a message type ("update_add_htlc"), or "type N" for one we do not know.
std::string MessageTypeName(uint16_t type);

//! "ip:port", with brackets for IPv6.
std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint);

} // namespace sidebolt

#endif
