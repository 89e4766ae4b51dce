#ifndef SIDEBOLT_WIRE_CHANNEL_MESSAGES_H
#define SIDEBOLT_WIRE_CHANNEL_MESSAGES_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/decode_error.h"
#include "wire/features.h"
#include "wire/tlv.h"
#include "wire/wire.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

namespace sidebolt {

//! The BOLT 2 messages of v1 channel establishment, normal operation and closing.
enum class ChannelMessageType : uint16_t {
    kOpenChannel = 32,
    kAcceptChannel = 33,
    kFundingCreated = 34,
    kFundingSigned = 35,
    kChannelReady = 36,
    kShutdown = 38,
    kClosingSigned = 39,
    kUpdateAddHtlc = 128,
    kUpdateFulfillHtlc = 130,
    kUpdateFailHtlc = 131,
    kCommitmentSigned = 132,
    kRevokeAndAck = 133,
    kUpdateFee = 134,
    kUpdateFailMalformedHtlc = 135,
    kChannelReestablish = 136,
};

//! BOLT 1 "onion_routing_packet" of update_add_htlc: fixed 1366 bytes (BOLT 4).
constexpr size_t kOnionPacketSize = 1366;

//! One optional TLV record of a message: its type and the member holding its decoded value.
template <typename Msg, typename T>
struct TlvField {
    uint64_t type;
    std::optional<T> Msg::*member;
};

/*
 * How a message is declared: its members in wire order, each fixed field listed once in
 * Fields() and each known TLV record in Tlvs(), then `extension`, the unknown odd records kept
 * so re-encoding is faithful. One generic encoder and decoder (channel_messages.cpp) walk these
 * lists; the decoder builds the struct by aggregate initialization, so the members must be
 * declared in exactly that order (fixed fields, TLV fields, extension).
 *
 * Field kinds, by member type: uint8/16/32/64_t; Sat and Msat as u64; Hash256 and other byte
 * arrays as raw bytes; PubKey as a 33-byte point (an invalid point fails the decode);
 * EcdsaSignature as 64-byte compact; Bytes with a u16 length; std::vector<EcdsaSignature> with a
 * u16 count; ShortChannelId as u64.
 */

struct OpenChannelMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannel;
    static constexpr uint8_t kAnnounceChannelFlag = 0x01;

    Hash256 chain_hash;
    Hash256 temporary_channel_id;
    Sat funding_satoshis;
    Msat push_msat;
    Sat dust_limit_satoshis;
    Msat max_htlc_value_in_flight_msat;
    Sat channel_reserve_satoshis;
    Msat htlc_minimum_msat;
    uint32_t feerate_per_kw;
    uint16_t to_self_delay;
    uint16_t max_accepted_htlcs;
    PubKey funding_pubkey;
    PubKey revocation_basepoint;
    PubKey payment_basepoint;
    PubKey delayed_payment_basepoint;
    PubKey htlc_basepoint;
    PubKey first_per_commitment_point;
    uint8_t channel_flags;
    //! TLV 0; present and empty means "no upfront script" (BOLT 2: a zero-length script).
    std::optional<Bytes> upfront_shutdown_script;
    //! TLV 1; interpret with ChannelType::FromFeatureBits.
    std::optional<FeatureBits> channel_type;
    TlvStream extension;

    using M = OpenChannelMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::chain_hash, &M::temporary_channel_id, &M::funding_satoshis, &M::push_msat,
                          &M::dust_limit_satoshis, &M::max_htlc_value_in_flight_msat, &M::channel_reserve_satoshis,
                          &M::htlc_minimum_msat, &M::feerate_per_kw, &M::to_self_delay, &M::max_accepted_htlcs,
                          &M::funding_pubkey, &M::revocation_basepoint, &M::payment_basepoint,
                          &M::delayed_payment_basepoint, &M::htlc_basepoint, &M::first_per_commitment_point,
                          &M::channel_flags};
    }
    static constexpr auto Tlvs()
    {
        return std::tuple{TlvField<M, Bytes>{0, &M::upfront_shutdown_script},
                          TlvField<M, FeatureBits>{1, &M::channel_type}};
    }
    void EncodePayload(Bytes& out) const;
    static Decoded<OpenChannelMessage> DecodePayload(ByteSpan payload);
    bool operator==(const OpenChannelMessage&) const = default;
};

