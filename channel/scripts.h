#ifndef SIDEBOLT_CHANNEL_SCRIPTS_H
#define SIDEBOLT_CHANNEL_SCRIPTS_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "util/amount.h"

#include <cstdint>

namespace sidebolt {

//! BOLT 3 anchor outputs carry a fixed 330 satoshis, the P2WSH dust limit.
inline constexpr Sat ANCHOR_OUTPUT_SAT{330};
//! After this many confirmations anyone may sweep an anchor with an empty signature.
inline constexpr uint32_t ANCHOR_ANYONE_CSV = 16;

//! `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG` with the compressed keys in lexicographic order.
Script FundingScript(const PubKey& funding_pubkey_a, const PubKey& funding_pubkey_b);

/**
 * to_local (and HTLC-timeout/HTLC-success output) witness script:
 * `OP_IF <revocationpubkey> OP_ELSE to_self_delay OP_CSV OP_DROP <local_delayedpubkey> OP_ENDIF OP_CHECKSIG`.
 */
Script ToLocalScript(const PubKey& revocation_pubkey, uint16_t to_self_delay, const PubKey& local_delayed_pubkey);

//! to_remote under option_anchors: `<remotepubkey> OP_CHECKSIGVERIFY 1 OP_CSV`.
Script ToRemoteAnchorScript(const PubKey& remote_pubkey);

//! `<funding_pubkey> OP_CHECKSIG OP_IFDUP OP_NOTIF OP_16 OP_CSV OP_ENDIF`.
Script AnchorScript(const PubKey& funding_pubkey);

//! Offered HTLC output script; `anchors` appends `1 OP_CSV OP_DROP` to the non-revocation branch.
Script OfferedHtlcScript(const PubKey& revocation_pubkey, const PubKey& local_htlc_pubkey,
                         const PubKey& remote_htlc_pubkey, const Hash256& payment_hash, bool anchors);

//! Received HTLC output script (commits to cltv_expiry); `anchors` as for offered HTLCs.
Script ReceivedHtlcScript(const PubKey& revocation_pubkey, const PubKey& local_htlc_pubkey,
                          const PubKey& remote_htlc_pubkey, const Hash256& payment_hash, uint32_t cltv_expiry,
                          bool anchors);

} // namespace sidebolt

#endif
