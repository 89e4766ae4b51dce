#include "primitives/key.h"
#include "util/hex.h"

#include <doctest/doctest.h>

using namespace sidebolt;

namespace {
//! n - s: the high-S twin of a low-S signature half.
ByteArray<32> NegateScalar(ByteSpan s)
{
    const Bytes order = ParseHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    ByteArray<32> out{};
    int borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        const int diff = order[i] - s[i] - borrow;
        borrow = diff < 0;
        out[i] = static_cast<uint8_t>(diff + (borrow ? 256 : 0));
    }
    return out;
}
} // namespace

TEST_CASE("recoverable signatures: BOLT 11's first example signature, recovery and tampering")
{
    // BOLT 11 Examples: priv_key and the "Signature breakdown" of the donation invoice.
    const auto key = *PrivKey::FromBytes(ParseHex("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734"));
    Hash256 msg;
    const Bytes msg_bytes = ParseHex("6daf4d488be41ce7cbb487cab1ef2975e5efcea879b20d421f0ef86b07cbb987");
    std::copy(msg_bytes.begin(), msg_bytes.end(), msg.begin());
    const RecoverableSignature sig = key.SignRecoverable(msg);
    CHECK(ToHex(sig.compact) ==
          "8d3ce9e28357337f62da0162d9454df827f83cfe499aeb1c1db349d4d81127425e434ca29929406c23bba1ae8ac6ca32880b38d4bf6ff874024cac34ba9625f1");
    CHECK(sig.recovery_id == 1);
    CHECK(sig.compact == key.Sign(msg).Compact());
    CHECK(RecoverPubKey(msg, sig) == key.GetPubKey());

    RecoverableSignature bad = sig;
    bad.recovery_id = 4;
    CHECK_FALSE(RecoverPubKey(msg, bad));
    bad.recovery_id = 0;
    CHECK(RecoverPubKey(msg, bad) != key.GetPubKey());
    Hash256 other = msg;
    other[0] ^= 1;
    CHECK(RecoverPubKey(other, sig) != key.GetPubKey());
    CHECK_FALSE(RecoverPubKey(msg, RecoverableSignature{}));
    RecoverableSignature overflow = sig;
    std::fill(overflow.compact.begin(), overflow.compact.begin() + 32, 0xff); // r above the group order
    CHECK_FALSE(RecoverPubKey(msg, overflow));

    // Recovery accepts the high-S twin (with the recovery id's parity flipped); verification does not.
    RecoverableSignature high_s = sig;
    const auto negated = NegateScalar(ByteSpan(sig.compact).subspan(32));
    std::copy(negated.begin(), negated.end(), high_s.compact.begin() + 32);
    high_s.recovery_id ^= 1;
    CHECK(RecoverPubKey(msg, high_s) == key.GetPubKey());
    CHECK_FALSE(VerifyEcdsa(key.GetPubKey(), msg, *EcdsaSignature::FromCompact(high_s.compact)));
}
