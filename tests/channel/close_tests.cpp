// BOLT 2 cooperative close: shutdown validation and closing_signed negotiation to completion.
#include "channel/close.h"
#include "channel/closing.h"
#include "channel/funding.h"
#include "channel/opening.h"
#include "channel/scripts.h"
#include "tests/channel/channel_test_util.h"

#include <doctest/doctest.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {

// Built without doctest assertions: they run before any test does.
const Bytes kOpenerScript = P2wpkhScript(Hash160Of(Bytes{2, 0xAA})).Data();
const Bytes kFundeeScript = P2wshScript(Script{}.Op(OP_TRUE)).Data();

template <typename T>
std::vector<T> ActionsOf(const CloseStep& step)
{
    std::vector<T> found;
    for (const CloseAction& action : step.actions) {
        if (const T* a = std::get_if<T>(&action)) found.push_back(*a);
    }
    return found;
}

ClosePreferences Prefs(uint32_t target, uint32_t min, uint32_t max, bool send_fee_range = true)
{
    return ClosePreferences{target, min, max, send_fee_range};
}

Sat FeeAt(uint32_t feerate) { return ClosingFee(kOpenerScript, kFundeeScript, feerate); }

struct Party {
    CloseState state;
    PrivKey key;
    std::vector<Transaction> broadcasts;
    std::vector<std::string> warnings;
    std::optional<close_action::Fail> failure;

    //! Applies the event; returns the closing_signed to deliver to the peer, if any.
    std::optional<ClosingSignedMessage> Apply(const CloseEvent& event)
    {
        const CloseStep step = StepClose(state, event, key);
        state = step.state;
        for (const auto& b : ActionsOf<close_action::Broadcast>(step))
            broadcasts.push_back(b.tx);
        for (const auto& w : ActionsOf<close_action::SendWarning>(step))
            warnings.push_back(w.message);
        const auto fails = ActionsOf<close_action::Fail>(step);
        if (!fails.empty()) failure = fails.front();
        const auto sent = ActionsOf<close_action::SendClosingSigned>(step);
        if (sent.empty()) return std::nullopt;
        REQUIRE(sent.size() == 1);
        return sent.front().message;
    }
};

//! Delivers closing_signed messages back and forth, starting with `first` from the opener;
//! returns how many were delivered.
size_t Exchange(Party& opener, Party& fundee, std::optional<ClosingSignedMessage> first)
{
    size_t count = 0;
    bool to_fundee = true;
    for (auto in_flight = std::move(first); in_flight && count < 100; to_fundee = !to_fundee) {
        ++count;
        in_flight = (to_fundee ? fundee : opener).Apply(close_event::ClosingSignedReceived{*in_flight});
    }
    return count;
}

struct Fixture {
    PrivKey opener_key{NamedKey("close opener funding")};
    PrivKey fundee_key{NamedKey("close fundee funding")};
    OutPoint funding{Sha256(Bytes{9}), 0};
    Hash256 channel_id{ComputeId()};
    Msat opener_balance{700'000'000};
    Msat fundee_balance{300'000'000};
    Party opener{MakeCloseState(Channel(true)), opener_key, {}, {}, std::nullopt};
    Party fundee{MakeCloseState(Channel(false)), fundee_key, {}, {}, std::nullopt};
    //! Messages exchanged during negotiation.
    size_t closing_signed_count{0};

    Hash256 ComputeId() const { return funding.txid; }

    CloseChannel Channel(bool local_is_opener) const
    {
        const PubKey opener_pub = NamedKey("close opener funding").GetPubKey();
        const PubKey fundee_pub = NamedKey("close fundee funding").GetPubKey();
        return CloseChannel{
            .channel_id = funding.txid,
            .funding_outpoint = funding,
            .funding = 1'000'000_sat,
            .local_funding_pubkey = local_is_opener ? opener_pub : fundee_pub,
            .remote_funding_pubkey = local_is_opener ? fundee_pub : opener_pub,
            .local_is_opener = local_is_opener,
            .local_dust_limit = 354_sat,
            .remote_dust_limit = 354_sat,
            .anysegwit = false,
            .local_upfront_script = std::nullopt,
            .remote_upfront_script = std::nullopt,
        };
    }

