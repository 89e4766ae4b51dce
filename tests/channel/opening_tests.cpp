// BOLT 2 channel establishment v1: every refusal, and a full opener <-> fundee flow.
#include "channel/funding.h"
#include "channel/opening.h"
#include "channel/scripts.h"
#include "channel/state.h"
#include "tests/channel/channel_test_util.h"

#include <doctest/doctest.h>

#include <functional>
#include <stdexcept>
#include <string>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {

ChannelSigner NamedSigner(std::string_view name)
{
    return ChannelSigner{Secret<32>{Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()})}};
}

Hash256 NamedHash(std::string_view name)
{
    return Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
}

struct Fixture {
    ChannelSigner opener_signer{NamedSigner("opener channel")};
    ChannelSigner fundee_signer{NamedSigner("fundee channel")};
    OpenPolicy policy;
    ChannelFeatures features{.channel_type = true,
                             .anchors = true,
                             .large_channel = false,
                             .upfront_shutdown_script = true,
                             .shutdown_anysegwit = false};
    Hash256 chain{NamedHash("regtest")};
    FundeeContext context{chain, 2500, Script{P2wpkhScript(NamedKey("fundee wallet").GetPubKey())}};
    OpenRequest request{chain,
                        NamedHash("temporary"),
                        1'000'000_sat,
                        100'000'000_msat,
                        2500,
                        true,
                        Script{P2wpkhScript(NamedKey("opener wallet").GetPubKey())}};
    OutPoint funding_outpoint{NamedHash("funding tx"), 1};

    OpenChannelMessage Open() const
    {
        auto open = MakeOpenChannel(request, policy, features, opener_signer);
        REQUIRE(open);
        return *open;
    }
    AcceptedOpen Accept(const OpenChannelMessage& open) const
    {
        auto accepted = HandleOpenChannel(open, policy, features, context, fundee_signer);
        REQUIRE(accepted);
        return *accepted;
    }
    //! The fundee's refusal of `open` after `change`.
    OpenRefusalReason RefusalOf(const std::function<void(OpenChannelMessage&)>& change) const
    {
        OpenChannelMessage open = Open();
        change(open);
        const auto result = HandleOpenChannel(open, policy, features, context, fundee_signer);
        REQUIRE_FALSE(result);
        CHECK_FALSE(result.error().message.empty());
        return result.error().reason;
    }
    //! The opener's refusal of the fundee's accept_channel after `change`.
    OpenRefusalReason AcceptRefusalOf(const std::function<void(AcceptChannelMessage&)>& change) const
    {
        const OpenChannelMessage open = Open();
        AcceptChannelMessage accept = Accept(open).message;
        change(accept);
        const auto result = HandleAcceptChannel(open, accept, policy, features);
        REQUIRE_FALSE(result);
        CHECK_FALSE(result.error().message.empty());
        return result.error().reason;
    }
};

void CheckMirrored(const PartyParams& a, const PartyParams& b)
{
    CHECK(a.funding_pubkey == b.funding_pubkey);
    CHECK(a.basepoints == b.basepoints);
    CHECK(a.dust_limit_sat == b.dust_limit_sat);
    CHECK(a.to_self_delay == b.to_self_delay);
}

//! Adds both signatures to `holder`'s commitment 0 and runs the funding input through the interpreter.
void CheckCommitmentSpends(const OpenedChannel& holder, const ChannelSigner& holder_signer)
{
    const ChannelState state = MakeChannelState(holder);
    CHECK(state.local_commitment_signature == holder.remote_commitment_signature);
    CHECK(state.local_balance == holder.setup.initial_local_balance);
    CommitmentTx commitment = BuildCommitmentTx(LocalCommitmentView(state, holder_signer).spec);
    CHECK(commitment.tx.vout.size() == 4); // both balances and both anchors
    const ChannelParams& params = holder.setup.params;
    const EcdsaSignature ours =
        SignFundingInput(commitment.tx, commitment.funding_script, params.funding_sat, holder_signer.FundingKey());
    SetFundingWitness(commitment.tx, commitment.funding_script, params.local.funding_pubkey, ours,
                      params.remote.funding_pubkey, holder.remote_commitment_signature);
    const TxOut funding_output{ToTxValue(params.funding_sat), P2wshScript(commitment.funding_script).Data()};
    CHECK(VerifyInput(commitment.tx, 0, funding_output) == ScriptError::OK);
}

