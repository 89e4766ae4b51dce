#include "pay/invoice.h"
#include "primitives/bech32.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <stdexcept>
#include <string>

using namespace sidebolt;

namespace {
constexpr size_t UNLIMITED = std::numeric_limits<size_t>::max();
constexpr uint64_t SPEC_TIMESTAMP = 1496314658;

PrivKey SpecKey() { return *PrivKey::FromBytes(ParseHex("e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734")); }

Hash256 Filled(uint8_t byte)
{
    Hash256 out;
    out.fill(byte);
    return out;
}

ByteSpan AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string KindName(InvoiceErrorKind kind)
{
    using K = InvoiceErrorKind;
    switch (kind) {
    case K::Bech32: return "Bech32";
    case K::UnknownPrefix: return "UnknownPrefix";
    case K::InvalidAmount: return "InvalidAmount";
    case K::TooShort: return "TooShort";
    case K::MalformedField: return "MalformedField";
    case K::MissingPaymentHash: return "MissingPaymentHash";
    case K::MissingPaymentSecret: return "MissingPaymentSecret";
    case K::InvalidDescription: return "InvalidDescription";
    case K::UnknownRequiredFeature: return "UnknownRequiredFeature";
    case K::MissingFeatureDependency: return "MissingFeatureDependency";
    case K::InvalidSignature: return "InvalidSignature";
    }
    return "?";
}

//! The error kind DecodeInvoice reports, or "ok".
std::string DecodeKind(std::string_view text)
{
    const auto decoded = DecodeInvoice(text);
    return decoded ? "ok" : KindName(decoded.error().kind);
}

Bytes ToGroups(ByteSpan bytes) { return *bech32::ConvertBits(bytes, 8, 5, true); }

//! n - s for a 256-bit big-endian s: the other, high-S half of an ECDSA signature.
ByteArray<32> NegateScalar(ByteSpan s)
{
    const Bytes order = ParseHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    ByteArray<32> out{};
    int borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        int diff = order[i] - s[i] - borrow;
        borrow = diff < 0;
        out[i] = static_cast<uint8_t>(diff + (borrow ? 256 : 0));
    }
    return out;
}

//! Writes invoices field by field, bypassing EncodeInvoice's checks, so the decoder's reject
//! paths see correctly signed input.
struct RawInvoice {
    std::string hrp{"lnbc"};
    Bytes groups;

    RawInvoice()
    {
        for (size_t i = 0; i < 7; ++i) groups.push_back(static_cast<uint8_t>(SPEC_TIMESTAMP >> (5 * (6 - i)) & 31));
    }
    RawInvoice& Field(char tag, ByteSpan data)
    {
        groups.push_back(static_cast<uint8_t>(std::string_view("qpzry9x8gf2tvdw0s3jn54khce6mua7l").find(tag)));
        groups.push_back(static_cast<uint8_t>(data.size() >> 5));
        groups.push_back(static_cast<uint8_t>(data.size() & 31));
        Append(groups, data);
        return *this;
    }
    RawInvoice& Bytes8(char tag, ByteSpan bytes) { return Field(tag, ToGroups(bytes)); }
    //! p, s and d: the least a valid invoice carries.
    static RawInvoice Minimal()
    {
        RawInvoice raw;
        raw.Bytes8('p', Filled(1)).Bytes8('s', Filled(0x11)).Bytes8('d', AsBytes("coffee"));
        return raw;
    }
    Hash256 SigningHash() const
    {
        return Sha256(Concat({AsBytes(hrp), *bech32::ConvertBits(groups, 5, 8, true)}));
    }
    std::string Finish(ByteSpan signature65, bech32::Encoding encoding = bech32::Encoding::Bech32) const
    {
        Bytes all = groups;
        Append(all, ToGroups(signature65));
        return bech32::Encode(encoding, hrp, all, UNLIMITED);
    }
    RecoverableSignature Sign(const PrivKey& key) const { return key.SignRecoverable(SigningHash()); }
    std::string Signed(const PrivKey& key = SpecKey()) const { return WithSignature(Sign(key)); }
    std::string WithSignature(const RecoverableSignature& sig) const
    {
        Bytes sig65(sig.compact.begin(), sig.compact.end());
        sig65.push_back(sig.recovery_id);
        return Finish(sig65);
    }
};

