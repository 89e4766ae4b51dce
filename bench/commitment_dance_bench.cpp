// The BOLT 2 commitment dance between two in-process state machines (channel/machine.h): one
// payment round is add, commit, revoke, fulfill, commit, revoke until both sides are settled,
// 16 Steps in all (8 per side), 10 messages, 4 commitment_signed each signing and checking one
// commitment signature, the two before the fulfill one HTLC signature too: 6 ECDSA signatures
// and 6 verifications a round. Successive rounds alternate the payer, so the balances stay put
// however many iterations run.
//
// DanceInMemory measures the machine alone (CPU time of the single thread: rounds per core).
// DanceDurable persists every new state (SerializeChannelState) in the node's own LMDB
// environment (durable: synced on commit) before sending what the step produced, as
// machine.h's Transition asks; its time is wall-clock, dominated by the disk's sync latency.
// DanceDurableBatched/N runs N channels in lockstep and commits each step's N states of a
// node in one write transaction: the grouping a node does across its channels.
#include "channel/machine.h"
#include "channel/state.h"
#include "store/env.h"
#include "tests/channel/machine_fixture.h"
#include "tests/support/scratch_dir.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
//! Well above the dust limit plus the HTLC transaction fee, so the HTLC is a real output
//! whose signature commitment_signed carries and the receiver checks.
constexpr Msat kPaymentAmount{10'000'000};

enum class Move : uint8_t { ADD, SIGN, RECEIVE, FULFILL };

struct DanceStep {
    bool payer; //!< true: the payer acts; false: the payee.
    Move move;
};

//! One round, in the order a real exchange runs: each side handles what it received before
//! it signs, and signs as soon as the peer's revoke_and_ack allows.
constexpr std::array<DanceStep, 16> kRound{{
    {true, Move::ADD},      {true, Move::SIGN},                                  // update_add_htlc, commitment_signed
    {false, Move::RECEIVE}, {false, Move::RECEIVE}, {false, Move::SIGN},         // -> revoke_and_ack, commitment_signed
    {true, Move::RECEIVE},  {true, Move::RECEIVE},                               // -> revoke_and_ack
    {false, Move::RECEIVE},                                                      // HtlcLockedIn
    {false, Move::FULFILL}, {false, Move::SIGN},                                 // update_fulfill_htlc, commitment_signed
    {true, Move::RECEIVE},  {true, Move::RECEIVE},  {true, Move::SIGN},          // -> revoke_and_ack, commitment_signed
    {false, Move::RECEIVE}, {false, Move::RECEIVE},                              // -> revoke_and_ack
    {true, Move::RECEIVE},                                                       // settled
}};

//! Two ends of one channel wired back to back.
class Dance
{
public:
    explicit Dance(uint8_t seed) : m_pair(MakeChannelPair({}, seed)) {}

    //! The transition of one step of the current round (not applied yet).
    Transition Next(size_t step)
    {
        const DanceStep& what = kRound[step];
        const size_t side = what.payer ? m_payer : 1 - m_payer;
        m_side = side;
        StepResult result = Step(m_pair.states[side], m_pair.signers[side], Input(side, what.move));
        if (auto* transition = std::get_if<Transition>(&result)) return std::move(*transition);
        if (const auto* failure = std::get_if<ProtocolFailure>(&result)) {
            throw std::runtime_error("protocol failure " + std::string(ChannelErrorName(failure->error)));
        }
        throw std::runtime_error("command rejected " + std::string(ChannelErrorName(std::get<CommandRejected>(result).error)));
    }

    //! The side that took the last Next().
    size_t ActingSide() const { return m_side; }

    //! Takes the new state, then "sends" its messages.
    void Apply(Transition transition)
    {
        m_pair.states[m_side] = std::move(transition.state);
        for (ChannelAction& action : transition.actions) {
            if (auto* send = std::get_if<SendMessage>(&action)) {
                m_inbox[1 - m_side].push_back(std::move(send->message));
            } else if (const auto* locked_in = std::get_if<HtlcLockedIn>(&action)) {
                m_locked_in = locked_in->id;
            }
        }
    }

    //! After the last step: both sides idle with no HTLC left; the next round goes the other way.
    void FinishRound()
    {
        if (!m_inbox[0].empty() || !m_inbox[1].empty() || !m_pair.states[0].htlcs.empty() || !m_pair.states[1].htlcs.empty()) {
            throw std::runtime_error("round did not settle");
        }
        m_payer = 1 - m_payer;
        ++m_payment;
    }

