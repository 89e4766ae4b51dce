#include "channel/signer.h"

#include "channel/shachain.h"

#include <string_view>

namespace sidebolt {
namespace {
//! HMAC-SHA256(secret, label), then HMAC-SHA256(secret, label || counter) for counter 1, 2, ...
//! until the result is a valid scalar (a probability-2^-128 event for each retry).
PrivKey DeriveKey(const Secret<32>& channel_secret, std::string_view label)
{
    Bytes data(label.begin(), label.end());
    for (uint8_t counter = 1;; ++counter) {
        Hash256 candidate = HmacSha256(channel_secret.span(), data);
        auto key = PrivKey::FromBytes(candidate);
        SecureWipe(candidate.data(), candidate.size());
        if (key) return std::move(*key);
        if (counter == 1) data.push_back(counter);
        else data.back() = counter;
    }
}

Secret<32> DeriveSeed(const Secret<32>& channel_secret, std::string_view label)
{
    const Bytes data(label.begin(), label.end());
    Hash256 seed = HmacSha256(channel_secret.span(), data);
    Secret<32> out(seed);
    SecureWipe(seed.data(), seed.size());
    return out;
}
} // namespace

ChannelSigner::ChannelSigner(const Secret<32>& channel_secret)
    : m_funding(DeriveKey(channel_secret, "funding")),
      m_revocation(DeriveKey(channel_secret, "revocation")),
      m_payment(DeriveKey(channel_secret, "payment")),
      m_delayed_payment(DeriveKey(channel_secret, "delayed_payment")),
      m_htlc(DeriveKey(channel_secret, "htlc")),
      m_per_commitment_seed(DeriveSeed(channel_secret, "per_commitment_seed"))
{
}

PubKey ChannelSigner::FundingPubKey() const { return m_funding.GetPubKey(); }

Basepoints ChannelSigner::GetBasepoints() const
{
    return Basepoints{
        .revocation = m_revocation.GetPubKey(),
        .payment = m_payment.GetPubKey(),
        .delayed_payment = m_delayed_payment.GetPubKey(),
        .htlc = m_htlc.GetPubKey(),
    };
}

Secret<32> ChannelSigner::PerCommitmentSecret(uint64_t commitment_number) const
{
    return GeneratePerCommitmentSecret(m_per_commitment_seed, CommitmentIndex(commitment_number));
}

PubKey ChannelSigner::PerCommitmentPoint(uint64_t commitment_number) const
{
    return sidebolt::PerCommitmentPoint(PerCommitmentSecret(commitment_number));
}

} // namespace sidebolt
