#include "wire/features.h"

#include <algorithm>
#include <array>

namespace sidebolt {
namespace {
constexpr std::array<FeatureInfo, 16> kFeatureTable{{
    {Feature::kDataLossProtect, "option_data_loss_protect", "", true, std::nullopt},
    {Feature::kUpfrontShutdownScript, "option_upfront_shutdown_script", "IN", false, std::nullopt},
    {Feature::kGossipQueries, "gossip_queries", "", true, std::nullopt},
    {Feature::kVarOnionOptin, "var_onion_optin", "", true, std::nullopt},
    {Feature::kGossipQueriesEx, "gossip_queries_ex", "IN", false, std::nullopt},
    {Feature::kStaticRemoteKey, "option_static_remotekey", "", true, std::nullopt},
    {Feature::kPaymentSecret, "payment_secret", "IN9", false, std::nullopt},
    {Feature::kBasicMpp, "basic_mpp", "IN9", false, Feature::kPaymentSecret},
    {Feature::kSupportLargeChannel, "option_support_large_channel", "IN", false, std::nullopt},
    {Feature::kAnchors, "option_anchors", "IN", false, std::nullopt},
    {Feature::kRouteBlinding, "option_route_blinding", "IN9", false, std::nullopt},
    {Feature::kShutdownAnySegwit, "option_shutdown_anysegwit", "IN", false, std::nullopt},
    {Feature::kChannelType, "option_channel_type", "IN", false, std::nullopt},
    {Feature::kScidAlias, "option_scid_alias", "IN", false, std::nullopt},
    {Feature::kPaymentMetadata, "option_payment_metadata", "9", false, std::nullopt},
    {Feature::kZeroconf, "option_zeroconf", "IN", false, Feature::kScidAlias},
}};
} // namespace

std::span<const FeatureInfo> KnownFeatures() { return kFeatureTable; }

const FeatureInfo* FindFeature(size_t bit)
{
    const auto it = std::find_if(kFeatureTable.begin(), kFeatureTable.end(),
                                 [&](const FeatureInfo& info) { return RequiredBit(info.feature) == (bit & ~size_t{1}); });
    return it == kFeatureTable.end() ? nullptr : &*it;
}

FeatureBits FeatureBits::FromWire(ByteSpan big_endian)
{
    FeatureBits out;
    out.m_bytes.assign(big_endian.rbegin(), big_endian.rend());
    out.Trim();
    return out;
}

Bytes FeatureBits::ToWire() const { return Bytes(m_bytes.rbegin(), m_bytes.rend()); }

bool FeatureBits::IsSet(size_t bit) const
{
    return bit / 8 < m_bytes.size() && (m_bytes[bit / 8] >> (bit % 8) & 1) != 0;
}

void FeatureBits::Set(size_t bit)
{
    if (bit / 8 >= m_bytes.size()) m_bytes.resize(bit / 8 + 1, 0);
    m_bytes[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
}

void FeatureBits::Unset(size_t bit)
{
    if (bit / 8 >= m_bytes.size()) return;
    m_bytes[bit / 8] &= static_cast<uint8_t>(~(1u << (bit % 8)));
    Trim();
}

std::vector<size_t> FeatureBits::SetBits() const
{
    std::vector<size_t> out;
    for (size_t bit = 0; bit < m_bytes.size() * 8; ++bit) {
        if (IsSet(bit)) out.push_back(bit);
    }
    return out;
}

FeatureBits& FeatureBits::operator|=(const FeatureBits& other)
{
    if (other.m_bytes.size() > m_bytes.size()) m_bytes.resize(other.m_bytes.size(), 0);
    for (size_t i = 0; i < other.m_bytes.size(); ++i) m_bytes[i] |= other.m_bytes[i];
    return *this;
}

void FeatureBits::Trim()
{
    while (!m_bytes.empty() && m_bytes.back() == 0) m_bytes.pop_back();
}

FeatureBits CombineInitFeatures(ByteSpan global_features, ByteSpan features)
{
    return FeatureBits::FromWire(global_features) | FeatureBits::FromWire(features);
}

FeatureBits OurInitFeatures()
{
    const size_t bits[] = {
        // ASSUMED by BOLT 9 today, but older peers still check these bits (and that
        // payment_secret comes with var_onion_optin), so they stay set; our channels always
        // use them, hence required.
        RequiredBit(Feature::kDataLossProtect),
        RequiredBit(Feature::kVarOnionOptin),
        RequiredBit(Feature::kStaticRemoteKey),
        // Invoices we issue always carry a payment secret.
        RequiredBit(Feature::kPaymentSecret),
        OptionalBit(Feature::kBasicMpp),
        // Large channels only lift the funding cap.
        OptionalBit(Feature::kSupportLargeChannel),
        // Anchors are the commitment format we build; channel_type is how it is negotiated.
        OptionalBit(Feature::kAnchors),
        OptionalBit(Feature::kChannelType),
    };
    FeatureBits ours;
    for (const size_t bit : bits) ours.Set(bit);
    return ours;
}

std::vector<size_t> UnknownRequiredFeatures(const FeatureBits& theirs, const FeatureBits& ours)
{
    std::vector<size_t> unknown;
    for (const size_t bit : theirs.SetBits()) {
        if (bit % 2 != 0) continue;
        const FeatureInfo* info = FindFeature(bit);
        const bool understood = info && (info->assumed || ours.Offers(info->feature));
        if (!understood) unknown.push_back(bit);
    }
    return unknown;
}

std::vector<Feature> MissingDependencies(const FeatureBits& features)
{
    std::vector<Feature> missing;
    for (const auto& info : kFeatureTable) {
        if (info.depends_on && features.Offers(info.feature) && !features.Offers(*info.depends_on)) {
            missing.push_back(info.feature);
        }
    }
    return missing;
}

bool IsNegotiated(const FeatureBits& ours, const FeatureBits& theirs, Feature feature)
{
    return (ours.Offers(feature) && theirs.Offers(feature)) || ours.Requires(feature);
}

std::string DescribeFeatures(const FeatureBits& features)
{
    std::string out;
    for (const size_t bit : features.SetBits()) {
        const FeatureInfo* info = FindFeature(bit);
        if (!out.empty()) out += ',';
        out += info ? std::string(info->name) : "bit_" + std::to_string(bit);
        out += bit % 2 == 0 ? "/required" : "/optional";
    }
    return out;
}

} // namespace sidebolt
