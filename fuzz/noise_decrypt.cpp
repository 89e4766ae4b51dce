// BOLT 8 transport reading: either raw bytes framed as length headers and bodies, or a genuine
// stream of messages with one byte flipped. Nothing may crash; an intact stream must decrypt to
// what was sent, and a flipped one must fail no later than the frame holding the flip.
#include "net/noise.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

using namespace sidebolt;

namespace {
Secret<32> FixedSecret(uint8_t fill)
{
    ByteArray<32> bytes;
    bytes.fill(fill);
    return Secret<32>(bytes);
}

struct ReadResult {
    std::vector<Bytes> messages;
    //! Index of the frame whose header or body failed to authenticate, if any.
    std::optional<size_t> failed_frame;
};

//! Reads frames as a connection would, until the bytes run out or a frame fails.
ReadResult ReadStream(TransportCipher& receiver, ByteSpan stream)
{
    ReadResult result;
    while (stream.size() >= TransportCipher::kLengthHeaderSize) {
        const auto length = receiver.DecryptLength(stream.first(TransportCipher::kLengthHeaderSize));
        if (!length) {
            result.failed_frame = result.messages.size();
            break;
        }
        stream = stream.subspan(TransportCipher::kLengthHeaderSize);
        const size_t body_size = size_t{*length} + TransportCipher::kMacSize;
        if (stream.size() < body_size) break;
        Bytes message;
        if (!receiver.DecryptBody(stream.first(body_size), message)) {
            result.failed_frame = result.messages.size();
            break;
        }
        result.messages.push_back(std::move(message));
        stream = stream.subspan(body_size);
    }
    return result;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // Below the transport's 65535-byte message limit whatever way the input is cut.
    if (size < 3 || size > 60000) return 0;
    const Secret<32> key_a = FixedSecret(0xa1);
    const Secret<32> key_b = FixedSecret(0xb2);
    const Secret<32> chaining_key = FixedSecret(0xc3);
    TransportCipher sender(key_a, key_b, chaining_key);
    TransportCipher receiver(key_b, key_a, chaining_key);
    const ByteSpan input(data + 3, size - 3);
    if (data[0] % 2 == 0) {
        static_cast<void>(ReadStream(receiver, input));
        return 0;
    }
    // Genuine stream: the input is cut into messages at every 0xff byte.
    std::vector<Bytes> sent(1);
    for (const uint8_t byte : input) {
        if (byte == 0xff) sent.emplace_back();
        else sent.back().push_back(byte);
    }
    Bytes stream;
    std::vector<size_t> frame_ends;
    for (const auto& message : sent) {
        sender.Encrypt(message, stream);
        frame_ends.push_back(stream.size());
    }
    const size_t flip_at = (size_t{data[1]} << 8 | data[2]) % (stream.size() + 1);
    const bool flipped = flip_at < stream.size();
    if (flipped) stream[flip_at] ^= 0x01;
    const auto received = ReadStream(receiver, stream);
    if (!flipped) {
        if (received.failed_frame || received.messages != sent) std::abort();
        return 0;
    }
    size_t flipped_frame = 0;
    while (frame_ends[flipped_frame] <= flip_at) ++flipped_frame;
    if (received.failed_frame != flipped_frame) std::abort();
    if (!std::equal(received.messages.begin(), received.messages.end(), sent.begin())) std::abort();
    return 0;
}
