// BOLT 4 returned errors: the origin's DecryptFailureOnion over arbitrary bytes with three fixed
// route secrets, ParseFailureMessage over arbitrary bytes (a decoded message must rebuild to the
// same bytes with the builders), and a round trip of the input as a failuremsg sent back from a
// hop chosen by the first byte.
#include "pay/onion_failure.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {

void Assert(bool ok)
{
    if (!ok) std::abort();
}

std::array<Secret<32>, 3> RouteSecrets()
{
    std::array<Secret<32>, 3> secrets;
    for (size_t i = 0; i < secrets.size(); ++i) std::fill_n(secrets[i].data(), 32, static_cast<uint8_t>(0x11 * (i + 1)));
    return secrets;
}

//! The message the builders make from a parse result: the failuremsg less its extra bytes.
FailureMessage Rebuild(const FailureDetails& d)
{
    const auto code = static_cast<FailureCode>(d.code);
    const Bytes update = d.channel_update.value_or(Bytes{});
    switch (code) {
    case FailureCode::INVALID_ONION_VERSION:
    case FailureCode::INVALID_ONION_HMAC:
    case FailureCode::INVALID_ONION_KEY:
    case FailureCode::INVALID_ONION_BLINDING: return MakeBadOnion(code, *d.sha256_of_onion);
    case FailureCode::TEMPORARY_CHANNEL_FAILURE:
    case FailureCode::EXPIRY_TOO_SOON: return MakeFailureWithUpdate(code, update);
    case FailureCode::AMOUNT_BELOW_MINIMUM: return MakeAmountBelowMinimum(*d.htlc_msat, update);
    case FailureCode::FEE_INSUFFICIENT: return MakeFeeInsufficient(*d.htlc_msat, update);
    case FailureCode::INCORRECT_CLTV_EXPIRY: return MakeIncorrectCltvExpiry(*d.cltv_expiry, update);
    case FailureCode::CHANNEL_DISABLED: return MakeChannelDisabled(*d.disabled_flags, update);
    case FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: return MakeIncorrectPaymentDetails(*d.htlc_msat, *d.height);
    case FailureCode::FINAL_INCORRECT_CLTV_EXPIRY: return MakeFinalIncorrectCltvExpiry(*d.cltv_expiry);
    case FailureCode::FINAL_INCORRECT_HTLC_AMOUNT: return MakeFinalIncorrectHtlcAmount(*d.htlc_msat);
    case FailureCode::INVALID_ONION_PAYLOAD:
        return d.tlv_type ? MakeInvalidOnionPayload(*d.tlv_type, *d.offset) : MakeFailure(code);
    default: return FailureMessage{d.code, {}};
    }
}

void CheckParse(ByteSpan input)
{
    const auto details = ParseFailureMessage(input);
    if (!details) return;
    Bytes rebuilt = EncodeFailureMessage(Rebuild(*details));
    Append(rebuilt, details->extra);
    Assert(std::equal(rebuilt.begin(), rebuilt.end(), input.begin(), input.end()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const std::array<Secret<32>, 3> secrets = RouteSecrets();
    const ByteSpan input(data, size);

    if (const auto failure = DecryptFailureOnion(secrets, input)) {
        Assert(failure->hop_index < secrets.size());
        Assert(!failure->malformed || failure->message == FailureMessage{});
    }
    CheckParse(input);

    if (size < 3 || size > 4096) return 0;
    const size_t hop = data[0] % secrets.size();
    const FailureMessage message{static_cast<uint16_t>(data[1] << 8 | data[2]), Bytes(data + 3, data + size)};
    Bytes packet = CreateFailureOnion(secrets[hop], message);
    for (size_t i = hop; i-- > 0;) packet = WrapFailureOnion(secrets[i], packet);
    const auto failure = DecryptFailureOnion(secrets, packet);
    Assert(failure && failure->hop_index == hop && !failure->malformed && failure->message == message);
    return 0;
}
