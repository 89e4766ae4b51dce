// Amounts from the peer at their extremes: trimming never wraps, the outputs never add up to more
// than the funding output, and every out-of-range amount is an error rather than a wrapped value.
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "tests/channel/channel_test_util.h"
#include "util/amount.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {
constexpr Sat kHugeDust{std::numeric_limits<uint64_t>::max()};

Htlc MakeHtlc(Msat amount, HtlcDirection direction = HtlcDirection::OFFERED)
{
    return Htlc{.direction = direction, .amount_msat = amount, .payment_hash = Sha256(Bytes{9}), .cltv_expiry = 500'000};
}

//! A legacy commitment held by the acceptor, whose balances and one HTLC add up exactly to the
//! 1'000'000 sat funding: 9'000 sat to_local, an untrimmed 100'000 sat HTLC, the rest to the opener.
CommitmentSpec Spec()
{
    auto points = [](const std::string& name) {
        return Basepoints{NamedKey(name + " revocation").GetPubKey(), NamedKey(name + " payment").GetPubKey(),
                          NamedKey(name + " delayed").GetPubKey(), NamedKey(name + " htlc").GetPubKey()};
    };
    return CommitmentSpec{
        .format = CommitmentFormat::LEGACY,
        .funding_outpoint = OutPoint{Sha256(Bytes{4}), 0},
        .funding_sat = 1'000'000_sat,
        .holder_funding_pubkey = NamedKey("holder funding").GetPubKey(),
        .counterparty_funding_pubkey = NamedKey("counterparty funding").GetPubKey(),
        .holder = points("holder"),
        .counterparty = points("counterparty"),
        .holder_is_opener = false,
        .to_self_delay = 144,
        .dust_limit_sat = 546_sat,
        .feerate_per_kw = 100'000,
        .commitment_number = 3,
        .per_commitment_point = NamedKey("point").GetPubKey(),
        .to_local_msat = 9'000'000_msat,
        .to_remote_msat = 891'000'000_msat,
        .htlcs = {MakeHtlc(100'000'000_msat)},
    };
}
} // namespace

