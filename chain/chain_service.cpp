#include "chain/chain_service.h"

#include "util/logging.h"

#include <algorithm>

namespace sidebolt {

ChainService::ChainService(ChainSource& source, store::Env& env, ChainServiceConfig config)
    : m_source{source}, m_config{std::move(config)}, m_follower{source, env, m_config.follower}, m_watches{env},
      m_fees{source, m_config.fees}, m_broadcaster{source, env, m_watches, m_config.broadcaster}
{
    m_follower.AddListener(m_watches);
    m_follower.AddListener(m_fees);
    m_follower.AddListener(m_broadcaster);
    if (!m_config.zmq.empty()) {
        m_zmq = std::make_unique<ZmqListener>(
            m_config.zmq, ZmqHandlers{[this] { RequestSync(); }, [this](const std::string&) { RequestReconcile(); },
                                      [this](ByteSpan raw) { OnRawTx(raw); }});
    }
}

ChainService::~ChainService() { Stop(); }

void ChainService::Start()
{
    if (m_thread.joinable()) return;
    if (m_zmq) {
        m_zmq->DropNext(m_config.debug_zmq_drop);
        m_zmq->Start();
    }
    m_thread = std::jthread([this](const std::stop_token& stop) { Run(stop); });
}

void ChainService::Stop()
{
    if (m_zmq) m_zmq->Stop();
    if (!m_thread.joinable()) return;
    m_thread.request_stop();
    m_thread.join();
}

void ChainService::RequestSync()
{
    {
        const MutexLock lock{m_mutex};
        m_sync_requested = true;
    }
    m_wake.notify_one();
}

void ChainService::RequestReconcile()
{
    {
        const MutexLock lock{m_mutex};
        m_reconcile_requested = true;
    }
    m_wake.notify_one();
}

ChainServiceStatus ChainService::Status() const
{
    ChainServiceStatus status;
    status.chain = m_follower.Status();
    status.mode = m_zmq ? "zmq" : "polling";
    if (m_zmq) status.zmq = m_zmq->Stats();
    status.running = m_running.load();
    return status;
}

void ChainService::DropZmqMessages(unsigned n)
{
    if (m_zmq) m_zmq->DropNext(n);
}

bool ChainService::HasRawTxSubscription() const
{
    return std::any_of(m_config.zmq.begin(), m_config.zmq.end(), [](const auto& s) { return s.topic == "rawtx"; });
}

void ChainService::OnRawTx(ByteSpan raw)
{
    if (!m_watches.HasWatches()) return;
    auto tx = TryParseTransaction(raw);
    if (!tx) {
        Log("chain")->warn("ignoring unparsable rawtx from ZMQ");
        return;
    }
    const Hash256 txid = tx->GetTxid();
    {
        const MutexLock lock{m_mutex};
        if (m_queued_txs.size() < m_config.max_queued_txs) {
            m_queued_txs.push_back({std::move(*tx), txid});
        } else {
            m_reconcile_requested = true; // the scan finds what we drop here
        }
    }
    m_wake.notify_one();
}

void ChainService::Run(const std::stop_token& stop)
{
    m_running = true;
    const auto poll_interval = m_zmq ? m_config.zmq_poll_interval : m_config.poll_interval;
    const auto scan_interval = HasRawTxSubscription() ? m_config.zmq_mempool_scan_interval : m_config.poll_interval;
    auto retry_delay = m_config.poll_interval;
    auto next_sync = Clock::now();
    auto next_scan = next_sync;
    bool reconcile_pending = true;
    while (!stop.stop_requested()) {
        std::deque<QueuedTx> txs;
        bool requested = false;
        {
            UniqueLock lock{m_mutex};
            lock.WaitUntil(m_wake, stop, std::min(next_sync, next_scan), [&]() REQUIRES(m_mutex) {
                return m_sync_requested || m_reconcile_requested || !m_queued_txs.empty();
            });
            if (stop.stop_requested()) break;
            txs.swap(m_queued_txs);
            requested = m_sync_requested || m_reconcile_requested;
            reconcile_pending |= m_reconcile_requested;
            m_sync_requested = m_reconcile_requested = false;
        }
        for (const QueuedTx& queued : txs) {
            try {
                m_watches.ProcessMempoolTx(queued.tx, queued.txid);
            } catch (const std::exception& e) {
                Log("chain")->warn("processing mempool transaction {} failed: {}", HashToHexRev(queued.txid), e.what());
                reconcile_pending = true;
            }
        }
        SendQueuedBroadcasts();
        const auto now = Clock::now();
        // Requests skip a pending retry delay: a ZMQ message means bitcoind is back.
        if (!requested && now < next_sync && now < next_scan) continue;
        const bool scan = reconcile_pending || now >= next_scan;
        bool more_to_scan = false;
        if (SyncRound(stop, scan, more_to_scan)) {
            reconcile_pending = false;
            retry_delay = m_config.poll_interval;
            next_sync = now + poll_interval;
            if (scan) next_scan = more_to_scan ? now : now + scan_interval;
        } else {
            next_sync = now + retry_delay;
            next_scan = std::max(next_scan, next_sync);
            retry_delay = std::min(retry_delay * 2, m_config.max_retry_delay);
        }
        SendQueuedBroadcasts();
    }
    m_running = false;
}

void ChainService::SendQueuedBroadcasts()
{
    try {
        m_broadcaster.SendQueued();
    } catch (const std::exception& e) {
        Log("chain")->warn("sending queued broadcasts failed: {}", e.what());
    }
}

bool ChainService::SyncRound(const std::stop_token& stop, bool scan_mempool, bool& more_to_scan)
{
    try {
        m_follower.Sync(stop);
    } catch (const std::exception&) {
        return false; // the follower's status has the error, and it logged it
    }
    if (!scan_mempool) return true;
    try {
        more_to_scan = m_watches.ScanMempool(m_source, m_config.mempool_fetch_limit);
        return true;
    } catch (const std::exception& e) {
        Log("chain")->warn("mempool scan failed: {}", e.what());
        return false;
    }
}

} // namespace sidebolt
