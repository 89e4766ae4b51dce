// A deterministic two-node simulation of the BOLT 2 state machine: random HTLCs, settlements
// and fee updates from both sides over delayed in-order links, with random disconnections and
// crashes, checking after every step that both sides agree on both commitment transactions,
// that every signature they hold verifies, and that no amount is created or lost.
#include "channel/commitment.h"
#include "channel/machine.h"
#include "channel/state.h"
#include "tests/channel/machine_fixture.h"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <random>
#include <string>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
class Simulation
{
public:
    Simulation(uint64_t seed, const PairOptions& options)
        : m_rng(seed), m_pair(MakeChannelPair(options, static_cast<uint8_t>(seed))), m_seed(seed)
    {
        for (size_t side = 0; side < 2; ++side) {
            // A low dust exposure limit, so that rule is exercised too.
            m_pair.states[side].policy.max_dust_htlc_exposure = Msat{3'000'000};
            m_expected_balance[side] = m_pair.states[side].local_balance;
        }
        m_funding = ToMsat(options.funding);
    }

    void Run(size_t steps)
    {
        for (m_step = 0; m_step < steps; ++m_step) {
            RandomStep();
            CheckInvariants();
        }
        Drain();
    }

    size_t Rejections() const { return m_rejections; }
    size_t Settled() const { return m_settled; }
    size_t Crashes() const { return m_crashes; }
    size_t Reconnections() const { return m_reconnections; }

private:
    struct InFlight {
        uint64_t deliver_at;
        ChannelMessage message;
    };

    uint64_t Rand(uint64_t n) { return n == 0 ? 0 : m_rng() % n; }
    bool Chance(uint64_t percent) { return Rand(100) < percent; }

    std::string Where() const { return "seed " + std::to_string(m_seed) + " step " + std::to_string(m_step); }

    //! One input to one side; a protocol failure anywhere is a bug.
    void Apply(size_t side, const ChannelInput& input)
    {
        StepResult result = Step(m_pair.states[side], m_pair.signers[side], input);
        if (const auto* failure = std::get_if<ProtocolFailure>(&result)) {
            FAIL("protocol failure " << ChannelErrorName(failure->error) << " on side " << side << " at " << Where());
        }
        if (std::holds_alternative<CommandRejected>(result)) {
            ++m_rejections;
            return;
        }
        Transition& transition = std::get<Transition>(result);
        m_pair.states[side] = std::move(transition.state);
        for (ChannelAction& action : transition.actions) Act(side, action);
    }

    void Act(size_t side, ChannelAction& action)
    {
        if (auto* send = std::get_if<SendMessage>(&action)) {
            if (const auto* signed_message = std::get_if<CommitmentSignedMessage>(&send->message)) CheckSigned(side, *signed_message);
            // In-order delivery with random delays, like one TCP connection.
            auto& wire = m_wire[1 - side];
            const uint64_t at = std::max(m_now + Rand(5), wire.empty() ? 0 : wire.back().deliver_at);
            wire.push_back(InFlight{at, std::move(send->message)});
        } else if (const auto* fulfilled = std::get_if<HtlcFulfilled>(&action)) {
            const ChannelHtlc* htlc = m_pair.states[side].FindHtlc(Side::LOCAL, fulfilled->id);
            REQUIRE_MESSAGE(htlc, Where());
            CHECK_MESSAGE(Sha256(fulfilled->preimage) == htlc->payment_hash, Where());
        }
    }

    //! "No revoked commitment number is ever signed again": each commitment_signed signs a new
    //! number, or is the exact retransmission of the last one.
    void CheckSigned(size_t side, const CommitmentSignedMessage& message)
    {
        const uint64_t number = m_pair.states[side].remote_commitment_number;
        if (m_last_signed[side] && *m_last_signed[side] == message) {
            CHECK_MESSAGE(number == m_last_signed_number[side], Where());
            return;
        }
        CHECK_MESSAGE(number == m_last_signed_number[side] + 1, Where());
        m_last_signed[side] = message;
        m_last_signed_number[side] = number;
    }

