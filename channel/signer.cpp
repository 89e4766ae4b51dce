#include "channel/signer.h"

#include "channel/shachain.h"

#include <optional>
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
      m_per_commitment_seed(DeriveSeed(channel_secret, "per_commitment_seed")),
      m_funding_pubkey(m_funding.GetPubKey()),
      m_basepoints{
          .revocation = m_revocation.GetPubKey(),
          .payment = m_payment.GetPubKey(),
          .delayed_payment = m_delayed_payment.GetPubKey(),
          .htlc = m_htlc.GetPubKey(),
      }
{
}

Secret<32> ChannelSigner::PerCommitmentSecret(uint64_t commitment_number) const
{
    return m_memo.GetSecret(m_per_commitment_seed, commitment_number);
}

PubKey ChannelSigner::PerCommitmentPoint(uint64_t commitment_number) const
{
    return m_memo.GetPoint(m_per_commitment_seed, commitment_number);
}

Secret<32> ChannelSigner::PerCommitmentMemo::GetSecret(const Secret<32>& seed, uint64_t commitment_number)
{
    {
        const MutexLock lock(m_mutex);
        if (const Entry* entry = Lookup(commitment_number)) return entry->secret;
    }
    // Derived without the mutex: an idle-priority job holding it while preempted would stall
    // the channel worker waiting for it.
    Secret<32> secret = GeneratePerCommitmentSecret(seed, CommitmentIndex(commitment_number));
    const MutexLock lock(m_mutex);
    Insert(commitment_number, secret);
    return secret;
}

PubKey ChannelSigner::PerCommitmentMemo::GetPoint(const Secret<32>& seed, uint64_t commitment_number)
{
    std::optional<Secret<32>> secret;
    {
        const MutexLock lock(m_mutex);
        if (const Entry* entry = Lookup(commitment_number)) {
            if (entry->point) return *entry->point;
            secret = entry->secret;
        }
    }
    if (!secret) secret = GeneratePerCommitmentSecret(seed, CommitmentIndex(commitment_number));
    const PubKey point = sidebolt::PerCommitmentPoint(*secret);
    const MutexLock lock(m_mutex);
    Insert(commitment_number, *secret).point = point;
    return point;
}

const ChannelSigner::PerCommitmentMemo::Entry* ChannelSigner::PerCommitmentMemo::Lookup(uint64_t commitment_number) const
{
    for (const std::optional<Entry>& entry : m_entries) {
        if (entry && entry->commitment_number == commitment_number) return &*entry;
    }
    return nullptr;
}

ChannelSigner::PerCommitmentMemo::Entry& ChannelSigner::PerCommitmentMemo::Insert(uint64_t commitment_number,
                                                                                  const Secret<32>& secret)
{
    std::optional<Entry>* slot = &m_entries[0];
    for (std::optional<Entry>& entry : m_entries) {
        // Another thread may have stored it meanwhile.
        if (entry && entry->commitment_number == commitment_number) return *entry;
        // An empty slot first, otherwise the lowest number: the dance only moves forward.
        if (!entry || (*slot && entry->commitment_number < (*slot)->commitment_number)) slot = &entry;
    }
    slot->emplace(Entry{.commitment_number = commitment_number, .secret = secret, .point = std::nullopt});
    return **slot;
}

ChannelSigner::KeySource ChannelSigner::KeySource::Of(const CommitmentSpec& spec)
{
    return KeySource{.holder = spec.holder,
                     .counterparty = spec.counterparty,
                     .holder_funding = spec.holder_funding_pubkey,
                     .counterparty_funding = spec.counterparty_funding_pubkey,
                     .per_commitment_point = spec.per_commitment_point,
                     .static_remote_key = HasStaticRemoteKey(spec.format)};
}

std::optional<CommitmentKeys> ChannelSigner::KeysMemo::Find(const KeySource& source)
{
    const MutexLock lock(m_mutex);
    for (const auto& entry : m_entries) {
        if (entry && entry->source == source) return entry->keys;
    }
    return std::nullopt;
}

void ChannelSigner::KeysMemo::Add(const KeySource& source, const CommitmentKeys& keys)
{
    const MutexLock lock(m_mutex);
    for (auto& entry : m_entries) {
        if (entry && entry->source == source) return;
    }
    m_entries[m_next].emplace(Entry{.source = source, .keys = keys});
    m_next = (m_next + 1) % CAPACITY;
}

std::optional<CommitmentKeys> ChannelSigner::RememberedKeys(const CommitmentSpec& spec) const
{
    return m_keys.Find(KeySource::Of(spec));
}

void ChannelSigner::RememberKeys(const CommitmentSpec& spec, const CommitmentKeys& keys) const
{
    m_keys.Add(KeySource::Of(spec), keys);
}

std::optional<EcdsaSignature> ChannelSigner::SignatureMemo::Find(const Hash256& digest, bool use)
{
    const MutexLock lock(m_mutex);
    for (const auto& entry : m_entries) {
        if (!entry || entry->first != digest) continue;
        if (use) ++m_used;
        return entry->second;
    }
    return std::nullopt;
}

void ChannelSigner::SignatureMemo::Add(const Hash256& digest, const EcdsaSignature& signature)
{
    const MutexLock lock(m_mutex);
    for (const auto& entry : m_entries) {
        if (entry && entry->first == digest) return;
    }
    m_entries[m_next].emplace(digest, signature);
    m_next = (m_next + 1) % m_entries.size();
    ++m_made;
}

size_t ChannelSigner::SignatureMemo::Made() const
{
    const MutexLock lock(m_mutex);
    return m_made;
}

size_t ChannelSigner::SignatureMemo::Used() const
{
    const MutexLock lock(m_mutex);
    return m_used;
}

EcdsaSignature ChannelSigner::Sign(const PrivKey& key, const Hash256& digest) const
{
    if (auto signature = m_signatures.Find(digest, true)) return *signature;
    return key.Sign(digest);
}

void ChannelSigner::SignAhead(const PrivKey& key, const Hash256& digest) const
{
    if (m_signatures.Find(digest, false)) return;
    m_signatures.Add(digest, key.Sign(digest));
}

void ChannelSigner::ForEachHtlc(size_t count, const std::function<void(size_t)>& body) const
{
    // A wake-up of the helpers costs about what one signature does: not worth it for a few.
    constexpr size_t MIN_PARALLEL = 4;
    if (m_parallel && count >= MIN_PARALLEL) return m_parallel(count, body);
    RunInOrder(count, body);
}

std::vector<bool> ChannelSigner::RunChecks(std::vector<std::function<bool()>> checks) const
{
    return m_check_runner ? m_check_runner(std::move(checks)) : CheckInOrder(std::move(checks));
}

std::vector<bool> ChannelSigner::CheckInOrder(std::vector<std::function<bool()>> checks)
{
    std::vector<bool> results;
    results.reserve(checks.size());
    for (const auto& check : checks) results.push_back(check());
    return results;
}

} // namespace sidebolt
