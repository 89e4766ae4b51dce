#include "channel/weights.h"

#include "primitives/serialize.h"

namespace sidebolt {

size_t WitnessSize(std::initializer_list<size_t> item_sizes)
{
    size_t size = CompactSizeLen(item_sizes.size());
    for (const size_t item : item_sizes) size += CompactSizeLen(item) + item;
    return size;
}

size_t DelayedSweepWitnessSize(size_t witness_script_size)
{
    return WitnessSize({MAX_SIGNATURE_SIZE, 0, witness_script_size});
}

size_t RevokedDelayedWitnessSize(size_t witness_script_size)
{
    return WitnessSize({MAX_SIGNATURE_SIZE, 1, witness_script_size});
}

size_t RevokedHtlcWitnessSize(size_t witness_script_size)
{
    return WitnessSize({MAX_SIGNATURE_SIZE, PUBKEY_SIZE, witness_script_size});
}

size_t HtlcPreimageClaimWitnessSize(size_t witness_script_size)
{
    return WitnessSize({MAX_SIGNATURE_SIZE, PREIMAGE_SIZE, witness_script_size});
}

size_t HtlcTimeoutClaimWitnessSize(size_t witness_script_size)
{
    return WitnessSize({MAX_SIGNATURE_SIZE, 0, witness_script_size});
}

size_t P2wpkhWitnessSize() { return WitnessSize({MAX_SIGNATURE_SIZE, PUBKEY_SIZE}); }

size_t SingleSigWitnessSize(size_t witness_script_size) { return WitnessSize({MAX_SIGNATURE_SIZE, witness_script_size}); }

size_t AnchorAnyoneWitnessSize(size_t witness_script_size) { return WitnessSize({0, witness_script_size}); }

uint64_t TransactionWeight(std::span<const size_t> input_witness_sizes, std::span<const size_t> output_script_sizes)
{
    // version + locktime, input and output counts, then 41 bytes per witness-only input.
    uint64_t base = 4 + 4 + CompactSizeLen(input_witness_sizes.size()) + CompactSizeLen(output_script_sizes.size());
    base += 41 * input_witness_sizes.size();
    for (const size_t script : output_script_sizes) base += 8 + CompactSizeLen(script) + script;
    uint64_t witness = 2; // marker and flag
    for (const size_t size : input_witness_sizes) witness += size;
    return 4 * base + witness;
}

} // namespace sidebolt
