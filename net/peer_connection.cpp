#include "net/peer_connection.h"

#include "util/hex.h"
#include "util/logging.h"

#include <algorithm>
#include <utility>

namespace sidebolt {
namespace {
using Clock = std::chrono::steady_clock;

constexpr char kNotDraining[] = "peer does not drain its messages";
} // namespace

std::string MessageTypeName(uint16_t type)
{
    switch (type) {
    // BOLT 1
    case 1: return "warning";
    case 16: return "init";
    case 17: return "error";
    case 18: return "ping";
    case 19: return "pong";
    // BOLT 2
    case 2: return "stfu";
    case 32: return "open_channel";
    case 33: return "accept_channel";
    case 34: return "funding_created";
    case 35: return "funding_signed";
    case 36: return "channel_ready";
    case 38: return "shutdown";
    case 39: return "closing_signed";
    case 40: return "closing_complete";
    case 41: return "closing_sig";
    case 64: return "open_channel2";
    case 65: return "accept_channel2";
    case 66: return "tx_add_input";
    case 67: return "tx_add_output";
    case 68: return "tx_remove_input";
    case 69: return "tx_remove_output";
    case 70: return "tx_complete";
    case 71: return "tx_signatures";
    case 72: return "tx_init_rbf";
    case 73: return "tx_ack_rbf";
    case 74: return "tx_abort";
    case 128: return "update_add_htlc";
    case 130: return "update_fulfill_htlc";
    case 131: return "update_fail_htlc";
    case 132: return "commitment_signed";
    case 133: return "revoke_and_ack";
    case 134: return "update_fee";
    case 135: return "update_fail_malformed_htlc";
    case 136: return "channel_reestablish";
    // BOLT 7
    case 256: return "channel_announcement";
    case 257: return "node_announcement";
    case 258: return "channel_update";
    case 259: return "announcement_signatures";
    case 261: return "query_short_channel_ids";
    case 262: return "reply_short_channel_ids_end";
    case 263: return "query_channel_range";
    case 264: return "reply_channel_range";
    case 265: return "gossip_timestamp_filter";
    default: return "type " + std::to_string(type);
    }
}

std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint)
{
    const auto address = endpoint.address();
    const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    return host + ":" + std::to_string(endpoint.port());
}

PeerConnection::PeerConnection(asio::ip::tcp::socket socket, PeerDirection direction, Handshake handshake,
                               const PeerConnectionOptions& options, Handlers handlers)
    : m_socket(std::move(socket)),
      m_timer(m_socket.get_executor()),
      m_log(Log("net")),
      m_direction(direction),
      m_options(options),
      m_handlers(std::move(handlers)),
      m_handshake(std::move(handshake)),
      m_reader(options.max_message_size)
{
}

std::shared_ptr<PeerConnection> PeerConnection::Accept(asio::ip::tcp::socket socket, const StaticKeyPair& local_key,
                                                       const PeerConnectionOptions& options, Handlers handlers)
{
    auto connection = std::make_shared<PeerConnection>(std::move(socket), PeerDirection::kInbound,
                                                       Handshake::Responder(local_key), options, std::move(handlers));
    asio::error_code ec;
    const auto remote = connection->m_socket.remote_endpoint(ec);
    if (!ec) connection->SetRemote(remote);
    connection->m_log->debug("accepted a connection from {}", connection->Describe());
    connection->SetNoDelay();
    connection->StartHandshakeTimer();
    connection->RunResponder();
    return connection;
}