Invoice BasicInvoice()
{
    Invoice inv;
    inv.hrp_currency = "bc";
    inv.timestamp = SPEC_TIMESTAMP;
    inv.payment_hash = Filled(1);
    inv.payment_secret = Filled(0x11);
    inv.description = "coffee";
    return inv;
}

RouteHintHop Hop(uint8_t seed, uint64_t scid)
{
    return RouteHintHop{PrivKey::FromBytes(Filled(seed))->GetPubKey(), ShortChannelId::FromU64(scid), seed * 10u, seed * 100u,
                        static_cast<uint16_t>(seed + 6)};
}
} // namespace

TEST_CASE("invoice: BOLT 11 valid examples decode to the listed fields and re-encode byte for byte")
{
    const auto doc = test::ReadJsonVectors("bolt11/bolt11_examples.json");
    const PrivKey key = *PrivKey::FromBytes(ParseHex(doc["priv_key"].get<std::string>()));
    REQUIRE(doc["valid"].size() == 14);
    for (const auto& v : doc["valid"]) {
        CAPTURE(v["name"].get<std::string>());
        const auto decoded = DecodeInvoice(v["invoice"].get<std::string>());
        REQUIRE_MESSAGE(decoded, (decoded ? "" : decoded.error().reason));
        const Invoice& inv = decoded->invoice;
        CHECK(inv.hrp_currency == v["currency"].get<std::string>());
        CHECK(inv.timestamp == v["timestamp"].get<uint64_t>());
        if (v.contains("amount_msat")) {
            REQUIRE(inv.amount_msat);
            CHECK(inv.amount_msat->value() == v["amount_msat"].get<uint64_t>());
        } else {
            CHECK_FALSE(inv.amount_msat);
        }
        CHECK(ToHex(inv.payment_hash) == v["payment_hash"].get<std::string>());
        REQUIRE(inv.payment_secret);
        CHECK(ToHex(*inv.payment_secret) == v["payment_secret"].get<std::string>());
        if (v.contains("description")) {
            CHECK(inv.description == v["description"].get<std::string>());
            CHECK_FALSE(inv.description_hash);
        } else {
            const std::string described = v["description_hash_of"].get<std::string>();
            REQUIRE(inv.description_hash);
            CHECK(*inv.description_hash == Sha256(AsBytes(described)));
            CHECK(DescriptionHashMatches(inv, described));
            CHECK_FALSE(DescriptionHashMatches(inv, described + "."));
            CHECK_FALSE(inv.description);
        }
        CHECK_FALSE(inv.payee);
        CHECK(ToHex(decoded->payee.span()) == v["payee"].get<std::string>());
        CHECK(inv.expiry == v["expiry"].get<uint64_t>());
        CHECK(inv.min_final_cltv_expiry_delta == v["min_final_cltv_expiry_delta"].get<uint32_t>());
        CHECK(ToHex(inv.features) == v["features"].get<std::string>());
        CHECK(inv.metadata == (v.contains("metadata") ? std::optional<Bytes>(ParseHex(v["metadata"].get<std::string>())) : std::nullopt));

        const Network network = *ParseNetwork(v.value("network", std::string("mainnet")));
        REQUIRE(inv.fallbacks.size() == v["fallbacks"].size());
        for (size_t i = 0; i < inv.fallbacks.size(); ++i) {
            CHECK(inv.fallbacks[i].version == v["fallbacks"][i]["version"].get<int>());
            CHECK(FallbackAddressString(inv.fallbacks[i], network) == v["fallbacks"][i]["address"].get<std::string>());
        }
        REQUIRE(inv.route_hints.size() == v["route_hints"].size());
        for (size_t r = 0; r < inv.route_hints.size(); ++r) {
            const auto& want = v["route_hints"][r];
            REQUIRE(inv.route_hints[r].size() == want.size());
            for (size_t h = 0; h < want.size(); ++h) {
                const RouteHintHop& hop = inv.route_hints[r][h];
                CHECK(ToHex(hop.node_id.span()) == want[h]["pubkey"].get<std::string>());
                CHECK(hop.short_channel_id.ToString() == want[h]["short_channel_id"].get<std::string>());
                CHECK(hop.fee_base_msat == want[h]["fee_base_msat"].get<uint32_t>());
                CHECK(hop.fee_proportional_millionths == want[h]["fee_proportional_millionths"].get<uint32_t>());
                CHECK(hop.cltv_expiry_delta == want[h]["cltv_expiry_delta"].get<uint16_t>());
            }
        }
        if (v.contains("signature")) {
            CHECK(ToHex(decoded->signature.compact) == v["signature"].get<std::string>());
            CHECK(decoded->signature.recovery_id == v["recovery_id"].get<int>());
            CHECK(ToHex(decoded->signing_hash) == v["signing_hash"].get<std::string>());
        }
        CHECK(decoded->field_order == v["field_order"].get<std::string>());
        CHECK(EncodeInvoice(inv, key, decoded->field_order) == v["reencodes_to"].get<std::string>());
    }
}

