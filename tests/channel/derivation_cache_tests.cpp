// The shortcuts the commitment dance takes: the signer's memo of per-commitment secrets and
// points, its precomputed public keys, and commitment keys without the htlc keys when no HTLC
// output needs them. Each must give exactly what the fresh derivation gives.
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "channel/shachain.h"
#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/hash.h"
#include "tests/channel/channel_test_util.h"
#include "tests/channel/machine_fixture.h"
#include "tests/test_util.h"
#include "util/amount.h"
#include "util/parallel.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {
Secret<32> SeedOf(const Secret<32>& channel_secret)
{
    constexpr std::string_view label = "per_commitment_seed";
    return Secret<32>(HmacSha256(channel_secret.span(), Bytes(label.begin(), label.end())));
}

//! Checks the signer's secret and point for `number` against a fresh shachain derivation.
void CheckFresh(const ChannelSigner& signer, const Secret<32>& seed, uint64_t number)
{
    CAPTURE(number);
    const Secret<32> fresh = GeneratePerCommitmentSecret(seed, CommitmentIndex(number));
    CHECK(signer.PerCommitmentSecret(number) == fresh);
    CHECK(signer.PerCommitmentPoint(number) == PerCommitmentPoint(fresh));
}

CommitmentSpec Spec(std::vector<Htlc> htlcs)
{
    const auto points = [](const std::string& name) {
        return Basepoints{NamedKey(name + " revocation").GetPubKey(), NamedKey(name + " payment").GetPubKey(),
                          NamedKey(name + " delayed").GetPubKey(), NamedKey(name + " htlc").GetPubKey()};
    };
    Msat in_htlcs{0};
    for (const Htlc& htlc : htlcs) in_htlcs += htlc.amount_msat;
    return CommitmentSpec{
        .format = CommitmentFormat::ANCHORS,
        .funding_outpoint = OutPoint{Sha256(Bytes{4}), 0},
        .funding_sat = 1'000'000_sat,
        .holder_funding_pubkey = NamedKey("holder funding").GetPubKey(),
        .counterparty_funding_pubkey = NamedKey("counterparty funding").GetPubKey(),
        .holder = points("holder"),
        .counterparty = points("counterparty"),
        .holder_is_opener = true,
        .to_self_delay = 144,
        .dust_limit_sat = 354_sat,
        .feerate_per_kw = 2'500,
        .commitment_number = 7,
        .per_commitment_point = NamedKey("point 7").GetPubKey(),
        .to_local_msat = 600'000'000_msat - in_htlcs,
        .to_remote_msat = 400'000'000_msat,
        .htlcs = std::move(htlcs),
    };
}

Htlc MakeHtlc(Msat amount, HtlcDirection direction)
{
    return Htlc{.direction = direction, .amount_msat = amount, .payment_hash = Sha256(Bytes{9}), .cltv_expiry = 500'000};
}
} // namespace