//! The same signature with s replaced by n - s: valid ECDSA, but not LOW-S.
EcdsaSignature HighS(const EcdsaSignature& signature)
{
    static constexpr uint8_t kOrder[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                           0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                           0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
    ByteArray<64> compact = signature.Compact();
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        const int diff = kOrder[i] - compact[32 + i] - borrow;
        borrow = diff < 0 ? 1 : 0;
        compact[32 + i] = static_cast<uint8_t>(diff + (borrow ? 256 : 0));
    }
    const auto high = EcdsaSignature::FromCompact(compact);
    REQUIRE(high);
    return *high;
}

} // namespace

TEST_CASE("opening: channel_id is the funding txid XOR the output index, big-endian")
{
    Hash256 txid{};
    txid[30] = 0x12;
    txid[31] = 0x34;
    const Hash256 id = ComputeChannelId(txid, 0x0102);
    CHECK(id[30] == (0x12 ^ 0x01));
    CHECK(id[31] == (0x34 ^ 0x02));
    CHECK(ComputeChannelId(txid, 0) == txid);
}

TEST_CASE("opening: full opener <-> fundee flow gives mirrored setups and commitment 0 signatures")
{
    Fixture f;
    const OpenChannelMessage open = f.Open();
    CHECK(open.channel_type == ChannelType{.anchors = true, .scid_alias = false, .zeroconf = false}.ToFeatureBits());
    CHECK(open.channel_flags == OpenChannelMessage::kAnnounceChannelFlag);
    CHECK(open.channel_reserve_satoshis == 10'000_sat); // 1% of the funding
    CHECK(open.first_per_commitment_point == f.opener_signer.PerCommitmentPoint(0));

    const AcceptedOpen accepted = f.Accept(open);
    CHECK(accepted.message.channel_type == open.channel_type);
    CHECK(accepted.message.minimum_depth == 3);

    auto pending = HandleAcceptChannel(open, accepted.message, f.policy, f.features);
    REQUIRE(pending);
    const FundingCreatedMessage created = MakeFundingCreated(*pending, f.funding_outpoint, f.opener_signer);
    CHECK(created.funding_txid == f.funding_outpoint.txid);
    CHECK(created.funding_output_index == 1);

    auto signed_reply = HandleFundingCreated(accepted.pending, created, f.fundee_signer);
    REQUIRE(signed_reply);
    auto opened = HandleFundingSigned(*pending, signed_reply->message, f.opener_signer);
    REQUIRE(opened);

    const ChannelSetup& a = opened->setup;
    const ChannelSetup& b = signed_reply->channel.setup;
    CHECK(a.channel_id == ComputeChannelId(f.funding_outpoint.txid, 1));
    CHECK(b.channel_id == a.channel_id);
    CHECK(a.params.format == CommitmentFormat::ANCHORS);
    CHECK(b.params.format == CommitmentFormat::ANCHORS);
    CHECK(a.params.funding_outpoint == f.funding_outpoint);
    CHECK(b.params.funding_outpoint == f.funding_outpoint);
    CHECK(a.params.funding_sat == 1'000'000_sat);
    CHECK(b.params.funding_sat == 1'000'000_sat);
    CheckMirrored(a.params.local, b.params.remote);
    CheckMirrored(a.params.remote, b.params.local);
    CHECK(a.params.opener == Side::LOCAL);
    CHECK(b.params.opener == Side::REMOTE);
    CHECK(a.local_limits == b.remote_limits);
    CHECK(a.remote_limits == b.local_limits);
    CHECK(a.initial_local_balance == 900'000'000_msat);
    CHECK(a.initial_remote_balance == 100'000'000_msat);
    CHECK(b.initial_local_balance == a.initial_remote_balance);
    CHECK(b.initial_remote_balance == a.initial_local_balance);
    CHECK(a.initial_feerate_per_kw == 2500);
    CHECK(b.initial_feerate_per_kw == 2500);
    CHECK(a.remote_first_per_commitment_point == f.fundee_signer.PerCommitmentPoint(0));
    CHECK(b.remote_first_per_commitment_point == f.opener_signer.PerCommitmentPoint(0));
    CHECK(a.local_upfront_shutdown_script == f.request.upfront_shutdown_script);
    CHECK(a.remote_upfront_shutdown_script == f.context.upfront_shutdown_script);
    CHECK(b.local_upfront_shutdown_script == a.remote_upfront_shutdown_script);
    CHECK(b.remote_upfront_shutdown_script == a.local_upfront_shutdown_script);
    CHECK(a.minimum_depth == 3);
    CHECK(b.minimum_depth == 3);
    CHECK(a.announce);
    CHECK(b.announce);
    // Our to_self_delay binds the peer: it is the delay on their to_local.
    CHECK(a.params.local.to_self_delay == f.policy.to_self_delay);

    CheckCommitmentSpends(*opened, f.opener_signer);
    CheckCommitmentSpends(signed_reply->channel, f.fundee_signer);

    const ChannelReadyMessage ready = MakeChannelReady(a.channel_id, f.opener_signer);
    CHECK(ready.channel_id == a.channel_id);
    CHECK(ready.second_per_commitment_point == f.opener_signer.PerCommitmentPoint(1));
}

TEST_CASE("opening: channel type negotiation")
{
    Fixture f;
    SUBCASE("static_remotekey alone is accepted")
    {
        f.features.anchors = false;
        const OpenChannelMessage open = f.Open();
        CHECK(open.channel_type == ChannelType{}.ToFeatureBits());
        const AcceptedOpen accepted = f.Accept(open);
        CHECK(accepted.pending.setup.params.format == CommitmentFormat::STATIC_REMOTEKEY);
    }
    SUBCASE("without option_channel_type the negotiated features decide")
    {
        f.features.channel_type = false;
        OpenChannelMessage open = f.Open();
        CHECK_FALSE(open.channel_type);
        CHECK(f.Accept(open).pending.setup.params.format == CommitmentFormat::ANCHORS);
        f.features.anchors = false;
        open = f.Open();
        CHECK(f.Accept(open).pending.setup.params.format == CommitmentFormat::STATIC_REMOTEKEY);
    }
    SUBCASE("option_channel_type negotiated but missing")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.channel_type.reset(); }) ==
              OpenRefusalReason::kChannelTypeMissing);
        CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.channel_type.reset(); }) ==
              OpenRefusalReason::kChannelTypeMissing);
    }
    SUBCASE("undefined, aliased and zeroconf types are refused")
    {
        for (const ChannelType type : {ChannelType{.anchors = true, .scid_alias = true, .zeroconf = false},
                                       ChannelType{.anchors = false, .scid_alias = false, .zeroconf = true}}) {
            CHECK(f.RefusalOf([&](OpenChannelMessage& o) { o.channel_type = type.ToFeatureBits(); }) ==
                  OpenRefusalReason::kChannelTypeUnsupported);
        }
        FeatureBits undefined;
        undefined.Set(12);
        undefined.Set(20);
        CHECK(f.RefusalOf([&](OpenChannelMessage& o) { o.channel_type = undefined; }) ==
              OpenRefusalReason::kChannelTypeUnsupported);
        CHECK(f.RefusalOf([&](OpenChannelMessage& o) { o.channel_type = FeatureBits{}; }) ==
              OpenRefusalReason::kChannelTypeUnsupported);
    }
    SUBCASE("accept_channel's type must equal open_channel's")
    {
        f.features.channel_type = false;
        CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.channel_type = ChannelType{}.ToFeatureBits(); }) ==
              OpenRefusalReason::kChannelTypeMismatch);
        f.features.channel_type = true;
        CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.channel_type = ChannelType{}.ToFeatureBits(); }) ==
              OpenRefusalReason::kChannelTypeMismatch);
    }
}

