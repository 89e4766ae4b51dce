// Lightning message decoding (init, error, warning, ping, pong and pass-through types): a
// message that decodes must re-encode to the same bytes and decode again to the same value.
#include "wire/message.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // The transport never delivers more than 65535 bytes.
    if (size > kMaxMessageSize) return 0;
    const ByteSpan input(data, size);
    const auto message = DecodeMessage(input);
    if (!message) return 0;
    if (TypeOf(*message) != (size_t{data[0]} << 8 | data[1])) std::abort();
    if (const auto* ping = std::get_if<PingMessage>(&*message)) {
        const auto pong = PongFor(*ping);
        if (pong.has_value() != (ping->num_pong_bytes < PingMessage::kNoPongThreshold)) std::abort();
        if (pong && EncodeMessage(*pong).size() > kMaxMessageSize) std::abort();
    }
    if (const auto* init = std::get_if<InitMessage>(&*message)) {
        static_cast<void>(UnknownRequiredFeatures(init->CombinedFeatures()));
        static_cast<void>(MissingDependencies(init->CombinedFeatures()));
    }
    const Bytes encoded = EncodeMessage(*message);
    if (!std::equal(encoded.begin(), encoded.end(), input.begin(), input.end())) std::abort();
    const auto again = DecodeMessage(encoded);
    if (!again || !(*again == *message)) std::abort();
    return 0;
}
