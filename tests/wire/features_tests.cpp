#include "wire/features.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

using namespace sidebolt;

namespace {
FeatureBits Bits(std::initializer_list<size_t> bits)
{
    FeatureBits out;
    for (const size_t bit : bits) out.Set(bit);
    return out;
}
} // namespace

TEST_CASE("BOLT 9: our feature table matches the spec's")
{
    const auto vectors = test::ReadJsonVectors("net/bolt9_features.json");
    const auto table = KnownFeatures();
    REQUIRE(table.size() == vectors["features"].size());
    for (size_t i = 0; i < table.size(); ++i) {
        const auto& v = vectors["features"][i];
        CAPTURE(v["name"].get<std::string>());
        CHECK(RequiredBit(table[i].feature) == v["even"].get<size_t>());
        CHECK(table[i].name == v["name"].get<std::string>());
        CHECK(table[i].context == v["context"].get<std::string>());
        CHECK(table[i].assumed == v["assumed"].get<bool>());
        if (v.contains("depends_on")) {
            REQUIRE(table[i].depends_on);
            CHECK(FindFeature(RequiredBit(*table[i].depends_on))->name == v["depends_on"].get<std::string>());
        } else {
            CHECK_FALSE(table[i].depends_on);
        }
        CHECK(FindFeature(OptionalBit(table[i].feature)) == &table[i]);
    }
    CHECK(FindFeature(2) == nullptr);
    CHECK(FindFeature(101) == nullptr);
}

TEST_CASE("feature bits: wire form is minimal big-endian with bit 0 last")
{
    const auto bits = FeatureBits::FromWire(ParseHex("000a01"));
    CHECK(bits.SetBits() == std::vector<size_t>{0, 9, 11});
    CHECK(ToHex(bits.ToWire()) == "0a01");
    CHECK(bits == FeatureBits::FromWire(ParseHex("0a01")));
    CHECK(FeatureBits::FromWire(ParseHex("0000")).ToWire().empty());
    CHECK(FeatureBits::FromWire({}).empty());

    FeatureBits built;
    built.Set(17);
    CHECK(ToHex(built.ToWire()) == "020000");
    built.Unset(17);
    CHECK(built.empty());
    built.Unset(1000);
    CHECK(built.empty());
}

TEST_CASE("BOLT 1: global and local features are ORed into one vector")
{
    const auto combined = CombineInitFeatures(ParseHex("2200"), ParseHex("01"));
    CHECK(combined.SetBits() == std::vector<size_t>{0, 9, 13});
    CHECK(CombineInitFeatures({}, ParseHex("0100")) == Bits({8}));
}

TEST_CASE("offered, required and negotiated")
{
    const FeatureBits ours = Bits({RequiredBit(Feature::kPaymentSecret), OptionalBit(Feature::kBasicMpp)});
    const FeatureBits theirs = Bits({OptionalBit(Feature::kPaymentSecret), OptionalBit(Feature::kAnchors)});
    CHECK(theirs.Offers(Feature::kPaymentSecret));
    CHECK_FALSE(theirs.Requires(Feature::kPaymentSecret));
    // Ours as even: negotiated whatever they say; odd on both sides: negotiated; one side: not.
    CHECK(IsNegotiated(ours, FeatureBits{}, Feature::kPaymentSecret));
    CHECK(IsNegotiated(ours, Bits({OptionalBit(Feature::kBasicMpp)}), Feature::kBasicMpp));
    CHECK_FALSE(IsNegotiated(ours, theirs, Feature::kBasicMpp));
    CHECK_FALSE(IsNegotiated(ours, theirs, Feature::kAnchors));
}

TEST_CASE("our init features are well-formed")
{
    const FeatureBits ours = OurInitFeatures();
    CHECK(MissingDependencies(ours).empty());
    for (const size_t bit : ours.SetBits()) {
        const FeatureInfo* info = FindFeature(bit);
        CAPTURE(bit);
        REQUIRE(info);
        // BOLT 9: "MUST NOT set feature bits in fields not specified by the table"; ASSUMED
        // features have no context any more but are still set for older peers.
        CHECK((info->assumed || info->context.find('I') != std::string_view::npos));
        CHECK_FALSE((ours.IsSet(RequiredBit(info->feature)) && ours.IsSet(OptionalBit(info->feature))));
    }
    CHECK(ours.Requires(Feature::kVarOnionOptin));
    CHECK(ours.Requires(Feature::kStaticRemoteKey));
    CHECK(ours.Requires(Feature::kPaymentSecret));
    CHECK(ours.Offers(Feature::kBasicMpp));
    CHECK(UnknownRequiredFeatures(ours).empty());
}

TEST_CASE("unknown required features: even bits we cannot honour, odd ones ignored")
{
    const FeatureBits ours = OurInitFeatures();
    CHECK(UnknownRequiredFeatures(Bits({101}), ours).empty());
    CHECK(UnknownRequiredFeatures(Bits({100}), ours) == std::vector<size_t>{100});
    // Known to BOLT 9 but not supported by us, and required: we must not connect.
    CHECK(UnknownRequiredFeatures(Bits({RequiredBit(Feature::kUpfrontShutdownScript)}), ours) == std::vector<size_t>{4});
    CHECK(UnknownRequiredFeatures(Bits({OptionalBit(Feature::kUpfrontShutdownScript)}), ours).empty());
    // ASSUMED features are understood by every node, so requiring them is fine.
    CHECK(UnknownRequiredFeatures(Bits({RequiredBit(Feature::kGossipQueries)}), ours).empty());
    // Requiring what we offer as optional is fine too.
    CHECK(UnknownRequiredFeatures(Bits({RequiredBit(Feature::kAnchors), RequiredBit(Feature::kBasicMpp)}), ours).empty());
    CHECK(UnknownRequiredFeatures(Bits({2, 3, 200}), ours) == std::vector<size_t>{2, 200});
}

TEST_CASE("BOLT 9 dependencies: a feature without its dependency is invalid")
{
    CHECK(MissingDependencies(Bits({OptionalBit(Feature::kBasicMpp)})) == std::vector<Feature>{Feature::kBasicMpp});
    CHECK(MissingDependencies(Bits({OptionalBit(Feature::kBasicMpp), RequiredBit(Feature::kPaymentSecret)})).empty());
    CHECK(MissingDependencies(Bits({RequiredBit(Feature::kZeroconf)})) == std::vector<Feature>{Feature::kZeroconf});
    CHECK(MissingDependencies(Bits({RequiredBit(Feature::kZeroconf), OptionalBit(Feature::kScidAlias)})).empty());
    CHECK(MissingDependencies(FeatureBits{}).empty());
}

TEST_CASE("features are described by name for logs")
{
    CHECK(DescribeFeatures(Bits({8, 17, 101})) == "var_onion_optin/required,basic_mpp/optional,bit_101/optional");
    CHECK(DescribeFeatures(FeatureBits{}).empty());
}