std::shared_ptr<PeerConnection> PeerConnection::Connect(const asio::any_io_executor& executor, const std::string& host,
                                                        uint16_t port, const StaticKeyPair& local_key, const PubKey& remote_id,
                                                        const PeerConnectionOptions& options, Handlers handlers)
{
    auto connection = std::make_shared<PeerConnection>(asio::ip::tcp::socket(executor), PeerDirection::kOutbound,
                                                       Handshake::Initiator(local_key, remote_id), options,
                                                       std::move(handlers));
    connection->m_remote_id = remote_id;
    connection->m_log->debug("connecting to {}@{}:{}", ToHex(remote_id.span()), host, port);
    connection->StartHandshakeTimer();
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(executor);
    resolver->async_resolve(host, std::to_string(port), [connection, resolver](const asio::error_code& ec, auto results) {
        if (connection->m_closed) return;
        if (ec) return connection->Close("resolve failed: " + ec.message());
        asio::async_connect(connection->m_socket, results,
                            [connection](const asio::error_code& connect_ec, const asio::ip::tcp::endpoint& endpoint) {
                                if (connection->m_closed) return;
                                if (connect_ec) return connection->Close("connect failed: " + connect_ec.message());
                                connection->SetRemote(endpoint);
                                connection->SetNoDelay();
                                connection->m_log->debug("handshake with {}: connected, sending act one", connection->Describe());
                                connection->RunInitiator();
                            });
    });
    return connection;
}

void PeerConnection::SetRemote(const asio::ip::tcp::endpoint& endpoint)
{
    m_remote_endpoint = endpoint;
    m_remote_address = FormatEndpoint(endpoint);
}

std::string PeerConnection::Describe() const
{
    if (!m_remote_id) return m_remote_address;
    return ToHex(m_remote_id->span()) + "@" + m_remote_address;
}

void PeerConnection::LogMessage(bool outgoing, ByteSpan message) const
{
    if (!m_log->should_log(spdlog::level::debug) || message.size() < 2) return;
    const auto type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    m_log->debug("{} {} {} {} ({} bytes)", outgoing ? "sending" : "received", MessageTypeName(type),
                 outgoing ? "to" : "from", Describe(), message.size());
}

void PeerConnection::SetNoDelay()
{
    // Messages are small and often written back to back (init then a ping, a pong then the
    // next reply): with Nagle's algorithm the second would wait for the first's ACK, which the
    // peer may delay by up to 40 ms.
    asio::error_code ec;
    m_socket.set_option(asio::ip::tcp::no_delay(true), ec);
    // Only latency depends on it; a socket that refuses options fails its next read anyway.
    if (ec) Log("net")->debug("cannot set TCP_NODELAY towards {}: {}", m_remote_address, ec.message());
}

void PeerConnection::StartHandshakeTimer()
{
    m_timer.expires_after(m_options.handshake_timeout);
    m_timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec && !self->IsEstablished()) self->Close("handshake timeout");
    });
}

void PeerConnection::RunResponder()
{
    ReadAct(Handshake::kActOneSize, [this](ByteSpan act_one) {
        auto act_two = m_handshake->ReadActOne(act_one);
        if (!act_two) return FailHandshake(act_two.error());
        m_log->debug("handshake with {}: act one received, sending act two", Describe());
        WriteAct(*act_two, [this] {
            ReadAct(Handshake::kActThreeSize, [this](ByteSpan act_three) {
                if (const auto error = m_handshake->ReadActThree(act_three)) return FailHandshake(*error);
                Established();
            });
        });
    });
}

void PeerConnection::RunInitiator()
{
    WriteAct(m_handshake->WriteActOne(), [this] {
        ReadAct(Handshake::kActTwoSize, [this](ByteSpan act_two) {
            auto act_three = m_handshake->ReadActTwo(act_two);
            if (!act_three) return FailHandshake(act_three.error());
            m_log->debug("handshake with {}: act two received, sending act three", Describe());
            WriteAct(*act_three, [this] { Established(); });
        });
    });
}

void PeerConnection::WriteAct(ByteSpan act, std::function<void()> next)
{
    std::copy(act.begin(), act.end(), m_act.begin());
    asio::async_write(m_socket, asio::buffer(m_act.data(), act.size()),
                      [self = shared_from_this(), next = std::move(next)](const asio::error_code& ec, size_t written) {
                          if (self->m_closed) return;
                          if (ec) return self->Close("handshake write failed: " + ec.message());
                          self->m_bytes_out += written;
                          next();
                      });
}

