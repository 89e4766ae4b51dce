#ifndef SIDEBOLT_CHAIN_ZMQ_LISTENER_H
#define SIDEBOLT_CHAIN_ZMQ_LISTENER_H

// Subscribes to bitcoind's ZMQ notifications. ZMQ is only a fast hint: messages can be lost
// (high-water marks, reconnects, bitcoind restarts), so every loss that the per-topic sequence
// numbers reveal, and every (re)connection, asks for a full reconciliation over RPC.

#include "rpc/bitcoind.h"
#include "util/bytes.h"

#include <zmq.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace sidebolt {

struct ZmqSubscription {
    //! "rawblock", "hashblock", "rawtx" or "sequence".
    std::string topic;
    std::string endpoint;
};

//! Our subscriptions from getzmqnotifications ("pubrawblock" -> "rawblock"); other types dropped.
std::vector<ZmqSubscription> SubscriptionsFromNotifications(const std::vector<rpc::ZmqNotification>& notifications);

//! Called on the listener's thread: keep them short.
struct ZmqHandlers {
    //! A block was connected or disconnected (rawblock, hashblock, sequence 'C'/'D').
    std::function<void()> on_block;
    //! Messages may have been lost: reconcile chain and mempool.
    std::function<void(const std::string& reason)> on_gap;
    //! A transaction entered the mempool (rawtx body).
    std::function<void(ByteSpan raw_tx)> on_raw_tx;
};

struct ZmqStats {
    uint64_t received{0};
    uint64_t dropped{0};
    //! Sequence jumps after a message already seen on the topic (since the last connection):
    //! messages that were lost. First messages and reconnections are not counted.
    uint64_t gaps{0};
};

class ZmqListener
{
public:
    ZmqListener(std::vector<ZmqSubscription> subscriptions, ZmqHandlers handlers);
    ~ZmqListener();
    ZmqListener(const ZmqListener&) = delete;
    ZmqListener& operator=(const ZmqListener&) = delete;

    //! Connects the sockets (throws zmq::error_t on a malformed endpoint) and starts the thread.
    void Start();
    void Stop();

    //! For tests (-debugzmqdrop): discards the next n messages as if the network lost them.
    void DropNext(unsigned n) { m_drop_next += n; }
    ZmqStats Stats() const;

private:
    struct Endpoint {
        std::string address;
        zmq::socket_t subscriber;
        //! Receives the subscriber's connect/disconnect events.
        zmq::socket_t monitor;
    };

    void Run(const std::stop_token& stop);
    void HandleMessage(size_t endpoint, std::vector<zmq::message_t>& frames);
    void HandleMonitorEvent(size_t endpoint);
    //! Tracks the per-topic sequence; a gap or a first message asks for reconciliation, and a
    //! gap counts in Stats().gaps.
    void CheckSequence(size_t endpoint, const std::string& topic, uint32_t sequence);
    bool ConsumeDrop();

    const std::vector<ZmqSubscription> m_subscriptions;
    const ZmqHandlers m_handlers;
    zmq::context_t m_context;
    std::vector<Endpoint> m_endpoints;
    //! Next expected sequence per (endpoint, topic); absent until the first message.
    std::map<std::pair<size_t, std::string>, uint32_t> m_next_sequence;
    std::atomic<unsigned> m_drop_next{0};
    std::atomic<uint64_t> m_received{0};
    std::atomic<uint64_t> m_dropped{0};
    std::atomic<uint64_t> m_gaps{0};
    std::jthread m_thread;
};

} // namespace sidebolt

#endif
