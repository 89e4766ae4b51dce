#ifndef SIDEBOLT_NODE_REMOTE_HTLC_LOG_H
#define SIDEBOLT_NODE_REMOTE_HTLC_LOG_H

#include "channel/resolver.h"
#include "channel/state.h"
#include "primitives/hash.h"
#include "store/env.h"
#include "util/bytes.h"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace sidebolt {

//! One HTLC of the peer's commitments and the numbers of those it sits in: [first, end).
struct LoggedRange {
    LoggedHtlc htlc;
    uint64_t first{0};
    //! The first of the peer's commitments without it; nullopt while it is in the newest.
    std::optional<uint64_t> end;

    bool operator==(const LoggedRange&) const = default;
};

//! An HTLC of one of the peer's commitments, with the key that tells it from the others.
struct KeyedHtlc {
    HtlcKey key;
    LoggedHtlc htlc;
};
//! The HTLCs of a commitment of the peer.
std::vector<KeyedHtlc> HtlcsOf(const CommitmentView& view);

Bytes EncodeLoggedRange(const LoggedRange& range);
std::optional<LoggedRange> DecodeLoggedRange(ByteSpan bytes);

/**
 * Which HTLCs were in each commitment we signed for the peer. Once the peer revokes one, BOLT 5
 * can only recognize and penalize its HTLC outputs with them ("MUST resolve the ... HTLC outputs
 * using the revocation private key"), and the channel state keeps only the current HTLCs. Kept
 * as ranges of commitment numbers: two writes per HTLC, none per commitment.
 *
 * Used on the channel worker only; writes go into the caller's transaction, and the ranges in
 * memory follow them (a failed write stops the daemon, so the two never part).
 */
class RemoteHtlcLog
{
public:
    explicit RemoteHtlcLog(store::Env& env);

    //! Reads the ranges still open (HTLCs in the peer's newest commitment).
    void Load(const store::Txn& txn);
    //! We signed the peer's commitment `number`, which holds `htlcs`: opens a range for each HTLC
    //! new to it and closes those it no longer has.
    void OnRemoteCommitment(store::WriteTxn& txn, const Hash256& channel_id, uint64_t number, std::span<const KeyedHtlc> htlcs);
    //! The HTLCs of the peer's commitment `number` (empty when it had none).
    RevokedCommitmentHtlcs Find(const store::Txn& txn, const Hash256& channel_id, uint64_t number) const;

private:
    const store::Db m_db;
    std::map<Hash256, std::map<std::pair<Side, uint64_t>, LoggedRange>> m_open;
};

} // namespace sidebolt

#endif