TEST_CASE("invoice: BOLT 11 invalid examples are refused for the stated reason")
{
    const auto doc = test::ReadJsonVectors("bolt11/bolt11_examples.json");
    REQUIRE(doc["invalid"].size() == 8);
    for (const auto& v : doc["invalid"]) {
        CAPTURE(v["name"].get<std::string>());
        CHECK(DecodeKind(v["invoice"].get<std::string>()) == v["kind"].get<std::string>());
    }
}

TEST_CASE("invoice: generated invoices round-trip through EncodeInvoice and DecodeInvoice")
{
    const PrivKey key = PrivKey::FromBytes(Filled(7)).value();
    Invoice full = BasicInvoice();
    full.hrp_currency = "bcrt";
    full.description.reset();
    full.description_hash = Sha256(AsBytes("a long description"));
    full.payee = key.GetPubKey();
    full.expiry = 0;
    full.min_final_cltv_expiry_delta = 144;
    full.fallbacks = {{0, Bytes(20, 0xaa)}, {1, Bytes(32, 0xbb)}, {16, Bytes(2, 0x01)}, {kFallbackP2pkh, Bytes(20, 0xcc)},
                      {kFallbackP2sh, Bytes(20, 0xdd)}};
    full.route_hints = {{Hop(2, 0x0102030405060708)}, {Hop(3, 1), Hop(4, UINT64_MAX)}};
    full.features = ParseHex("02000000024100"); // var_onion_optin, payment_secret, basic_mpp, payment_metadata (odd)
    full.metadata = Bytes{0x01, 0xfa};

    Invoice empty_description = BasicInvoice();
    empty_description.description = "";
    empty_description.timestamp = (uint64_t{1} << 35) - 1;
    Invoice utf8 = BasicInvoice();
    utf8.hrp_currency = "tbs";
    utf8.description = std::string(213, 'x') + "ナンセンス"; // 228 bytes
    utf8.expiry = UINT64_MAX;
    utf8.min_final_cltv_expiry_delta = UINT32_MAX;
    utf8.route_hints = {std::vector<RouteHintHop>(12, Hop(5, 42))};

    for (const Invoice& inv : {BasicInvoice(), full, empty_description, utf8}) {
        for (const uint64_t msat : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{100}, uint64_t{123'456'789}, uint64_t{100'000},
                                    uint64_t{250'000'000}, uint64_t{100'000'000'000}, uint64_t{2'100'000'000'000'000'000}}) {
            Invoice with_amount = inv;
            if (msat != 0) with_amount.amount_msat = Msat{msat};
            const std::string text = EncodeInvoice(with_amount, key);
            CAPTURE(text);
            const auto decoded = DecodeInvoice(text);
            REQUIRE_MESSAGE(decoded, (decoded ? "" : decoded.error().reason));
            CHECK(decoded->invoice == with_amount);
            CHECK(decoded->payee == key.GetPubKey());
            CHECK(EncodeInvoice(decoded->invoice, key, decoded->field_order) == text);
            CHECK(VerifyEcdsa(key.GetPubKey(), decoded->signing_hash, *EcdsaSignature::FromCompact(decoded->signature.compact)));
        }
    }
}

TEST_CASE("invoice: amounts use the shortest multiplier and decode back")
{
    const std::pair<uint64_t, std::string> cases[] = {
        {1, "lnbc10p1"}, {10, "lnbc100p1"}, {100, "lnbc1n1"}, {1'000, "lnbc10n1"}, {100'000, "lnbc1u1"},
        {100'000'000, "lnbc1m1"}, {100'000'000'000, "lnbc11"}, {150'000'000'000, "lnbc1500m1"}, {967'878'534, "lnbc9678785340p1"},
    };
    for (const auto& [msat, prefix] : cases) {
        Invoice inv = BasicInvoice();
        inv.amount_msat = Msat{msat};
        const std::string text = EncodeInvoice(inv, SpecKey());
        CHECK(text.starts_with(prefix));
        CHECK(DecodeInvoice(text)->invoice.amount_msat == Msat{msat});
    }
}

TEST_CASE("invoice: human-readable part: unknown prefixes and bad amounts are refused")
{
    const auto with_hrp = [](std::string hrp) {
        RawInvoice raw = RawInvoice::Minimal();
        raw.hrp = std::move(hrp);
        return DecodeKind(raw.Signed());
    };
    CHECK(with_hrp("lnbc") == "ok");
    CHECK(with_hrp("lntb") == "ok");
    CHECK(with_hrp("lntbs") == "ok");
    CHECK(with_hrp("lnbcrt") == "ok");
    CHECK(with_hrp("lnbc25m") == "ok");
    CHECK(with_hrp("lnbc0025m") == "ok"); // leading zeros are not a reader failure
    CHECK(with_hrp("lnsb") == "UnknownPrefix");
    CHECK(with_hrp("lnxy10m") == "UnknownPrefix");
    CHECK(with_hrp("ln") == "UnknownPrefix");
    CHECK(with_hrp("bc") == "UnknownPrefix");
    CHECK(with_hrp("lbc") == "UnknownPrefix");
    CHECK(with_hrp("lnbc0") == "InvalidAmount");
    CHECK(with_hrp("lnbc0m") == "InvalidAmount");
    CHECK(with_hrp("lnbc25mm") == "InvalidAmount");
    CHECK(with_hrp("lnbc25m5") == "InvalidAmount");
    CHECK(with_hrp("lnbc25x") == "InvalidAmount");
    CHECK(with_hrp("lnbc15p") == "InvalidAmount");
    CHECK(with_hrp("lnbc10p") == "ok");
    CHECK(with_hrp("lnbc184467440737095516150p") == "InvalidAmount"); // digits overflow u64
    CHECK(with_hrp("lnbc184467440737095516150n") == "InvalidAmount");
    CHECK(with_hrp("lnbc184467440738m") == "InvalidAmount"); // multiplication overflows
    CHECK(with_hrp("lnbc184467440737m") == "ok");
}

TEST_CASE("invoice: bech32 layer: bech32m, bad checksum, mixed case and upper case")
{
    const RawInvoice raw = RawInvoice::Minimal();
    const std::string good = raw.Signed();
    std::string upper = good;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
    CHECK(DecodeKind(upper) == "ok");
    std::string mixed = good;
    mixed[0] = 'L';
    CHECK(DecodeKind(mixed) == "Bech32");
    std::string flipped = good;
    flipped.back() = flipped.back() == 'q' ? 'p' : 'q';
    CHECK(DecodeKind(flipped) == "Bech32");
    CHECK(DecodeKind("") == "Bech32");
    Bytes sig65(65, 0);
    CHECK(DecodeKind(raw.Finish(sig65, bech32::Encoding::Bech32m)) == "Bech32");
    // Longer than BIP 173's 90 characters is the norm for invoices.
    CHECK(good.size() > bech32::MAX_ADDRESS_LENGTH);
}

TEST_CASE("invoice: data part too short for timestamp and signature")
{
    RawInvoice raw;
    raw.groups.resize(6);
    CHECK(DecodeKind(raw.Finish({})) == "TooShort");
    RawInvoice exact; // timestamp and signature, no field: long enough, but no p
    CHECK(DecodeKind(exact.Finish(Bytes(65, 0))) == "MissingPaymentHash");
    exact.groups.pop_back();
    CHECK(DecodeKind(exact.Finish(Bytes(65, 0))) == "TooShort");
}

TEST_CASE("invoice: skipped fields: unknown tags, unknown fallback versions and wrong lengths")
{
    RawInvoice raw = RawInvoice::Minimal();
    raw.Field('2', Bytes(3, 0))                         // unknown type 10
        .Field('f', Bytes{19, 0, 0, 0})                 // fallback version 19
        .Field('f', Bytes{31})                          // version 31, no program
        .Field('p', Bytes(51, 0)).Field('p', Bytes(53, 0)) // wrong-length p, h, s and n
        .Field('h', Bytes(51, 0)).Field('s', Bytes(53, 0)).Field('n', Bytes(52, 0)).Field('n', Bytes(54, 0));
    const auto decoded = DecodeInvoice(raw.Signed());
    REQUIRE(decoded);
    CHECK(decoded->invoice == DecodeInvoice(RawInvoice::Minimal().Signed())->invoice);
    CHECK(decoded->field_order == "psd");

    // Only wrong-length p, s or both d/h-less: the mandatory fields are then missing.
    RawInvoice no_p;
    no_p.Field('p', Bytes(51, 0)).Bytes8('s', Filled(0x11)).Bytes8('d', AsBytes("x"));
    CHECK(DecodeKind(no_p.Signed()) == "MissingPaymentHash");
    RawInvoice no_s;
    no_s.Bytes8('p', Filled(1)).Field('s', Bytes(53, 0)).Bytes8('d', AsBytes("x"));
    CHECK(DecodeKind(no_s.Signed()) == "MissingPaymentSecret");
    RawInvoice short_h;
    short_h.Bytes8('p', Filled(1)).Bytes8('s', Filled(0x11)).Field('h', Bytes(51, 0));
    CHECK(DecodeKind(short_h.Signed()) == "InvalidDescription");
}

TEST_CASE("invoice: the first field of each kind wins")
{
    const PubKey other = PrivKey::FromBytes(Filled(9))->GetPubKey();
    RawInvoice raw;
    raw.Bytes8('p', Filled(1)).Bytes8('p', Filled(2)).Bytes8('s', Filled(3)).Bytes8('s', Filled(4))
        .Bytes8('d', AsBytes("first")).Bytes8('d', AsBytes("second"))
        .Field('x', Bytes{1}).Field('x', Bytes{2}).Field('c', Bytes{3}).Field('c', Bytes{4})
        .Bytes8('m', Bytes{5}).Bytes8('m', Bytes{6}).Field('9', Bytes{1, 0}).Field('9', Bytes{0, 1});
    const auto decoded = DecodeInvoice(raw.Signed());
    REQUIRE(decoded);
    const Invoice& inv = decoded->invoice;
    CHECK(inv.payment_hash == Filled(1));
    CHECK(inv.payment_secret == Filled(3));
    CHECK(inv.description == "first");
    CHECK(inv.expiry == 1);
    CHECK(inv.min_final_cltv_expiry_delta == 3);
    CHECK(inv.metadata == Bytes{5});
    CHECK(ToHex(inv.features) == "20"); // bit 5: groups {1, 0}
    CHECK(decoded->field_order == "psdxcm9");

    // Several n fields: the first is used to check the signature.
    RawInvoice two_n = RawInvoice::Minimal();
    two_n.Bytes8('n', SpecKey().GetPubKey().span()).Bytes8('n', other.span());
    CHECK(DecodeKind(two_n.Signed()) == "ok");
}

TEST_CASE("invoice: malformed known fields refuse the invoice")
{
    const auto kind_with = [](auto&& add) {
        RawInvoice raw = RawInvoice::Minimal();
        add(raw);
        return DecodeKind(raw.Signed());
    };
    // Headers and lengths.
    CHECK(kind_with([](RawInvoice& r) { r.groups.push_back(1); }) == "MalformedField");
    CHECK(kind_with([](RawInvoice& r) { r.groups.insert(r.groups.end(), {1, 0}); }) == "MalformedField");
    CHECK(kind_with([](RawInvoice& r) { r.groups.insert(r.groups.end(), {13, 0, 5, 1}); }) == "MalformedField");
    // Non-zero padding bits in a hash, and a description length that leaves 5+ padding bits.
    Bytes padded = ToGroups(Filled(2));
    padded.back() |= 1;
    CHECK(kind_with([&](RawInvoice& r) { r.Field('h', padded); }) == "MalformedField");
    CHECK(kind_with([](RawInvoice& r) { r.Field('d', Bytes{0, 0, 0}); }) == "MalformedField");
    // d must be UTF-8: a lone continuation byte, an overlong '/', a surrogate, a truncated sequence.
    for (const char* hex : {"80", "c0af", "eda080", "e382", "f4908080"}) {
        CAPTURE(hex);
        RawInvoice raw;
        raw.Bytes8('p', Filled(1)).Bytes8('s', Filled(0x11)).Bytes8('d', ParseHex(hex));
        CHECK(DecodeKind(raw.Signed()) == "MalformedField");
    }
    // Integers above their type.
    CHECK(kind_with([](RawInvoice& r) { r.Field('x', Bytes(13, 31)); }) == "MalformedField");
    CHECK(kind_with([](RawInvoice& r) { r.Field('x', Bytes{0, 0, 15, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31}); }) == "ok");
    CHECK(kind_with([](RawInvoice& r) { r.Field('c', Bytes{4, 0, 0, 0, 0, 0, 0}); }) == "MalformedField");
    CHECK(kind_with([](RawInvoice& r) { r.Field('c', Bytes{3, 31, 31, 31, 31, 31, 31}); }) == "ok");
    // n of the right length but not a point.
    CHECK(kind_with([](RawInvoice& r) { r.Bytes8('n', Bytes(33, 0)); }) == "MalformedField");
    // Fallbacks with a known version but a bad program.
    const auto fallback = [&](uint8_t version, size_t size) {
        return kind_with([&](RawInvoice& r) {
            Bytes groups{version};
            Append(groups, ToGroups(Bytes(size, 0x42)));
            r.Field('f', groups);
        });
    };
    CHECK(kind_with([](RawInvoice& r) { r.Field('f', Bytes{}); }) == "MalformedField");
    CHECK(fallback(0, 20) == "ok");
    CHECK(fallback(0, 32) == "ok");
    CHECK(fallback(0, 25) == "MalformedField");
    CHECK(fallback(1, 1) == "MalformedField");
    CHECK(fallback(1, 41) == "MalformedField");
    CHECK(fallback(16, 40) == "ok");
    CHECK(fallback(kFallbackP2pkh, 19) == "MalformedField");
    CHECK(fallback(kFallbackP2sh, 21) == "MalformedField");
    // Route hints must be whole hops of valid keys.
    Bytes hop(51, 0);
    const auto node = PrivKey::FromBytes(Filled(3))->GetPubKey();
    std::copy(node.span().begin(), node.span().end(), hop.begin());
    CHECK(kind_with([&](RawInvoice& r) { r.Bytes8('r', hop); }) == "ok");
    CHECK(kind_with([&](RawInvoice& r) { r.Bytes8('r', Bytes(hop.begin(), hop.end() - 1)); }) == "MalformedField");
    CHECK(kind_with([&](RawInvoice& r) { r.Field('r', Bytes{}); }) == "MalformedField");
    CHECK(kind_with([&](RawInvoice& r) { r.Bytes8('r', Bytes(51, 0)); }) == "MalformedField");
}

TEST_CASE("invoice: description: exactly one of d and h")
{
    RawInvoice both = RawInvoice::Minimal();
    both.Bytes8('h', Filled(5));
    CHECK(DecodeKind(both.Signed()) == "InvalidDescription");
    RawInvoice neither;
    neither.Bytes8('p', Filled(1)).Bytes8('s', Filled(0x11));
    CHECK(DecodeKind(neither.Signed()) == "InvalidDescription");
    RawInvoice hash_only;
    hash_only.Bytes8('p', Filled(1)).Bytes8('s', Filled(0x11)).Bytes8('h', Filled(5));
    CHECK(DecodeKind(hash_only.Signed()) == "ok");
}

TEST_CASE("invoice: feature bits: unknown odd ignored, unknown even and missing dependencies refused")
{
    const auto with_features = [](std::string_view hex) {
        Bytes groups;
        const Bytes bytes = ParseHex(hex);
        // Big-endian bit field to 5-bit groups, the writer's minimal length.
        for (size_t bit = bytes.size() * 8; bit-- > 0;) {
            if (groups.empty() && !(bytes[bytes.size() - 1 - bit / 8] >> (bit % 8) & 1)) continue;
            if (groups.empty()) groups.assign(bit / 5 + 1, 0);
            if (bytes[bytes.size() - 1 - bit / 8] >> (bit % 8) & 1) groups[groups.size() - 1 - bit / 5] |= static_cast<uint8_t>(1 << (bit % 5));
        }
        RawInvoice raw = RawInvoice::Minimal();
        raw.Field('9', groups);
        return DecodeKind(raw.Signed());
    };
    CHECK(with_features("4100") == "ok");                         // var_onion_optin, payment_secret required
    CHECK(with_features("080000000000000000000000") == "ok");     // bit 91: unknown odd
    CHECK(with_features("100000000000000000000000") == "UnknownRequiredFeature"); // bit 92
    CHECK(with_features("400000") == "UnknownRequiredFeature");   // bit 22: anchors, not an invoice feature
    CHECK(with_features("01000000004100") == "ok");               // bit 48: payment_metadata required
    CHECK(with_features("024000") == "ok");                       // basic_mpp with payment_secret
    CHECK(with_features("020000") == "MissingFeatureDependency"); // basic_mpp without payment_secret
    CHECK(with_features("010000") == "MissingFeatureDependency");
    CHECK(with_features("") == "ok");                             // an empty 9 field
}

TEST_CASE("invoice: signatures: recovery id, n mismatch, high-S with and without n")
{
    const PrivKey key = SpecKey();
    const RawInvoice plain = RawInvoice::Minimal();
    RecoverableSignature sig = plain.Sign(key);
    CHECK(DecodeInvoice(plain.WithSignature(sig))->payee == key.GetPubKey());

    RecoverableSignature bad_id = sig;
    bad_id.recovery_id = 4;
    CHECK(DecodeKind(plain.WithSignature(bad_id)) == "InvalidSignature");
    RecoverableSignature other_id = sig;
    other_id.recovery_id ^= 1;
    const auto recovered_other = DecodeInvoice(plain.WithSignature(other_id));
    CHECK((!recovered_other || recovered_other->payee != key.GetPubKey()));
    RecoverableSignature zero{};
    CHECK(DecodeKind(plain.WithSignature(zero)) == "InvalidSignature");

    // High-S: the same signature with s negated and the recovery id's parity flipped.
    RecoverableSignature high_s = sig;
    const auto negated = NegateScalar(ByteSpan(sig.compact).subspan(32));
    std::copy(negated.begin(), negated.end(), high_s.compact.begin() + 32);
    high_s.recovery_id ^= 1;
    const auto recovered = DecodeInvoice(plain.WithSignature(high_s));
    REQUIRE(recovered);
    CHECK(recovered->payee == key.GetPubKey());

    RawInvoice with_n = RawInvoice::Minimal();
    with_n.Bytes8('n', key.GetPubKey().span());
    const RecoverableSignature n_sig = with_n.Sign(key);
    const auto explicit_payee = DecodeInvoice(with_n.WithSignature(n_sig));
    REQUIRE(explicit_payee);
    CHECK(explicit_payee->invoice.payee == key.GetPubKey());
    CHECK(explicit_payee->payee == key.GetPubKey());
    // With n the recovery id is not used, but an id above 3 is still malformed.
    RecoverableSignature n_other_id = n_sig;
    n_other_id.recovery_id ^= 1;
    CHECK(DecodeKind(with_n.WithSignature(n_other_id)) == "ok");
    n_other_id.recovery_id = 7;
    CHECK(DecodeKind(with_n.WithSignature(n_other_id)) == "InvalidSignature");
    RecoverableSignature n_high_s = n_sig;
    const auto n_negated = NegateScalar(ByteSpan(n_sig.compact).subspan(32));
    std::copy(n_negated.begin(), n_negated.end(), n_high_s.compact.begin() + 32);
    CHECK(DecodeKind(with_n.WithSignature(n_high_s)) == "InvalidSignature");
    CHECK(DecodeKind(with_n.Signed(*PrivKey::FromBytes(Filled(9)))) == "InvalidSignature");
    CHECK(DecodeKind(with_n.WithSignature(RecoverableSignature{})) == "InvalidSignature");
}

TEST_CASE("invoice: EncodeInvoice refuses invoices a reader would refuse or a writer must not write")
{
    const PrivKey key = SpecKey();
    CHECK_NOTHROW(EncodeInvoice(BasicInvoice(), key));
    const auto refused = [&](auto&& change, std::string_view order = kInvoiceFieldOrder) {
        Invoice inv = BasicInvoice();
        change(inv);
        CHECK_THROWS_AS(EncodeInvoice(inv, key, order), std::invalid_argument);
    };
    refused([](Invoice& i) { i.hrp_currency = "xy"; });
    refused([](Invoice& i) { i.amount_msat = Msat{0}; });
    refused([](Invoice& i) { i.amount_msat = Msat{UINT64_MAX}; }); // only expressible in p, which overflows
    refused([](Invoice& i) { i.timestamp = uint64_t{1} << 35; });
    refused([](Invoice& i) { i.payment_secret.reset(); });
    refused([](Invoice& i) { i.description_hash = Filled(1); });
    refused([](Invoice& i) { i.description.reset(); });
    refused([](Invoice& i) { i.description = std::string(640, 'a'); });
    refused([](Invoice& i) { i.description = "\xff"; });
    refused([](Invoice& i) { i.metadata = Bytes(640, 1); });
    refused([](Invoice& i) { i.payee = PrivKey::FromBytes(Filled(9))->GetPubKey(); });
    refused([](Invoice& i) { i.fallbacks = {{0, Bytes(21, 1)}}; });
    refused([](Invoice& i) { i.fallbacks = {{19, Bytes(20, 1)}}; });
    refused([](Invoice& i) { i.route_hints = {{}}; });
    refused([](Invoice& i) { i.route_hints = {std::vector<RouteHintHop>(13, Hop(2, 1))}; });
    refused([](Invoice& i) { i.features = ParseHex("100000000000000000000000"); });
    refused([](Invoice& i) { i.features = ParseHex("020000"); });
    // The field order must place every field used, once, with known tags only.
    refused([](Invoice&) {}, "ps");
    refused([](Invoice&) {}, "pd");
    refused([](Invoice&) {}, "psdd");
    refused([](Invoice&) {}, "psdt");
    refused([](Invoice& i) { i.expiry = 60; }, "psd");
    CHECK_NOTHROW(EncodeInvoice(BasicInvoice(), key, "dsp"));
    CHECK_NOTHROW(EncodeInvoice(BasicInvoice(), key, "dsp9xc"));
    Invoice leading_zero_features = BasicInvoice();
    leading_zero_features.features = ParseHex("00004100");
    CHECK(DecodeInvoice(EncodeInvoice(leading_zero_features, key))->invoice.features == ParseHex("4100"));
}

TEST_CASE("invoice: expiry is timestamp plus expiry, saturating")
{
    Invoice inv = BasicInvoice();
    CHECK_FALSE(InvoiceExpired(inv, SPEC_TIMESTAMP));
    CHECK_FALSE(InvoiceExpired(inv, SPEC_TIMESTAMP + 3600));
    CHECK(InvoiceExpired(inv, SPEC_TIMESTAMP + 3601));
    inv.expiry = 0;
    CHECK(InvoiceExpired(inv, SPEC_TIMESTAMP + 1));
    inv.expiry = UINT64_MAX;
    CHECK_FALSE(InvoiceExpired(inv, UINT64_MAX));
}

TEST_CASE("invoice: currency prefixes per network; fallback scripts")
{
    CHECK(InvoiceCurrency(Network::Mainnet) == "bc");
    CHECK(InvoiceCurrency(Network::Testnet) == "tb");
    CHECK(InvoiceCurrency(Network::Testnet4) == "tb");
    CHECK(InvoiceCurrency(Network::Signet) == "tbs");
    CHECK(InvoiceCurrency(Network::Regtest) == "bcrt");
    CHECK(ToHex(*FallbackScriptPubKey({1, Bytes(32, 0xab)})) == "5120" + ToHex(Bytes(32, 0xab)));
    CHECK(ToHex(*FallbackScriptPubKey({0, Bytes(20, 0x01)})) == "0014" + ToHex(Bytes(20, 0x01)));
    CHECK(ToHex(*FallbackScriptPubKey({kFallbackP2sh, Bytes(20, 0x02)})) == "a914" + ToHex(Bytes(20, 0x02)) + "87");
    CHECK_FALSE(FallbackScriptPubKey({19, Bytes(20, 0x02)}));
    CHECK_FALSE(FallbackAddressString({0, Bytes(3, 0x02)}, Network::Mainnet));
}