    const ChannelState& State(size_t side) const { return m_pair.states[side]; }

private:
    ChannelInput Input(size_t side, Move move)
    {
        switch (move) {
        case Move::ADD:
            return AddCommand(kPaymentAmount, m_payment);
        case Move::SIGN:
            return SignCommitmentCommand{};
        case Move::FULFILL:
            if (!m_locked_in) throw std::runtime_error("no HTLC locked in");
            return FulfillHtlcCommand{.id = *std::exchange(m_locked_in, std::nullopt), .preimage = PreimageOf(m_payment)};
        case Move::RECEIVE:
            break;
        }
        if (m_inbox[side].empty()) throw std::runtime_error("nothing to receive");
        ChannelMessage message = std::move(m_inbox[side].front());
        m_inbox[side].pop_front();
        return MessageReceived{std::move(message)};
    }

    ChannelPair m_pair;
    std::array<std::deque<ChannelMessage>, 2> m_inbox;
    size_t m_payer{0};
    size_t m_side{0};
    uint64_t m_payment{0};
    std::optional<uint64_t> m_locked_in;
};

//! One node's store: its own durable LMDB environment, a state per channel keyed by index.
class NodeStore
{
public:
    explicit NodeStore(const std::filesystem::path& dir) : m_env(dir, DurableOptions()), m_db(m_env.OpenDb("channel_states")) {}

    //! One write transaction (one durable commit) holding every state given.
    void Persist(const std::vector<std::pair<uint32_t, const ChannelState*>>& states)
    {
        std::vector<Bytes> values;
        values.reserve(states.size());
        for (const auto& [index, state] : states) values.push_back(SerializeChannelState(*state));
        m_env.Write([&](store::WriteTxn& txn) {
            for (size_t i = 0; i < states.size(); ++i) {
                const uint32_t index = states[i].first;
                const std::array<uint8_t, 4> key{uint8_t(index >> 24), uint8_t(index >> 16), uint8_t(index >> 8), uint8_t(index)};
                txn.Put(m_db, key, values[i]);
            }
        });
        ++m_commits;
    }

    uint64_t Commits() const { return m_commits; }

private:
    static store::EnvOptions DurableOptions()
    {
        store::EnvOptions options;
        options.durable = true;
        return options;
    }

    store::Env m_env;
    store::Db m_db;
    uint64_t m_commits{0};
};

void RunRoundInMemory(Dance& dance)
{
    for (size_t step = 0; step < kRound.size(); ++step) dance.Apply(dance.Next(step));
    dance.FinishRound();
}

void DanceInMemory(benchmark::State& state)
{
    Dance dance(1);
    try {
        for (auto _ : state) RunRoundInMemory(dance);
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    benchmark::DoNotOptimize(dance.State(0).local_commitment_number);
    state.SetItemsProcessed(state.iterations());
    state.counters["steps_per_round"] = static_cast<double>(kRound.size());
}

/**
 * `channels` channels in lockstep: each step runs on every channel, then the acting node
 * commits all their new states in one write transaction, and only then are the messages sent
 * (machine.h: "persist `state` durably, then perform `actions`").
 */
void DanceDurable(benchmark::State& state)
{
    const auto channels = static_cast<size_t>(state.range(0));
    const test::ScratchDir dir{"sidebolt-dance"};
    std::array<std::unique_ptr<NodeStore>, 2> nodes;
    for (size_t side = 0; side < 2; ++side) nodes[side] = std::make_unique<NodeStore>(dir.Path() / ("node" + std::to_string(side)));
    std::vector<Dance> dances;
    for (size_t i = 0; i < channels; ++i) dances.emplace_back(static_cast<uint8_t>(1 + i));

    std::vector<Transition> pending;
    pending.reserve(channels);
    std::vector<std::pair<uint32_t, const ChannelState*>> batch(channels);
    try {
        for (auto _ : state) {
            for (size_t step = 0; step < kRound.size(); ++step) {
                pending.clear();
                for (size_t i = 0; i < channels; ++i) {
                    pending.push_back(dances[i].Next(step));
                    batch[i] = {static_cast<uint32_t>(i), &pending[i].state};
                }
                // Every step of a round changes the acting side's state, so every one is stored.
                nodes[dances[0].ActingSide()]->Persist(batch);
                for (size_t i = 0; i < channels; ++i) dances[i].Apply(std::move(pending[i]));
            }
            for (Dance& dance : dances) dance.FinishRound();
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    const double rounds = static_cast<double>(state.iterations()) * static_cast<double>(channels);
    state.SetItemsProcessed(static_cast<int64_t>(rounds));
    // Each durable commit is a sync barrier (LMDB: fdatasync of the data pages, then the meta
    // page written through an O_DSYNC descriptor).
    state.counters["commits_per_round_per_node"] = static_cast<double>(nodes[0]->Commits() + nodes[1]->Commits()) / (2 * rounds);
    state.counters["channels"] = static_cast<double>(channels);
}
} // namespace

BENCHMARK(DanceInMemory)->Unit(benchmark::kMicrosecond);
BENCHMARK(DanceDurable)->Name("DanceDurable")->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(DanceDurable)->Name("DanceDurableBatched")->Arg(16)->UseRealTime()->Unit(benchmark::kMicrosecond);