void PeerConnection::ReadAct(size_t size, std::function<void(ByteSpan)> next)
{
    asio::async_read(m_socket, asio::buffer(m_act.data(), size),
                     [self = shared_from_this(), size, next = std::move(next)](const asio::error_code& ec, size_t read) {
                         if (self->m_closed) return;
                         if (ec == asio::error::eof && self->m_direction == PeerDirection::kOutbound) {
                             // A responder that cannot decrypt act one (wrong static key) just hangs up.
                             return self->Close("the peer closed the connection during the handshake (is the node id right?)");
                         }
                         if (ec) return self->Close("handshake read failed: " + ec.message());
                         self->m_bytes_in += read;
                         next(ByteSpan(self->m_act.data(), size));
                     });
}

void PeerConnection::FailHandshake(HandshakeError error)
{
    // BOLT 8: on a failed act, "terminate the connection without any further messages".
    Close("handshake failed: " + std::string(ToString(error)));
}

void PeerConnection::Established()
{
    auto result = std::move(*m_handshake).Finish();
    m_handshake.reset();
    m_cipher.emplace(std::move(result.cipher));
    m_remote_id = result.remote_static;
    m_timer.cancel();
    m_log->debug("handshake with {}: done, transport established", Describe());
    if (m_handlers.on_established) m_handlers.on_established(result.remote_static);
    Read();
}

void PeerConnection::Read()
{
    // Once closing, what the peer still says no longer matters.
    if (m_closed || m_close_after_flush || m_read_paused || m_reading) return;
    const MutableByteSpan space = m_reader.FreeSpace();
    m_reading = true;
    m_socket.async_read_some(asio::buffer(space.data(), space.size()), [self = shared_from_this()](const asio::error_code& ec, size_t read) {
        self->m_reading = false;
        if (self->m_closed) return;
        if (ec) return self->Close("read failed: " + ec.message());
        self->m_bytes_in += read;
        self->m_reader.Commit(read);
        self->DeliverMessages();
        if (self->m_handlers.on_read_delivered) self->m_handlers.on_read_delivered();
        self->Read();
    });
}

void PeerConnection::PauseReading() { m_read_paused = true; }

void PeerConnection::ResumeReading()
{
    if (!m_read_paused) return;
    m_read_paused = false;
    m_reading_since = Clock::now();
    // Before the transport is up the handshake does the reading; with a read in progress, its
    // completion delivers what is buffered and reads on.
    if (!m_cipher || m_reading) return;
    DeliverMessages();
    if (m_handlers.on_read_delivered) m_handlers.on_read_delivered();
    Read();
}

void PeerConnection::DeliverMessages()
{
    while (!m_closed && !m_close_after_flush && !m_read_paused) {
        switch (m_reader.Next(*m_cipher, m_plain)) {
        case TransportReader::Status::kMessage: break;
        case TransportReader::Status::kNeedMore: return;
        case TransportReader::Status::kBadLengthMac: return Close("bad length MAC");
        case TransportReader::Status::kTooLarge: return Close("message too large");
        case TransportReader::Status::kBadMessageMac: return Close("bad message MAC");
        }
        LogMessage(false, m_plain);
        auto message = DecodeMessage(m_plain);
        // BOLT 1: a known message "with insufficient length for the contents" or an invalid
        // extension: "MUST close the connection".
        if (!message) return Close("undecodable message: " + std::string(ToString(message.error())));
        if (m_handlers.on_message) m_handlers.on_message(std::move(*message));
    }
}

bool PeerConnection::Send(const Message& message) { return SendEncoded(EncodeMessage(message)); }

bool PeerConnection::SendEncoded(ByteSpan message)
{
    if (m_closed || !m_cipher || m_close_after_flush) return false;
    if (QueuedBytes() + TransportCipher::EncryptedSize(message.size()) > m_options.HardQueueLimit()) {
        Close("send queue over " + std::to_string(m_options.HardQueueLimit()) + " bytes");
        return false;
    }
    LogMessage(true, message);
    m_cipher->Encrypt(message, m_pending);
    WatchDrain();
    ScheduleWrite();
    return true;
}

