// Arbitrary sequences of inputs against both ends of one channel: local commands, honest
// messages (delivered, dropped or tampered with), messages built from fuzz bytes, disconnections
// and blocks. The machine must never crash, and every state it produces must keep the balance
// invariant: balances add up to the funding amount, and so does each current commitment.
#include "channel/machine.h"
#include "channel/state.h"
#include "tests/channel/machine_fixture.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

class FuzzInput
{
public:
    FuzzInput(const uint8_t* data, size_t size) : m_data(data, size) {}
    bool Empty() const { return m_pos >= m_data.size(); }
    uint8_t U8() { return Empty() ? 0 : m_data[m_pos++]; }
    uint64_t Uint(size_t bytes)
    {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; ++i) v = (v << 8) | U8();
        return v;
    }
    template <size_t N>
    ByteArray<N> Array()
    {
        ByteArray<N> out{};
        for (auto& b : out) b = U8();
        return out;
    }

private:
    ByteSpan m_data;
    size_t m_pos{0};
};

//! Fails the run if a state breaks the balance invariant.
void CheckState(const ChannelState& state, const ChannelSigner& signer)
{
    const Msat funding = ToMsat(state.setup.params.funding_sat);
    Require(state.local_balance + state.remote_balance == funding);
    for (const CommitmentView& view : {LocalCommitmentView(state, signer), RemoteCommitmentView(state)}) {
        Msat total = view.spec.to_local_msat + view.spec.to_remote_msat;
        for (const Htlc& htlc : view.spec.htlcs) total += htlc.amount_msat;
        Require(total == funding);
    }
    Require(DeserializeChannelState(SerializeChannelState(state)) == state);
}

EcdsaSignature SignatureFrom(FuzzInput& in, const ChannelSigner& signer)
{
    if (const auto sig = EcdsaSignature::FromCompact(in.Array<64>())) return *sig;
    return signer.FundingKey().Sign(Hash256{});
}

