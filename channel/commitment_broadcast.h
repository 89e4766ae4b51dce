#ifndef SIDEBOLT_CHANNEL_COMMITMENT_BROADCAST_H
#define SIDEBOLT_CHANNEL_COMMITMENT_BROADCAST_H

#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/tx.h"

namespace sidebolt {

//! Our latest commitment with both signatures on the funding input: what "fail the channel"
//! publishes. The state must hold the peer's signature (it does from funding_signed on).
Transaction SignedLocalCommitment(const ChannelState& state, const ChannelSigner& signer);

} // namespace sidebolt

#endif
