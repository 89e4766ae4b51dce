#include "primitives/key.h"

#include <secp256k1_ecdh.h>
#include <secp256k1_recovery.h>

#include <openssl/rand.h>

#include <memory>
#include <stdexcept>
#include <vector>

namespace sidebolt {
namespace {
struct ContextDeleter {
    void operator()(secp256k1_context* ctx) const { secp256k1_context_destroy(ctx); }
};

void RandomBytes(MutableByteSpan out)
{
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) throw std::runtime_error("RAND_bytes failed");
}
} // namespace

const secp256k1_context* SecpContext()
{
    static const std::unique_ptr<secp256k1_context, ContextDeleter> ctx = [] {
        std::unique_ptr<secp256k1_context, ContextDeleter> c(
            secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY));
        // Randomization blinds the signing path against side channels.
        Secret<32> seed;
        RandomBytes(seed.span());
        if (!secp256k1_context_randomize(c.get(), seed.data())) throw std::runtime_error("secp256k1 randomize failed");
        return c;
    }();
    return ctx.get();
}

std::optional<PubKey> PubKey::Parse(ByteSpan bytes)
{
    // libsecp256k1 aborts on a null input pointer, which an empty span may carry.
    if (bytes.empty()) return std::nullopt;
    secp256k1_pubkey key;
    if (!secp256k1_ec_pubkey_parse(SecpContext(), &key, bytes.data(), bytes.size())) return std::nullopt;
    return FromSecp(key);
}

PubKey PubKey::FromSecp(const secp256k1_pubkey& key)
{
    PubKey out;
    out.m_key = key;
    size_t len = SIZE;
    secp256k1_ec_pubkey_serialize(SecpContext(), out.m_compressed.data(), &len, &key, SECP256K1_EC_COMPRESSED);
    return out;
}

ByteArray<65> PubKey::SerializeUncompressed() const
{
    ByteArray<65> out;
    size_t len = out.size();
    secp256k1_ec_pubkey_serialize(SecpContext(), out.data(), &len, &m_key, SECP256K1_EC_UNCOMPRESSED);
    return out;
}

std::optional<PubKey> PubKey::TweakAdd(const Hash256& tweak) const
{
    secp256k1_pubkey key = m_key;
    if (!secp256k1_ec_pubkey_tweak_add(SecpContext(), &key, tweak.data())) return std::nullopt;
    return FromSecp(key);
}

std::optional<PubKey> PubKey::TweakMul(const Hash256& tweak) const
{
    secp256k1_pubkey key = m_key;
    if (!secp256k1_ec_pubkey_tweak_mul(SecpContext(), &key, tweak.data())) return std::nullopt;
    return FromSecp(key);
}

std::optional<PubKey> PubKey::Combine(std::span<const PubKey> keys)
{
    std::vector<const secp256k1_pubkey*> ptrs;
    ptrs.reserve(keys.size());
    for (const auto& k : keys) ptrs.push_back(&k.m_key);
    secp256k1_pubkey sum;
    if (ptrs.empty() || !secp256k1_ec_pubkey_combine(SecpContext(), &sum, ptrs.data(), ptrs.size())) return std::nullopt;
    return FromSecp(sum);
}

std::optional<EcdsaSignature> EcdsaSignature::FromCompact(ByteSpan compact64)
{
    if (compact64.size() != 64) return std::nullopt;
    EcdsaSignature out;
    if (!secp256k1_ecdsa_signature_parse_compact(SecpContext(), &out.m_sig, compact64.data())) return std::nullopt;
    return out;
}

std::optional<EcdsaSignature> EcdsaSignature::FromDer(ByteSpan der)
{
    if (der.empty()) return std::nullopt;
    EcdsaSignature out;
    if (!secp256k1_ecdsa_signature_parse_der(SecpContext(), &out.m_sig, der.data(), der.size())) return std::nullopt;
    return out;
}

EcdsaSignature EcdsaSignature::FromSecp(const secp256k1_ecdsa_signature& sig)
{
    EcdsaSignature out;
    out.m_sig = sig;
    return out;
}

ByteArray<64> EcdsaSignature::Compact() const
{
    ByteArray<64> out;
    secp256k1_ecdsa_signature_serialize_compact(SecpContext(), out.data(), &m_sig);
    return out;
}