TEST_CASE("opening: the fundee refuses every open_channel BOLT 2 tells it to")
{
    using R = OpenRefusalReason;
    Fixture f;
    SUBCASE("unknown chain")
    {
        f.context.chain_hash = NamedHash("mainnet");
        CHECK(f.RefusalOf([](OpenChannelMessage&) {}) == R::kUnknownChain);
    }
    SUBCASE("funding too small, too large without option_support_large_channel")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.funding_satoshis = 19'999_sat;
            o.push_msat = 0_msat;
        }) == R::kFundingTooSmall);
        const auto large = [](OpenChannelMessage& o) { o.funding_satoshis = Sat{uint64_t{1} << 24}; };
        CHECK(f.RefusalOf(large) == R::kFundingTooLarge);
        f.features.large_channel = true;
        OpenChannelMessage open = f.Open();
        large(open);
        open.channel_reserve_satoshis = 200'000_sat;
        CHECK(HandleOpenChannel(open, f.policy, f.features, f.context, f.fundee_signer));
    }
    SUBCASE("push_msat greater than funding_satoshis * 1000")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.push_msat = 1'000'000'001_msat; }) == R::kPushTooLarge);
    }
    SUBCASE("to_self_delay unreasonably large")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.to_self_delay = 2017; }) == R::kToSelfDelayTooLarge);
    }
    SUBCASE("max_accepted_htlcs above 483 or too small")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.max_accepted_htlcs = 484; }) == R::kMaxAcceptedHtlcsTooLarge);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.max_accepted_htlcs = 4; }) == R::kMaxAcceptedHtlcsTooSmall);
    }
    SUBCASE("feerate too small or unreasonably large")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.feerate_per_kw = 252; }) == R::kFeerateTooLow);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.feerate_per_kw = 25'001; }) == R::kFeerateTooHigh);
        // Anchors accept anything above the floor; without them half the estimate is required.
        OpenChannelMessage floor = f.Open();
        floor.feerate_per_kw = 253;
        CHECK(f.Accept(floor).pending.setup.initial_feerate_per_kw == 253);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.channel_type = ChannelType{}.ToFeatureBits();
            o.feerate_per_kw = 1249;
        }) == R::kFeerateTooLow);
    }
    SUBCASE("dust limit below 354, too large, or above the reserve")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.dust_limit_satoshis = 353_sat; }) == R::kDustLimitTooSmall);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.dust_limit_satoshis = 1001_sat; }) == R::kDustLimitTooLarge);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.dust_limit_satoshis = 600_sat;
            o.channel_reserve_satoshis = 599_sat;
        }) == R::kDustLimitAboveReserve);
    }
    SUBCASE("the opener's reserve is below our dust limit")
    {
        f.policy.dust_limit = 800_sat;
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.dust_limit_satoshis = 354_sat;
            o.channel_reserve_satoshis = 799_sat;
        }) == R::kReserveBelowDustLimit);
    }
    SUBCASE("limits we consider unreasonable")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.channel_reserve_satoshis = 100'001_sat; }) ==
              R::kReserveTooLarge);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.htlc_minimum_msat = 1'000'001_msat; }) ==
              R::kHtlcMinimumTooLarge);
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.max_htlc_value_in_flight_msat = 49'999'999_msat; }) ==
              R::kMaxHtlcInFlightTooSmall);
    }
    SUBCASE("the opener cannot pay the commitment fee")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) { o.push_msat = 999'000'000_msat; }) == R::kCannotPayFee);
    }
    SUBCASE("neither initial balance is above its reserve")
    {
        f.policy.channel_reserve_ppm = 500'000;
        f.policy.max_peer_reserve_ppm = 1'000'000;
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.funding_satoshis = 20'000_sat;
            o.push_msat = 8'000'000_msat;
            o.channel_reserve_satoshis = 10'000_sat;
            o.max_htlc_value_in_flight_msat = o.push_msat;
        }) == R::kNoOutputAboveReserve);
    }
    SUBCASE("invalid upfront shutdown script; any segwit only with option_shutdown_anysegwit")
    {
        CHECK(f.RefusalOf([](OpenChannelMessage& o) {
            o.upfront_shutdown_script = Bytes{OP_RETURN, 1, 0};
        }) == R::kInvalidUpfrontShutdownScript);
        const Bytes taproot = P2trScript(XOnlyFromPubKey(NamedKey("taproot").GetPubKey())).Data();
        CHECK(f.RefusalOf([&](OpenChannelMessage& o) { o.upfront_shutdown_script = taproot; }) ==
              R::kInvalidUpfrontShutdownScript);
        f.features.shutdown_anysegwit = true;
        OpenChannelMessage open = f.Open();
        open.upfront_shutdown_script = taproot;
        const AcceptedOpen accepted = f.Accept(open);
        CHECK(accepted.pending.setup.remote_upfront_shutdown_script == Script{taproot});
    }
    SUBCASE("our own upfront shutdown script must be valid too")
    {
        f.context.upfront_shutdown_script = Script{}.Op(OP_TRUE);
        CHECK(f.RefusalOf([](OpenChannelMessage&) {}) == R::kInvalidUpfrontShutdownScript);
    }
    SUBCASE("without option_upfront_shutdown_script the peer's script binds nothing")
    {
        f.features.upfront_shutdown_script = false;
        OpenChannelMessage open = f.Open();
        open.upfront_shutdown_script = Bytes{OP_TRUE};
        CHECK_FALSE(f.Accept(open).pending.setup.remote_upfront_shutdown_script);
    }
    SUBCASE("a zero-length upfront shutdown script means none")
    {
        OpenChannelMessage open = f.Open();
        open.upfront_shutdown_script = Bytes{};
        CHECK_FALSE(f.Accept(open).pending.setup.remote_upfront_shutdown_script);
    }
}

