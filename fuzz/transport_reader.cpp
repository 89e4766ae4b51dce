// TransportReader, fed the way a connection feeds it: each read fills some of FreeSpace(), then
// every complete frame is taken out. The fuzzer chooses where the reads end. Either the bytes
// are raw (nothing may crash, no contract may break), or they are a genuine stream of messages
// the fuzzer chose: every message must come out whole and in order, and the first one above the
// reader's size limit must be refused, with nothing after it.
//
// Input: [mode][limit], then in raw mode [read count n] the stream, and n read sizes of 2 bytes
// at the end; in genuine mode [message count: 2 bytes], a 3-byte spec per message
// [length: 2][fill], and read sizes of 2 bytes in all that is left.
#include "net/noise.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

using namespace sidebolt;

namespace {
//! Larger streams only slow the fuzzer down; this still holds a few maximal frames, so the
//! reader's buffer (a maximal frame and most of the next) fills in every way.
constexpr size_t kMaxStreamBytes = size_t{256} << 10;
//! Enough to cross key rotations: each message uses the key twice, rotated every 1000 uses.
constexpr size_t kMaxMessages = 1200;

Secret<32> FixedSecret(uint8_t fill)
{
    ByteArray<32> bytes;
    bytes.fill(fill);
    return Secret<32>(bytes);
}

//! Reads the input front to back; past its end, every byte is 0.
class InputCursor
{
public:
    explicit InputCursor(ByteSpan input) : m_input(input) {}

    uint8_t Next()
    {
        if (m_input.empty()) return 0;
        const uint8_t byte = m_input.front();
        m_input = m_input.subspan(1);
        return byte;
    }
    uint16_t Next16()
    {
        const uint8_t high = Next();
        return static_cast<uint16_t>(high << 8 | Next());
    }
    //! The last `size` bytes (or all there are), no longer read by Next.
    ByteSpan TakeBack(size_t size)
    {
        const size_t taken = std::min(size, m_input.size());
        const ByteSpan back = m_input.last(taken);
        m_input = m_input.first(m_input.size() - taken);
        return back;
    }
    ByteSpan Rest() const { return m_input; }

private:
    ByteSpan m_input;
};

//! Read sizes of 1..65536 bytes, 2 input bytes each.
class ReadSizes
{
public:
    explicit ReadSizes(ByteSpan input) : m_input(input) {}
    //! nullopt once they are used up.
    std::optional<size_t> Next()
    {
        if (m_input.Rest().size() < 2) return std::nullopt;
        return size_t{m_input.Next16()} + 1;
    }

private:
    InputCursor m_input;
};

struct Outcome {
    std::vector<Bytes> messages;
    //! The first status other than kMessage and kNeedMore, which ends the stream.
    std::optional<TransportReader::Status> failure;
};

//! Takes every complete frame out; false once the reader reported a failure.
bool Drain(TransportReader& reader, TransportCipher& cipher, Outcome& outcome)
{
    Bytes message;
    while (true) {
        const auto status = reader.Next(cipher, message);
        if (status == TransportReader::Status::kNeedMore) return true;
        if (status != TransportReader::Status::kMessage) {
            outcome.failure = status;
            return false;
        }
        outcome.messages.push_back(message);
    }
}

//! Feeds `stream` in reads of the chosen sizes (the rest whole once there are none left), each
//! capped by the free space, as a socket read would be.
Outcome Feed(TransportReader& reader, TransportCipher& cipher, ByteSpan stream, ReadSizes read_sizes)
{
    Outcome outcome;
    while (!stream.empty()) {
        const MutableByteSpan space = reader.FreeSpace();
        // After kNeedMore there is always room for more of the frame.
        if (space.empty()) std::abort();
        const size_t size = std::min({read_sizes.Next().value_or(stream.size()), space.size(), stream.size()});
        std::memcpy(space.data(), stream.data(), size);
        reader.Commit(size);
        stream = stream.subspan(size);
        if (!Drain(reader, cipher, outcome)) break;
    }
    return outcome;
}

//! The fuzzer's messages: lengths anywhere up to 65535, so maximal frames are cheap to ask for.
std::vector<Bytes> ChooseMessages(InputCursor& cursor)
{
    std::vector<Bytes> messages(std::min<size_t>(cursor.Next16(), kMaxMessages));
    size_t total = 0;
    for (auto& message : messages) {
        const size_t length = cursor.Next16();
        const uint8_t fill = cursor.Next();
        total += TransportCipher::EncryptedSize(length);
        // The messages past the cap stay empty.
        if (total > kMaxStreamBytes) break;
        message.resize(length);
        for (size_t i = 0; i < length; ++i) message[i] = static_cast<uint8_t>(fill + i);
    }
    return messages;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2 || size > kMaxStreamBytes) return 0;
    InputCursor cursor(ByteSpan(data, size));
    const bool genuine = cursor.Next() % 2 == 1;
    // Mostly the real limit; otherwise a smaller one, so refusals happen mid-stream too.
    const uint8_t limit_choice = cursor.Next();
    const size_t max_message_size = limit_choice < 128 ? TransportCipher::kMaxMessageSize : size_t{limit_choice} << 8;
    const Secret<32> key_a = FixedSecret(0xa1);
    const Secret<32> key_b = FixedSecret(0xb2);
    const Secret<32> chaining_key = FixedSecret(0xc3);
    TransportCipher sender(key_a, key_b, chaining_key);
    TransportCipher receiver(key_b, key_a, chaining_key);
    TransportReader reader(max_message_size);

    if (!genuine) {
        const size_t read_count = cursor.Next();
        const ReadSizes read_sizes(cursor.TakeBack(2 * read_count));
        static_cast<void>(Feed(reader, receiver, cursor.Rest(), read_sizes));
        return 0;
    }
    const std::vector<Bytes> sent = ChooseMessages(cursor);
    Bytes stream;
    for (const auto& message : sent) sender.Encrypt(message, stream);
    const Outcome received = Feed(reader, receiver, stream, ReadSizes(cursor.Rest()));

    const auto too_large = std::find_if(sent.begin(), sent.end(), [&](const Bytes& m) { return m.size() > max_message_size; });
    const auto expected_count = static_cast<size_t>(too_large - sent.begin());
    if (received.messages.size() != expected_count) std::abort();
    if (!std::equal(received.messages.begin(), received.messages.end(), sent.begin())) std::abort();
    const bool refused = received.failure == TransportReader::Status::kTooLarge;
    if (too_large == sent.end() ? received.failure.has_value() : !refused) std::abort();
    return 0;
}
