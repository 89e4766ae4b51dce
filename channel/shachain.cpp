#include "channel/shachain.h"

#include "primitives/hash.h"
#include "primitives/serialize.h"

#include <bit>

namespace sidebolt {
namespace {
constexpr uint8_t SERIALIZATION_VERSION = 1;
constexpr uint64_t INDEX_MASK = FIRST_COMMITMENT_INDEX;

//! BOLT 3 derive_secret: flips and hashes for every set bit of `index` below `bits`.
Secret<32> DeriveSecret(const Secret<32>& base, unsigned bits, uint64_t index)
{
    Secret<32> out = base;
    for (unsigned b = bits; b-- > 0;) {
        if ((index >> b) & 1) {
            // "flip(B)" alternates the (B mod 8) bit of the (B div 8) byte.
            out.data()[b / 8] ^= static_cast<uint8_t>(1U << (b % 8));
            Hash256 digest = Sha256(out.span());
            std::copy(digest.begin(), digest.end(), out.data());
            SecureWipe(digest.data(), digest.size());
        }
    }
    return out;
}

//! where_to_put_secret: the count of trailing zero bits, 48 for index 0 (the seed).
unsigned Bucket(uint64_t index) { return index == 0 ? 48 : static_cast<unsigned>(std::countr_zero(index)); }
} // namespace

Secret<32> GeneratePerCommitmentSecret(const Secret<32>& seed, uint64_t index)
{
    return DeriveSecret(seed, 48, index & INDEX_MASK);
}

ShachainStore::InsertResult ShachainStore::Insert(uint64_t index, const Secret<32>& secret)
{
    if (index > FIRST_COMMITMENT_INDEX) return InsertResult::WRONG_INDEX;
    // A gap would leave secrets that can be neither stored nor checked.
    if (m_last_index && (*m_last_index == 0 || index != *m_last_index - 1)) return InsertResult::WRONG_INDEX;
    const unsigned bucket = Bucket(index);
    for (unsigned b = 0; b < bucket; ++b) {
        const auto& known = m_known[b];
        if (known && !(DeriveSecret(secret, bucket, known->index) == known->secret)) return InsertResult::MISMATCH;
    }
    m_known[bucket] = Entry{index, secret};
    m_last_index = index;
    return InsertResult::OK;
}

std::optional<Secret<32>> ShachainStore::Lookup(uint64_t index) const
{
    if (!m_last_index || index > FIRST_COMMITMENT_INDEX || index < *m_last_index) return std::nullopt;
    for (unsigned b = 0; b < BUCKETS; ++b) {
        const auto& known = m_known[b];
        // Entry b covers every index sharing its bits above b.
        const uint64_t prefix_mask = b >= 48 ? 0 : ~((uint64_t{1} << b) - 1);
        if (known && (index & prefix_mask) == known->index) return DeriveSecret(known->secret, b, index);
    }
    return std::nullopt;
}

Bytes ShachainStore::Serialize() const
{
    ByteWriter out(2 + 9 + BUCKETS * 41);
    out.U8(SERIALIZATION_VERSION).U8(m_last_index ? 1 : 0).U64(m_last_index.value_or(0));
    for (const auto& known : m_known) {
        out.U8(known ? 1 : 0);
        if (known) out.U64(known->index).Raw(known->secret.span());
    }
    return out.Release();
}

std::optional<ShachainStore> ShachainStore::Deserialize(ByteSpan bytes)
{
    try {
        ByteReader in(bytes);
        if (in.U8() != SERIALIZATION_VERSION) return std::nullopt;
        const uint8_t has_last = in.U8();
        const uint64_t last_index = in.U64();
        if (has_last > 1 || last_index > FIRST_COMMITMENT_INDEX || (!has_last && last_index != 0)) return std::nullopt;
        ShachainStore store;
        if (has_last) store.m_last_index = last_index;
        for (unsigned b = 0; b < BUCKETS; ++b) {
            const uint8_t present = in.U8();
            if (present > 1) return std::nullopt;
            if (!present) continue;
            const uint64_t index = in.U64();
            // Each entry must sit in its own bucket and not be older than the last insert.
            if (Bucket(index) != b || index > FIRST_COMMITMENT_INDEX || !has_last || index < last_index) {
                return std::nullopt;
            }
            store.m_known[b] = Entry{index, Secret<32>(in.Span(32))};
        }
        in.ExpectEnd();
        if (has_last && !store.m_known[Bucket(last_index)]) return std::nullopt;
        return store;
    } catch (const DeserializeError&) {
        return std::nullopt;
    }
}

} // namespace sidebolt
