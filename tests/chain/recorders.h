#ifndef SIDEBOLT_TESTS_FOLLOWER_RECORDERS_H
#define SIDEBOLT_TESTS_FOLLOWER_RECORDERS_H

// Listeners that record what they are told, for the follower tests.

#include "chain/follower.h"
#include "chain/watches.h"

#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidebolt::test {

struct RecordedBlock {
    bool connected;
    int height;
    Hash256 hash;
    bool operator==(const RecordedBlock&) const = default;
};

class BlockRecorder : public ChainListener
{
public:
    //! Throw (once) while block `height` is being connected.
    std::optional<int> fail_at_height;

    void OnBlockConnected(store::WriteTxn&, int height, const Hash256& hash, const Block&) override
    {
        if (fail_at_height == height) {
            fail_at_height.reset();
            throw std::runtime_error("listener failure");
        }
        Record({true, height, hash});
    }
    void OnBlockDisconnected(store::WriteTxn&, int height, const Hash256& hash) override
    {
        Record({false, height, hash});
    }

    std::vector<RecordedBlock> Take()
    {
        const std::lock_guard lock{m_mutex};
        return std::exchange(m_blocks, {});
    }

private:
    void Record(RecordedBlock block)
    {
        const std::lock_guard lock{m_mutex};
        m_blocks.push_back(block);
    }
    std::mutex m_mutex;
    std::vector<RecordedBlock> m_blocks;
};

//! "spent mempool", "spent block", "spend confirmed 12", "spend unconfirmed", "tx mempool",
//! "tx confirmed 12 depth 1", "tx unconfirmed".
inline std::string Describe(const WatchEvent& event)
{
    struct Visitor {
        std::string operator()(const OutpointSpent& e) const { return e.in_mempool ? "spent mempool" : "spent block"; }
        std::string operator()(const OutpointSpendConfirmed& e) const
        {
            return "spend confirmed " + std::to_string(e.height);
        }
        std::string operator()(const OutpointSpendUnconfirmed&) const { return "spend unconfirmed"; }
        std::string operator()(const TxSeenInMempool&) const { return "tx mempool"; }
        std::string operator()(const TxConfirmed& e) const
        {
            return "tx confirmed " + std::to_string(e.height) + " depth " + std::to_string(e.depth);
        }
        std::string operator()(const TxUnconfirmed&) const { return "tx unconfirmed"; }
    };
    return std::visit(Visitor{}, event);
}

class WatchRecorder : public WatchListener
{
public:
    //! Throw (once) on the next event.
    bool fail_next{false};

    void OnWatchEvent(store::WriteTxn&, const WatchEvent& event) override
    {
        if (std::exchange(fail_next, false)) throw std::runtime_error("listener failure");
        const std::lock_guard lock{m_mutex};
        m_events.push_back(EventTag(event) + ": " + Describe(event));
        m_raw.push_back(event);
    }

    std::vector<std::string> Take()
    {
        const std::lock_guard lock{m_mutex};
        m_raw.clear();
        return std::exchange(m_events, {});
    }
    std::vector<WatchEvent> TakeRaw()
    {
        const std::lock_guard lock{m_mutex};
        m_events.clear();
        return std::exchange(m_raw, {});
    }

private:
    std::mutex m_mutex;
    std::vector<std::string> m_events;
    std::vector<WatchEvent> m_raw;
};

} // namespace sidebolt::test

#endif
