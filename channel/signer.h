#ifndef SIDEBOLT_CHANNEL_SIGNER_H
#define SIDEBOLT_CHANNEL_SIGNER_H

#include "channel/keys.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/secure.h"

#include <cstdint>

namespace sidebolt {

/**
 * Our secrets for one channel, all derived from one 32-byte channel secret (which node/ derives
 * from the node seed along a documented path: HMAC-SHA256(seed, "channel/" + index)). Channel
 * records never store these keys: a restart derives them again. Pure: no I/O.
 *
 * Derivation from the channel secret S (each an HMAC-SHA256(S, label), retried with a counter
 * suffix in the negligible case that the result is not a valid scalar):
 *   funding key "funding", revocation basepoint "revocation", payment basepoint "payment",
 *   delayed payment basepoint "delayed_payment", htlc basepoint "htlc",
 *   per-commitment seed "per_commitment_seed" (BOLT 3 shachain generation seed).
 */
class ChannelSigner
{
public:
    explicit ChannelSigner(const Secret<32>& channel_secret);

    PubKey FundingPubKey() const;
    Basepoints GetBasepoints() const;

    //! BOLT 3 per-commitment secret and point for a commitment *number* (0, 1, 2, ...).
    Secret<32> PerCommitmentSecret(uint64_t commitment_number) const;
    PubKey PerCommitmentPoint(uint64_t commitment_number) const;

    const PrivKey& FundingKey() const { return m_funding; }
    const PrivKey& RevocationBasepointSecret() const { return m_revocation; }
    const PrivKey& PaymentBasepointSecret() const { return m_payment; }
    const PrivKey& DelayedPaymentBasepointSecret() const { return m_delayed_payment; }
    const PrivKey& HtlcBasepointSecret() const { return m_htlc; }

private:
    PrivKey m_funding;
    PrivKey m_revocation;
    PrivKey m_payment;
    PrivKey m_delayed_payment;
    PrivKey m_htlc;
    Secret<32> m_per_commitment_seed;
};

} // namespace sidebolt

#endif
