#include "primitives/hash.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidebolt;

namespace {
ByteSpan Str(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
} // namespace

TEST_CASE("SHA256 / SHA256d / RIPEMD160 / HASH160 known answers")
{
    CHECK(ToHex(Sha256(Str("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(ToHex(Sha256(Str(""))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(ToHex(Sha256d(Str("hello"))) == "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50");
    CHECK(ToHex(Ripemd160(Str("abc"))) == "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc");
    // HASH160 of the secp256k1 generator's compressed encoding (BIP173's P2WPKH example key).
    CHECK(ToHex(Hash160Of(ParseHex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))) ==
          "751e76e8199196d454941c45d1b3a323f1433bd6");
}

TEST_CASE("incremental SHA256 equals one-shot and resets after Finalize")
{
    Sha256Writer w;
    w.Write(Str("ab")).Write(Str("c"));
    CHECK(w.Finalize() == Sha256(Str("abc")));
    CHECK(w.Write(Str("")).Finalize() == Sha256(Str("")));
}

TEST_CASE("HMAC-SHA256 RFC 4231 test case 2")
{
    CHECK(ToHex(HmacSha256(Str("Jefe"), Str("what do ya want for nothing?"))) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
