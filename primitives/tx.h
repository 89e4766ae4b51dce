#ifndef SIDEBOLT_PRIMITIVES_TX_H
#define SIDEBOLT_PRIMITIVES_TX_H

#include "primitives/hash.h"
#include "primitives/serialize.h"
#include "util/bytes.h"

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

//! Hex of a hash in Core's display order (byte-reversed), as RPC and explorers show txids.
std::string HashToHexRev(const Hash256& hash);
//! Parses Core's display-order hex back to internal byte order; nullopt unless 64 hex chars.
std::optional<Hash256> HashFromHexRev(std::string_view hex);

inline constexpr uint32_t SEQUENCE_FINAL = 0xffffffff;

//! Reference to a transaction output: txid (internal byte order) and output index.
struct OutPoint {
    Hash256 txid{};
    uint32_t n{0};

    //! "<display-order txid>:<n>", as Core prints outpoints.
    std::string ToString() const;
    auto operator<=>(const OutPoint&) const = default;
    bool operator==(const OutPoint&) const = default;
};

struct TxIn {
    OutPoint prevout;
    Bytes script_sig;
    uint32_t sequence{SEQUENCE_FINAL};
    //! Witness stack items (BIP141); empty for non-witness spends.
    std::vector<Bytes> witness;

    bool operator==(const TxIn&) const = default;
};

struct TxOut {
    //! Amount in satoshis.
    int64_t value{0};
    Bytes script_pubkey;

    bool operator==(const TxOut&) const = default;
};

struct Transaction {
    uint32_t version{2};
    std::vector<TxIn> vin;
    std::vector<TxOut> vout;
    uint32_t locktime{0};

    bool HasWitness() const;
    //! Hash of the serialization without witness (what outpoints refer to).
    Hash256 GetTxid() const;
    //! Hash of the full BIP144 serialization; equals the txid when there is no witness.
    Hash256 GetWtxid() const;
    //! BIP141 weight: 3 * stripped size + total size.
    size_t GetWeight() const;
    //! Virtual size: weight / 4, rounded up.
    size_t GetVsize() const;

    bool operator==(const Transaction&) const = default;
};

enum class TxWitness { INCLUDE, EXCLUDE };

/**
 * Appends the transaction; with INCLUDE the BIP144 marker/flag and witnesses are written only
 * when some input has a non-empty witness, exactly as Core serializes.
 */
void SerializeTransaction(ByteWriter& out, const Transaction& tx, TxWitness witness = TxWitness::INCLUDE);
Bytes SerializeTransaction(const Transaction& tx, TxWitness witness = TxWitness::INCLUDE);
//! Reads one transaction (legacy or BIP144) from the reader; throws DeserializeError.
Transaction ReadTransaction(ByteReader& in);
//! Parses exactly one transaction; trailing bytes are an error. Throws DeserializeError.
Transaction ParseTransaction(ByteSpan raw);
//! As ParseTransaction, but nullopt instead of an exception.
std::optional<Transaction> TryParseTransaction(ByteSpan raw);

//! The 80-byte block header.
struct BlockHeader {
    static constexpr size_t SIZE = 80;

    uint32_t version{0};
    Hash256 prev_block{};
    Hash256 merkle_root{};
    uint32_t time{0};
    uint32_t bits{0};
    uint32_t nonce{0};

    Hash256 GetHash() const;
    ByteArray<SIZE> Serialize() const;
    static BlockHeader Parse(ByteReader& in);

    bool operator==(const BlockHeader&) const = default;
};

struct Block {
    BlockHeader header;
    std::vector<Transaction> txs;
    //! txids[i] is txs[i].GetTxid(), computed from the raw bytes while parsing.
    std::vector<Hash256> txids;
};

//! Parses a serialized block (header, transaction count, transactions); throws DeserializeError.
Block ParseBlock(ByteSpan raw);

/**
 * Bitcoin's merkle root of the given leaf hashes (an odd last node is paired with itself).
 * When mutated is given, it reports Core's CVE-2012-2459 check: two identical sibling hashes
 * mean another transaction list has the same root.
 */
Hash256 ComputeMerkleRoot(std::vector<Hash256> leaves, bool* mutated = nullptr);
//! True when the block's txids hash to its header's merkle root without mutation.
bool CheckMerkleRoot(const Block& block);

} // namespace sidebolt

#endif
