#include "primitives/key.h"
#include "util/hex.h"

#include <doctest/doctest.h>

using namespace sidebolt;

TEST_CASE("private key 1 gives the generator; invalid scalars are refused")
{
    auto one = PrivKey::FromBytes(ParseHex("0000000000000000000000000000000000000000000000000000000000000001"));
    REQUIRE(one);
    CHECK(ToHex(one->GetPubKey().span()) == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    CHECK_FALSE(PrivKey::FromBytes(Bytes(32, 0)));
    CHECK_FALSE(PrivKey::FromBytes(ParseHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")));
    CHECK_FALSE(PrivKey::FromBytes(Bytes(31, 1)));
}

TEST_CASE("pubkey parse rejects bad encodings and round-trips uncompressed")
{
    CHECK_FALSE(PubKey::Parse(ParseHex("02")));
    CHECK_FALSE(PubKey::Parse({}));
    CHECK_FALSE(EcdsaSignature::FromDer({}));
    CHECK_FALSE(EcdsaSignature::FromCompact({}));
    CHECK_FALSE(PubKey::Parse(Bytes(33, 0)));
    const auto key = PrivKey::Generate().GetPubKey();
    const auto again = PubKey::Parse(key.SerializeUncompressed());
    REQUIRE(again);
    CHECK(*again == key);
}

TEST_CASE("sign and verify; DER and compact round trips; tampering fails")
{
    const auto priv = PrivKey::Generate();
    const auto pub = priv.GetPubKey();
    const Hash256 msg = Sha256(ParseHex("01020304"));
    const auto sig = priv.Sign(msg);
    CHECK(VerifyEcdsa(pub, msg, sig));
    CHECK(*EcdsaSignature::FromDer(sig.Der()) == sig);
    CHECK(*EcdsaSignature::FromCompact(sig.Compact()) == sig);
    Hash256 other = msg;
    other[0] ^= 1;
    CHECK_FALSE(VerifyEcdsa(pub, other, sig));
    CHECK_FALSE(VerifyEcdsa(PrivKey::Generate().GetPubKey(), msg, sig));
    CHECK_FALSE(EcdsaSignature::FromDer(ParseHex("3006020101020101ff")));
}

TEST_CASE("tweaks commute between private and public keys; ECDH is symmetric")
{
    const auto a = PrivKey::Generate();
    const auto b = PrivKey::Generate();
    const Hash256 tweak = Sha256(ParseHex("aa"));
    CHECK(a.TweakAdd(tweak)->GetPubKey() == *a.GetPubKey().TweakAdd(tweak));
    CHECK(a.TweakMul(tweak)->GetPubKey() == *a.GetPubKey().TweakMul(tweak));
    CHECK_FALSE(a.GetPubKey().TweakMul(Hash256{}));
    const PubKey both[] = {a.GetPubKey(), b.GetPubKey()};
    const auto sum = PubKey::Combine(both);
    REQUIRE(sum);
    const PubKey with_negation[] = {a.GetPubKey(), a.Negate().GetPubKey()};
    CHECK_FALSE(PubKey::Combine(with_negation));
    CHECK(Ecdh(a, b.GetPubKey()) == Ecdh(b, a.GetPubKey()));
}
