#ifndef SIDEBOLT_PAY_SPHINX_H
#define SIDEBOLT_PAY_SPHINX_H

#include "primitives/key.h"
#include "util/bytes.h"
#include "util/secure.h"
#include "wire/channel_messages.h"
#include "wire/expected.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sidebolt {

//! BOLT 4 "Packet Structure": version, public_key, 1300-byte hop_payloads, hmac.
inline constexpr uint8_t kOnionVersion = 0;
inline constexpr size_t kOnionHopPayloadsSize = 1300;
inline constexpr size_t kOnionHmacSize = 32;
static_assert(kOnionPacketSize == 1 + PubKey::SIZE + kOnionHopPayloadsSize + kOnionHmacSize);

struct OnionHop {
    PubKey node_id;
    //! The hop's TLV stream, WITHOUT the BigSize length prefix (the builder adds it).
    Bytes payload;
};

struct BuiltOnion {
    ByteArray<kOnionPacketSize> packet;
    //! One per hop, in route order: the origin needs them to unwrap returned failures.
    std::vector<Secret<32>> shared_secrets;
};

/**
 * Builds a version 0 onion (BOLT 4 "Packet Construction") for `hops`, in route order, bound to
 * `associated_data` (the payment hash for HTLCs). Throws std::invalid_argument (a local bug,
 * never peer input) when hops is empty, a payload is shorter than 2 bytes ("length values of 0
 * and 1 are reserved"), the payloads with their length prefixes and HMACs exceed 1300 bytes,
 * or session_key is not a valid secret key.
 */
BuiltOnion CreateOnion(std::span<const OnionHop> hops, const Secret<32>& session_key, ByteSpan associated_data);

/**
 * The first hop's share of an onion, made ahead of need: a session key, its public key (the
 * packet's) and the secret it shares with the first hop, the two EC operations of a one-hop
 * onion. The first hop is always a channel peer, so a payer can make these while it waits.
 * Like the session key it holds, a start is for one onion only.
 */
struct OnionStart {
    PubKey first_hop;
    Secret<32> session_key;
    PubKey ephemeral_key;
    Secret<32> shared_secret;
};
//! Throws std::invalid_argument when session_key is not a valid secret key.
OnionStart StartOnion(const PubKey& first_hop, const Secret<32>& session_key);
//! CreateOnion from a start; std::invalid_argument also when it was made for another first hop.
BuiltOnion CreateOnion(std::span<const OnionHop> hops, const OnionStart& start, ByteSpan associated_data);

enum class OnionError : uint8_t {
    INVALID_VERSION,        //!< version byte not 0 (or no byte at all)
    INVALID_KEY,            //!< public_key is not a point on secp256k1
    INVALID_HMAC,           //!< HMAC mismatch, also for a packet that is not 1366 bytes long
    INVALID_PAYLOAD_LENGTH, //!< authenticated, but our hop_payload length is reserved or too long
};

/**
 * The BOLT 4 failure_code to return for a peel error (pay/failure_codes.h). Version, key and
 * HMAC errors are BADONION codes. A bad payload length is found only after the HMAC verified,
 * so the origin (not the previous hop) wrote it: "if the per-hop payload in the onion is invalid
 * ... return an invalid_onion_payload error" (no type or offset can be named).
 */
uint16_t FailureCodeFor(OnionError error);

struct PeeledOnion {
    //! This hop's TLV stream (length prefix removed).
    Bytes payload;
    //! Kept by the node to wrap failures back to the origin.
    Secret<32> shared_secret;
    //! The packet for the next hop; nullopt when we are the final hop (next HMAC all zero).
    std::optional<ByteArray<kOnionPacketSize>> next_packet;
};

//! BOLT 4 "Packet Forwarding": authenticates and decrypts our layer of `packet`.
Expected<PeeledOnion, OnionError> PeelOnion(const PrivKey& node_key, ByteSpan packet, ByteSpan associated_data);

} // namespace sidebolt

#endif