struct AcceptChannelMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kAcceptChannel;

    Hash256 temporary_channel_id;
    Sat dust_limit_satoshis;
    Msat max_htlc_value_in_flight_msat;
    Sat channel_reserve_satoshis;
    Msat htlc_minimum_msat;
    uint32_t minimum_depth;
    uint16_t to_self_delay;
    uint16_t max_accepted_htlcs;
    PubKey funding_pubkey;
    PubKey revocation_basepoint;
    PubKey payment_basepoint;
    PubKey delayed_payment_basepoint;
    PubKey htlc_basepoint;
    PubKey first_per_commitment_point;
    std::optional<Bytes> upfront_shutdown_script;
    std::optional<FeatureBits> channel_type;
    TlvStream extension;

    using M = AcceptChannelMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::temporary_channel_id, &M::dust_limit_satoshis, &M::max_htlc_value_in_flight_msat,
                          &M::channel_reserve_satoshis, &M::htlc_minimum_msat, &M::minimum_depth, &M::to_self_delay,
                          &M::max_accepted_htlcs, &M::funding_pubkey, &M::revocation_basepoint,
                          &M::payment_basepoint, &M::delayed_payment_basepoint, &M::htlc_basepoint,
                          &M::first_per_commitment_point};
    }
    static constexpr auto Tlvs()
    {
        return std::tuple{TlvField<M, Bytes>{0, &M::upfront_shutdown_script},
                          TlvField<M, FeatureBits>{1, &M::channel_type}};
    }
    void EncodePayload(Bytes& out) const;
    static Decoded<AcceptChannelMessage> DecodePayload(ByteSpan payload);
    bool operator==(const AcceptChannelMessage&) const = default;
};

struct FundingCreatedMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kFundingCreated;

    Hash256 temporary_channel_id;
    //! In the byte order of the transaction serialization, as the wire carries it.
    Hash256 funding_txid;
    uint16_t funding_output_index;
    EcdsaSignature signature;
    TlvStream extension;

    using M = FundingCreatedMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::temporary_channel_id, &M::funding_txid, &M::funding_output_index, &M::signature};
    }
    void EncodePayload(Bytes& out) const;
    static Decoded<FundingCreatedMessage> DecodePayload(ByteSpan payload);
    bool operator==(const FundingCreatedMessage&) const = default;
};

struct FundingSignedMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kFundingSigned;

    Hash256 channel_id;
    EcdsaSignature signature;
    TlvStream extension;

    using M = FundingSignedMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::signature}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<FundingSignedMessage> DecodePayload(ByteSpan payload);
    bool operator==(const FundingSignedMessage&) const = default;
};

struct ChannelReadyMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kChannelReady;

    Hash256 channel_id;
    PubKey second_per_commitment_point;
    //! TLV 1 `short_channel_id`: an alias for routing (option_scid_alias), not the real one.
    std::optional<ShortChannelId> short_channel_id_alias;
    TlvStream extension;

    using M = ChannelReadyMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::second_per_commitment_point}; }
    static constexpr auto Tlvs() { return std::tuple{TlvField<M, ShortChannelId>{1, &M::short_channel_id_alias}}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<ChannelReadyMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ChannelReadyMessage&) const = default;
};

struct ShutdownMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kShutdown;

    Hash256 channel_id;
    //! u16 length then the script; which scripts are acceptable is the state machine's rule.
    Bytes scriptpubkey;
    TlvStream extension;

    using M = ShutdownMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::scriptpubkey}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<ShutdownMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ShutdownMessage&) const = default;
};

//! closing_signed TLV 1 `fee_range`: the fees the sender accepts for the closing transaction.
struct FeeRange {
    Sat min_fee_satoshis;
    Sat max_fee_satoshis;

