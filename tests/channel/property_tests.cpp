// Random channel states: both sides build the same transactions, fees and trimming follow the
// BOLT 3 formulas (written out independently here), and no output is dust.
#include "channel/commitment.h"
#include "channel/htlc_tx.h"
#include "channel/scripts.h"
#include "tests/channel/channel_test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
PartyParams Party(const std::string& name, Sat dust, uint16_t delay)
{
    return PartyParams{.funding_pubkey = NamedKey(name + " funding").GetPubKey(),
                       .basepoints = {NamedKey(name + " revocation").GetPubKey(), NamedKey(name + " payment").GetPubKey(),
                                      NamedKey(name + " delayed").GetPubKey(), NamedKey(name + " htlc").GetPubKey()},
                       .dust_limit_sat = dust,
                       .to_self_delay = delay};
}

struct RandomState {
    ChannelParams alice;
    ChannelParams bob;
    uint32_t feerate;
    Msat alice_msat;
    Msat bob_msat;
    std::vector<Htlc> alice_htlcs;
    uint64_t commitment_number;
    PubKey alice_point;
};

RandomState MakeState(std::mt19937_64& rng)
{
    auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
    const CommitmentFormat format = static_cast<CommitmentFormat>(uniform(0, 3));
    const Sat funding_sat{uniform(50'000, 20'000'000)};
    const PartyParams a = Party("alice", Sat{uniform(354, 3000)}, static_cast<uint16_t>(uniform(6, 2016)));
    const PartyParams b = Party("bob", Sat{uniform(354, 3000)}, static_cast<uint16_t>(uniform(6, 2016)));
    const OutPoint funding{Sha256(Bytes{static_cast<uint8_t>(uniform(0, 255))}), static_cast<uint32_t>(uniform(0, 3))};
    const Side opener = uniform(0, 1) ? Side::LOCAL : Side::REMOTE;
    ChannelParams alice{format, funding, funding_sat, a, b, opener};
    ChannelParams bob{format, funding, funding_sat, b, a, Other(opener)};

    // Mostly ordinary feerates, sometimes extreme ones that eat the opener's balance.
    const uint32_t feerate = uniform(0, 9) ? static_cast<uint32_t>(uniform(253, 50'000))
                                           : static_cast<uint32_t>(uniform(50'000, 5'000'000));
    Msat remaining_msat = ToMsat(funding_sat);
    std::vector<Htlc> htlcs;
    const size_t count = uniform(0, 9) ? uniform(0, 30) : uniform(400, 483);
    for (size_t i = 0; i < count && remaining_msat > Msat{}; ++i) {
        // Around the trimming thresholds as often as far above them.
        const Msat amount = std::min(remaining_msat, Msat{uniform(0, 1) ? uniform(1, 25'000'000) : uniform(1, 200'000'000)});
        remaining_msat -= amount;
        htlcs.push_back(Htlc{.direction = uniform(0, 1) ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                             .amount_msat = amount,
                             .payment_hash = Sha256(Bytes{static_cast<uint8_t>(uniform(0, 3))}), // duplicates on purpose
                             .cltv_expiry = static_cast<uint32_t>(uniform(100, 110))});
    }
    const Msat alice_msat{uniform(0, remaining_msat.value())};
    return RandomState{alice, bob, feerate, alice_msat, remaining_msat - alice_msat, htlcs,
                       uniform(0, (uint64_t{1} << 48) - 1), NamedKey("point " + std::to_string(uniform(0, 1000))).GetPubKey()};
}

std::vector<Htlc> Mirror(std::vector<Htlc> htlcs)
{
    for (Htlc& h : htlcs) h.direction = h.direction == HtlcDirection::OFFERED ? HtlcDirection::RECEIVED : HtlcDirection::OFFERED;
    return htlcs;
}

std::optional<CommitmentTx> TryBuild(const CommitmentSpec& spec, const CommitmentKeys* keys)
{
    try {
        return keys ? BuildCommitmentTx(spec, *keys) : BuildCommitmentTx(spec);
    } catch (const CommitmentError&) {
        return std::nullopt;
    }
}

//! The spec's numbers, spelled out without the library's helpers.
uint64_t SecondStageWeight(CommitmentFormat format, HtlcDirection direction)
{
    const bool anchors = format == CommitmentFormat::ANCHOR_OUTPUTS || format == CommitmentFormat::ANCHORS;
    if (format == CommitmentFormat::ANCHORS) return 0;
    if (direction == HtlcDirection::OFFERED) return anchors ? 666 : 663;
    return anchors ? 706 : 703;
}
} // namespace

TEST_CASE("random channel states: both sides agree and the BOLT 3 rules hold")
{
    std::mt19937_64 rng(20240601);
    size_t checked_htlc_txs = 0;
    size_t unbuildable = 0;
    for (int iteration = 0; iteration < 300; ++iteration) {
        CAPTURE(iteration);
        const RandomState st = MakeState(rng);
        for (const Side holder : {Side::LOCAL, Side::REMOTE}) {
            // Alice's view of `holder`'s commitment, and Bob's view of the same commitment.
            const CommitmentSpec from_alice = MakeCommitmentSpec(st.alice, holder, st.commitment_number, st.alice_point,
                                                                 st.feerate, st.alice_msat, st.bob_msat, st.alice_htlcs);
            const std::vector<Htlc> bob_htlcs = Mirror(st.alice_htlcs);
            const CommitmentSpec from_bob = MakeCommitmentSpec(st.bob, Other(holder), st.commitment_number, st.alice_point,
                                                               st.feerate, st.bob_msat, st.alice_msat, bob_htlcs);
            const CommitmentKeys keys = DeriveCommitmentKeys(from_alice);
            const auto a_built = TryBuild(from_alice, &keys);
            const auto b_built = TryBuild(from_bob, nullptr);
            REQUIRE(a_built.has_value() == b_built.has_value());
            if (!a_built) {
                // Only a state BOLT 2 forbids has no valid transaction: the opener cannot pay the
                // anchors, or nothing is left above dust.
                const uint64_t opener_sat =
                    (from_alice.holder_is_opener ? from_alice.to_local_msat : from_alice.to_remote_msat).value() / 1000;
                const uint64_t other_sat =
                    (from_alice.holder_is_opener ? from_alice.to_remote_msat : from_alice.to_local_msat).value() / 1000;
                const uint64_t dust = from_alice.dust_limit_sat.value();
                const bool all_trimmed = std::all_of(from_alice.htlcs.begin(), from_alice.htlcs.end(), [&](const Htlc& h) {
                    return h.amount_msat.value() / 1000 <
                           dust + from_alice.feerate_per_kw * SecondStageWeight(from_alice.format, h.direction) / 1000;
                });
                const bool empty = all_trimmed && other_sat < dust && opener_sat < dust;
                CHECK(((HasAnchors(from_alice.format) && opener_sat < 660) || empty));
                ++unbuildable;
                continue;
            }
            const CommitmentTx& a = *a_built;
            const CommitmentTx& b = *b_built;
            REQUIRE(a.tx == b.tx);
            CHECK(a.trimmed_htlcs == b.trimmed_htlcs);
            CHECK(a.opener_balance_after_fee_sat == b.opener_balance_after_fee_sat);

            const CommitmentSpec& spec = from_alice;
            const CommitmentFormat format = spec.format;
            const bool anchors = HasAnchors(format);
            // Trimming: amount - second-stage fee < dust_limit.
            size_t untrimmed = 0;
            for (size_t i = 0; i < spec.htlcs.size(); ++i) {
                const Htlc& h = spec.htlcs[i];
                const uint64_t fee = spec.feerate_per_kw * SecondStageWeight(format, h.direction) / 1000;
                const bool trimmed = h.amount_msat.value() / 1000 < spec.dust_limit_sat.value() + fee;
                CHECK(trimmed == std::binary_search(a.trimmed_htlcs.begin(), a.trimmed_htlcs.end(), i));
                CHECK(trimmed != a.OutputOfHtlc(i).has_value());
                untrimmed += !trimmed;
            }
            // Base fee and who pays it.
            const uint64_t weight = (anchors ? 1124 : 724) + 172 * untrimmed;
            CHECK(a.base_fee_sat.value() == spec.feerate_per_kw * weight / 1000);
            const uint64_t opener_msat = (spec.holder_is_opener ? spec.to_local_msat : spec.to_remote_msat).value();
            CHECK(a.opener_balance_after_fee_sat ==
                  static_cast<int64_t>(opener_msat / 1000) - static_cast<int64_t>(a.base_fee_sat.value()) - (anchors ? 660 : 0));

            int64_t total_out = 0;
            size_t main_outputs = 0, anchor_outputs = 0;
            for (size_t i = 0; i < a.tx.vout.size(); ++i) {
                const TxOut& out = a.tx.vout[i];
                const CommitmentOutput& info = a.outputs[i];
                total_out += out.value;
                if (i > 0) {
                    const TxOut& prev = a.tx.vout[i - 1];
                    CHECK((prev.value < out.value || (prev.value == out.value && prev.script_pubkey <= out.script_pubkey)));
                }
                if (info.kind == CommitmentOutputKind::LOCAL_ANCHOR || info.kind == CommitmentOutputKind::REMOTE_ANCHOR) {
                    CHECK(out.value == 330);
                    ++anchor_outputs;
                    continue;
                }
                // No output below the holder's dust limit.
                CHECK(out.value >= static_cast<int64_t>(spec.dust_limit_sat.value()));
                if (info.kind == CommitmentOutputKind::TO_LOCAL || info.kind == CommitmentOutputKind::TO_REMOTE) ++main_outputs;
                if (!info.witness_script.empty()) CHECK(out.script_pubkey == P2wshScript(info.witness_script).Data());
            }
            CHECK(a.tx.vout.size() == untrimmed + main_outputs + anchor_outputs);
            // The fee never takes more than the channel: with an unaffordable fee the opener's output
            // is simply gone (BOLT 3 floors it at zero; BOLT 2 forbids reaching such a state).
            const int64_t actual_fee = static_cast<int64_t>(spec.funding_sat.value()) - total_out;
            CHECK(actual_fee >= 0);
            if (a.opener_balance_after_fee_sat >= 0) {
                CHECK(actual_fee >= static_cast<int64_t>(a.base_fee_sat.value()));
            } else {
                const auto opener_kind = spec.holder_is_opener ? CommitmentOutputKind::TO_LOCAL : CommitmentOutputKind::TO_REMOTE;
                CHECK(std::none_of(a.outputs.begin(), a.outputs.end(), [&](const auto& o) { return o.kind == opener_kind; }));
            }
            if (anchors) {
                const bool has_htlcs = untrimmed > 0;
                const auto has = [&](CommitmentOutputKind kind) {
                    return std::any_of(a.outputs.begin(), a.outputs.end(), [&](const auto& o) { return o.kind == kind; });
                };
                CHECK(has(CommitmentOutputKind::LOCAL_ANCHOR) == (has(CommitmentOutputKind::TO_LOCAL) || has_htlcs));
                CHECK(has(CommitmentOutputKind::REMOTE_ANCHOR) == (has(CommitmentOutputKind::TO_REMOTE) || has_htlcs));
            }
            // Identical HTLC outputs are ordered by cltv_expiry.
            for (size_t i = 1; i < a.outputs.size(); ++i) {
                if (a.outputs[i].htlc_index && a.outputs[i - 1].htlc_index && a.tx.vout[i] == a.tx.vout[i - 1]) {
                    CHECK(spec.htlcs[*a.outputs[i - 1].htlc_index].cltv_expiry <= spec.htlcs[*a.outputs[i].htlc_index].cltv_expiry);
                }
            }
            // Second-stage transactions agree too.
            if (iteration % 10 == 0) {
                const auto htlc_a = BuildHtlcTxs(a, from_alice, keys);
                const auto htlc_b = BuildHtlcTxs(b, from_bob, DeriveCommitmentKeys(from_bob));
                REQUIRE(htlc_a.size() == untrimmed);
                for (size_t i = 0; i < htlc_a.size(); ++i) CHECK(htlc_a[i].tx == htlc_b[i].tx);
                checked_htlc_txs += htlc_a.size();
            }
        }
    }
    CHECK(checked_htlc_txs > 0);
    CHECK(unbuildable < 30);
}
