#include "gossip/checksum.h"

#include <array>

namespace sidebolt {
namespace {
constexpr uint32_t kCastagnoliReflected = 0x82F63B78;

constexpr std::array<uint32_t, 256> MakeTable()
{
    std::array<uint32_t, 256> table{};
    for (uint32_t byte = 0; byte < 256; ++byte) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) != 0 ? (crc >> 1) ^ kCastagnoliReflected : crc >> 1;
        table[byte] = crc;
    }
    return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

// channel_update payload layout: signature 64, chain_hash 32, short_channel_id 8, timestamp 4.
constexpr size_t kChainHashOffset = ChannelUpdateMessage::kSignedOffset;
constexpr size_t kTimestampOffset = kChainHashOffset + 32 + 8;
constexpr size_t kAfterTimestamp = kTimestampOffset + 4;
} // namespace

uint32_t Crc32c(ByteSpan data, uint32_t crc)
{
    crc = ~crc;
    for (const uint8_t byte : data) crc = kTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t ChannelUpdateChecksum(ByteSpan payload)
{
    if (payload.size() < kAfterTimestamp) return 0;
    const uint32_t crc = Crc32c(payload.subspan(kChainHashOffset, kTimestampOffset - kChainHashOffset));
    return Crc32c(payload.subspan(kAfterTimestamp), crc);
}

uint32_t ChannelUpdateChecksum(const ChannelUpdateMessage& update)
{
    Bytes payload;
    update.EncodePayload(payload);
    return ChannelUpdateChecksum(payload);
}

} // namespace sidebolt
