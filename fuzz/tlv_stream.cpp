// TLV stream decoding against several known-type sets: a stream that decodes must re-encode to
// exactly the same bytes (decoding only accepts canonical streams) and decode again equal.
#include "wire/tlv.h"

#include <array>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace sidebolt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0) return 0;
    static constexpr std::array<uint64_t, 4> kN1{1, 2, 3, 254};
    static constexpr std::array<uint64_t, 2> kN2{0, 11};
    static constexpr std::array<uint64_t, 2> kInit{1, 3};
    const std::span<const uint64_t> known_sets[] = {{}, kN1, kN2, kInit};
    const auto known = known_sets[data[0] % std::size(known_sets)];
    const ByteSpan input(data + 1, size - 1);
    const auto stream = TlvStream::Decode(input, known);
    if (!stream) return 0;
    const Bytes encoded = stream->Encode();
    if (!std::equal(encoded.begin(), encoded.end(), input.begin(), input.end())) std::abort();
    const auto again = TlvStream::Decode(encoded, known);
    if (!again || !(*again == *stream)) std::abort();
    return 0;
}
