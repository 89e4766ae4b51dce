#ifndef SIDEBOLT_PRIMITIVES_KEY_H
#define SIDEBOLT_PRIMITIVES_KEY_H

#include "primitives/hash.h"
#include "util/bytes.h"
#include "util/secure.h"

#include <secp256k1.h>

#include <compare>
#include <optional>
#include <span>

namespace sidebolt {

//! The process-wide secp256k1 context (signing + verification), randomized at creation.
const secp256k1_context* SecpContext();

//! A valid point on secp256k1, kept parsed and in 33-byte compressed form.
class PubKey
{
public:
    static constexpr size_t SIZE = 33;

    //! Accepts 33-byte compressed or 65-byte uncompressed encodings of a valid point.
    static std::optional<PubKey> Parse(ByteSpan bytes);
    static PubKey FromSecp(const secp256k1_pubkey& key);

    const ByteArray<SIZE>& Bytes33() const { return m_compressed; }
    ByteSpan span() const { return m_compressed; }
    ByteArray<65> SerializeUncompressed() const;
    const secp256k1_pubkey& Secp() const { return m_key; }

    //! P + tweak*G; nullopt when the tweak is out of range or the result is infinity.
    std::optional<PubKey> TweakAdd(const Hash256& tweak) const;
    //! tweak*P; nullopt when the tweak is zero or out of range.
    std::optional<PubKey> TweakMul(const Hash256& tweak) const;
    //! Sum of points; nullopt when it is the point at infinity.
    static std::optional<PubKey> Combine(std::span<const PubKey> keys);

    //! Lexicographic order of the compressed encodings (BOLT 3 key sorting, BIP67).
    auto operator<=>(const PubKey& other) const { return m_compressed <=> other.m_compressed; }
    bool operator==(const PubKey& other) const { return m_compressed == other.m_compressed; }

private:
    PubKey() = default;
    secp256k1_pubkey m_key{};
    ByteArray<SIZE> m_compressed{};
};

//! ECDSA signature in libsecp256k1's compact (r || s) form; always low-S when we produce it.
class EcdsaSignature
{
public:
    static std::optional<EcdsaSignature> FromCompact(ByteSpan compact64);
    //! Strict DER as required by BIP66; high-S is accepted here and normalized by verification.
    static std::optional<EcdsaSignature> FromDer(ByteSpan der);

    ByteArray<64> Compact() const;
    Bytes Der() const;
    const secp256k1_ecdsa_signature& Secp() const { return m_sig; }
    bool operator==(const EcdsaSignature& other) const { return Compact() == other.Compact(); }

    static EcdsaSignature FromSecp(const secp256k1_ecdsa_signature& sig);

private:
    EcdsaSignature() = default;
    secp256k1_ecdsa_signature m_sig{};
};

//! Compact (r || s) ECDSA signature plus the recovery id 0..3 that selects the public key.
struct RecoverableSignature {
    ByteArray<64> compact{};
    uint8_t recovery_id{0};
    bool operator==(const RecoverableSignature&) const = default;
};

//! A secret scalar in [1, n-1]; wiped on destruction, never printed.
class PrivKey
{
public:
    static constexpr size_t SIZE = 32;

    static std::optional<PrivKey> FromBytes(ByteSpan bytes32);
    //! 32 bytes from the OS CSPRNG (OpenSSL RAND_bytes), retried until valid.
    static PrivKey Generate();

    PubKey GetPubKey() const;
    //! Deterministic (RFC6979) low-S signature over a 32-byte message hash.
    EcdsaSignature Sign(const Hash256& msg) const;
    //! The same signature with the recovery id that lets a verifier recover our key (BOLT 11).
    RecoverableSignature SignRecoverable(const Hash256& msg) const;
    //! (k + tweak) mod n; nullopt when the tweak is out of range or the result is zero.
    std::optional<PrivKey> TweakAdd(const Hash256& tweak) const;
    //! (k * tweak) mod n; nullopt when the tweak is zero or out of range.
    std::optional<PrivKey> TweakMul(const Hash256& tweak) const;
    PrivKey Negate() const;

    ByteSpan span() const { return m_secret.span(); }
    bool operator==(const PrivKey& other) const { return m_secret == other.m_secret; }

private:
    PrivKey() = default;
    Secret<SIZE> m_secret;
};

bool VerifyEcdsa(const PubKey& key, const Hash256& msg, const EcdsaSignature& sig);

//! The key that made `sig` over `msg`; nullopt when the recovery id is above 3, r or s is out of
//! range, or no key matches. Like libsecp256k1, accepts high-S signatures.
std::optional<PubKey> RecoverPubKey(const Hash256& msg, const RecoverableSignature& sig);

//! ECDH as BOLT 8 and BOLT 4 use it: SHA256 of the compressed shared point.
Secret<32> Ecdh(const PrivKey& priv, const PubKey& pub);

} // namespace sidebolt

#endif
