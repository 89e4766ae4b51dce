#ifndef SIDEBOLT_CHANNEL_SHACHAIN_H
#define SIDEBOLT_CHANNEL_SHACHAIN_H

#include "util/bytes.h"
#include "util/secure.h"

#include <array>
#include <cstdint>
#include <optional>

namespace sidebolt {

//! BOLT 3: "The first secret used MUST be index 281474976710655, and from there, the index is
//! decremented."
inline constexpr uint64_t FIRST_COMMITMENT_INDEX = (uint64_t{1} << 48) - 1;

//! BOLT 3 generate_from_seed: the per-commitment secret at 48-bit index `index`.
Secret<32> GeneratePerCommitmentSecret(const Secret<32>& seed, uint64_t index);

//! Index of the per-commitment secret used for commitment number `commitment_number`.
constexpr uint64_t CommitmentIndex(uint64_t commitment_number) { return FIRST_COMMITMENT_INDEX - commitment_number; }

/**
 * Compact storage of the per-commitment secrets received from the peer (BOLT 3 "Efficient
 * Per-commitment Secret Storage"): at most one secret per count of trailing zero bits, 49 in
 * all, from which every earlier secret can be derived.
 */
class ShachainStore
{
public:
    enum class InsertResult {
        OK,
        //! Secrets must arrive in strictly descending consecutive index order.
        WRONG_INDEX,
        //! The secret does not derive the secrets already stored: not from the same seed.
        MISMATCH,
    };

    //! Stores `secret` for `index` after checking it derives every stored secret it covers.
    InsertResult Insert(uint64_t index, const Secret<32>& secret);
    //! The secret for `index` if it was received (directly or derivable); nullopt otherwise.
    std::optional<Secret<32>> Lookup(uint64_t index) const;
    //! Index of the last inserted secret; nullopt while empty.
    std::optional<uint64_t> LastIndex() const { return m_last_index; }

    //! Versioned encoding for persistence.
    Bytes Serialize() const;
    //! nullopt if the bytes are not a well-formed, self-consistent store.
    static std::optional<ShachainStore> Deserialize(ByteSpan bytes);

    bool operator==(const ShachainStore& other) const = default;

private:
    static constexpr size_t BUCKETS = 49;
    struct Entry {
        uint64_t index{0};
        Secret<32> secret;
        bool operator==(const Entry&) const = default;
    };
    std::array<std::optional<Entry>, BUCKETS> m_known{};
    std::optional<uint64_t> m_last_index;
};

} // namespace sidebolt

#endif