    void ExchangeShutdowns()
    {
        const CloseStep sent = StepClose(opener.state, close_event::LocalShutdown{kOpenerScript}, opener_key);
        opener.state = sent.state;
        const auto shutdowns = ActionsOf<close_action::SendShutdown>(sent);
        REQUIRE(shutdowns.size() == 1);
        CHECK(shutdowns[0].message.scriptpubkey == kOpenerScript);
        CHECK(shutdowns[0].message.channel_id == channel_id);
        CHECK_FALSE(fundee.Apply(close_event::ShutdownReceived{shutdowns[0].message}));
        const CloseStep reply = StepClose(fundee.state, close_event::LocalShutdown{kFundeeScript}, fundee_key);
        fundee.state = reply.state;
        CHECK_FALSE(
            opener.Apply(close_event::ShutdownReceived{ActionsOf<close_action::SendShutdown>(reply).at(0).message}));
    }

    //! Runs the whole negotiation; returns the fee both agreed on, if they did.
    void Negotiate(const ClosePreferences& opener_prefs, const ClosePreferences& fundee_prefs)
    {
        ExchangeShutdowns();
        CHECK_FALSE(fundee.Apply(close_event::BeginNegotiation{fundee_balance, opener_balance, fundee_prefs}));
        closing_signed_count = Exchange(
            opener, fundee, opener.Apply(close_event::BeginNegotiation{opener_balance, fundee_balance, opener_prefs}));
    }

    //! Both broadcast the same fully signed transaction, and its funding input verifies.
    Sat CheckAgreed() const
    {
        REQUIRE(opener.broadcasts.size() == 1);
        REQUIRE(fundee.broadcasts.size() == 1);
        CHECK(opener.state.phase == ClosePhase::kComplete);
        CHECK(fundee.state.phase == ClosePhase::kComplete);
        const Transaction& tx = opener.broadcasts[0];
        CHECK(tx == fundee.broadcasts[0]);
        const Script funding_script = FundingScript(opener_key.GetPubKey(), fundee_key.GetPubKey());
        CHECK(VerifyInput(tx, 0, TxOut{1'000'000, P2wshScript(funding_script).Data()}) == ScriptError::OK);
        int64_t out_total = 0;
        for (const TxOut& out : tx.vout)
            out_total += out.value;
        // Both outputs are above dust here, so the fee is what is missing.
        REQUIRE(tx.vout.size() == 2);
        return Sat{static_cast<uint64_t>(1'000'000 - out_total)};
    }

    //! A closing_signed as the fundee would sign it, for fees the fundee logic would not pick.
    ClosingSignedMessage FundeeMessage(Sat fee, std::optional<FeeRange> range) const
    {
        const Transaction tx = BuildLegacyClosingTx(funding, {fundee_balance, kFundeeScript},
                                                    {opener_balance, kOpenerScript}, false, fee, 354_sat);
        const Script funding_script = FundingScript(opener_key.GetPubKey(), fundee_key.GetPubKey());
        return ClosingSignedMessage{
            channel_id, fee, SignFundingInput(tx, funding_script, 1'000'000_sat, fundee_key), range, {}};
    }
};

} // namespace