TEST_CASE("opening: invalid points never reach the opening logic")
{
    Fixture f;
    Bytes payload;
    f.Open().EncodePayload(payload);
    REQUIRE(OpenChannelMessage::DecodePayload(payload));
    // funding_pubkey follows chain_hash, temporary_channel_id, 6 x u64, u32 and 2 x u16.
    constexpr size_t kFundingPubkeyOffset = 32 + 32 + 6 * 8 + 4 + 2 + 2;
    payload[kFundingPubkeyOffset] = 0x05; // no valid point has this prefix
    CHECK_FALSE(OpenChannelMessage::DecodePayload(payload));
}

TEST_CASE("opening: the opener refuses an unacceptable accept_channel")
{
    using R = OpenRefusalReason;
    Fixture f;
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.temporary_channel_id[0] ^= 1; }) ==
          R::kTemporaryChannelIdMismatch);
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.minimum_depth = 145; }) == R::kMinimumDepthTooLarge);
    // "channel_reserve_satoshis is less than dust_limit_satoshis within the open_channel message".
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.channel_reserve_satoshis = 353_sat; }) ==
          R::kReserveBelowDustLimit);
    // "channel_reserve_satoshis from the open_channel message is less than dust_limit_satoshis".
    f.request.funding = 30'000_sat;
    f.request.push = 0_msat;
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) {
        a.dust_limit_satoshis = 400_sat;
        a.channel_reserve_satoshis = 400_sat;
    }) == R::kReserveBelowDustLimit);
    f.request.funding = 1'000'000_sat;
    // The fields open_channel and accept_channel share get the same checks.
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.to_self_delay = 3000; }) == R::kToSelfDelayTooLarge);
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.max_accepted_htlcs = 500; }) ==
          R::kMaxAcceptedHtlcsTooLarge);
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.dust_limit_satoshis = 300_sat; }) == R::kDustLimitTooSmall);
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.channel_reserve_satoshis = 500'000_sat; }) ==
          R::kReserveTooLarge);
    CHECK(f.AcceptRefusalOf([](AcceptChannelMessage& a) { a.upfront_shutdown_script = Bytes{OP_TRUE}; }) ==
          R::kInvalidUpfrontShutdownScript);
}

