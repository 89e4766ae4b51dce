// BOLT 3 Appendix E key derivation, plus consistency of public and private derivations.
#include "channel/keys.h"
#include "tests/channel/channel_test_util.h"
#include "tests/test_util.h"

#include <doctest/doctest.h>

using namespace sidebolt;
using namespace sidebolt::test;

TEST_CASE("BOLT 3 Appendix E key derivation")
{
    const auto v = ReadJsonVectors("channel/bolt3_keys.json");
    const PrivKey base_secret = PrivFromHex(Str(v["base_secret"]));
    const PrivKey per_commitment_secret = PrivFromHex(Str(v["per_commitment_secret"]));
    const PubKey base_point = PubFromHex(Str(v["base_point"]));
    const PubKey per_commitment_point = PubFromHex(Str(v["per_commitment_point"]));
    CHECK(base_secret.GetPubKey() == base_point);
    CHECK(PerCommitmentPoint(Secret<32>(ParseHex(Str(v["per_commitment_secret"])))) == per_commitment_point);
    CHECK(ToHex(DerivationTweak(per_commitment_point, base_point)) == Str(v["pubkey_tweak"]));

    CHECK(ToHex(DerivePubKey(base_point, per_commitment_point).span()) == Str(v["localpubkey"]));
    CHECK(ToHex(DerivePrivKey(base_secret, per_commitment_point).span()) == Str(v["localprivkey"]));
    CHECK(ToHex(DeriveRevocationPubKey(base_point, per_commitment_point).span()) == Str(v["revocationpubkey"]));
    CHECK(ToHex(DeriveRevocationPrivKey(base_secret, per_commitment_secret).span()) == Str(v["revocationprivkey"]));
}

TEST_CASE("derived private keys match derived public keys")
{
    for (int i = 0; i < 20; ++i) {
        const PrivKey basepoint_secret = NamedKey("basepoint " + std::to_string(i));
        const PrivKey per_commitment_secret = NamedKey("per-commitment " + std::to_string(i));
        const PubKey point = per_commitment_secret.GetPubKey();
        CHECK(DerivePrivKey(basepoint_secret, point).GetPubKey() == DerivePubKey(basepoint_secret.GetPubKey(), point));
        CHECK(DeriveRevocationPrivKey(basepoint_secret, per_commitment_secret).GetPubKey() ==
              DeriveRevocationPubKey(basepoint_secret.GetPubKey(), point));
    }
}
