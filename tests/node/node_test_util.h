#ifndef SIDEBOLT_TESTS_NODE_NODE_TEST_UTIL_H
#define SIDEBOLT_TESTS_NODE_NODE_TEST_UTIL_H

#include "node/interfaces.h"
#include "primitives/key.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "tests/test_util.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sidebolt::test {

//! LMDB without fsync: the node tests check logic, not durability.
inline store::EnvOptions FastEnv()
{
    store::EnvOptions options;
    options.durable = false;
    return options;
}

inline PrivKey KeyOf(uint8_t byte) { return *PrivKey::FromBytes(Bytes(32, byte)); }

//! Records broadcasts; fixed feerates (commitment 1000, closing 500 sat/kw).
class FakeChain : public ChannelChain
{
public:
    void Broadcast(store::WriteTxn&, const Transaction& tx, const std::string&) override
    {
        const std::lock_guard lock(m_mutex);
        broadcasts.push_back(tx);
    }
    //! Records how many broadcasts had been handed to "bitcoind" (all of them, here).
    void SendQueued() override
    {
        const std::lock_guard lock(m_mutex);
        handed = broadcasts.size();
    }
    size_t Handed()
    {
        const std::lock_guard lock(m_mutex);
        return handed;
    }
    std::optional<uint32_t> NodeHeight() override
    {
        const std::lock_guard lock(m_mutex);
        return node_height;
    }
    void CancelBroadcast(const Hash256& txid) override
    {
        const std::lock_guard lock(m_mutex);
        cancelled.push_back(txid);
    }
    uint32_t CommitmentFeerate() override { return 1000; }
    uint32_t ClosingFeerate() override { return 500; }
    uint32_t MempoolFloorFeerate() override { return mempool_floor; }
    void WatchSpends(const OutPoint& outpoint, const std::string&) override
    {
        const std::lock_guard lock(m_mutex);
        watched.insert(outpoint);
    }
    void WatchSpends(store::WriteTxn&, const OutPoint& outpoint, const std::string& tag) override { WatchSpends(outpoint, tag); }
    void UnwatchSpends(const OutPoint& outpoint, const std::string&) override
    {
        const std::lock_guard lock(m_mutex);
        watched.erase(outpoint);
    }

    std::vector<Transaction> Broadcasts()
    {
        const std::lock_guard lock(m_mutex);
        return broadcasts;
    }

    std::mutex m_mutex;
    std::vector<Transaction> broadcasts;
    std::vector<Hash256> cancelled;
    size_t handed{0};
    std::optional<uint32_t> node_height;
    std::set<OutPoint> watched;
    std::atomic<uint32_t> mempool_floor{253};
};

} // namespace sidebolt::test

#endif
