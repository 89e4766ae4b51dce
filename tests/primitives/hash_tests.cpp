#include "primitives/hash.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>

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

TEST_CASE("a copied SHA256 writer goes on from the same midstate; a million bytes in pieces")
{
    Sha256Writer prefix;
    prefix.Write(Str("ab"));
    Sha256Writer copy = prefix;
    CHECK(copy.Write(Str("c")).Finalize() == Sha256(Str("abc")));
    CHECK(prefix.Write(Str("d")).Finalize() == Sha256(Str("abd")));
    // FIPS 180-2's long message: one million 'a'.
    Sha256Writer million;
    const std::string thousand(1000, 'a');
    for (int i = 0; i < 1000; ++i) million.Write(Str(thousand));
    CHECK(ToHex(million.Finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("HMAC-SHA256 RFC 4231 test cases 1, 2 and 6, and an empty key")
{
    CHECK(ToHex(HmacSha256(Bytes(20, 0x0b), Str("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(ToHex(HmacSha256(Str("Jefe"), Str("what do ya want for nothing?"))) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // A key longer than SHA256's block is hashed first.
    CHECK(ToHex(HmacSha256(Bytes(131, 0xaa), Str("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    // Right after another key: an empty key is not "the key before" (each thread keeps one
    // context and keys it again per MAC).
    CHECK(ToHex(HmacSha256({}, {})) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    Hash256 on_other_thread;
    std::thread([&] { on_other_thread = HmacSha256(Str("Jefe"), Str("what do ya want for nothing?")); }).join();
    CHECK(ToHex(on_other_thread) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