Bytes EcdsaSignature::Der() const
{
    Bytes out(72);
    size_t len = out.size();
    secp256k1_ecdsa_signature_serialize_der(SecpContext(), out.data(), &len, &m_sig);
    out.resize(len);
    return out;
}

std::optional<PrivKey> PrivKey::FromBytes(ByteSpan bytes32)
{
    if (bytes32.size() != SIZE || !secp256k1_ec_seckey_verify(SecpContext(), bytes32.data())) return std::nullopt;
    PrivKey out;
    out.m_secret = Secret<SIZE>(bytes32);
    return out;
}

PrivKey PrivKey::Generate()
{
    Secret<SIZE> candidate;
    do {
        RandomBytes(candidate.span());
    } while (!secp256k1_ec_seckey_verify(SecpContext(), candidate.data()));
    PrivKey out;
    out.m_secret = candidate;
    return out;
}

PubKey PrivKey::GetPubKey() const
{
    secp256k1_pubkey key;
    if (!secp256k1_ec_pubkey_create(SecpContext(), &key, m_secret.data())) throw std::logic_error("invalid private key");
    return PubKey::FromSecp(key);
}

EcdsaSignature PrivKey::Sign(const Hash256& msg) const
{
    secp256k1_ecdsa_signature sig;
    // libsecp256k1 always produces low-S signatures, as BIP146/standardness require.
    if (!secp256k1_ecdsa_sign(SecpContext(), &sig, msg.data(), m_secret.data(), nullptr, nullptr)) {
        throw std::logic_error("ECDSA signing failed");
    }
    return EcdsaSignature::FromSecp(sig);
}

RecoverableSignature PrivKey::SignRecoverable(const Hash256& msg) const
{
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_sign_recoverable(SecpContext(), &sig, msg.data(), m_secret.data(), nullptr, nullptr)) {
        throw std::logic_error("ECDSA signing failed");
    }
    RecoverableSignature out;
    int recovery_id = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(SecpContext(), out.compact.data(), &recovery_id, &sig);
    out.recovery_id = static_cast<uint8_t>(recovery_id);
    return out;
}

std::optional<PrivKey> PrivKey::TweakAdd(const Hash256& tweak) const
{
    PrivKey out = *this;
    if (!secp256k1_ec_seckey_tweak_add(SecpContext(), out.m_secret.data(), tweak.data())) return std::nullopt;
    return out;
}

std::optional<PrivKey> PrivKey::TweakMul(const Hash256& tweak) const
{
    PrivKey out = *this;
    if (!secp256k1_ec_seckey_tweak_mul(SecpContext(), out.m_secret.data(), tweak.data())) return std::nullopt;
    return out;
}

PrivKey PrivKey::Negate() const
{
    PrivKey out = *this;
    // Negation of a valid non-zero scalar cannot fail.
    if (!secp256k1_ec_seckey_negate(SecpContext(), out.m_secret.data())) throw std::logic_error("negate failed");
    return out;
}

bool VerifyEcdsa(const PubKey& key, const Hash256& msg, const EcdsaSignature& sig)
{
    return secp256k1_ecdsa_verify(SecpContext(), &sig.Secp(), msg.data(), &key.Secp()) == 1;
}

std::optional<PubKey> RecoverPubKey(const Hash256& msg, const RecoverableSignature& sig)
{
    // libsecp256k1 aborts (illegal argument) on a recovery id outside 0..3, so check it first.
    if (sig.recovery_id > 3) return std::nullopt;
    secp256k1_ecdsa_recoverable_signature parsed;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(SecpContext(), &parsed, sig.compact.data(), sig.recovery_id)) {
        return std::nullopt;
    }
    secp256k1_pubkey key;
    if (!secp256k1_ecdsa_recover(SecpContext(), &key, &parsed, msg.data())) return std::nullopt;
    return PubKey::FromSecp(key);
}

Secret<32> Ecdh(const PrivKey& priv, const PubKey& pub)
{
    Secret<32> out;
    // The default hash function is SHA256(compressed point), exactly what BOLT 8 specifies.
    if (!secp256k1_ecdh(SecpContext(), out.data(), &pub.Secp(), priv.span().data(), nullptr, nullptr)) {
        throw std::logic_error("ECDH failed");
    }
    return out;
}

} // namespace sidebolt
