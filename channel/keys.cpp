#include "channel/keys.h"

#include <array>

namespace sidebolt {
namespace {
Hash256 HashPair(const PubKey& first, const PubKey& second)
{
    return Sha256Writer{}.Write(first.span()).Write(second.span()).Finalize();
}

template <typename T>
T Require(std::optional<T> value, const char* what)
{
    if (!value) throw KeyDerivationError(what);
    return std::move(*value);
}

//! Copies a secret scalar into a tweak buffer that is wiped when it goes out of scope.
class ScalarTweak
{
public:
    explicit ScalarTweak(const PrivKey& key) { std::copy(key.span().begin(), key.span().end(), m_tweak.begin()); }
    ~ScalarTweak() { SecureWipe(m_tweak.data(), m_tweak.size()); }
    ScalarTweak(const ScalarTweak&) = delete;
    ScalarTweak& operator=(const ScalarTweak&) = delete;
    const Hash256& Get() const { return m_tweak; }

private:
    Hash256 m_tweak{};
};
} // namespace

PubKey PerCommitmentPoint(const Secret<32>& per_commitment_secret)
{
    return Require(PrivKey::FromBytes(per_commitment_secret.span()), "invalid per-commitment secret").GetPubKey();
}

Hash256 DerivationTweak(const PubKey& per_commitment_point, const PubKey& basepoint)
{
    return HashPair(per_commitment_point, basepoint);
}

PubKey DerivePubKey(const PubKey& basepoint, const PubKey& per_commitment_point)
{
    return Require(basepoint.TweakAdd(DerivationTweak(per_commitment_point, basepoint)), "derived pubkey is invalid");
}

PrivKey DerivePrivKey(const PrivKey& basepoint_secret, const PubKey& per_commitment_point)
{
    return DerivePrivKey(basepoint_secret, basepoint_secret.GetPubKey(), per_commitment_point);
}

PrivKey DerivePrivKey(const PrivKey& basepoint_secret, const PubKey& basepoint, const PubKey& per_commitment_point)
{
    return Require(basepoint_secret.TweakAdd(DerivationTweak(per_commitment_point, basepoint)),
                   "derived privkey is invalid");
}

PubKey DeriveRevocationPubKey(const PubKey& revocation_basepoint, const PubKey& per_commitment_point)
{
    const std::array<PubKey, 2> parts{
        Require(revocation_basepoint.TweakMul(HashPair(revocation_basepoint, per_commitment_point)),
                "revocation basepoint tweak failed"),
        Require(per_commitment_point.TweakMul(HashPair(per_commitment_point, revocation_basepoint)),
                "per-commitment point tweak failed"),
    };
    return Require(PubKey::Combine(parts), "revocation pubkey is infinity");
}

PubKey DeriveRevocationPubKeyWithBasepointSecret(const PrivKey& revocation_basepoint_secret, const PubKey& revocation_basepoint,
                                                 const PubKey& per_commitment_point)
{
    // revocation_basepoint * h = (revocation_basepoint_secret * h) * G.
    const std::array<PubKey, 2> parts{
        Require(revocation_basepoint_secret.TweakMul(HashPair(revocation_basepoint, per_commitment_point)),
                "revocation basepoint secret tweak failed")
            .GetPubKey(),
        Require(per_commitment_point.TweakMul(HashPair(per_commitment_point, revocation_basepoint)),
                "per-commitment point tweak failed"),
    };
    return Require(PubKey::Combine(parts), "revocation pubkey is infinity");
}

PubKey DeriveRevocationPubKeyWithCommitmentSecret(const PubKey& revocation_basepoint, const PrivKey& per_commitment_secret,
                                                  const PubKey& per_commitment_point)
{
    // per_commitment_point * h = (per_commitment_secret * h) * G.
    const std::array<PubKey, 2> parts{
        Require(revocation_basepoint.TweakMul(HashPair(revocation_basepoint, per_commitment_point)),
                "revocation basepoint tweak failed"),
        Require(per_commitment_secret.TweakMul(HashPair(per_commitment_point, revocation_basepoint)),
                "per-commitment secret tweak failed")
            .GetPubKey(),
    };
    return Require(PubKey::Combine(parts), "revocation pubkey is infinity");
}

PrivKey DeriveRevocationPrivKey(const PrivKey& revocation_basepoint_secret, const PrivKey& per_commitment_secret)
{
    const PubKey revocation_basepoint = revocation_basepoint_secret.GetPubKey();
    const PubKey per_commitment_point = per_commitment_secret.GetPubKey();
    const PrivKey basepoint_part = Require(
        revocation_basepoint_secret.TweakMul(HashPair(revocation_basepoint, per_commitment_point)),
        "revocation basepoint secret tweak failed");
    const PrivKey commitment_part = Require(
        per_commitment_secret.TweakMul(HashPair(per_commitment_point, revocation_basepoint)),
        "per-commitment secret tweak failed");
    const ScalarTweak addend(commitment_part);
    return Require(basepoint_part.TweakAdd(addend.Get()), "revocation privkey is zero");
}

} // namespace sidebolt
