#ifndef SIDEBOLT_CHANNEL_KEYS_H
#define SIDEBOLT_CHANNEL_KEYS_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/secure.h"

#include <stdexcept>

namespace sidebolt {

//! A tweak or combination produced the point at infinity or an out-of-range scalar; with hash
//! derived tweaks this needs a hash collision, so it is treated as an exceptional condition.
class KeyDerivationError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

//! The four basepoints a node announces in open_channel/accept_channel (BOLT 2).
struct Basepoints {
    PubKey revocation;
    PubKey payment;
    PubKey delayed_payment;
    PubKey htlc;

    bool operator==(const Basepoints&) const = default;
};

//! per_commitment_point = per_commitment_secret * G.
PubKey PerCommitmentPoint(const Secret<32>& per_commitment_secret);

//! SHA256(per_commitment_point || basepoint): the tweak of every non-revocation key.
Hash256 DerivationTweak(const PubKey& per_commitment_point, const PubKey& basepoint);

/**
 * BOLT 3: "pubkey = basepoint + SHA256(per_commitment_point || basepoint) * G", used for
 * localpubkey, remotepubkey (without static_remotekey), the htlcpubkeys and delayedpubkeys.
 */
PubKey DerivePubKey(const PubKey& basepoint, const PubKey& per_commitment_point);
//! "privkey = basepoint_secret + SHA256(per_commitment_point || basepoint)".
PrivKey DerivePrivKey(const PrivKey& basepoint_secret, const PubKey& per_commitment_point);
//! The same with the basepoint (basepoint_secret * G) already known, saving its multiplication.
PrivKey DerivePrivKey(const PrivKey& basepoint_secret, const PubKey& basepoint, const PubKey& per_commitment_point);

/**
 * "revocationpubkey = revocation_basepoint * SHA256(revocation_basepoint || per_commitment_point)
 *  + per_commitment_point * SHA256(per_commitment_point || revocation_basepoint)".
 */
PubKey DeriveRevocationPubKey(const PubKey& revocation_basepoint, const PubKey& per_commitment_point);
/**
 * The same revocationpubkey, computed by a party that knows the secret of one of its two terms
 * (we know our revocation_basepoint_secret when we sign the peer's commitment, and our
 * per_commitment_secret when we check our own): that term is then a multiplication of the
 * generator, which costs less than one of an arbitrary point. `revocation_basepoint` and
 * `per_commitment_point` are the points as in DeriveRevocationPubKey; the secret must be the one
 * of the point it stands for.
 */
PubKey DeriveRevocationPubKeyWithBasepointSecret(const PrivKey& revocation_basepoint_secret, const PubKey& revocation_basepoint,
                                                 const PubKey& per_commitment_point);
PubKey DeriveRevocationPubKeyWithCommitmentSecret(const PubKey& revocation_basepoint, const PrivKey& per_commitment_secret,
                                                  const PubKey& per_commitment_point);
//! The matching private key, computable once the per_commitment_secret has been revealed.
PrivKey DeriveRevocationPrivKey(const PrivKey& revocation_basepoint_secret, const PrivKey& per_commitment_secret);

} // namespace sidebolt

#endif
