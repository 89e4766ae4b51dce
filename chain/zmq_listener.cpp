#include "chain/zmq_listener.h"

#include "util/logging.h"

#include <fmt/format.h>
#include <zmq_addon.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <set>

namespace sidebolt {

namespace {

constexpr std::string_view PUB_PREFIX{"pub"};
constexpr std::array<std::string_view, 4> SUPPORTED_TOPICS{"rawblock", "hashblock", "rawtx", "sequence"};
//! How often the thread looks at its stop flag while no message arrives.
constexpr std::chrono::milliseconds POLL_SLICE{100};

uint32_t ReadLe32(const zmq::message_t& frame)
{
    const auto* data = frame.data<uint8_t>();
    return uint32_t{data[0]} | uint32_t{data[1]} << 8 | uint32_t{data[2]} << 16 | uint32_t{data[3]} << 24;
}

} // namespace

std::vector<ZmqSubscription> SubscriptionsFromNotifications(const std::vector<rpc::ZmqNotification>& notifications)
{
    std::vector<ZmqSubscription> subscriptions;
    for (const auto& notification : notifications) {
        if (!notification.type.starts_with(PUB_PREFIX)) continue;
        const std::string topic = notification.type.substr(PUB_PREFIX.size());
        if (std::find(SUPPORTED_TOPICS.begin(), SUPPORTED_TOPICS.end(), topic) == SUPPORTED_TOPICS.end()) continue;
        subscriptions.push_back({topic, notification.address});
    }
    return subscriptions;
}

ZmqListener::ZmqListener(std::vector<ZmqSubscription> subscriptions, ZmqHandlers handlers)
    : m_subscriptions{std::move(subscriptions)}, m_handlers{std::move(handlers)}
{
}

ZmqListener::~ZmqListener() { Stop(); }

void ZmqListener::Start()
{
    std::set<std::string> addresses;
    for (const auto& subscription : m_subscriptions) addresses.insert(subscription.endpoint);
    for (const std::string& address : addresses) {
        Endpoint endpoint{address, zmq::socket_t{m_context, zmq::socket_type::sub},
                          zmq::socket_t{m_context, zmq::socket_type::pair}};
        // Core's documentation: keepalive lets a silent dead connection be noticed.
        endpoint.subscriber.set(zmq::sockopt::tcp_keepalive, 1);
        for (const auto& subscription : m_subscriptions) {
            if (subscription.endpoint == address) endpoint.subscriber.set(zmq::sockopt::subscribe, subscription.topic);
        }
        // Unique per start: a restarted listener must not collide with a monitor being torn down.
        static std::atomic<uint64_t> monitor_counter{0};
        const std::string monitor_address = "inproc://sidebolt-zmq-monitor-" + std::to_string(++monitor_counter);
        if (zmq_socket_monitor(endpoint.subscriber.handle(), monitor_address.c_str(),
                               ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0) {
            throw zmq::error_t();
        }
        endpoint.monitor.connect(monitor_address);
        endpoint.subscriber.connect(address);
        m_endpoints.push_back(std::move(endpoint));
    }
    Log("chain")->info("listening to ZMQ on {} endpoint(s)", m_endpoints.size());
    // The thread owns the sockets from here on (starting it is the memory barrier ZMQ asks for).
    m_thread = std::jthread([this](const std::stop_token& stop) { Run(stop); });
}

void ZmqListener::Stop()
{
    if (!m_thread.joinable()) return;
    m_thread.request_stop();
    m_thread.join();
    m_endpoints.clear();
    m_next_sequence.clear();
}

ZmqStats ZmqListener::Stats() const { return {m_received.load(), m_dropped.load(), m_gaps.load()}; }

void ZmqListener::Run(const std::stop_token& stop)
{
    std::vector<zmq::pollitem_t> items;
    for (Endpoint& endpoint : m_endpoints) {
        items.push_back({endpoint.subscriber.handle(), 0, ZMQ_POLLIN, 0});
        items.push_back({endpoint.monitor.handle(), 0, ZMQ_POLLIN, 0});
    }
    while (!stop.stop_requested()) {
        try {
            zmq::poll(items, POLL_SLICE);
            for (size_t i = 0; i < m_endpoints.size(); ++i) {
                if (items[2 * i + 1].revents & ZMQ_POLLIN) HandleMonitorEvent(i);
                if (!(items[2 * i].revents & ZMQ_POLLIN)) continue;
                std::vector<zmq::message_t> frames;
                auto& subscriber = m_endpoints[i].subscriber;
                if (zmq::recv_multipart(subscriber, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
                    HandleMessage(i, frames);
                }
            }
        } catch (const std::exception& e) {
            // A handler or ZMQ failed: whatever was lost is found by reconciling.
            Log("chain")->warn("ZMQ listener error: {}", e.what());
            if (m_handlers.on_gap) m_handlers.on_gap("listener error");
        }
    }
}

void ZmqListener::HandleMonitorEvent(size_t endpoint)
{
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(m_endpoints[endpoint].monitor, std::back_inserter(frames), zmq::recv_flags::dontwait) ||
        frames.empty() || frames[0].size() < sizeof(uint16_t)) {
        return;
    }
    uint16_t event;
    std::memcpy(&event, frames[0].data(), sizeof(event));
    const std::string& address = m_endpoints[endpoint].address;
    if (event == ZMQ_EVENT_DISCONNECTED) {
        Log("chain")->warn("ZMQ disconnected from {}", address);
        return;
    }
    // (Re)connected: whatever was published meanwhile is lost, and bitcoind may have restarted
    // with new sequence numbers.
    Log("chain")->info("ZMQ connected to {}", address);
    std::erase_if(m_next_sequence, [&](const auto& entry) { return entry.first.first == endpoint; });
    if (m_handlers.on_gap) m_handlers.on_gap("connected to " + address);
}

bool ZmqListener::ConsumeDrop()
{
    unsigned drop = m_drop_next.load();
    while (drop > 0 && !m_drop_next.compare_exchange_weak(drop, drop - 1)) {}
    return drop > 0;
}

void ZmqListener::HandleMessage(size_t endpoint, std::vector<zmq::message_t>& frames)
{
    ++m_received;
    if (ConsumeDrop()) {
        ++m_dropped;
        return;
    }
    if (frames.size() != 3 || frames[2].size() != 4) {
        Log("chain")->warn("ignoring malformed ZMQ message ({} frames)", frames.size());
        return;
    }
    const std::string topic = frames[0].to_string();
    CheckSequence(endpoint, topic, ReadLe32(frames[2]));
    const ByteSpan body{frames[1].data<uint8_t>(), frames[1].size()};
    if (topic == "rawtx") {
        if (m_handlers.on_raw_tx) m_handlers.on_raw_tx(body);
    } else if (topic == "sequence") {
        // <32-byte hash><label>[<8-byte mempool sequence>]: 'C'/'D' block (dis)connected.
        if (body.size() >= 33 && (body[32] == 'C' || body[32] == 'D') && m_handlers.on_block) m_handlers.on_block();
    } else if (m_handlers.on_block) {
        m_handlers.on_block();
    }
}

void ZmqListener::CheckSequence(size_t endpoint, const std::string& topic, uint32_t sequence)
{
    const auto [it, first] = m_next_sequence.try_emplace({endpoint, topic}, sequence);
    const uint32_t expected = it->second;
    // Unsigned arithmetic: after 0xffffffff bitcoind's counter wraps to 0, which is no gap.
    it->second = sequence + 1;
    if (!first && expected == sequence) return;
    // A first message (after a start or a reconnection) cannot reveal a loss, but what was
    // published before it is unknown: reconcile, without counting a gap.
    std::string reason = first ? "first " + topic + " message"
                               : fmt::format("{} sequence gap: expected {}, got {}", topic, expected, sequence);
    if (!first) {
        ++m_gaps;
        Log("chain")->info("ZMQ {}", reason);
    }
    if (m_handlers.on_gap) m_handlers.on_gap(reason);
}

} // namespace sidebolt
