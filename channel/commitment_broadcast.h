#ifndef SIDEBOLT_CHANNEL_COMMITMENT_BROADCAST_H
#define SIDEBOLT_CHANNEL_COMMITMENT_BROADCAST_H

#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/hash.h"
#include "primitives/tx.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sidebolt {

//! Our latest commitment with both signatures on the funding input: what "fail the channel"
//! publishes. The state must hold the peer's signature (it does from funding_signed on).
Transaction SignedLocalCommitment(const ChannelState& state, const ChannelSigner& signer);

//! One HTLC transaction of our latest commitment, both signatures on (DevSignedLocalHtlcTxs).
struct DevHtlcTx {
    Transaction tx;
    //! HTLC-success (we received the HTLC) or HTLC-timeout (valid from its locktime).
    bool is_success{false};
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};
    //! An HTLC-success whose preimage we did not know carries 32 zero bytes in its place
    //! (witness item 3): the signatures do not cover it.
    bool preimage_known{false};
};

/**
 * Test only, for playing the cheater: the HTLC transactions of our latest commitment, to be
 * published after it is revoked. Under option_anchors ours is signed
 * SIGHASH_SINGLE|SIGHASH_ANYONECANPAY like the peer's, so that inputs and outputs paying the fee
 * can be added afterwards without us.
 */
std::vector<DevHtlcTx> DevSignedLocalHtlcTxs(const ChannelState& state, const ChannelSigner& signer,
                                             std::span<const Hash256> preimages);

} // namespace sidebolt

#endif
