#ifndef SIDEBOLT_PLUGIN_WATCH_JOURNAL_H
#define SIDEBOLT_PLUGIN_WATCH_JOURNAL_H

#include "chain/watches.h"
#include "util/sync.h"

#include <nlohmann/json.hpp>

#include <deque>

namespace sidebolt {

//! Records the events of watches an operator added over RPC (dev-watchoutpoint, dev-watchtxid)
//! so they can be inspected: a window onto the same watch API the channel code uses. It keeps
//! memory only; an event whose block transaction aborts and is delivered again shows twice.
class WatchJournal : public WatchListener
{
public:
    static constexpr const char* TAG_PREFIX = "rpc/";
    static constexpr size_t MAX_EVENTS = 1000;

    void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) override;
    nlohmann::json Events() const;

private:
    mutable Mutex m_mutex;
    std::deque<nlohmann::json> m_events GUARDED_BY(m_mutex);
};

} // namespace sidebolt

#endif