TEST_CASE("the signer's memo gives the fresh per-commitment secrets and points in any order")
{
    const Secret<32> channel_secret = SecretOfByte(42);
    const Secret<32> seed = SeedOf(channel_secret);
    const ChannelSigner signer(channel_secret);

    SUBCASE("in the dance's order: point n, secret n-1, point n+1")
    {
        for (uint64_t n = 1; n < 12; ++n) {
            CheckFresh(signer, seed, n);
            CheckFresh(signer, seed, n - 1);
            CheckFresh(signer, seed, n + 1);
        }
    }
    SUBCASE("secret before point, point before secret")
    {
        const Secret<32> fresh = GeneratePerCommitmentSecret(seed, CommitmentIndex(5));
        CHECK(signer.PerCommitmentSecret(5) == fresh);
        CHECK(signer.PerCommitmentPoint(5) == PerCommitmentPoint(fresh));
        CHECK(signer.PerCommitmentPoint(6) == PerCommitmentPoint(GeneratePerCommitmentSecret(seed, CommitmentIndex(6))));
        CHECK(signer.PerCommitmentSecret(6) == GeneratePerCommitmentSecret(seed, CommitmentIndex(6)));
    }
    SUBCASE("more numbers than the memo holds, going back to evicted ones and far ahead")
    {
        const std::array<uint64_t, 14> numbers{0, 1, 2, 3, 4, 5, 6, 0, 6, 1, 1000, 3, uint64_t{1} << 40, 2};
        for (const uint64_t n : numbers) CheckFresh(signer, seed, n);
        for (const uint64_t n : numbers) CheckFresh(signer, seed, n);
    }
    SUBCASE("a copy answers the same as the original, before and after either fills its memo")
    {
        CheckFresh(signer, seed, 3);
        const ChannelSigner copy = signer;
        CheckFresh(copy, seed, 3);
        CheckFresh(copy, seed, 4);
        CheckFresh(signer, seed, 4);
        CHECK(copy.GetBasepoints() == signer.GetBasepoints());
        CHECK(copy.FundingPubKey() == signer.FundingPubKey());
    }
    SUBCASE("concurrent callers on one signer")
    {
        std::vector<std::thread> threads;
        std::array<bool, 4> ok{};
        for (size_t t = 0; t < ok.size(); ++t) {
            threads.emplace_back([&, t] {
                bool all = true;
                for (uint64_t n = t; n < t + 40; ++n) {
                    const Secret<32> fresh = GeneratePerCommitmentSecret(seed, CommitmentIndex(n));
                    all = all && signer.PerCommitmentSecret(n) == fresh && signer.PerCommitmentPoint(n) == PerCommitmentPoint(fresh);
                }
                ok[t] = all;
            });
        }
        for (std::thread& thread : threads) thread.join();
        for (const bool thread_ok : ok) CHECK(thread_ok);
    }
}

TEST_CASE("the signer's precomputed public keys are those of its secrets")
{
    const ChannelSigner signer(SecretOfByte(43));
    CHECK(signer.FundingPubKey() == signer.FundingKey().GetPubKey());
    const Basepoints fresh{.revocation = signer.RevocationBasepointSecret().GetPubKey(),
                           .payment = signer.PaymentBasepointSecret().GetPubKey(),
                           .delayed_payment = signer.DelayedPaymentBasepointSecret().GetPubKey(),
                           .htlc = signer.HtlcBasepointSecret().GetPubKey()};
    CHECK(signer.GetBasepoints() == fresh);
}

TEST_CASE("DerivePrivKey with the basepoint given equals the derivation that computes it")
{
    const ChannelSigner signer(SecretOfByte(44));
    for (uint64_t n = 0; n < 4; ++n) {
        const PubKey point = signer.PerCommitmentPoint(n);
        const PrivKey& secret = signer.HtlcBasepointSecret();
        CHECK(DerivePrivKey(secret, signer.GetBasepoints().htlc, point) == DerivePrivKey(secret, point));
        CHECK(DerivePrivKey(secret, signer.GetBasepoints().htlc, point).GetPubKey() == DerivePubKey(signer.GetBasepoints().htlc, point));
    }
}