    static constexpr auto Fields() { return std::tuple{&FeeRange::min_fee_satoshis, &FeeRange::max_fee_satoshis}; }
    bool operator==(const FeeRange&) const = default;
};

struct ClosingSignedMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kClosingSigned;

    Hash256 channel_id;
    Sat fee_satoshis;
    EcdsaSignature signature;
    std::optional<FeeRange> fee_range;
    TlvStream extension;

    using M = ClosingSignedMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::fee_satoshis, &M::signature}; }
    static constexpr auto Tlvs() { return std::tuple{TlvField<M, FeeRange>{1, &M::fee_range}}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<ClosingSignedMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ClosingSignedMessage&) const = default;
};

struct UpdateAddHtlcMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kUpdateAddHtlc;

    Hash256 channel_id;
    uint64_t id;
    Msat amount_msat;
    Hash256 payment_hash;
    uint32_t cltv_expiry;
    ByteArray<kOnionPacketSize> onion_routing_packet;
    //! TLV 0 `blinded_path` (its `path_key`, formerly `blinding_point`), for route blinding.
    std::optional<PubKey> blinding_point;
    TlvStream extension;

    using M = UpdateAddHtlcMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::channel_id, &M::id, &M::amount_msat, &M::payment_hash, &M::cltv_expiry,
                          &M::onion_routing_packet};
    }
    static constexpr auto Tlvs() { return std::tuple{TlvField<M, PubKey>{0, &M::blinding_point}}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<UpdateAddHtlcMessage> DecodePayload(ByteSpan payload);
    bool operator==(const UpdateAddHtlcMessage&) const = default;
};

struct UpdateFulfillHtlcMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kUpdateFulfillHtlc;

    Hash256 channel_id;
    uint64_t id;
    ByteArray<32> payment_preimage;
    TlvStream extension;

    using M = UpdateFulfillHtlcMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::id, &M::payment_preimage}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<UpdateFulfillHtlcMessage> DecodePayload(ByteSpan payload);
    bool operator==(const UpdateFulfillHtlcMessage&) const = default;
};

struct UpdateFailHtlcMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kUpdateFailHtlc;

    Hash256 channel_id;
    uint64_t id;
    //! The encrypted BOLT 4 failure onion, u16 length prefixed.
    Bytes reason;
    TlvStream extension;

    using M = UpdateFailHtlcMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::id, &M::reason}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<UpdateFailHtlcMessage> DecodePayload(ByteSpan payload);
    bool operator==(const UpdateFailHtlcMessage&) const = default;
};

struct CommitmentSignedMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kCommitmentSigned;

    Hash256 channel_id;
    EcdsaSignature signature;
    //! u16 `num_htlcs` then that many signatures, so the count always matches the vector.
    std::vector<EcdsaSignature> htlc_signatures;
    TlvStream extension;

    using M = CommitmentSignedMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::signature, &M::htlc_signatures}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<CommitmentSignedMessage> DecodePayload(ByteSpan payload);
    bool operator==(const CommitmentSignedMessage&) const = default;
};

struct RevokeAndAckMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kRevokeAndAck;

    Hash256 channel_id;
    //! Revealed on purpose (it revokes the old commitment), so a plain array.
    ByteArray<32> per_commitment_secret;
    PubKey next_per_commitment_point;
    TlvStream extension;

    using M = RevokeAndAckMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::channel_id, &M::per_commitment_secret, &M::next_per_commitment_point};
    }
    void EncodePayload(Bytes& out) const;
    static Decoded<RevokeAndAckMessage> DecodePayload(ByteSpan payload);
    bool operator==(const RevokeAndAckMessage&) const = default;
};

struct UpdateFeeMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kUpdateFee;

    Hash256 channel_id;
    uint32_t feerate_per_kw;
    TlvStream extension;

    using M = UpdateFeeMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::feerate_per_kw}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<UpdateFeeMessage> DecodePayload(ByteSpan payload);
    bool operator==(const UpdateFeeMessage&) const = default;
};

struct UpdateFailMalformedHtlcMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kUpdateFailMalformedHtlc;

    Hash256 channel_id;
    uint64_t id;
    Hash256 sha256_of_onion;
    uint16_t failure_code;
    TlvStream extension;

    using M = UpdateFailMalformedHtlcMessage;
    static constexpr auto Fields() { return std::tuple{&M::channel_id, &M::id, &M::sha256_of_onion, &M::failure_code}; }
    void EncodePayload(Bytes& out) const;
    static Decoded<UpdateFailMalformedHtlcMessage> DecodePayload(ByteSpan payload);
    bool operator==(const UpdateFailMalformedHtlcMessage&) const = default;
};

//! The dual-funding and splicing TLVs (e.g. even type 0 `next_funding`) are not known here, so
//! a peer sending them fails the decode: we never negotiate those features.
struct ChannelReestablishMessage {
    static constexpr ChannelMessageType kType = ChannelMessageType::kChannelReestablish;

    Hash256 channel_id;
    uint64_t next_commitment_number;
    uint64_t next_revocation_number;
    ByteArray<32> your_last_per_commitment_secret;
    PubKey my_current_per_commitment_point;
    TlvStream extension;

    using M = ChannelReestablishMessage;
    static constexpr auto Fields()
    {
        return std::tuple{&M::channel_id, &M::next_commitment_number, &M::next_revocation_number,
                          &M::your_last_per_commitment_secret, &M::my_current_per_commitment_point};
    }
    void EncodePayload(Bytes& out) const;
    static Decoded<ChannelReestablishMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ChannelReestablishMessage&) const = default;
};

using ChannelMessage =
    std::variant<OpenChannelMessage, AcceptChannelMessage, FundingCreatedMessage, FundingSignedMessage,
                 ChannelReadyMessage, ShutdownMessage, ClosingSignedMessage, UpdateAddHtlcMessage,
                 UpdateFulfillHtlcMessage, UpdateFailHtlcMessage, CommitmentSignedMessage, RevokeAndAckMessage,
                 UpdateFeeMessage, UpdateFailMalformedHtlcMessage, ChannelReestablishMessage>;

//! True for the 15 types DecodeChannelMessage knows.
bool IsChannelMessageType(uint16_t type);

//! Decodes the payload of a channel message (the peer manager's OtherMessage{type, payload}).
//! BOLT 1: a message "with insufficient length for the contents" or a malformed TLV stream
//! fails the decode. Throws std::invalid_argument unless IsChannelMessageType(type): routing
//! other types here is a local bug.
Decoded<ChannelMessage> DecodeChannelMessage(uint16_t type, ByteSpan payload);

//! u16 type then payload, ready for the transport.
Bytes EncodeChannelMessage(const ChannelMessage& message);

ChannelMessageType TypeOfChannelMessage(const ChannelMessage& message);
//! BOLT 2's name of the type ("update_add_htlc"), for logs; "unknown" for another number.
std::string_view ChannelMessageName(ChannelMessageType type);

//! The channel a message is about: its channel_id, or temporary_channel_id before funding_signed.
Hash256 ChannelIdOf(const ChannelMessage& message);

/**
 * BOLT 2 channel_type: not an arbitrary set of bits but one of the defined types,
 * `option_static_remotekey` (bit 12) or `option_anchors` with it (bits 22 and 12), each with
 * optional `option_scid_alias` (bit 46) and `option_zeroconf` (bit 50); only even bits.
 */
struct ChannelType {
    bool anchors{false};
    bool scid_alias{false};
    bool zeroconf{false};

    FeatureBits ToFeatureBits() const;
    //! nullopt for a bit vector that is none of the defined types (odd or unknown bits, or no
    //! static_remotekey); BOLT 2 lets the receiver fail the channel then.
    static std::optional<ChannelType> FromFeatureBits(const FeatureBits& bits);
    bool operator==(const ChannelType&) const = default;
};

} // namespace sidebolt

#endif