void PeerConnection::ScheduleWrite()
{
    // Messages sent in one burst (a revoke_and_ack and the commitment_signed after it) leave in
    // one write: started at once, the first would go alone and the rest wait for it, and the
    // peer would read and act on them separately.
    if (m_write_scheduled || m_writing) return;
    m_write_scheduled = true;
    asio::post(m_socket.get_executor(), [self = shared_from_this()] {
        self->m_write_scheduled = false;
        self->StartWrite();
    });
}

bool PeerConnection::SendReply(const Message& message)
{
    // Closing rather than dropping the answer: BOLT 1 says a node "MUST respond by sending a
    // pong", and "SHOULD NOT send ping messages more often than once every 30 seconds".
    if (QueuedBytes() > m_options.max_queued_bytes && BytesOut() < m_reply_end) {
        Close(kNotDraining);
        return false;
    }
    if (!Send(message)) return false;
    m_reply_end = QueueEnd();
    return true;
}

void PeerConnection::StartWrite()
{
    if (m_writing || m_closed) return;
    if (m_in_flight_written == m_in_flight.size()) {
        // A burst over the soft limit leaves a large buffer behind: give it back.
        if (m_in_flight.capacity() > m_options.max_queued_bytes) m_in_flight = Bytes();
        m_in_flight.clear();
        m_in_flight_written = 0;
        if (m_pending.empty()) {
            if (m_close_after_flush) Close(*m_close_after_flush);
            return;
        }
        std::swap(m_pending, m_in_flight);
    }
    m_writing = true;
    const ByteSpan unwritten = ByteSpan(m_in_flight).subspan(m_in_flight_written);
    m_socket.async_write_some(asio::buffer(unwritten.data(), unwritten.size()),
                              [self = shared_from_this()](const asio::error_code& ec, size_t written) {
                                  self->m_writing = false;
                                  if (self->m_closed) return;
                                  if (ec) return self->Close("write failed: " + ec.message());
                                  self->OnWritten(written);
                              });
}

void PeerConnection::OnWritten(size_t written)
{
    m_bytes_out += written;
    m_in_flight_written += written;
    // The peer takes from the queue: it is slow at worst, so it gets another drain_timeout.
    if (m_over_limit) m_drain_deadline = Clock::now() + m_options.drain_timeout;
    WatchDrain();
    StartWrite();
}

void PeerConnection::WatchDrain()
{
    // While closing, the flush timer bounds the wait instead.
    if (m_close_after_flush) return;
    const size_t queued = QueuedBytes();
    if (!m_over_limit && queued > m_options.max_queued_bytes) {
        m_over_limit = true;
        m_drain_deadline = Clock::now() + m_options.drain_timeout;
        WaitForDrain();
    } else if (m_over_limit && queued <= m_options.max_queued_bytes / 2) {
        m_over_limit = false;
        m_timer.cancel();
    }
}

void PeerConnection::WaitForDrain()
{
    m_timer.expires_at(m_drain_deadline);
    m_timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        // A wait that completed as the timer was being reused for closing must not act.
        if (ec || self->m_closed || self->m_close_after_flush || !self->m_over_limit) return;
        if (Clock::now() < self->m_drain_deadline) return self->WaitForDrain();
        self->Close(kNotDraining);
    });
}

void PeerConnection::CloseAfterFlush(const std::string& reason)
{
    if (m_closed || m_close_after_flush) return;
    if (!m_cipher) return Close(reason);
    m_close_after_flush = reason;
    m_timer.expires_after(m_options.drain_timeout);
    m_timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec) self->Close(*self->m_close_after_flush + " (flush timed out)");
    });
    StartWrite();
}

void PeerConnection::Close(const std::string& reason)
{
    if (m_closed) return;
    m_closed = true;
    m_log->debug("closing connection {}: {}", Describe(), reason);
    asio::error_code ignored;
    m_timer.cancel();
    m_socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    m_socket.close(ignored);
    auto on_closed = std::move(m_handlers.on_closed);
    // Dropping the handlers breaks any cycle through captures of the owner.
    m_handlers = {};
    if (on_closed) asio::post(m_socket.get_executor(), [on_closed = std::move(on_closed), reason] { on_closed(reason); });
}

} // namespace sidebolt