TEST_CASE("commitment keys skip the htlc keys only where no HTLC output needs them")
{
    // 10'000 sat is an output; 300 sat is below the 354 sat dust limit (zero-fee HTLC txs).
    const Htlc untrimmed = MakeHtlc(10'000'000_msat, HtlcDirection::OFFERED);
    const Htlc trimmed = MakeHtlc(300'000_msat, HtlcDirection::RECEIVED);
    for (const auto& htlcs : {std::vector<Htlc>{}, std::vector<Htlc>{trimmed}, std::vector<Htlc>{trimmed, untrimmed},
                              std::vector<Htlc>{untrimmed}}) {
        const CommitmentSpec spec = Spec(htlcs);
        CAPTURE(spec.htlcs.size());
        const CommitmentKeys all = DeriveCommitmentKeys(spec);
        const CommitmentKeys lazy = DeriveCommitmentKeys(spec, HtlcKeys::IF_UNTRIMMED);
        REQUIRE(all.local_htlc);
        REQUIRE(all.remote_htlc);
        CHECK(all.local_htlc == DerivePubKey(spec.holder.htlc, spec.per_commitment_point));
        CHECK(lazy.revocation == all.revocation);
        CHECK(lazy.local_delayed == all.local_delayed);
        CHECK(lazy.remote_payment == all.remote_payment);
        CHECK(HasUntrimmedHtlc(spec) == lazy.local_htlc.has_value());
        CHECK(HasUntrimmedHtlc(spec) == lazy.remote_htlc.has_value());
        if (lazy.local_htlc) {
            CHECK(lazy.local_htlc == all.local_htlc);
            CHECK(lazy.remote_htlc == all.remote_htlc);
        }
        // The same transaction and HTLC transactions either way.
        const CommitmentTx from_all = BuildCommitmentTx(spec, all);
        const CommitmentTx from_lazy = BuildCommitmentTx(spec, lazy);
        CHECK(TxHex(from_lazy.tx) == TxHex(from_all.tx));
        const std::vector<HtlcTx> htlc_all = BuildHtlcTxs(from_all, spec, all);
        const std::vector<HtlcTx> htlc_lazy = BuildHtlcTxs(from_lazy, spec, lazy);
        REQUIRE(htlc_lazy.size() == htlc_all.size());
        CHECK(htlc_all.size() == (HasUntrimmedHtlc(spec) ? 1U : 0U));
        for (size_t i = 0; i < htlc_all.size(); ++i) CHECK(TxHex(htlc_lazy[i].tx) == TxHex(htlc_all[i].tx));
    }
}

TEST_CASE("commitment keys follow the per_commitment_point of each commitment number")
{
    CommitmentSpec spec = Spec({MakeHtlc(10'000'000_msat, HtlcDirection::OFFERED)});
    const CommitmentKeys seventh = DeriveCommitmentKeys(spec, HtlcKeys::IF_UNTRIMMED);
    spec.commitment_number = 8;
    spec.per_commitment_point = NamedKey("point 8").GetPubKey();
    const CommitmentKeys eighth = DeriveCommitmentKeys(spec, HtlcKeys::IF_UNTRIMMED);
    CHECK(eighth.revocation != seventh.revocation);
    CHECK(eighth.local_delayed != seventh.local_delayed);
    CHECK(eighth.local_htlc != seventh.local_htlc);
    CHECK(eighth.remote_htlc != seventh.remote_htlc);
    CHECK(eighth.local_htlc == DerivePubKey(spec.holder.htlc, spec.per_commitment_point));
    CHECK(eighth.revocation == DeriveRevocationPubKey(spec.counterparty.revocation, spec.per_commitment_point));
}

TEST_CASE("keys without htlc keys cannot build a commitment that has an HTLC output")
{
    const CommitmentKeys no_htlc_keys = DeriveCommitmentKeys(Spec({}), HtlcKeys::IF_UNTRIMMED);
    REQUIRE_FALSE(no_htlc_keys.local_htlc);
    CHECK_THROWS_AS(BuildCommitmentTx(Spec({MakeHtlc(10'000'000_msat, HtlcDirection::RECEIVED)}), no_htlc_keys), CommitmentError);
}

TEST_CASE("revocationpubkey from either known secret equals the public derivation")
{
    const auto v = ReadJsonVectors("channel/bolt3_keys.json");
    const PrivKey base_secret = PrivFromHex(Str(v["base_secret"]));
    const PrivKey per_commitment_secret = PrivFromHex(Str(v["per_commitment_secret"]));
    const PubKey base_point = PubFromHex(Str(v["base_point"]));
    const PubKey per_commitment_point = PubFromHex(Str(v["per_commitment_point"]));
    CHECK(ToHex(DeriveRevocationPubKeyWithBasepointSecret(base_secret, base_point, per_commitment_point).span()) ==
          Str(v["revocationpubkey"]));
    CHECK(ToHex(DeriveRevocationPubKeyWithCommitmentSecret(base_point, per_commitment_secret, per_commitment_point).span()) ==
          Str(v["revocationpubkey"]));
    for (int i = 0; i < 10; ++i) {
        const PrivKey basepoint_secret = NamedKey("revocation basepoint " + std::to_string(i));
        const PrivKey commitment_secret = NamedKey("per-commitment " + std::to_string(i));
        const PubKey basepoint = basepoint_secret.GetPubKey();
        const PubKey point = commitment_secret.GetPubKey();
        const PubKey expected = DeriveRevocationPubKey(basepoint, point);
        CHECK(DeriveRevocationPubKeyWithBasepointSecret(basepoint_secret, basepoint, point) == expected);
        CHECK(DeriveRevocationPubKeyWithCommitmentSecret(basepoint, commitment_secret, point) == expected);
        CHECK(DeriveCommitmentKeys(Spec({}), HtlcKeys::ALWAYS, expected).revocation == expected);
    }
}

TEST_CASE("signing and checking with the signer's secrets give the results of the public derivation")
{
    Harness h;
    h.Do(0, AddCommand(Msat{10'000'000}, 1));
    h.Settle();
    const ChannelState& payee = h.State(1);
    const ChannelSigner& payee_signer = h.pair.signers[1];
    REQUIRE(payee.local_htlc_signatures.size() == 1);
    const CommitmentView local = LocalCommitmentView(payee, payee_signer);
    const EcdsaSignature& signature = *payee.local_commitment_signature;
    const std::vector<EcdsaSignature>& htlc_signatures = payee.local_htlc_signatures;

    SUBCASE("checks agree with and without the signer")
    {
        CHECK(CheckCommitmentSignatures(payee, local, signature, htlc_signatures) == SignatureCheck::OK);
        CHECK(CheckCommitmentSignatures(payee, payee_signer, local, signature, htlc_signatures) == SignatureCheck::OK);
        const std::vector<EcdsaSignature> wrong_htlc{signature};
        CHECK(CheckCommitmentSignatures(payee, local, signature, wrong_htlc) == SignatureCheck::BAD_HTLC_SIGNATURE);
        CHECK(CheckCommitmentSignatures(payee, payee_signer, local, signature, wrong_htlc) == SignatureCheck::BAD_HTLC_SIGNATURE);
        CHECK(VerifyLocalCommitmentSig(payee, payee_signer, signature));
        CHECK_FALSE(VerifyLocalCommitmentSig(payee, payee_signer, htlc_signatures[0]));
    }
    SUBCASE("a view whose point is not its number's falls back to the public derivation")
    {
        const uint64_t number = payee.local_commitment_number;
        const CommitmentView other = MakeCommitmentView(payee, Side::LOCAL, number, payee_signer.PerCommitmentPoint(number + 1));
        CHECK(CheckCommitmentSignatures(payee, other, signature, htlc_signatures) == SignatureCheck::BAD_COMMITMENT_SIGNATURE);
        CHECK(CheckCommitmentSignatures(payee, payee_signer, other, signature, htlc_signatures) ==
              SignatureCheck::BAD_COMMITMENT_SIGNATURE);
    }
    SUBCASE("the payer's signatures on that commitment are the ones the payee holds")
    {
        const CommitmentSignatures again = SignCommitmentView(h.State(0), h.pair.signers[0], RemoteCommitmentView(h.State(0)));
        CHECK(again.signature == signature);
        CHECK(again.htlc_signatures == htlc_signatures);
    }
    SUBCASE("a spec with another revocation basepoint than the signer's is signed as derived publicly")
    {
        CommitmentView view = RemoteCommitmentView(h.State(0));
        view.spec.counterparty.revocation = NamedKey("another revocation basepoint").GetPubKey();
        const CommitmentTx commitment = BuildCommitmentTx(view.spec, DeriveCommitmentKeys(view.spec));
        const EcdsaSignature expected = SignFundingInput(commitment.tx, commitment.funding_script, view.spec.funding_sat,
                                                         h.pair.signers[0].FundingKey());
        CHECK(SignCommitmentView(h.State(0), h.pair.signers[0], view).signature == expected);
        CHECK_FALSE(expected == signature);
    }
}

TEST_CASE("HTLC signatures made and checked on a pool of threads are those made in order")
{
    ParallelPool pool{2};
    const ParallelFor on_pool = [&pool](size_t count, const std::function<void(size_t)>& body) { pool.For(count, body); };
    Harness serial;
    Harness parallel;
    parallel.pair.signers[0].SetParallelFor(on_pool);
    parallel.pair.signers[1].SetParallelFor(on_pool);
    // Fewer HTLCs than the signer hands to the pool first, then enough to use it.
    for (Harness* h : {&serial, &parallel}) {
        h->Do(0, AddCommand(Msat{10'000'000}, 1));
        h->Settle();
    }
    CHECK(parallel.State(1).local_htlc_signatures == serial.State(1).local_htlc_signatures);
    for (Harness* h : {&serial, &parallel}) {
        for (uint64_t payment = 2; payment <= 12; ++payment) h->Do(0, AddCommand(Msat{10'000'000 + payment}, payment));
        h->Settle();
    }
    const ChannelState& payee = parallel.State(1);
    REQUIRE(payee.local_htlc_signatures.size() == 12);
    CHECK(payee.local_htlc_signatures == serial.State(1).local_htlc_signatures);
    CHECK(payee.local_commitment_signature == serial.State(1).local_commitment_signature);

    const ChannelSigner& signer = parallel.pair.signers[1];
    const CommitmentView local = LocalCommitmentView(payee, signer);
    CHECK(CheckCommitmentSignatures(payee, signer, local, *payee.local_commitment_signature, payee.local_htlc_signatures) ==
          SignatureCheck::OK);
    for (const size_t bad : {size_t{0}, size_t{5}, size_t{11}}) {
        std::vector<EcdsaSignature> wrong = payee.local_htlc_signatures;
        wrong[bad] = *payee.local_commitment_signature;
        CHECK(CheckCommitmentSignatures(payee, signer, local, *payee.local_commitment_signature, wrong) ==
              SignatureCheck::BAD_HTLC_SIGNATURE);
    }
}

TEST_CASE("a commitment with no HTLC output checks with a parallel signer")
{
    ParallelPool pool{1};
    Harness h;
    h.pair.signers[1].SetParallelFor([&pool](size_t count, const std::function<void(size_t)>& body) { pool.For(count, body); });
    // An HTLC below the dust limit has no output, so the commitment has no HTLC key to check with.
    h.Do(0, AddCommand(Msat{1'000}, 1));
    h.Settle();
    const ChannelState& payee = h.State(1);
    CHECK(payee.local_htlc_signatures.empty());
    CHECK(CheckCommitmentSignatures(payee, h.pair.signers[1], LocalCommitmentView(payee, h.pair.signers[1]),
                                    *payee.local_commitment_signature, {}) == SignatureCheck::OK);
}

TEST_CASE("the signer remembers the keys of its last four commitments")
{
    const ChannelSigner signer(SecretOfByte(45));
    std::vector<CommitmentSpec> specs;
    for (uint64_t number = 1; number <= 5; ++number) {
        CommitmentSpec spec = Spec({});
        spec.commitment_number = number;
        spec.per_commitment_point = signer.PerCommitmentPoint(number);
        specs.push_back(spec);
    }
    for (size_t i = 0; i < 4; ++i) signer.RememberKeys(specs[i], DeriveCommitmentKeys(specs[i]));
    for (size_t i = 0; i < 4; ++i) {
        REQUIRE(signer.RememberedKeys(specs[i]));
        CHECK(signer.RememberedKeys(specs[i])->revocation == DeriveCommitmentKeys(specs[i]).revocation);
    }
    CHECK_FALSE(signer.RememberedKeys(specs[4]));
    // Remembering one already there keeps the others; a fifth replaces the oldest.
    signer.RememberKeys(specs[2], DeriveCommitmentKeys(specs[2]));
    signer.RememberKeys(specs[4], DeriveCommitmentKeys(specs[4]));
    CHECK_FALSE(signer.RememberedKeys(specs[0]));
    for (size_t i = 1; i < 5; ++i) CHECK(signer.RememberedKeys(specs[i]));
    // The same point under another format or other basepoints is another commitment.
    CommitmentSpec legacy = specs[4];
    legacy.format = CommitmentFormat::LEGACY;
    CHECK_FALSE(signer.RememberedKeys(legacy));
    CommitmentSpec swapped = specs[4];
    std::swap(swapped.holder, swapped.counterparty);
    CHECK_FALSE(signer.RememberedKeys(swapped));
    // A copy starts with nothing remembered.
    const ChannelSigner copy = signer;
    CHECK_FALSE(copy.RememberedKeys(specs[4]));
}

TEST_CASE("the signer's signatures made ahead are found by the digest they sign, the last few kept")
{
    const ChannelSigner signer(SecretOfByte(46));
    const PrivKey key = NamedKey("ahead");
    const Hash256 digest = Sha256(Bytes{'d'});
    signer.SignAhead(key, digest);
    signer.SignAhead(key, digest);
    CHECK(signer.SignaturesMadeAhead() == 1);
    // Found whatever key asks: the digest decides (a sighash commits to its key's script).
    CHECK(signer.Sign(NamedKey("another"), digest) == key.Sign(digest));
    CHECK(signer.SignaturesUsedAhead() == 1);
    CHECK(signer.Sign(key, Sha256(Bytes{'e'})) == key.Sign(Sha256(Bytes{'e'})));
    CHECK(signer.SignaturesUsedAhead() == 1);
    for (uint8_t i = 0; i < ChannelSigner::SIGNATURES_AHEAD; ++i) signer.SignAhead(key, Sha256(Bytes{'f', i}));
    CHECK(signer.Sign(NamedKey("another"), digest) == NamedKey("another").Sign(digest));
    CHECK(signer.SignaturesUsedAhead() == 1);
    // A copy starts without them.
    const ChannelSigner copy = signer;
    CHECK(copy.SignaturesMadeAhead() == 0);
}

TEST_CASE("the peer's commitment signed ahead, between its updates and their commitment_signed, is the one signed then")
{
    Harness ahead;
    Harness plain;
    for (Harness* h : {&ahead, &plain}) {
        h->Do(0, AddCommand(Msat{10'000'000}, 1));
        h->Do(0, SignCommitmentCommand{});
        h->Deliver(1); // update_add_htlc
        if (h == &ahead) SignNextRemoteCommitmentAhead(h->State(1), h->pair.signers[1]);
        h->Deliver(1); // commitment_signed, answered with revoke_and_ack
        h->Do(1, SignCommitmentCommand{});
    }
    // The commitment and its one HTLC.
    CHECK(ahead.pair.signers[1].SignaturesMadeAhead() == 2);
    CHECK(ahead.pair.signers[1].SignaturesUsedAhead() == 2);
    // Its keys were kept for the signing that found the signatures, which built it again.
    const CommitmentSpec& signed_spec = RemoteCommitmentView(ahead.State(1)).spec;
    CHECK(ahead.pair.signers[1].RememberedKeys(signed_spec) == DeriveCommitmentKeys(signed_spec, HtlcKeys::ALWAYS));
    CHECK_FALSE(plain.pair.signers[1].RememberedKeys(RemoteCommitmentView(plain.State(1)).spec));
    REQUIRE(ahead.inbox[0].size() == 2);
    CHECK(ahead.inbox[0] == plain.inbox[0]);
    ahead.Settle();
    plain.Settle();
    CHECK(ahead.State(0).local_htlc_signatures == plain.State(0).local_htlc_signatures);
    CHECK(ahead.State(0).local_commitment_signature == plain.State(0).local_commitment_signature);
}

TEST_CASE("a guess signed ahead that the peer's next update makes wrong is not used")
{
    Harness ahead;
    Harness plain;
    for (Harness* h : {&ahead, &plain}) {
        h->Do(0, AddCommand(Msat{10'000'000}, 1));
        h->Deliver(1);
        if (h == &ahead) SignNextRemoteCommitmentAhead(h->State(1), h->pair.signers[1]);
        h->Do(0, AddCommand(Msat{20'000'000}, 2));
        h->Do(0, SignCommitmentCommand{});
        h->DeliverAll();
        h->Do(1, SignCommitmentCommand{});
    }
    CHECK(ahead.pair.signers[1].SignaturesMadeAhead() == 2);
    CHECK(ahead.pair.signers[1].SignaturesUsedAhead() == 0);
    CHECK(ahead.inbox[0] == plain.inbox[0]);
    ahead.Settle();
    CHECK(ahead.State(0).local_htlc_signatures.size() == 2);
}

TEST_CASE("nothing is signed ahead without updates of the peer pending, or when they only settle ours")
{
    Harness h;
    SignNextRemoteCommitmentAhead(h.State(1), h.pair.signers[1]);
    h.Do(0, AddCommand(Msat{10'000'000}, 1));
    h.Settle();
    // The peer may hold back its commitment_signed for a fulfill until it has more to sign.
    h.Do(1, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
    h.Deliver(0);
    SignNextRemoteCommitmentAhead(h.State(0), h.pair.signers[0]);
    CHECK(h.pair.signers[0].SignaturesMadeAhead() == 0);
    CHECK(h.pair.signers[1].SignaturesMadeAhead() == 0);
}

TEST_CASE("a received commitment's signatures checked by the node's runner, in any order, give the same verdicts")
{
    Harness h;
    int runs = 0;
    h.pair.signers[1].SetCheckRunner([&runs](std::vector<std::function<bool()>> checks) {
        ++runs;
        // Last first, on another thread: each check owns what it reads.
        std::vector<bool> results(checks.size());
        std::thread([&] {
            for (size_t i = checks.size(); i-- > 0;) results[i] = checks[i]();
        }).join();
        return results;
    });
    for (uint64_t payment = 1; payment <= 3; ++payment) h.Do(0, AddCommand(Msat{10'000'000 + payment}, payment));
    h.Settle();
    CHECK(runs > 0);
    const ChannelState& payee = h.State(1);
    const ChannelSigner& signer = h.pair.signers[1];
    REQUIRE(payee.local_htlc_signatures.size() == 3);
    const CommitmentView local = LocalCommitmentView(payee, signer);
    const EcdsaSignature& signature = *payee.local_commitment_signature;
    CHECK(CheckCommitmentSignatures(payee, signer, local, signature, payee.local_htlc_signatures) == SignatureCheck::OK);
    std::vector<EcdsaSignature> wrong = payee.local_htlc_signatures;
    wrong[2] = signature;
    CHECK(CheckCommitmentSignatures(payee, signer, local, signature, wrong) == SignatureCheck::BAD_HTLC_SIGNATURE);
    // The commitment's own signature is judged first, then the count.
    CHECK(CheckCommitmentSignatures(payee, signer, local, wrong[0], payee.local_htlc_signatures) ==
          SignatureCheck::BAD_COMMITMENT_SIGNATURE);
    wrong.pop_back();
    CHECK(CheckCommitmentSignatures(payee, signer, local, signature, wrong) == SignatureCheck::WRONG_HTLC_SIGNATURE_COUNT);
    CHECK(CheckCommitmentSignatures(payee, signer, local, wrong[0], wrong) == SignatureCheck::BAD_COMMITMENT_SIGNATURE);
}
