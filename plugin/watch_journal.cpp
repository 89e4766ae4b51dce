#include "plugin/watch_journal.h"

#include "primitives/tx.h"

#include <type_traits>

namespace sidebolt {
namespace {
using json = nlohmann::json;

json Describe(const WatchEvent& event)
{
    return std::visit(
        [](const auto& e) -> json {
            using T = std::decay_t<decltype(e)>;
            json out{{"tag", e.tag}};
            if constexpr (std::is_same_v<T, OutpointSpent>) {
                out.update({{"event", "outpoint_spent"}, {"outpoint", e.outpoint.ToString()},
                            {"spending_txid", HashToHexRev(e.spending_txid)}, {"in_mempool", e.in_mempool}});
            } else if constexpr (std::is_same_v<T, OutpointSpendConfirmed>) {
                out.update({{"event", "outpoint_spend_confirmed"}, {"outpoint", e.outpoint.ToString()},
                            {"spending_txid", HashToHexRev(e.spending_txid)}, {"height", e.height}});
            } else if constexpr (std::is_same_v<T, OutpointSpendUnconfirmed>) {
                out.update({{"event", "outpoint_spend_unconfirmed"}, {"outpoint", e.outpoint.ToString()},
                            {"spending_txid", HashToHexRev(e.spending_txid)}});
            } else if constexpr (std::is_same_v<T, TxSeenInMempool>) {
                out.update({{"event", "tx_seen_in_mempool"}, {"txid", HashToHexRev(e.txid)}});
            } else if constexpr (std::is_same_v<T, TxConfirmed>) {
                out.update({{"event", "tx_confirmed"}, {"txid", HashToHexRev(e.txid)}, {"height", e.height},
                            {"depth", e.depth}});
            } else {
                static_assert(std::is_same_v<T, TxUnconfirmed>);
                out.update({{"event", "tx_unconfirmed"}, {"txid", HashToHexRev(e.txid)}});
            }
            return out;
        },
        event);
}
} // namespace

void WatchJournal::OnWatchEvent(store::WriteTxn&, const WatchEvent& event)
{
    const MutexLock lock(m_mutex);
    m_events.push_back(Describe(event));
    if (m_events.size() > MAX_EVENTS) m_events.pop_front();
}

json WatchJournal::Events() const
{
    const MutexLock lock(m_mutex);
    return json(m_events);
}

} // namespace sidebolt
