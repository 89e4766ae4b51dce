// BOLT 2 channel message decoding: the input is a u16 type then the payload. A message that
// decodes must re-encode to a value that decodes equal, and to the same bytes unless it carries
// a channel_type (a feature vector, which is re-encoded in its minimal form).
#include "wire/channel_messages.h"
#include "wire/message.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {
bool HasChannelType(const ChannelMessage& message)
{
    return std::visit(
        [](const auto& msg) {
            if constexpr (requires { msg.channel_type; }) {
                if (msg.channel_type) static_cast<void>(ChannelType::FromFeatureBits(*msg.channel_type));
                return msg.channel_type.has_value();
            } else {
                return false;
            }
        },
        message);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // The transport never delivers more than 65535 bytes, type included.
    if (size < 2 || size > kMaxMessageSize) return 0;
    const ByteSpan input(data, size);
    const uint16_t type = static_cast<uint16_t>(data[0] << 8 | data[1]);
    if (!IsChannelMessageType(type)) return 0;
    const auto message = DecodeChannelMessage(type, input.subspan(2));
    if (!message) return 0;
    if (static_cast<uint16_t>(TypeOfChannelMessage(*message)) != type) std::abort();
    static_cast<void>(ChannelIdOf(*message));
    const Bytes encoded = EncodeChannelMessage(*message);
    const bool same_bytes = std::equal(encoded.begin(), encoded.end(), input.begin(), input.end());
    if (!same_bytes && !HasChannelType(*message)) std::abort();
    const auto again = DecodeChannelMessage(type, ByteSpan(encoded).subspan(2));
    if (!again || !(*again == *message)) std::abort();
    return 0;
}
