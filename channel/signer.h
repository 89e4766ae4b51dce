#ifndef SIDEBOLT_CHANNEL_SIGNER_H
#define SIDEBOLT_CHANNEL_SIGNER_H

#include "channel/commitment.h"
#include "channel/keys.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/parallel.h"
#include "util/secure.h"
#include "util/sync.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

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
 *
 * The public keys are computed once at construction, and the last few per-commitment secrets
 * and points are memoized: the commitment dance asks for each of them two or three times (the
 * point when it is announced and again when its commitment is checked, the secret for the
 * point and again when it is revealed), and each is a shachain walk plus an EC multiplication.
 * The memo is guarded, so concurrent const calls stay safe.
 */
class ChannelSigner
{
public:
    explicit ChannelSigner(const Secret<32>& channel_secret);

    const PubKey& FundingPubKey() const { return m_funding_pubkey; }
    const Basepoints& GetBasepoints() const { return m_basepoints; }

    //! BOLT 3 per-commitment secret and point for a commitment *number* (0, 1, 2, ...).
    Secret<32> PerCommitmentSecret(uint64_t commitment_number) const;
    PubKey PerCommitmentPoint(uint64_t commitment_number) const;

    const PrivKey& FundingKey() const { return m_funding; }
    const PrivKey& RevocationBasepointSecret() const { return m_revocation; }
    const PrivKey& PaymentBasepointSecret() const { return m_payment; }
    const PrivKey& DelayedPaymentBasepointSecret() const { return m_delayed_payment; }
    const PrivKey& HtlcBasepointSecret() const { return m_htlc; }

    //! Where the signatures of a commitment's HTLC transactions are made and checked: the node
    //! hands in its cores; without it they run one after the other.
    void SetParallelFor(ParallelFor parallel) { m_parallel = std::move(parallel); }
    void ForEachHtlc(size_t count, const std::function<void(size_t)>& body) const;

    //! Runs independent checks (each owning what it reads) and returns their results in order.
    using CheckRunner = std::function<std::vector<bool>(std::vector<std::function<bool()>>)>;
    //! Where the signatures of a received commitment_signed are checked: the node hands in the
    //! CPUs that would otherwise idle; without it they run one after the other.
    void SetCheckRunner(CheckRunner runner) { m_check_runner = std::move(runner); }
    std::vector<bool> RunChecks(std::vector<std::function<bool()>> checks) const;
    static std::vector<bool> CheckInOrder(std::vector<std::function<bool()>> checks);

    /**
     * Commitment keys derived lately, each with every key (HtlcKeys::ALWAYS): node/ derives the
     * next commitments' keys while it waits for the peer (WarmNextCommitmentKeys in state.h),
     * which are then found here by the spec they are for (its basepoints, funding keys, format
     * and point) instead of being derived in the dance's critical path.
     */
    std::optional<CommitmentKeys> RememberedKeys(const CommitmentSpec& spec) const;
    void RememberKeys(const CommitmentSpec& spec, const CommitmentKeys& keys) const;

    /**
     * Signs `digest` with `key`, or returns the signature made ahead for it (SignAhead). A
     * digest is a BIP 143 sighash, which commits to the script and so to the key that signs it;
     * signing is deterministic (RFC 6979): the signature found is the one this would make.
     */
    EcdsaSignature Sign(const PrivKey& key, const Hash256& digest) const;
    //! Signs now and keeps the signature for the Sign that will ask for it (the last few kept).
    void SignAhead(const PrivKey& key, const Hash256& digest) const;
    static constexpr size_t SIGNATURES_AHEAD = 8;
    //! Signatures SignAhead made, and those Sign found made.
    size_t SignaturesMadeAhead() const { return m_signatures.Made(); }
    size_t SignaturesUsedAhead() const { return m_signatures.Used(); }

private:
    //! What a commitment's keys are derived from.
    struct KeySource {
        Basepoints holder;
        Basepoints counterparty;
        PubKey holder_funding;
        PubKey counterparty_funding;
        PubKey per_commitment_point;
        bool static_remote_key{false};