TEST_CASE("close: shutdown scriptpubkey forms")
{
    const Bytes hash20(20, 0xAB);
    const Bytes hash32(32, 0xCD);
    const Bytes p2pkh = P2pkhScript(NamedKey("k").GetPubKey()).Data();
    const Bytes p2sh = P2shScript(Script{}.Op(OP_TRUE)).Data();
    const Bytes p2wpkh = P2wpkhScript(NamedKey("k").GetPubKey()).Data();
    const Bytes p2wsh = P2wshScript(Script{}.Op(OP_TRUE)).Data();
    const Bytes p2tr = P2trScript(XOnlyFromPubKey(NamedKey("k").GetPubKey())).Data();
    for (const Bytes& s : {p2pkh, p2sh, p2wpkh, p2wsh}) {
        CHECK(IsValidShutdownScript(s, false));
        CHECK(IsValidShutdownScript(s, true));
    }
    // Witness v1..16 with a 2..40 byte program only under option_shutdown_anysegwit.
    CHECK_FALSE(IsValidShutdownScript(p2tr, false));
    CHECK(IsValidShutdownScript(p2tr, true));
    CHECK(IsValidShutdownScript(Bytes{OP_16, 2, 0, 0}, true));
    CHECK(IsValidShutdownScript(Bytes{OP_1, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0,    0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                                true));
    CHECK_FALSE(IsValidShutdownScript(Bytes{OP_1, 1, 0}, true));
    Bytes too_long{OP_1, 41};
    too_long.resize(43);
    CHECK_FALSE(IsValidShutdownScript(too_long, true));
    // v0 needs exactly 20 or 32 bytes; anything else, OP_RETURN and bare scripts are refused.
    Bytes v0_other{OP_0, 25};
    v0_other.resize(27);
    CHECK_FALSE(IsValidShutdownScript(v0_other, true));
    CHECK_FALSE(IsValidShutdownScript(Bytes{OP_RETURN, 6, 1, 2, 3, 4, 5, 6}, true));
    CHECK_FALSE(IsValidShutdownScript(Bytes{}, true));
    CHECK_FALSE(IsValidShutdownScript(Bytes{OP_TRUE}, true));
    Bytes p2pkh_broken = p2pkh;
    p2pkh_broken.back() = OP_CHECKSIGVERIFY;
    CHECK_FALSE(IsValidShutdownScript(p2pkh_broken, true));

    CHECK(DustThresholdOf(p2pkh) == 546_sat);
    CHECK(DustThresholdOf(p2sh) == 540_sat);
    CHECK(DustThresholdOf(p2wpkh) == 294_sat);
    CHECK(DustThresholdOf(p2wsh) == 330_sat);
    CHECK(DustThresholdOf(p2tr) == 354_sat);
}

TEST_CASE("close: when shutdown and closing_signed may be sent")
{
    CHECK(MaySendShutdown(false));
    CHECK_FALSE(MaySendShutdown(true));
    CHECK(MayNegotiateClosingFee({}));
    CHECK_FALSE(MayNegotiateClosingFee(CommitmentActivity{1, 0, false, false}));
    CHECK_FALSE(MayNegotiateClosingFee(CommitmentActivity{0, 1, false, false}));
    CHECK_FALSE(MayNegotiateClosingFee(CommitmentActivity{0, 0, true, false}));
    CHECK_FALSE(MayNegotiateClosingFee(CommitmentActivity{0, 0, false, true}));
}

TEST_CASE("close: fee_range negotiation, the opener's fee inside the fundee's range: two messages")
{
    Fixture f;
    f.Negotiate(Prefs(2000, 253, 5000), Prefs(3000, 1000, 4000));
    CHECK(f.closing_signed_count == 2);
    CHECK(f.CheckAgreed() == FeeAt(2000));
}

TEST_CASE("close: fee_range negotiation, the fundee needs more: it picks in the overlap, three messages")
{
    Fixture f;
    f.Negotiate(Prefs(1000, 253, 2500), Prefs(3000, 2000, 4000));
    CHECK(f.closing_signed_count == 3);
    // The fundee clamps its target into the overlap [fee(2000), fee(2500)].
    CHECK(f.CheckAgreed() == FeeAt(2500));
}

TEST_CASE("close: fee_range negotiation with disjoint ranges ends in a warning, not a close")
{
    Fixture f;
    f.Negotiate(Prefs(1000, 253, 1500), Prefs(3000, 2000, 4000));
    CHECK(f.closing_signed_count == 1);
    REQUIRE(f.fundee.warnings.size() == 1);
    CHECK(f.fundee.warnings[0].find("no overlap") != std::string::npos);
    CHECK(f.opener.broadcasts.empty());
    CHECK(f.fundee.broadcasts.empty());
    CHECK(f.fundee.state.phase == ClosePhase::kNegotiating);
}

TEST_CASE("close: legacy negotiation without fee_range converges by halving")
{
    Fixture f;
    f.Negotiate(Prefs(1000, 253, 3000, false), Prefs(6000, 2500, 8000, false));
    // 1000 -> 6000 -> halfway clamped to fee(3000) -> accepted by the fundee -> echoed.
    CHECK(f.closing_signed_count == 4);
    const Sat fee = f.CheckAgreed();
    CHECK(fee == FeeAt(3000));
}

TEST_CASE("close: legacy halving over several rounds")
{
    Fixture f;
    f.Negotiate(Prefs(1000, 253, 8000, false), Prefs(9000, 7000, 9000, false));
    // 1000 -> 9000 -> 5000 -> 7000 -> 7000 (echo).
    CHECK(f.closing_signed_count == 5);
    CHECK(f.CheckAgreed() == FeeAt(7000));
}

TEST_CASE("close: one side with fee_range, the other legacy")
{
    SUBCASE("legacy opener")
    {
        Fixture f;
        f.Negotiate(Prefs(1000, 253, 3000, false), Prefs(2000, 1500, 4000));
        const Sat fee = f.CheckAgreed();
        CHECK(fee >= FeeAt(1500));
        CHECK(fee <= FeeAt(3000));
    }
    SUBCASE("legacy fundee")
    {
        Fixture f;
        f.Negotiate(Prefs(1000, 253, 3000), Prefs(2000, 1500, 4000, false));
        const Sat fee = f.CheckAgreed();
        CHECK(fee >= FeeAt(1500));
        CHECK(fee <= FeeAt(3000));
    }
}

TEST_CASE("close: legacy disagreement that cannot progress fails with a warning")
{
    Fixture f;
    f.Negotiate(Prefs(1000, 253, 1500, false), Prefs(3000, 2000, 4000, false));
    REQUIRE(f.opener.failure);
    CHECK_FALSE(f.opener.failure->fail_channel);
    CHECK(f.opener.state.phase == ClosePhase::kFailed);
}

TEST_CASE("close: bad closing_signed messages")
{
    Fixture f;
    f.ExchangeShutdowns();
    CHECK_FALSE(
        f.fundee.Apply(close_event::BeginNegotiation{f.fundee_balance, f.opener_balance, Prefs(2000, 1000, 4000)}));
    const auto first =
        f.opener.Apply(close_event::BeginNegotiation{f.opener_balance, f.fundee_balance, Prefs(1000, 253, 2500)});
    REQUIRE(first);

    SUBCASE("a signature for another fee")
    {
        ClosingSignedMessage bad = *first;
        bad.fee_satoshis = first->fee_satoshis + 1_sat;
        CHECK_FALSE(f.fundee.Apply(close_event::ClosingSignedReceived{bad}));
        REQUIRE(f.fundee.failure);
        CHECK(f.fundee.failure->message.find("signature") != std::string::npos);
        CHECK(f.fundee.broadcasts.empty());
    }
    SUBCASE("a fee the opener cannot pay")
    {
        ClosingSignedMessage bad = *first;
        bad.fee_satoshis = 700'001_sat;
        f.fundee.Apply(close_event::ClosingSignedReceived{bad});
        REQUIRE(f.fundee.failure);
    }
    SUBCASE("an inverted fee_range")
    {
        ClosingSignedMessage bad = *first;
        bad.fee_range = FeeRange{2000_sat, 1000_sat};
        f.fundee.Apply(close_event::ClosingSignedReceived{bad});
        REQUIRE(f.fundee.failure);
    }
    SUBCASE("the fundee answers outside the overlap: the opener fails the channel")
    {
        const auto reply = f.FundeeMessage(FeeAt(3000), FeeRange{FeeAt(2000), FeeAt(4000)});
        f.opener.Apply(close_event::ClosingSignedReceived{reply});
        REQUIRE(f.opener.failure);
        CHECK(f.opener.failure->fail_channel);
    }
    SUBCASE("once the fundee agreed, later messages are not acted on")
    {
        const auto answer = f.fundee.Apply(close_event::ClosingSignedReceived{*first});
        REQUIRE(answer);
        CHECK(f.fundee.state.phase == ClosePhase::kComplete);
        // Once complete, nothing more is acted on.
        CHECK_FALSE(f.fundee.Apply(close_event::ClosingSignedReceived{*first}));
        CHECK(f.fundee.broadcasts.size() == 1);
    }
    SUBCASE("closing_signed before negotiation began")
    {
        Fixture g;
        g.ExchangeShutdowns();
        g.fundee.Apply(close_event::ClosingSignedReceived{*first});
        REQUIRE(g.fundee.failure);
    }
}

TEST_CASE("close: legacy fee not strictly between the last two proposals")
{
    Fixture f;
    f.ExchangeShutdowns();
    f.fundee.Apply(close_event::BeginNegotiation{f.fundee_balance, f.opener_balance, Prefs(6000, 3000, 8000, false)});
    const auto first = f.opener.Apply(
        close_event::BeginNegotiation{f.opener_balance, f.fundee_balance, Prefs(1000, 253, 4000, false)});
    REQUIRE(first);
    // The fundee counters with its own proposal; the opener replies halfway.
    const auto counter = f.fundee.Apply(close_event::ClosingSignedReceived{*first});
    REQUIRE(counter);
    const auto halfway = f.opener.Apply(close_event::ClosingSignedReceived{*counter});
    REQUIRE(halfway);
    CHECK(halfway->fee_satoshis > first->fee_satoshis);
    CHECK(halfway->fee_satoshis < counter->fee_satoshis);
    // A fundee "proposal" below the opener's own last offer is not strictly between.
    const auto regress = f.FundeeMessage(halfway->fee_satoshis - 1_sat, std::nullopt);
    f.opener.Apply(close_event::ClosingSignedReceived{regress});
    REQUIRE(f.opener.failure);
    CHECK_FALSE(f.opener.failure->fail_channel);
}

TEST_CASE("close: an output below the dust limit of its script fails the channel")
{
    Fixture f;
    // A P2PKH output (dust 546) of 400 satoshis passes the 354 sat dust limits but not relay.
    const Bytes p2pkh = P2pkhScript(NamedKey("old wallet").GetPubKey()).Data();
    f.fundee_balance = 400'000_msat;
    f.opener_balance = 999'600'000_msat;
    f.opener.state = StepClose(f.opener.state, close_event::LocalShutdown{kOpenerScript}, f.opener_key).state;
    f.opener.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, p2pkh, {}}});
    f.opener.Apply(close_event::BeginNegotiation{f.opener_balance, f.fundee_balance, Prefs(1000, 253, 3000)});
    const Transaction tx = BuildLegacyClosingTx(f.funding, {f.fundee_balance, p2pkh}, {f.opener_balance, kOpenerScript},
                                                false, FeeAt(1000), 354_sat);
    REQUIRE(tx.vout.size() == 2);
    const Script funding_script = FundingScript(f.opener_key.GetPubKey(), f.fundee_key.GetPubKey());
    const ClosingSignedMessage reply{
        f.channel_id, FeeAt(1000), SignFundingInput(tx, funding_script, 1'000'000_sat, f.fundee_key), std::nullopt, {}};
    f.opener.Apply(close_event::ClosingSignedReceived{reply});
    REQUIRE(f.opener.failure);
    CHECK(f.opener.failure->fail_channel);
}