TEST_CASE("opening: our own open_channel is checked before it is sent")
{
    using R = OpenRefusalReason;
    Fixture f;
    const auto refusal = [&] {
        const auto result = MakeOpenChannel(f.request, f.policy, f.features, f.opener_signer);
        REQUIRE_FALSE(result);
        return result.error().reason;
    };
    SUBCASE("too small")
    {
        f.request.funding = 1000_sat;
        f.request.push = 0_msat;
        CHECK(refusal() == R::kFundingTooSmall);
    }
    SUBCASE("too large")
    {
        f.request.funding = 20'000'000_sat;
        CHECK(refusal() == R::kFundingTooLarge);
    }
    SUBCASE("push too large")
    {
        f.request.push = 1'000'000'001_msat;
        CHECK(refusal() == R::kPushTooLarge);
    }
    SUBCASE("fee unpayable")
    {
        f.request.push = 999'999'000_msat;
        CHECK(refusal() == R::kCannotPayFee);
    }
    SUBCASE("feerate below the relay floor")
    {
        f.request.feerate_per_kw = 252;
        CHECK(refusal() == R::kFeerateTooLow);
    }
    SUBCASE("bad upfront script")
    {
        f.request.upfront_shutdown_script = Script{}.Op(OP_TRUE);
        CHECK(refusal() == R::kInvalidUpfrontShutdownScript);
    }
}

