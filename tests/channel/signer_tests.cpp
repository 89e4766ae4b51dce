// ChannelSigner: every secret derived from the channel secret as channel/signer.h documents.
#include "channel/keys.h"
#include "channel/shachain.h"
#include "channel/signer.h"
#include "primitives/hash.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string_view>

using namespace sidebolt;

namespace {
Secret<32> SecretOfByte(uint8_t byte) { return Secret<32>(Bytes(32, byte)); }

Hash256 Hmac(const Secret<32>& key, std::string_view label)
{
    return HmacSha256(key.span(), Bytes(label.begin(), label.end()));
}
} // namespace

TEST_CASE("channel signer derivation is deterministic and follows the documented labels")
{
    const Secret<32> channel_secret = SecretOfByte(7);
    const ChannelSigner signer(channel_secret);
    const ChannelSigner again(channel_secret);
    CHECK(signer.FundingPubKey() == again.FundingPubKey());
    CHECK(signer.GetBasepoints() == again.GetBasepoints());
    CHECK(signer.PerCommitmentPoint(5) == again.PerCommitmentPoint(5));

    // Each key is HMAC-SHA256(secret, label) (valid scalars here, so no retry suffix).
    const Hash256 funding = Hmac(channel_secret, "funding");
    CHECK(std::ranges::equal(signer.FundingKey().span(), funding));
    CHECK(signer.RevocationBasepointSecret().GetPubKey() == signer.GetBasepoints().revocation);
    CHECK(signer.PaymentBasepointSecret().GetPubKey() == signer.GetBasepoints().payment);
    CHECK(signer.DelayedPaymentBasepointSecret().GetPubKey() == signer.GetBasepoints().delayed_payment);
    CHECK(signer.HtlcBasepointSecret().GetPubKey() == signer.GetBasepoints().htlc);
    const auto expected_htlc = PrivKey::FromBytes(Hmac(channel_secret, "htlc"));
    REQUIRE(expected_htlc);
    CHECK(signer.HtlcBasepointSecret() == *expected_htlc);
}

TEST_CASE("channel signer keys differ by label and by channel secret")
{
    const ChannelSigner signer(SecretOfByte(1));
    const ChannelSigner other(SecretOfByte(2));
    const Basepoints b = signer.GetBasepoints();
    const std::set<ByteArray<33>> keys{signer.FundingPubKey().Bytes33(), b.revocation.Bytes33(), b.payment.Bytes33(),
                                       b.delayed_payment.Bytes33(), b.htlc.Bytes33(), signer.PerCommitmentPoint(0).Bytes33()};
    CHECK(keys.size() == 6);
    CHECK(signer.FundingPubKey() != other.FundingPubKey());
    CHECK(signer.GetBasepoints() != other.GetBasepoints());
    CHECK(signer.PerCommitmentPoint(0) != other.PerCommitmentPoint(0));
}

TEST_CASE("per-commitment secrets are the BOLT 3 shachain of the per_commitment_seed")
{
    const Secret<32> channel_secret = SecretOfByte(9);
    const ChannelSigner signer(channel_secret);
    const Secret<32> seed(Hmac(channel_secret, "per_commitment_seed"));
    for (const uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{1000}, uint64_t{1} << 40}) {
        CHECK(signer.PerCommitmentSecret(n) == GeneratePerCommitmentSecret(seed, CommitmentIndex(n)));
        CHECK(signer.PerCommitmentPoint(n) == PerCommitmentPoint(signer.PerCommitmentSecret(n)));
    }
    CHECK(signer.PerCommitmentSecret(0) != signer.PerCommitmentSecret(1));
    // A receiver's shachain store accepts them in order, as revoke_and_ack delivers them.
    ShachainStore store;
    for (uint64_t n = 0; n < 20; ++n) {
        CHECK(store.Insert(CommitmentIndex(n), signer.PerCommitmentSecret(n)) == ShachainStore::InsertResult::OK);
    }
    CHECK(store.Lookup(CommitmentIndex(3)) == signer.PerCommitmentSecret(3));
}