        static KeySource Of(const CommitmentSpec& spec);
        bool operator==(const KeySource&) const = default;
    };

    class KeysMemo
    {
    public:
        KeysMemo() = default;
        //! A copy starts empty, as PerCommitmentMemo's.
        KeysMemo(const KeysMemo&) {}
        KeysMemo& operator=(const KeysMemo&) { return *this; }

        std::optional<CommitmentKeys> Find(const KeySource& source) EXCLUDES(m_mutex);
        void Add(const KeySource& source, const CommitmentKeys& keys) EXCLUDES(m_mutex);

    private:
        struct Entry {
            KeySource source;
            CommitmentKeys keys;
        };
        //! Each side's current and next commitment.
        static constexpr size_t CAPACITY = 4;

        Mutex m_mutex;
        std::array<std::optional<Entry>, CAPACITY> m_entries GUARDED_BY(m_mutex);
        //! The slot the next Add replaces (oldest first).
        size_t m_next GUARDED_BY(m_mutex){0};
    };

    class SignatureMemo
    {
    public:
        SignatureMemo() = default;
        //! A copy starts empty, as PerCommitmentMemo's.
        SignatureMemo(const SignatureMemo&) {}
        SignatureMemo& operator=(const SignatureMemo&) { return *this; }

        //! The signature made for `digest`; counted as used when `use`.
        std::optional<EcdsaSignature> Find(const Hash256& digest, bool use) EXCLUDES(m_mutex);
        void Add(const Hash256& digest, const EcdsaSignature& signature) EXCLUDES(m_mutex);
        size_t Made() const EXCLUDES(m_mutex);
        size_t Used() const EXCLUDES(m_mutex);

    private:
        mutable Mutex m_mutex;
        std::array<std::optional<std::pair<Hash256, EcdsaSignature>>, SIGNATURES_AHEAD> m_entries GUARDED_BY(m_mutex);
        size_t m_next GUARDED_BY(m_mutex){0};
        size_t m_made GUARDED_BY(m_mutex){0};
        size_t m_used GUARDED_BY(m_mutex){0};
    };

    //! The per-commitment secrets (and points, once asked for) of the last few numbers used.
    class PerCommitmentMemo
    {
    public:
        PerCommitmentMemo() = default;
        //! A copy starts empty: the memo is only a cache, and Mutex cannot be copied.
        PerCommitmentMemo(const PerCommitmentMemo&) {}
        PerCommitmentMemo& operator=(const PerCommitmentMemo&) { return *this; }

        Secret<32> GetSecret(const Secret<32>& seed, uint64_t commitment_number) EXCLUDES(m_mutex);
        PubKey GetPoint(const Secret<32>& seed, uint64_t commitment_number) EXCLUDES(m_mutex);

    private:
        struct Entry {
            uint64_t commitment_number{0};
            Secret<32> secret;
            std::optional<PubKey> point;
        };
        //! Enough for the dance: the commitment just revoked, the current one and the next.
        static constexpr size_t CAPACITY = 4;

        const Entry* Lookup(uint64_t commitment_number) const REQUIRES(m_mutex);
        //! The entry for `commitment_number`, stored (replacing the lowest number) if absent.
        Entry& Insert(uint64_t commitment_number, const Secret<32>& secret) REQUIRES(m_mutex);

        Mutex m_mutex;
        std::array<std::optional<Entry>, CAPACITY> m_entries GUARDED_BY(m_mutex);
    };

    PrivKey m_funding;
    PrivKey m_revocation;
    PrivKey m_payment;
    PrivKey m_delayed_payment;
    PrivKey m_htlc;
    Secret<32> m_per_commitment_seed;
    PubKey m_funding_pubkey;
    Basepoints m_basepoints;
    mutable PerCommitmentMemo m_memo;
    mutable KeysMemo m_keys;
    mutable SignatureMemo m_signatures;
    ParallelFor m_parallel;
    CheckRunner m_check_runner;
};

} // namespace sidebolt

#endif
