#ifndef SIDEBOLT_WIRE_FEATURES_H
#define SIDEBOLT_WIRE_FEATURES_H

#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

//! BOLT 9 assigned features, named by their even (required) bit; the odd bit is optional.
enum class Feature : uint16_t {
    kDataLossProtect = 0,
    kUpfrontShutdownScript = 4,
    kGossipQueries = 6,
    kVarOnionOptin = 8,
    kGossipQueriesEx = 10,
    kStaticRemoteKey = 12,
    kPaymentSecret = 14,
    kBasicMpp = 16,
    kSupportLargeChannel = 18,
    kAnchors = 22,
    kRouteBlinding = 24,
    kShutdownAnySegwit = 26,
    kChannelType = 44,
    kScidAlias = 46,
    kPaymentMetadata = 48,
    kZeroconf = 50,
};

constexpr size_t RequiredBit(Feature feature) { return static_cast<size_t>(feature); }
constexpr size_t OptionalBit(Feature feature) { return static_cast<size_t>(feature) + 1; }

struct FeatureInfo {
    Feature feature;
    std::string_view name;
    //! BOLT 9 Context column: I init, N node_announcement, C channel_announcement, 9 invoice.
    std::string_view context;
    //! BOLT 9 "ASSUMED": every node supports it; its bits carry no information any more.
    bool assumed;
    std::optional<Feature> depends_on;
};

//! The BOLT 9 table, ordered by bit.
std::span<const FeatureInfo> KnownFeatures();
//! The table entry covering `bit` (either of its pair), or nullptr.
const FeatureInfo* FindFeature(size_t bit);

//! A feature bit vector: bit 0 is the least significant bit of the last wire byte.
class FeatureBits
{
public:
    FeatureBits() = default;
    //! Big-endian bytes as in init, node_announcement and channel_announcement.
    static FeatureBits FromWire(ByteSpan big_endian);
    //! The minimal big-endian form: BOLT 1 "SHOULD use the minimum length required".
    Bytes ToWire() const;

    bool IsSet(size_t bit) const;
    void Set(size_t bit);
    void Unset(size_t bit);
    void SetRequired(Feature feature) { Set(RequiredBit(feature)); }
    void SetOptional(Feature feature) { Set(OptionalBit(feature)); }
    //! BOLT 1: "A feature is offered if a peer set it in the init message (as either even or odd)".
    bool Offers(Feature feature) const { return IsSet(RequiredBit(feature)) || IsSet(OptionalBit(feature)); }
    bool Requires(Feature feature) const { return IsSet(RequiredBit(feature)); }
    //! All set bits, ascending.
    std::vector<size_t> SetBits() const;
    bool empty() const { return m_bytes.empty(); }

    FeatureBits& operator|=(const FeatureBits& other);
    friend FeatureBits operator|(FeatureBits a, const FeatureBits& b) { return a |= b; }
    bool operator==(const FeatureBits&) const = default;

private:
    void Trim();
    //! Little-endian bytes (byte i holds bits 8i..8i+7), without trailing zero bytes.
    std::vector<uint8_t> m_bytes;
};

//! BOLT 1: the receiver "MUST combine (logical OR) the two feature bitmaps into one".
FeatureBits CombineInitFeatures(ByteSpan global_features, ByteSpan features);

//! What this node advertises in init (see features.cpp for the reasoning behind each bit).
FeatureBits OurInitFeatures();

//! Even bits set in `theirs` for features we neither offer in `ours` nor may assume. BOLT 1:
//! "upon receiving unknown even feature bits that are non-zero: MUST close the connection."
std::vector<size_t> UnknownRequiredFeatures(const FeatureBits& theirs, const FeatureBits& ours = OurInitFeatures());

//! Features offered in `features` without the feature they depend on. BOLT 1: "if the
//! feature vector does not set all known, transitive dependencies: MUST close the connection."
std::vector<Feature> MissingDependencies(const FeatureBits& features);

//! BOLT 1: negotiated "if either both peers offered it, or the local node offered it as even".
bool IsNegotiated(const FeatureBits& ours, const FeatureBits& theirs, Feature feature);

//! "name/required,name/optional,bit_101/optional": for logs and listpeers.
std::string DescribeFeatures(const FeatureBits& features);

} // namespace sidebolt

#endif
