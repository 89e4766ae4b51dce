#ifndef SIDEBOLT_GOSSIP_CHECKSUM_H
#define SIDEBOLT_GOSSIP_CHECKSUM_H

#include "util/bytes.h"
#include "wire/gossip_messages.h"

#include <cstdint>

namespace sidebolt {

/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as RFC 3720 appendix B.4 defines it.
 * `crc` continues an earlier result, so Crc32c(b, Crc32c(a)) == Crc32c(a || b).
 */
uint32_t Crc32c(ByteSpan data, uint32_t crc = 0);

/**
 * BOLT 7: "The checksum of a channel_update is the CRC32C checksum as specified in RFC3720 of
 * this channel_update without its signature and timestamp fields", over the received payload
 * (chain_hash and short_channel_id, then everything after timestamp, unknown trailing fields
 * included). 0 for a payload too short to be a channel_update.
 */
uint32_t ChannelUpdateChecksum(ByteSpan payload);
//! The same over the message's own encoding.
uint32_t ChannelUpdateChecksum(const ChannelUpdateMessage& update);

} // namespace sidebolt

#endif
