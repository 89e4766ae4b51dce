#ifndef SIDEBOLT_PRIMITIVES_SIGHASH_H
#define SIDEBOLT_PRIMITIVES_SIGHASH_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "util/bytes.h"

#include <cstdint>

namespace sidebolt {

//! Signature hash types (the last byte of a transaction signature).
inline constexpr uint8_t SIGHASH_ALL = 0x01;
inline constexpr uint8_t SIGHASH_NONE = 0x02;
inline constexpr uint8_t SIGHASH_SINGLE = 0x03;
inline constexpr uint8_t SIGHASH_ANYONECANPAY = 0x80;

//! True for the six defined types: ALL, NONE, SINGLE, each optionally with ANYONECANPAY.
bool IsDefinedSigHashType(uint8_t sighash_type);

/**
 * BIP143 hashPrevouts, hashSequence and hashOutputs of one transaction, computed once and
 * reused for every input. Stays valid while the inputs' outpoints and sequences and the outputs
 * are unchanged (adding scripts or witnesses does not invalidate it).
 */
struct SigHashCache {
    explicit SigHashCache(const Transaction& tx);
    //! Only the parts a signature of `sighash_type` commits to; the others stay zero (for one
    //! signature: SINGLE|ANYONECANPAY, as on anchor HTLC transactions, needs none of them).
    SigHashCache(const Transaction& tx, uint8_t sighash_type);

    Hash256 hash_prevouts;
    Hash256 hash_sequence;
    Hash256 hash_outputs;
};

/**
 * BIP143 signature hash for segwit v0 input input_index spending amount satoshis, with
 * script_code the unprefixed scriptCode (P2wpkhScriptCode for P2WPKH, the witness script after
 * its last executed OP_CODESEPARATOR for P2WSH). Throws std::out_of_range for a bad index.
 */
Hash256 SignatureHashV0(const Transaction& tx, size_t input_index, ByteSpan script_code, int64_t amount,
                        uint8_t sighash_type, const SigHashCache& cache);
//! As above, computing the cache for a single use.
Hash256 SignatureHashV0(const Transaction& tx, size_t input_index, ByteSpan script_code, int64_t amount,
                        uint8_t sighash_type);

//! BIP143 scriptCode of a P2WPKH input: the P2PKH script of the key hash.
Script P2wpkhScriptCode(const Hash160& key_hash);

//! Signs a segwit v0 input: DER signature (low-S) followed by the sighash type byte.
Bytes SignInputV0(const PrivKey& key, const Transaction& tx, size_t input_index, ByteSpan script_code,
                  int64_t amount, uint8_t sighash_type, const SigHashCache& cache);

} // namespace sidebolt

#endif