    void RandomStep()
    {
        const size_t side = Rand(2);
        // A lost connection comes back after a few steps.
        if (!m_connected && Chance(25)) return Reconnect();
        const uint64_t roll = Rand(100);
        if (roll < 30) return DeliverNext();
        if (roll < 42) return AddHtlc(side);
        if (roll < 62) return ResolveHtlc(side);
        if (roll < 65) return UpdateFee();
        if (roll < 87) return Apply(side, SignCommitmentCommand{});
        if (roll < 89) return m_connected ? Disconnect() : void();
        if (roll < 90) return Crash(side);
        m_now += 1 + Rand(3);
    }

    void DeliverNext()
    {
        // The earliest message due, from either direction.
        std::optional<size_t> to;
        for (size_t side = 0; side < 2; ++side) {
            if (m_wire[side].empty()) continue;
            if (!to || m_wire[side].front().deliver_at < m_wire[*to].front().deliver_at) to = side;
        }
        if (!to) return;
        InFlight next = std::move(m_wire[*to].front());
        m_wire[*to].pop_front();
        m_now = std::max(m_now, next.deliver_at);
        // A crash while handling it, before persisting: the message is consumed, nothing
        // happened, and the connection drops.
        if (!m_draining && Chance(1)) return Crash(*to);
        Apply(*to, MessageReceived{std::move(next.message)});
    }

