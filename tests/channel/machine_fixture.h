#ifndef SIDEBOLT_TESTS_CHANNEL_MACHINE_FIXTURE_H
#define SIDEBOLT_TESTS_CHANNEL_MACHINE_FIXTURE_H

// Two ends of one channel (their signers and initial states), built as opening would, for the
// state machine's tests, simulation and fuzz target. No test framework here: fuzz uses it too.

#include "channel/machine.h"
#include "channel/setup.h"
#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/hash.h"

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidebolt::test {

struct PairOptions {
    CommitmentFormat format{CommitmentFormat::ANCHORS};
    Sat funding{1'000'000};
    //! Pushed to the acceptor at opening, so both sides can offer HTLCs.
    Msat push{400'000'000};
    uint32_t feerate_per_kw{2'500};
    Sat dust_limit{354};
    HtlcLimits limits{.max_htlc_value_in_flight = Msat{500'000'000},
                      .channel_reserve = Sat{10'000},
                      .htlc_minimum = Msat{1'000},
                      .max_accepted_htlcs = 30};
};

inline Secret<32> SecretOfByte(uint8_t byte) { return Secret<32>(Bytes(32, byte)); }

inline PartyParams PartyOf(const ChannelSigner& signer, const PairOptions& options)
{
    return PartyParams{.funding_pubkey = signer.FundingPubKey(),
                       .basepoints = signer.GetBasepoints(),
                       .dust_limit_sat = options.dust_limit,
                       .to_self_delay = 144};
}

//! The setup as seen by `self`; side 0 opens the channel.
inline ChannelSetup MakeSetup(const std::array<ChannelSigner, 2>& signers, size_t self, const PairOptions& options)
{
    const ChannelSigner& local = signers[self];
    const ChannelSigner& remote = signers[1 - self];
    const Msat opener_balance = ToMsat(options.funding) - options.push;
    return ChannelSetup{
        .channel_id = Sha256(Bytes{'c', 'h', 'a', 'n'}),
        .params = ChannelParams{.format = options.format,
                                .funding_outpoint = OutPoint{.txid = Sha256(Bytes{'f', 'u', 'n', 'd'}), .n = 1},
                                .funding_sat = options.funding,
                                .local = PartyOf(local, options),
                                .remote = PartyOf(remote, options),
                                .opener = self == 0 ? Side::LOCAL : Side::REMOTE},
        .local_limits = options.limits,
        .remote_limits = options.limits,
        .initial_local_balance = self == 0 ? opener_balance : options.push,
        .initial_remote_balance = self == 0 ? options.push : opener_balance,
        .initial_feerate_per_kw = options.feerate_per_kw,
        .remote_first_per_commitment_point = remote.PerCommitmentPoint(0),
        .local_upfront_shutdown_script = std::nullopt,
        .remote_upfront_shutdown_script = std::nullopt,
        .minimum_depth = 3,
        .announce = false,
    };
}

struct ChannelPair {
    std::array<ChannelSigner, 2> signers;
    std::vector<ChannelState> states;
};

//! Both states after funding_signed and channel_ready, each holding the other's signature on
//! its commitment number 0.
inline ChannelPair MakeChannelPair(const PairOptions& options = {}, uint8_t seed = 1)
{
    ChannelPair pair{.signers = {ChannelSigner(SecretOfByte(seed)), ChannelSigner(SecretOfByte(static_cast<uint8_t>(seed + 100)))},
                     .states = {}};
    for (size_t self = 0; self < 2; ++self) {
        ChannelState state = MakeInitialChannelState(MakeSetup(pair.signers, self, options));
        state.remote_next_per_commitment_point = pair.signers[1 - self].PerCommitmentPoint(1);
        pair.states.push_back(std::move(state));
    }
    for (size_t self = 0; self < 2; ++self) {
        const EcdsaSignature signature = SignRemoteCommitment(pair.states[1 - self], pair.signers[1 - self]);
        if (!VerifyLocalCommitmentSig(pair.states[self], pair.signers[self], signature)) {
            throw std::logic_error("commitment 0 signature does not verify");
        }
        pair.states[self].local_commitment_signature = signature;
    }
    return pair;
}

//! The preimage of a test payment and its hash.
inline Hash256 PreimageOf(uint64_t n)
{
    Hash256 preimage{};
    for (size_t i = 0; i < 8; ++i) preimage[i] = static_cast<uint8_t>(n >> (8 * i));
    preimage[31] = 0x5a;
    return preimage;
}

inline AddHtlcCommand AddCommand(Msat amount, uint64_t payment, uint32_t cltv_expiry = 600'000)
{
    AddHtlcCommand command;
    command.amount_msat = amount;
    command.payment_hash = Sha256(PreimageOf(payment));
    command.cltv_expiry = cltv_expiry;
    command.onion_routing_packet[0] = static_cast<uint8_t>(payment);
    return command;
}

//! The two ends wired back to back with in-order, lossless queues (tests drop messages by
//! clearing a queue). Steps that do not succeed throw, naming the error.
struct Harness {
    ChannelPair pair;
    //! inbox[i]: messages on their way to side i.
    std::array<std::vector<ChannelMessage>, 2> inbox;
    //! Actions other than SendMessage, per side.
    std::array<std::vector<ChannelAction>, 2> events;

    explicit Harness(const PairOptions& options = {}) : pair(MakeChannelPair(options)) {}

    ChannelState& State(size_t side) { return pair.states[side]; }

    StepResult Try(size_t side, const ChannelInput& input) const { return Step(pair.states[side], pair.signers[side], input); }

    //! Applies a step that must succeed; returns its actions.
    std::vector<ChannelAction> Do(size_t side, const ChannelInput& input)
    {
        StepResult result = Try(side, input);
        if (const auto* failure = std::get_if<ProtocolFailure>(&result)) {
            throw std::runtime_error("protocol failure: " + std::string(ChannelErrorName(failure->error)));
        }
        if (const auto* rejected = std::get_if<CommandRejected>(&result)) {
            throw std::runtime_error("command rejected: " + std::string(ChannelErrorName(rejected->error)));
        }
        Transition& transition = std::get<Transition>(result);
        pair.states[side] = std::move(transition.state);
        for (const ChannelAction& action : transition.actions) {
            if (const auto* send = std::get_if<SendMessage>(&action)) {
                inbox[1 - side].push_back(send->message);
            } else {
                events[side].push_back(action);
            }
        }
        return transition.actions;
    }

    //! Delivers the next message queued for `side`.
    std::vector<ChannelAction> Deliver(size_t side)
    {
        if (inbox[side].empty()) throw std::runtime_error("nothing to deliver");
        const ChannelMessage message = inbox[side].front();
        inbox[side].erase(inbox[side].begin());
        return Do(side, MessageReceived{message});
    }

    void DeliverAll()
    {
        while (!inbox[0].empty() || !inbox[1].empty()) {
            for (size_t side = 0; side < 2; ++side) {
                if (!inbox[side].empty()) Deliver(side);
            }
        }
    }

    //! Signs and delivers until both sides hold the same, fully committed state.
    void Settle()
    {
        for (int round = 0; round < 20; ++round) {
            Do(0, SignCommitmentCommand{});
            Do(1, SignCommitmentCommand{});
            if (inbox[0].empty() && inbox[1].empty()) return;
            DeliverAll();
        }
        throw std::runtime_error("channel does not settle");
    }

    void Reconnect()
    {
        Do(0, PeerDisconnected{});
        Do(1, PeerDisconnected{});
        inbox[0].clear();
        inbox[1].clear();
        Do(0, PeerReconnected{});
        Do(1, PeerReconnected{});
    }
};

} // namespace sidebolt::test

#endif