TEST_CASE("close: the peer may leave out its own output")
{
    Fixture f;
    f.ExchangeShutdowns();
    f.opener.Apply(close_event::BeginNegotiation{f.opener_balance, f.fundee_balance, Prefs(1000, 253, 3000)});
    const Transaction without_fundee =
        BuildLegacyClosingTx(f.funding, {f.fundee_balance, kFundeeScript}, {f.opener_balance, kOpenerScript}, false,
                             FeeAt(1000), 354_sat, /*omit_local_output=*/true);
    const Script funding_script = FundingScript(f.opener_key.GetPubKey(), f.fundee_key.GetPubKey());
    const ClosingSignedMessage reply{f.channel_id,
                                     FeeAt(1000),
                                     SignFundingInput(without_fundee, funding_script, 1'000'000_sat, f.fundee_key),
                                     std::nullopt,
                                     {}};
    f.opener.Apply(close_event::ClosingSignedReceived{reply});
    REQUIRE(f.opener.broadcasts.size() == 1);
    CHECK(f.opener.broadcasts[0].vout.size() == 1);
    CHECK(VerifyInput(f.opener.broadcasts[0], 0, TxOut{1'000'000, P2wshScript(funding_script).Data()}) ==
          ScriptError::OK);
}

TEST_CASE("close: invalid and mismatching shutdown scripts")
{
    Fixture f;
    SUBCASE("an invalid form from the peer")
    {
        f.fundee.Apply(
            close_event::ShutdownReceived{ShutdownMessage{f.channel_id, Bytes{OP_RETURN, 6, 1, 2, 3, 4, 5, 6}, {}}});
        REQUIRE(f.fundee.failure);
        CHECK_FALSE(f.fundee.failure->fail_channel);
    }
    SUBCASE("taproot without option_shutdown_anysegwit, then with it")
    {
        const Bytes p2tr = P2trScript(XOnlyFromPubKey(NamedKey("tr").GetPubKey())).Data();
        f.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, p2tr, {}}});
        CHECK(f.fundee.failure);
        Fixture g;
        g.fundee.state.channel.anysegwit = true;
        g.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{g.channel_id, p2tr, {}}});
        CHECK_FALSE(g.fundee.failure);
        CHECK(g.fundee.state.remote_script == p2tr);
    }
    SUBCASE("the peer's shutdown differs from its upfront_shutdown_script")
    {
        f.fundee.state.channel.remote_upfront_script = Script{kFundeeScript};
        f.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, kOpenerScript, {}}});
        REQUIRE(f.fundee.failure);
        CHECK(f.fundee.failure->message.find("upfront") != std::string::npos);
        Fixture g;
        g.fundee.state.channel.remote_upfront_script = Script{kOpenerScript};
        g.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{g.channel_id, kOpenerScript, {}}});
        CHECK_FALSE(g.fundee.failure);
    }
    SUBCASE("a second shutdown with another script")
    {
        f.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, kOpenerScript, {}}});
        CHECK_FALSE(f.fundee.failure);
        f.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, kOpenerScript, {}}});
        CHECK_FALSE(f.fundee.failure);
        f.fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{f.channel_id, kFundeeScript, {}}});
        CHECK(f.fundee.failure);
    }
    SUBCASE("our own shutdown must be valid, match our upfront script, and be sent once")
    {
        CHECK_THROWS_AS(StepClose(f.opener.state, close_event::LocalShutdown{Bytes{OP_TRUE}}, f.opener_key),
                        std::invalid_argument);
        CloseState upfront = f.opener.state;
        upfront.channel.local_upfront_script = Script{kFundeeScript};
        CHECK_THROWS_AS(StepClose(upfront, close_event::LocalShutdown{kOpenerScript}, f.opener_key),
                        std::invalid_argument);
        const CloseState sent =
            StepClose(f.opener.state, close_event::LocalShutdown{kOpenerScript}, f.opener_key).state;
        CHECK_THROWS_AS(StepClose(sent, close_event::LocalShutdown{kOpenerScript}, f.opener_key), std::logic_error);
    }
    SUBCASE("negotiation needs both shutdowns")
    {
        CHECK_THROWS_AS(
            StepClose(f.opener.state,
                      close_event::BeginNegotiation{f.opener_balance, f.fundee_balance, Prefs(1000, 253, 3000)},
                      f.opener_key),
            std::logic_error);
    }
}