    void AddHtlc(size_t side)
    {
        const uint64_t kind = Rand(10);
        const uint64_t amount = kind < 3 ? 1'000 + Rand(350'000) : kind < 9 ? 1'000'000 + Rand(20'000'000) : 50'000'000 + Rand(150'000'000);
        const uint64_t payment = m_next_payment++;
        Apply(side, AddCommand(Msat{amount}, payment, 600'000 + static_cast<uint32_t>(Rand(1000))));
    }

    void ResolveHtlc(size_t side)
    {
        std::vector<const ChannelHtlc*> pending;
        for (const ChannelHtlc& htlc : m_pair.states[side].htlcs) {
            if (AwaitsResolution(m_pair.states[side], htlc)) pending.push_back(&htlc);
        }
        if (pending.empty()) return;
        const ChannelHtlc htlc = *pending[Rand(pending.size())];
        const uint64_t roll = Rand(10);
        if (roll < 6 && !htlc.exceeds_dust_exposure) {
            Apply(side, FulfillHtlcCommand{.id = htlc.id, .preimage = PreimageOfHash(htlc)});
            m_expected_balance[side] += htlc.amount_msat;
            m_expected_balance[1 - side] -= htlc.amount_msat;
            ++m_settled;
        } else if (roll < 9) {
            Apply(side, FailHtlcCommand{.id = htlc.id, .reason = Bytes(1 + Rand(40), static_cast<uint8_t>(roll))});
        } else {
            Apply(side, FailMalformedHtlcCommand{.id = htlc.id, .sha256_of_onion = Sha256(htlc.onion_routing_packet), .failure_code = 0xc005});
        }
    }

    Hash256 PreimageOfHash(const ChannelHtlc& htlc) const
    {
        // AddCommand puts the payment's low byte into the onion; search the nearby payments.
        for (uint64_t payment = 0; payment < m_next_payment; ++payment) {
            if (Sha256(PreimageOf(payment)) == htlc.payment_hash) return PreimageOf(payment);
        }
        FAIL("unknown payment hash");
        return {};
    }

    void UpdateFee() { Apply(0, UpdateFeeCommand{.feerate_per_kw = static_cast<uint32_t>(253 + Rand(12'000))}); }

    void Disconnect()
    {
        m_wire[0].clear();
        m_wire[1].clear();
        Apply(0, PeerDisconnected{});
        Apply(1, PeerDisconnected{});
        m_connected = false;
    }

    void Reconnect()
    {
        ++m_reconnections;
        m_connected = true;
        Apply(0, PeerReconnected{});
        Apply(1, PeerReconnected{});
    }

    //! A restart: the state comes back from its stored bytes, the connection is lost with every
    //! message on it (all persisted before they were sent, so nothing is lost that matters).
    void Crash(size_t side)
    {
        ++m_crashes;
        const auto reloaded = DeserializeChannelState(SerializeChannelState(m_pair.states[side]));
        REQUIRE_MESSAGE(reloaded, Where());
        CHECK_MESSAGE(*reloaded == m_pair.states[side], Where());
        m_pair.states[side] = *reloaded;
        // Loading a state starts with PeerDisconnected; then the peers find each other again.
        if (m_connected) Disconnect();
        else Apply(side, PeerDisconnected{});
        Reconnect();
    }

    Hash256 Txid(const CommitmentView& view) const
    {
        const CommitmentTx tx = BuildCommitmentTx(view.spec);
        CHECK_MESSAGE(tx.opener_balance_after_fee_sat >= 0, Where());
        return tx.tx.GetTxid();
    }

    void CheckView(const ChannelState& state, const CommitmentView& view, Side holder) const
    {
        Msat total = view.spec.to_local_msat + view.spec.to_remote_msat;
        std::array<size_t, 2> count{};
        std::array<Msat, 2> in_flight{};
        for (size_t i = 0; i < view.spec.htlcs.size(); ++i) {
            total += view.spec.htlcs[i].amount_msat;
            const size_t offerer = view.htlcs[i].offerer == Side::LOCAL ? 0 : 1;
            ++count[offerer];
            in_flight[offerer] += view.spec.htlcs[i].amount_msat;
        }
        CHECK_MESSAGE(total == m_funding, Where() << " holder " << static_cast<int>(holder));
        // Limits the peer announced bind our offers and the other way round.
        CHECK_MESSAGE(count[0] <= state.setup.remote_limits.max_accepted_htlcs, Where());
        CHECK_MESSAGE(count[1] <= state.setup.local_limits.max_accepted_htlcs, Where());
        CHECK_MESSAGE(in_flight[0] <= state.setup.remote_limits.max_htlc_value_in_flight, Where());
        CHECK_MESSAGE(in_flight[1] <= state.setup.local_limits.max_htlc_value_in_flight, Where());
    }

    //! The txid of a commitment, rebuilt whenever its number changes: a commitment's content
    //! never changes under the same number (folding and disconnections leave it alone).
    Hash256 CachedTxid(size_t side, Side holder, const ChannelState& state, const CommitmentView& view)
    {
        const uint64_t number = holder == Side::LOCAL ? state.local_commitment_number : state.remote_commitment_number;
        auto& cache = m_txids[side][holder == Side::LOCAL ? 0 : 1];
        if (!cache || cache->first != number) cache = std::pair{number, Txid(view)};
        return cache->second;
    }

    void CheckInvariants()
    {
        std::array<Hash256, 2> local_txid{}, remote_txid{};
        for (size_t side = 0; side < 2; ++side) {
            const ChannelState& state = m_pair.states[side];
            REQUIRE_MESSAGE(state.local_balance + state.remote_balance == m_funding, Where());
            const CommitmentView local = LocalCommitmentView(state, m_pair.signers[side]);
            const CommitmentView remote = RemoteCommitmentView(state);
            CheckView(state, local, Side::LOCAL);
            CheckView(state, remote, Side::REMOTE);
            local_txid[side] = CachedTxid(side, Side::LOCAL, state, local);
            remote_txid[side] = CachedTxid(side, Side::REMOTE, state, remote);
            // The signatures we hold on our commitment verify (checked when it changes).
            if (m_checked_local[side] != state.local_commitment_number || m_step == 0) {
                REQUIRE_MESSAGE(state.local_commitment_signature, Where());
                CHECK_MESSAGE(CheckCommitmentSignatures(state, local, *state.local_commitment_signature, state.local_htlc_signatures) ==
                                  SignatureCheck::OK,
                              Where());
                m_checked_local[side] = state.local_commitment_number;
            }
        }
        // Whenever both sides are at the same commitment of one holder, it is the same transaction.
        for (size_t side = 0; side < 2; ++side) {
            const ChannelState& holder = m_pair.states[side];
            const ChannelState& peer = m_pair.states[1 - side];
            if (holder.local_commitment_number == peer.remote_commitment_number) {
                CHECK_MESSAGE(local_txid[side] == remote_txid[1 - side], Where());
            } else {
                // The holder is at most one commitment behind what its peer signed.
                CHECK_MESSAGE(holder.local_commitment_number + 1 == peer.remote_commitment_number, Where());
            }
        }
    }

    //! Reconnects, then settles every HTLC until both sides are idle: the channel always
    //! makes progress, and the balances are exactly what the fulfills moved.
    void Drain()
    {
        m_draining = true;
        if (!m_connected) Reconnect();
        for (int round = 0; round < 200; ++round) {
            while (!m_wire[0].empty() || !m_wire[1].empty()) DeliverNext();
            for (size_t side = 0; side < 2; ++side) {
                while (true) {
                    const auto& htlcs = m_pair.states[side].htlcs;
                    const auto it = std::ranges::find_if(htlcs, [&](const ChannelHtlc& h) { return AwaitsResolution(m_pair.states[side], h); });
                    if (it == htlcs.end()) break;
                    const ChannelHtlc htlc = *it;
                    if (htlc.exceeds_dust_exposure) {
                        Apply(side, FailHtlcCommand{.id = htlc.id, .reason = {}});
                    } else {
                        Apply(side, FulfillHtlcCommand{.id = htlc.id, .preimage = PreimageOfHash(htlc)});
                        m_expected_balance[side] += htlc.amount_msat;
                        m_expected_balance[1 - side] -= htlc.amount_msat;
                    }
                }
                Apply(side, SignCommitmentCommand{});
            }
            CheckInvariants();
            if (m_wire[0].empty() && m_wire[1].empty() && m_pair.states[0].htlcs.empty() && m_pair.states[1].htlcs.empty() &&
                m_pair.states[0].fee_updates.empty() && m_pair.states[1].fee_updates.empty()) {
                break;
            }
        }
        for (size_t side = 0; side < 2; ++side) {
            CHECK_MESSAGE(m_pair.states[side].htlcs.empty(), Where());
            CHECK_MESSAGE(m_pair.states[side].local_balance == m_expected_balance[side], Where());
        }
        CHECK(m_pair.states[0].feerate_per_kw == m_pair.states[1].feerate_per_kw);
    }

    std::mt19937_64 m_rng;
    ChannelPair m_pair;
    uint64_t m_seed;
    size_t m_step{0};
    uint64_t m_now{0};
    Msat m_funding{0};
    std::array<std::deque<InFlight>, 2> m_wire;
    bool m_connected{true};
    bool m_draining{false};
    uint64_t m_next_payment{0};
    std::array<Msat, 2> m_expected_balance{};
    std::array<std::optional<CommitmentSignedMessage>, 2> m_last_signed;
    std::array<uint64_t, 2> m_last_signed_number{};
    std::array<uint64_t, 2> m_checked_local{};
    std::array<std::array<std::optional<std::pair<uint64_t, Hash256>>, 2>, 2> m_txids{};
    size_t m_rejections{0};
    size_t m_settled{0};
    size_t m_crashes{0};
    size_t m_reconnections{0};
};
} // namespace

TEST_CASE("two nodes agree through random updates, disconnections and crashes")
{
    size_t settled = 0, rejections = 0, crashes = 0, reconnections = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        PairOptions options;
        if (seed % 4 == 0) options.format = CommitmentFormat::STATIC_REMOTEKEY;
        if (seed % 3 == 0) options.push = Msat{100'000'000};
        Simulation simulation(seed, options);
        simulation.Run(600);
        settled += simulation.Settled();
        rejections += simulation.Rejections();
        crashes += simulation.Crashes();
        reconnections += simulation.Reconnections();
    }
    // The runs did real work: many HTLCs settled, commands hit limits, links and nodes failed.
    MESSAGE("settled " << settled << ", rejected " << rejections << ", crashes " << crashes << ", reconnections " << reconnections);
    CHECK(settled > 100);
    CHECK(rejections > 0);
    CHECK(crashes > 20);
    CHECK(reconnections > 100);
}
