// BOLT 2 channel establishment on peer input: the input is a u16 type then the payload of an
// open_channel (we are the fundee) or an accept_channel (we opened with a fixed request). Any
// input must be answered with a message or a refusal, never an exception, and whatever is
// accepted must satisfy BOLT 2's reserve/dust rules and build commitment 0 on both sides.
#include "channel/opening.h"
#include "wire/channel_messages.h"
#include "wire/message.h"

#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {

const ChannelSigner& OurSigner()
{
    static const ChannelSigner signer{Secret<32>{Sha256(Bytes{'u', 's'})}};
    return signer;
}

const ChannelSigner& PeerSigner()
{
    static const ChannelSigner signer{Secret<32>{Sha256(Bytes{'p', 'e', 'e', 'r'})}};
    return signer;
}

constexpr ChannelFeatures kFeatures{.channel_type = false,
                                    .anchors = true,
                                    .large_channel = true,
                                    .upfront_shutdown_script = true,
                                    .shutdown_anysegwit = true};

void Check(bool condition)
{
    if (!condition) std::abort();
}

void CheckSetup(const ChannelSetup& setup)
{
    Check(setup.initial_local_balance + setup.initial_remote_balance == ToMsat(setup.params.funding_sat));
    // "MUST set channel_reserve_satoshis greater than or equal to dust_limit_satoshis" of both.
    Check(setup.local_limits.channel_reserve >= setup.params.remote.dust_limit_sat);
    Check(setup.remote_limits.channel_reserve >= setup.params.local.dust_limit_sat);
}

void AsFundee(const OpenChannelMessage& open)
{
    ChannelFeatures features = kFeatures;
    features.channel_type = open.channel_type.has_value();
    const FundeeContext context{open.chain_hash, 2500, std::nullopt};
    const auto accepted = HandleOpenChannel(open, OpenPolicy{}, features, context, OurSigner());
    if (!accepted) return;
    CheckSetup(accepted->pending.setup);
    // A signature by the wrong key: building and checking our commitment 0 must refuse it cleanly.
    const FundingCreatedMessage created{open.temporary_channel_id, Sha256(Bytes{1}), 0,
                                        OurSigner().FundingKey().Sign(Sha256(Bytes{2})), {}};
    const auto reply = HandleFundingCreated(accepted->pending, created, OurSigner());
    Check(!reply && reply.error().reason == OpenRefusalReason::kBadSignature);
}

void AsOpener(AcceptChannelMessage accept)
{
    const OpenRequest request{Sha256(Bytes{3}), Sha256(Bytes{4}), Sat{1'000'000}, Msat{0}, 2500, false, std::nullopt};
    const auto open = MakeOpenChannel(request, OpenPolicy{}, kFeatures, OurSigner());
    Check(open.has_value());
    accept.temporary_channel_id = open->temporary_channel_id;
    auto pending = HandleAcceptChannel(*open, accept, OpenPolicy{}, kFeatures);
    if (!pending) return;
    CheckSetup(pending->setup);
    static_cast<void>(MakeFundingCreated(*pending, OutPoint{Sha256(Bytes{5}), 1}, OurSigner()));
    const FundingSignedMessage wrong{pending->setup.channel_id, PeerSigner().FundingKey().Sign(Sha256(Bytes{6})), {}};
    Check(!HandleFundingSigned(*pending, wrong, OurSigner()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2 || size > kMaxMessageSize) return 0;
    const uint16_t type = static_cast<uint16_t>(data[0] << 8 | data[1]);
    const ByteSpan payload(data + 2, size - 2);
    if (type == static_cast<uint16_t>(ChannelMessageType::kOpenChannel)) {
        if (const auto open = OpenChannelMessage::DecodePayload(payload)) AsFundee(*open);
    } else if (type == static_cast<uint16_t>(ChannelMessageType::kAcceptChannel)) {
        if (const auto accept = AcceptChannelMessage::DecodePayload(payload)) AsOpener(*accept);
    }
    return 0;
}
