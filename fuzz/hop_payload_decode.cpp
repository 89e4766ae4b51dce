// BOLT 4 hop payload decoding: nothing may crash, and a payload that decodes must re-encode to
// exactly the input (decoding accepts canonical streams only and keeps odd records) and pass
// or fail the forward/final rules without throwing.
#include "pay/hop_payload.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const ByteSpan input(data, size);
    const auto payload = DecodeHopPayload(input);
    if (!payload) {
        if (payload.error().reason.empty()) std::abort();
        return 0;
    }
    const Bytes encoded = EncodeHopPayload(*payload);
    if (!std::equal(encoded.begin(), encoded.end(), input.begin(), input.end())) std::abort();
    CheckForwardPayload(*payload);
    if (!CheckFinalPayload(*payload)) FinalTotalMsat(*payload);
    return 0;
}