//! A message of a normal-operation type with fields from the input (mostly near-valid).
ChannelMessage FuzzedMessage(FuzzInput& in, const ChannelState& state, const ChannelSigner& self, const ChannelSigner& peer)
{
    const Hash256 channel_id = in.U8() < 250 ? state.setup.channel_id : in.Array<32>();
    const uint64_t id = in.U8() < 200 ? in.U8() % 8 : in.Uint(8);
    switch (in.U8() % 9) {
    case 0:
        return UpdateAddHtlcMessage{.channel_id = channel_id, .id = id, .amount_msat = Msat{in.Uint(5)},
                                    .payment_hash = Sha256(PreimageOf(in.U8())), .cltv_expiry = static_cast<uint32_t>(in.Uint(4)),
                                    .onion_routing_packet = {}, .blinding_point = std::nullopt, .extension = {}};
    case 1: {
        const Hash256 preimage = in.U8() < 200 ? PreimageOf(in.U8()) : in.Array<32>();
        return UpdateFulfillHtlcMessage{.channel_id = channel_id, .id = id, .payment_preimage = preimage, .extension = {}};
    }
    case 2: return UpdateFailHtlcMessage{.channel_id = channel_id, .id = id, .reason = Bytes(in.U8(), 1), .extension = {}};
    case 3:
        return UpdateFailMalformedHtlcMessage{.channel_id = channel_id, .id = id, .sha256_of_onion = {},
                                              .failure_code = static_cast<uint16_t>(in.Uint(2)), .extension = {}};
    case 4: return UpdateFeeMessage{.channel_id = channel_id, .feerate_per_kw = static_cast<uint32_t>(in.Uint(3)), .extension = {}};
    case 5: {
        CommitmentSignedMessage message{.channel_id = channel_id, .signature = SignatureFrom(in, peer), .htlc_signatures = {}, .extension = {}};
        for (uint8_t n = in.U8() % 4; n > 0; --n) message.htlc_signatures.push_back(SignatureFrom(in, peer));
        return message;
    }
    case 6: {
        const uint64_t number = in.U8() % 8;
        RevokeAndAckMessage message{.channel_id = channel_id, .per_commitment_secret = in.Array<32>(),
                                    .next_per_commitment_point = peer.PerCommitmentPoint(number + 2), .extension = {}};
        if (in.U8() < 200) std::ranges::copy(peer.PerCommitmentSecret(number).span(), message.per_commitment_secret.begin());
        return message;
    }
    case 7: {
        ChannelReestablishMessage message{.channel_id = channel_id, .next_commitment_number = in.U8() % 8u,
                                          .next_revocation_number = in.U8() % 8u, .your_last_per_commitment_secret = {},
                                          .my_current_per_commitment_point = peer.PerCommitmentPoint(in.U8() % 8), .extension = {}};
        if (message.next_revocation_number > 0 && in.U8() < 200) {
            // The receiver's own secret, as a peer that received it would send.
            std::ranges::copy(self.PerCommitmentSecret(message.next_revocation_number - 1).span(),
                              message.your_last_per_commitment_secret.begin());
        }
        return message;
    }
    default:
        return ChannelReadyMessage{.channel_id = channel_id, .second_per_commitment_point = peer.PerCommitmentPoint(1),
                                   .short_channel_id_alias = std::nullopt, .extension = {}};
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const ChannelPair initial = MakeChannelPair();
    ChannelPair pair = initial;
    std::array<std::deque<ChannelMessage>, 2> wire;
    FuzzInput in(data, size);
    for (int step = 0; step < 64 && !in.Empty(); ++step) {
        const uint8_t op = in.U8();
        const size_t side = op & 1;
        const ChannelState& state = pair.states[side];
        ChannelInput input = SignCommitmentCommand{};
        switch ((op >> 1) % 12) {
        case 0: input = AddCommand(Msat{in.Uint(4)}, in.U8(), static_cast<uint32_t>(in.Uint(3))); break;
        case 1: input = FulfillHtlcCommand{.id = in.U8() % 8u, .preimage = PreimageOf(in.U8())}; break;
        case 2: input = FailHtlcCommand{.id = in.U8() % 8u, .reason = Bytes(in.U8(), 2)}; break;
        case 3: input = FailMalformedHtlcCommand{.id = in.U8() % 8u, .sha256_of_onion = {}, .failure_code = static_cast<uint16_t>(in.Uint(2))}; break;
        case 4: break;
        case 5: input = UpdateFeeCommand{.feerate_per_kw = static_cast<uint32_t>(in.Uint(2) * 4)}; break;
        case 6:
        case 7: {
            // Deliver the next honest message; now and then tampered with.
            if (wire[side].empty()) continue;
            ChannelMessage message = std::move(wire[side].front());
            wire[side].pop_front();
            if (auto* signed_message = std::get_if<CommitmentSignedMessage>(&message); signed_message && (op >> 1) % 12 == 7) {
                signed_message->signature = SignatureFrom(in, pair.signers[side]);
            }
            input = MessageReceived{std::move(message)};
            break;
        }
        case 8: input = PeerDisconnected{}; wire[1 - side].clear(); wire[side].clear(); break;
        case 9: input = PeerReconnected{}; break;
        case 10: input = MessageReceived{FuzzedMessage(in, state, pair.signers[side], pair.signers[1 - side])}; break;
        default: input = BlockHeightChanged{.height = static_cast<uint32_t>(in.Uint(2))}; break;
        }
        StepResult result = Step(state, pair.signers[side], input);
        auto* transition = std::get_if<Transition>(&result);
        if (!transition) continue;
        pair.states[side] = std::move(transition->state);
        for (ChannelAction& action : transition->actions) {
            if (auto* send = std::get_if<SendMessage>(&action)) wire[1 - side].push_back(std::move(send->message));
        }
        CheckState(pair.states[side], pair.signers[side]);
    }
    return 0;
}