TEST_CASE("close: a channel from the opening flow closes cooperatively")
{
    const ChannelSigner opener_signer{Secret<32>{Sha256(Bytes{1})}};
    const ChannelSigner fundee_signer{Secret<32>{Sha256(Bytes{2})}};
    const ChannelFeatures features{.channel_type = true,
                                   .anchors = true,
                                   .large_channel = false,
                                   .upfront_shutdown_script = true,
                                   .shutdown_anysegwit = false};
    const OpenPolicy policy;
    const Hash256 chain = Sha256(Bytes{3});
    const auto open =
        MakeOpenChannel(OpenRequest{chain, Sha256(Bytes{4}), 500'000_sat, 0_msat, 1000, false, Script{kOpenerScript}},
                        policy, features, opener_signer);
    REQUIRE(open);
    const auto accepted =
        HandleOpenChannel(*open, policy, features, FundeeContext{chain, 1000, std::nullopt}, fundee_signer);
    REQUIRE(accepted);
    auto pending = HandleAcceptChannel(*open, accepted->message, policy, features);
    REQUIRE(pending);
    const FundingCreatedMessage created = MakeFundingCreated(*pending, OutPoint{Sha256(Bytes{5}), 0}, opener_signer);
    const auto reply = HandleFundingCreated(accepted->pending, created, fundee_signer);
    REQUIRE(reply);
    const auto opened = HandleFundingSigned(*pending, reply->message, opener_signer);
    REQUIRE(opened);

    Party opener{MakeCloseState(CloseChannel::FromSetup(opened->setup, false)),
                 opener_signer.FundingKey(),
                 {},
                 {},
                 std::nullopt};
    Party fundee{MakeCloseState(CloseChannel::FromSetup(reply->channel.setup, false)),
                 fundee_signer.FundingKey(),
                 {},
                 {},
                 std::nullopt};
    CHECK(opener.state.channel.local_is_opener);
    CHECK_FALSE(fundee.state.channel.local_is_opener);
    CHECK(opener.state.channel.channel_id == fundee.state.channel.channel_id);
    CHECK(fundee.state.channel.remote_upfront_script == Script{kOpenerScript});

    // The fundee holds the opener to its upfront script; then both shutdowns go through.
    fundee.Apply(close_event::ShutdownReceived{ShutdownMessage{fundee.state.channel.channel_id, kFundeeScript, {}}});
    REQUIRE(fundee.failure);
    fundee.state = MakeCloseState(CloseChannel::FromSetup(reply->channel.setup, false));
    fundee.failure.reset();
    const CloseStep sent = StepClose(opener.state, close_event::LocalShutdown{kOpenerScript}, opener.key);
    opener.state = sent.state;
    fundee.Apply(close_event::ShutdownReceived{ActionsOf<close_action::SendShutdown>(sent).at(0).message});
    const CloseStep answer = StepClose(fundee.state, close_event::LocalShutdown{kFundeeScript}, fundee.key);
    fundee.state = answer.state;
    opener.Apply(close_event::ShutdownReceived{ActionsOf<close_action::SendShutdown>(answer).at(0).message});

    const ChannelSetup& a = opened->setup;
    fundee.Apply(
        close_event::BeginNegotiation{a.initial_remote_balance, a.initial_local_balance, Prefs(1000, 253, 3000)});
    const size_t count = Exchange(opener, fundee,
                                  opener.Apply(close_event::BeginNegotiation{
                                      a.initial_local_balance, a.initial_remote_balance, Prefs(1000, 253, 3000)}));
    CHECK(count == 2);
    REQUIRE(opener.broadcasts.size() == 1);
    REQUIRE(fundee.broadcasts.size() == 1);
    CHECK(opener.broadcasts[0] == fundee.broadcasts[0]);
    // The fundee had nothing: the opener's output is the only one, and the fee is that of a
    // one-output transaction (what a peer computes for it too).
    REQUIRE(opener.broadcasts[0].vout.size() == 1);
    const std::array<ByteSpan, 1> only_opener{kOpenerScript};
    CHECK(ClosingFeeFor(only_opener, 1000) < FeeAt(1000));
    CHECK(opener.broadcasts[0].vout[0] == TxOut{ToTxValue(500'000_sat - ClosingFeeFor(only_opener, 1000)), kOpenerScript});
    const Script funding_script = FundingScript(opener_signer.FundingPubKey(), fundee_signer.FundingPubKey());
    CHECK(VerifyInput(opener.broadcasts[0], 0, TxOut{500'000, P2wshScript(funding_script).Data()}) == ScriptError::OK);
}