TEST_CASE("opening: funding_created and funding_signed signatures are checked")
{
    using R = OpenRefusalReason;
    Fixture f;
    const OpenChannelMessage open = f.Open();
    const AcceptedOpen accepted = f.Accept(open);
    auto pending = HandleAcceptChannel(open, accepted.message, f.policy, f.features);
    REQUIRE(pending);
    const FundingCreatedMessage created = MakeFundingCreated(*pending, f.funding_outpoint, f.opener_signer);

    SUBCASE("funding_created for another temporary channel")
    {
        FundingCreatedMessage wrong = created;
        wrong.temporary_channel_id[5] ^= 1;
        const auto result = HandleFundingCreated(accepted.pending, wrong, f.fundee_signer);
        REQUIRE_FALSE(result);
        CHECK(result.error().reason == R::kTemporaryChannelIdMismatch);
    }
    SUBCASE("funding_created signature over another outpoint")
    {
        FundingCreatedMessage wrong = created;
        wrong.funding_output_index = 2;
        const auto result = HandleFundingCreated(accepted.pending, wrong, f.fundee_signer);
        REQUIRE_FALSE(result);
        CHECK(result.error().reason == R::kBadSignature);
    }
    SUBCASE("funding_created with a high-S signature")
    {
        FundingCreatedMessage wrong = created;
        wrong.signature = HighS(created.signature);
        const auto result = HandleFundingCreated(accepted.pending, wrong, f.fundee_signer);
        REQUIRE_FALSE(result);
        CHECK(result.error().reason == R::kBadSignature);
    }
    SUBCASE("funding_signed for another channel, or with a bad signature")
    {
        const auto reply = HandleFundingCreated(accepted.pending, created, f.fundee_signer);
        REQUIRE(reply);
        FundingSignedMessage wrong_id = reply->message;
        wrong_id.channel_id[0] ^= 1;
        const auto id_result = HandleFundingSigned(*pending, wrong_id, f.opener_signer);
        REQUIRE_FALSE(id_result);
        CHECK(id_result.error().reason == R::kChannelIdMismatch);

        FundingSignedMessage wrong_sig = reply->message;
        wrong_sig.signature = created.signature; // the opener's own signature on the other commitment
        const auto sig_result = HandleFundingSigned(*pending, wrong_sig, f.opener_signer);
        REQUIRE_FALSE(sig_result);
        CHECK(sig_result.error().reason == R::kBadSignature);

        FundingSignedMessage high_s = reply->message;
        high_s.signature = HighS(reply->message.signature);
        CHECK_FALSE(HandleFundingSigned(*pending, high_s, f.opener_signer));
    }
    SUBCASE("a funding output index that does not fit in u16 is our bug")
    {
        PendingChannel copy = *pending;
        CHECK_THROWS_AS(MakeFundingCreated(copy, OutPoint{f.funding_outpoint.txid, 70'000}, f.opener_signer),
                        std::invalid_argument);
    }
}

TEST_CASE("opening: channel features are those both peers offer")
{
    FeatureBits theirs;
    theirs.SetOptional(Feature::kAnchors);
    theirs.SetOptional(Feature::kChannelType);
    theirs.SetOptional(Feature::kShutdownAnySegwit);
    theirs.SetOptional(Feature::kUpfrontShutdownScript);
    FeatureBits ours;
    ours.SetOptional(Feature::kAnchors);
    ours.SetOptional(Feature::kChannelType);
    ours.SetOptional(Feature::kSupportLargeChannel);
    ours.SetOptional(Feature::kUpfrontShutdownScript);
    const ChannelFeatures features = ChannelFeatures::Negotiate(ours, theirs);
    CHECK(features.anchors);
    CHECK(features.channel_type);
    CHECK(features.upfront_shutdown_script);
    CHECK_FALSE(features.large_channel);      // only we offer it
    CHECK_FALSE(features.shutdown_anysegwit); // only they offer it
}