TEST_CASE("IsTrimmed: amount minus second-stage fee against the dust limit, without wrapping")
{
    // Legacy HTLC-timeout fee at 100'000 sat/kw: 663 * 100 = 66'300 sat.
    const auto legacy = CommitmentFormat::LEGACY;
    CHECK(HtlcTimeoutFee(legacy, 100'000) == 66'300_sat);
    CHECK(HtlcSuccessFee(legacy, 100'000) == 70'300_sat);
    CHECK(HtlcTimeoutFee(CommitmentFormat::ANCHORS, 100'000) == 0_sat);
    // Exactly at the dust limit stays; one satoshi less is trimmed (sub-satoshi msat round down).
    CHECK_FALSE(IsTrimmed(MakeHtlc(66'846'000_msat), legacy, 100'000, 546_sat));
    CHECK(IsTrimmed(MakeHtlc(66'845'999_msat), legacy, 100'000, 546_sat));
    // An amount below the fee is trimmed even with no dust limit (no negative difference).
    CHECK(IsTrimmed(MakeHtlc(66'299'000_msat), legacy, 100'000, 0_sat));
    CHECK_FALSE(IsTrimmed(MakeHtlc(66'300'000_msat), legacy, 100'000, 0_sat));
    // dust_limit + fee used to wrap to 66'299 here, leaving a 100'000 sat HTLC untrimmed.
    CHECK(IsTrimmed(MakeHtlc(100'000'000_msat), legacy, 100'000, kHugeDust));
    CHECK(IsTrimmed(MakeHtlc(Msat{std::numeric_limits<uint64_t>::max()}), CommitmentFormat::ANCHORS, 0, kHugeDust));
}

TEST_CASE("a huge peer-supplied dust limit trims every output, leaving no valid commitment")
{
    CommitmentSpec spec = Spec();
    const CommitmentTx normal = BuildCommitmentTx(spec);
    CHECK(normal.tx.vout.size() == 3);
    CHECK(normal.trimmed_htlcs.empty());

    // BOLT 3 only compares against the limit, so everything is trimmed; the spec is then
    // rejected for having no output. (The old code wrapped the limit into a tiny negative one.)
    spec.dust_limit_sat = kHugeDust;
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
    spec.dust_limit_sat = spec.funding_sat + 1_sat;
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
    // A limit that leaves only the opener's balance gives a commitment with that output alone.
    spec.dust_limit_sat = 500'000_sat;
    const CommitmentTx large_dust = BuildCommitmentTx(spec);
    REQUIRE(large_dust.tx.vout.size() == 1);
    CHECK(large_dust.outputs[0].kind == CommitmentOutputKind::TO_REMOTE);
    CHECK(large_dust.trimmed_htlcs == std::vector<size_t>{0});
}

TEST_CASE("balances plus HTLCs beyond the funding amount are rejected, trimmed HTLCs included")
{
    CommitmentSpec spec = Spec();
    CHECK_NOTHROW(BuildCommitmentTx(spec));
    spec.to_remote_msat += 1_msat;
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);

    // A 50'000 sat HTLC is trimmed at this feerate, but its value must still exist: with it, the
    // 10'000 sat channel would hold 59'000 sat. The old code only summed the outputs.
    spec = Spec();
    spec.funding_sat = 10'000_sat;
    spec.to_remote_msat = 0_msat;
    spec.htlcs = {MakeHtlc(50'000'000_msat)};
    REQUIRE(IsTrimmed(spec.htlcs[0], spec.format, spec.feerate_per_kw, spec.dust_limit_sat));
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
    spec.funding_sat = 59'000_sat;
    CHECK_NOTHROW(BuildCommitmentTx(spec));

    // The msat sum itself would wrap past 2^64 to 4'000'000 msat, well inside the funding.
    spec = Spec();
    spec.to_local_msat = 5'000'000_msat;
    spec.to_remote_msat = 0_msat;
    spec.htlcs = {MakeHtlc(Msat{std::numeric_limits<uint64_t>::max() - 999'999})};
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
}

TEST_CASE("HTLC count and funding amount are bounded")
{
    CommitmentSpec spec = Spec();
    spec.feerate_per_kw = 0;
    spec.dust_limit_sat = 0_sat;
    spec.htlcs.assign(MAX_COMMITMENT_HTLCS, MakeHtlc(1'000_msat));
    spec.to_remote_msat = 891'000'000_msat + 100'000'000_msat - ToMsat(Sat{MAX_COMMITMENT_HTLCS});
    CHECK(BuildCommitmentTx(spec).tx.vout.size() == MAX_COMMITMENT_HTLCS + 2);
    spec.htlcs.push_back(MakeHtlc(0_msat));
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
    // 2048 HTLCs of 2^53 sat: their outputs' int64_t sum used to overflow (to zero).
    spec.htlcs.assign(2048, MakeHtlc(ToMsat(Sat{uint64_t{1} << 53})));
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);

    // No transaction output can exceed 21 million bitcoin, so neither can the funding output.
    spec = Spec();
    spec.funding_sat = kMaxMoney + 1_sat;
    CHECK_THROWS_AS(BuildCommitmentTx(spec), CommitmentError);
    spec.funding_sat = kMaxMoney;
    spec.to_remote_msat = ToMsat(kMaxMoney) - 109'000'000_msat;
    const CommitmentTx all_money = BuildCommitmentTx(spec);
    CHECK(all_money.tx.vout.back().value == ToTxValue(ToSatFloor(spec.to_remote_msat) - all_money.base_fee_sat));
    CHECK_THROWS_AS(FundingSigHash(all_money.tx, all_money.funding_script, kMaxMoney + 1_sat), AmountError);
}

TEST_CASE("an HTLC transaction whose fee exceeds its input is an error, not a negative output")
{
    CommitmentSpec spec = Spec();
    const CommitmentKeys keys = DeriveCommitmentKeys(spec);
    const CommitmentTx commitment = BuildCommitmentTx(spec, keys);
    const std::vector<HtlcTx> htlc_txs = BuildHtlcTxs(commitment, spec, keys);
    REQUIRE(htlc_txs.size() == 1);
    CHECK(htlc_txs[0].input_sat == 100'000_sat);
    CHECK(htlc_txs[0].tx.vout[0].value == 100'000 - 66'300);
    // The same commitment paired with a spec at a higher feerate: 663 * 200 = 132'600 > 100'000.
    spec.feerate_per_kw = 200'000;
    CHECK_THROWS_AS(BuildHtlcTxs(commitment, spec, keys), AmountError);
}
