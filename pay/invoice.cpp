#include "pay/invoice.h"

#include "primitives/address.h"
#include "primitives/bech32.h"
#include "primitives/script.h"
#include "wire/features.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <utility>
#include <variant>

namespace sidebolt {
namespace {
constexpr std::string_view CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::string_view HRP_PREFIX = "ln";
constexpr size_t TIMESTAMP_GROUPS = 7;  // 35 bits
constexpr size_t SIGNATURE_GROUPS = 104; // 520 bits: 64-byte signature and the recovery id
constexpr size_t MAX_FIELD_GROUPS = 1023; // 10-bit data_length
//! "This is 1023 x 5 bits, or 639 bytes": the most a variable-length field carries.
constexpr size_t MAX_FIELD_BYTES = MAX_FIELD_GROUPS * 5 / 8;
constexpr size_t ROUTE_HOP_BYTES = 33 + 8 + 4 + 4 + 2;
constexpr size_t HASH_FIELD_GROUPS = 52;
constexpr size_t PUBKEY_FIELD_GROUPS = 53;
constexpr uint64_t MSAT_PER_BTC = 100'000'000'000;
constexpr uint64_t DEFAULT_EXPIRY = 3600;
constexpr uint32_t DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA = 18;

//! Tag letters of the fields we understand; their 5-bit type is the letter's bech32 value.
constexpr std::string_view KNOWN_TAGS = "psdhnmxcfr9";

uint8_t TagValue(char tag) { return static_cast<uint8_t>(CHARSET.find(tag)); }

//! Thrown inside the decoder and turned into the InvoiceError that DecodeInvoice returns.
struct DecodeFailure {
    InvoiceError error;
};

[[noreturn]] void Fail(InvoiceErrorKind kind, std::string reason) { throw DecodeFailure{{std::move(reason), kind}}; }

std::string Bech32Reason(bech32::DecodeError error)
{
    switch (error) {
    case bech32::DecodeError::TooLong: return "bech32: too long";
    case bech32::DecodeError::InvalidCharacter: return "bech32: character outside US-ASCII 33..126";
    case bech32::DecodeError::MixedCase: return "bech32: mixed upper and lower case";
    case bech32::DecodeError::NoSeparator: return "bech32: no separator '1'";
    case bech32::DecodeError::EmptyHrp: return "bech32: empty human-readable part";
    case bech32::DecodeError::HrpTooLong: return "bech32: human-readable part too long";
    case bech32::DecodeError::TooShortChecksum: return "bech32: too short for a checksum";
    case bech32::DecodeError::InvalidDataCharacter: return "bech32: invalid data character";
    case bech32::DecodeError::InvalidChecksum: return "bech32: invalid checksum";
    }
    return "bech32: invalid";
}

bool IsKnownCurrency(std::string_view currency)
{
    static constexpr std::array NETWORKS = {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet,
                                            Network::Regtest};
    return std::any_of(NETWORKS.begin(), NETWORKS.end(),
                       [&](Network n) { return Params(n).bolt11_currency == currency; });
}

//! Msat per unit of the hrp amount: BOLT 11 multipliers of one bitcoin; `p` is a tenth of a msat.
std::optional<uint64_t> MsatPerUnit(char multiplier)
{
    switch (multiplier) {
    case 'm': return MSAT_PER_BTC / 1'000;
    case 'u': return MSAT_PER_BTC / 1'000'000;
    case 'n': return MSAT_PER_BTC / 1'000'000'000;
    default: return std::nullopt;
    }
}

Msat ParseAmount(std::string_view amount)
{
    const auto digits_end = std::find_if(amount.begin(), amount.end(), [](char c) { return c < '0' || c > '9'; });
    const std::string_view digits = amount.substr(0, static_cast<size_t>(digits_end - amount.begin()));
    const std::string_view suffix = amount.substr(digits.size());
    // "if amount contains a non-digit OR is followed by anything except a multiplier: MUST fail".
    if (digits.empty() || suffix.size() > 1) Fail(InvoiceErrorKind::InvalidAmount, "amount is not digits and a multiplier");
    uint64_t value = 0;
    for (const char c : digits) {
        if (value > (std::numeric_limits<uint64_t>::max() - 9) / 10) Fail(InvoiceErrorKind::InvalidAmount, "amount overflows");
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (value == 0) Fail(InvoiceErrorKind::InvalidAmount, "amount must be positive");
    std::optional<Msat> msat;
    if (suffix.empty()) {
        msat = Msat::CheckedMul(Msat{value}, MSAT_PER_BTC);
    } else if (suffix[0] == 'p') {
        // "if multiplier is p and the last decimal of amount is not 0: MUST fail the payment".
        if (value % 10 != 0) Fail(InvoiceErrorKind::InvalidAmount, "pico amount is not a whole millisatoshi");
        msat = Msat{value / 10};
    } else if (const auto unit = MsatPerUnit(suffix[0])) {
        msat = Msat::CheckedMul(Msat{value}, *unit);
    } else {
        Fail(InvoiceErrorKind::InvalidAmount, "invalid amount multiplier '" + std::string(suffix) + "'");
    }
    if (!msat) Fail(InvoiceErrorKind::InvalidAmount, "amount overflows");
    return *msat;
}

//! "ln" + currency + optional amount. The currency is every non-digit after "ln", as no
//! currency has digits and every amount starts with one.
void ParseHrp(std::string_view hrp, Invoice& out)
{
    if (!hrp.starts_with(HRP_PREFIX)) Fail(InvoiceErrorKind::UnknownPrefix, "prefix is not 'ln'");
    hrp.remove_prefix(HRP_PREFIX.size());
    const size_t amount_start = std::min(hrp.find_first_of("0123456789"), hrp.size());
    out.hrp_currency = std::string(hrp.substr(0, amount_start));
    // "if it does NOT understand the prefix: MUST fail the payment".
    if (!IsKnownCurrency(out.hrp_currency)) Fail(InvoiceErrorKind::UnknownPrefix, "unknown currency '" + out.hrp_currency + "'");
    if (amount_start < hrp.size()) out.amount_msat = ParseAmount(hrp.substr(amount_start));
}

//! Big-endian integer of 5-bit groups; nullopt above `max`.
std::optional<uint64_t> GroupsToInt(ByteSpan groups, uint64_t max)
{
    uint64_t value = 0;
    for (const uint8_t g : groups) {
        if (value > (max >> 5)) return std::nullopt;
        value = value << 5 | g;
        if (value > max) return std::nullopt;
    }
    return value;
}

Bytes GroupsToBytes(ByteSpan groups, char tag)
{
    auto bytes = bech32::ConvertBits(groups, 5, 8, false);
    if (!bytes) Fail(InvoiceErrorKind::MalformedField, std::string("field ") + tag + " has invalid padding");
    return std::move(*bytes);
}

Hash256 GroupsToHash(ByteSpan groups, char tag)
{
    const Bytes bytes = GroupsToBytes(groups, tag);
    Hash256 out;
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
}

//! Length of the UTF-8 sequence a lead byte starts (0 if it cannot start one) and its payload bits.
std::pair<size_t, uint32_t> Utf8Lead(uint8_t c)
{
    if (c < 0x80) return {1, c};
    if ((c & 0xe0) == 0xc0) return {2, c & 0x1fu};
    if ((c & 0xf0) == 0xe0) return {3, c & 0x0fu};
    if ((c & 0xf8) == 0xf0) return {4, c & 0x07u};
    return {0, 0};
}

//! Strict UTF-8: no overlong forms, surrogates or code points above U+10FFFF.
bool IsValidUtf8(ByteSpan s)
{
    static constexpr std::array<uint32_t, 5> MIN_FOR_LEN = {0, 0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < s.size();) {
        auto [len, cp] = Utf8Lead(s[i]);
        if (len == 0 || i + len > s.size()) return false;
        for (size_t j = 1; j < len; ++j) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if (cp < MIN_FOR_LEN[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

//! The `9` field: bit 0 is the least significant bit of the last group.
FeatureBits GroupsToFeatures(ByteSpan groups)
{
    FeatureBits out;
    for (size_t bit = 0; bit < groups.size() * 5; ++bit) {
        if (groups[groups.size() - 1 - bit / 5] >> (bit % 5) & 1) out.Set(bit);
    }
    return out;
}

Bytes FeaturesToGroups(const FeatureBits& features)
{
    const auto bits = features.SetBits();
    if (bits.empty()) return {};
    Bytes groups(bits.back() / 5 + 1, 0);
    for (const size_t bit : bits) groups[groups.size() - 1 - bit / 5] |= static_cast<uint8_t>(1u << (bit % 5));
    return groups;
}

//! BOLT 11: unknown even bits "MUST fail the payment", and a vector without "all known,
//! transitive feature dependencies" must not be paid. Known means listed for invoices (9) in
//! BOLT 9, or assumed by every node.
std::optional<InvoiceError> CheckFeatures(const FeatureBits& features)
{
    for (const size_t bit : features.SetBits()) {
        if (bit % 2 != 0) continue;
        const FeatureInfo* info = FindFeature(bit);
        if (!info || !(info->assumed || info->context.find('9') != std::string_view::npos)) {
            return InvoiceError{"unknown required feature bit " + std::to_string(bit), InvoiceErrorKind::UnknownRequiredFeature};
        }
    }
    const auto missing = MissingDependencies(features);
    if (!missing.empty()) {
        return InvoiceError{"feature bit " + std::to_string(RequiredBit(missing.front())) + " lacks its dependency",
                            InvoiceErrorKind::MissingFeatureDependency};
    }
    return std::nullopt;
}

bool ValidFallback(const FallbackAddress& f)
{
    if (f.version == kFallbackP2pkh || f.version == kFallbackP2sh) return f.program.size() == 20;
    // BIP141: v0 programs are 20 or 32 bytes; later versions 2 to 40.
    if (f.version == 0) return f.program.size() == 20 || f.program.size() == 32;
    return f.version <= 16 && f.program.size() >= 2 && f.program.size() <= 40;
}

std::vector<RouteHintHop> ParseRoute(ByteSpan groups)
{
    const Bytes bytes = GroupsToBytes(groups, 'r');
    if (bytes.empty() || bytes.size() % ROUTE_HOP_BYTES != 0) Fail(InvoiceErrorKind::MalformedField, "field r is not whole hops");
    std::vector<RouteHintHop> route;
    WireReader reader(bytes);
    while (!reader.AtEnd()) {
        const auto node_id = reader.ReadPoint();
        if (!node_id) Fail(InvoiceErrorKind::MalformedField, "field r has an invalid public key");
        RouteHintHop hop{*node_id, reader.ReadShortChannelId()};
        hop.fee_base_msat = reader.ReadU32();
        hop.fee_proportional_millionths = reader.ReadU32();
        hop.cltv_expiry_delta = reader.ReadU16();
        route.push_back(std::move(hop));
    }
    return route;
}

//! Fields seen so far: BOLT 11 has the payer "use the first p field that it did NOT skip" and
//! writers put the most preferred field first, so the first of each kind wins.
struct FieldState {
    Invoice invoice;
    std::string order;
    std::optional<Hash256> payment_hash;
    std::optional<FeatureBits> features;
    bool has_expiry{false};
    bool has_cltv{false};

    void Used(char tag)
    {
        if (order.find(tag) == std::string::npos) order.push_back(tag);
    }
};

//! Returns false for fields BOLT 11 says to skip: "unknown fields, OR an f field with unknown
//! version, OR p, h, s or n fields that do NOT have data_lengths of 52, 52, 52 or 53".
bool ParseField(char tag, ByteSpan data, FieldState& state)
{
    Invoice& inv = state.invoice;
    const bool hash_length = data.size() == HASH_FIELD_GROUPS;
    switch (tag) {
    case 'p':
        if (!hash_length) return false;
        if (!state.payment_hash) state.payment_hash = GroupsToHash(data, tag);
        return true;
    case 's':
        if (!hash_length) return false;
        if (!inv.payment_secret) inv.payment_secret = GroupsToHash(data, tag);
        return true;
    case 'h':
        if (!hash_length) return false;
        if (!inv.description_hash) inv.description_hash = GroupsToHash(data, tag);
        return true;
    case 'n': {
        if (data.size() != PUBKEY_FIELD_GROUPS) return false;
        const auto key = PubKey::Parse(GroupsToBytes(data, tag));
        if (!key) Fail(InvoiceErrorKind::MalformedField, "field n is not a valid public key");
        if (!inv.payee) inv.payee = *key;
        return true;
    }
    case 'd': {
        const Bytes text = GroupsToBytes(data, tag);
        if (!IsValidUtf8(text)) Fail(InvoiceErrorKind::MalformedField, "field d is not valid UTF-8");
        if (!inv.description) inv.description = std::string(text.begin(), text.end());
        return true;
    }
    case 'm': {
        Bytes metadata = GroupsToBytes(data, tag);
        if (!inv.metadata) inv.metadata = std::move(metadata);
        return true;
    }
    case 'x': {
        const auto value = GroupsToInt(data, std::numeric_limits<uint64_t>::max());
        if (!value) Fail(InvoiceErrorKind::MalformedField, "field x overflows");
        if (!std::exchange(state.has_expiry, true)) inv.expiry = *value;
        return true;
    }
    case 'c': {
        const auto value = GroupsToInt(data, std::numeric_limits<uint32_t>::max());
        if (!value) Fail(InvoiceErrorKind::MalformedField, "field c overflows");
        if (!std::exchange(state.has_cltv, true)) inv.min_final_cltv_expiry_delta = static_cast<uint32_t>(*value);
        return true;
    }
    case 'f': {
        if (data.empty()) Fail(InvoiceErrorKind::MalformedField, "field f has no version");
        if (data[0] > kFallbackP2sh) return false;
        FallbackAddress fallback{data[0], GroupsToBytes(data.subspan(1), tag)};
        if (!ValidFallback(fallback)) Fail(InvoiceErrorKind::MalformedField, "field f has an invalid program length");
        inv.fallbacks.push_back(std::move(fallback));
        return true;
    }
    case 'r':
        inv.route_hints.push_back(ParseRoute(data));
        return true;
    case '9':
        if (!state.features) state.features = GroupsToFeatures(data);
        return true;
    default:
        return false;
    }
}

//! Tagged fields: 5-bit type, 10-bit data_length, then data_length groups.
void ParseFields(ByteSpan groups, FieldState& state)
{
    while (!groups.empty()) {
        if (groups.size() < 3) Fail(InvoiceErrorKind::MalformedField, "truncated field header");
        const char tag = CHARSET[groups[0]];
        const size_t length = size_t{groups[1]} << 5 | groups[2];
        if (groups.size() - 3 < length) Fail(InvoiceErrorKind::MalformedField, std::string("field ") + tag + " overruns the data");
        if (ParseField(tag, groups.subspan(3, length), state)) state.Used(tag);
        groups = groups.subspan(3 + length);
    }
}

Hash256 SigningHash(std::string_view hrp, ByteSpan groups_without_signature)
{
    // "the human-readable part ... concatenated with the data part (excluding the signature)
    // with 0 bits appended to pad the data to the next byte boundary".
    const Bytes data = *bech32::ConvertBits(groups_without_signature, 5, 8, true);
    return Sha256Writer{}.Write({reinterpret_cast<const uint8_t*>(hrp.data()), hrp.size()}).Write(data).Finalize();
}

//! With `n`, BOLT 11 has the reader "use the n field to validate the signature instead of
//! performing signature recovery"; verification there also refuses high-S (bolts#1284), while
//! recovery accepts it like every other implementation.
PubKey CheckSignature(const std::optional<PubKey>& n, const Hash256& signing_hash, const RecoverableSignature& signature)
{
    if (signature.recovery_id > 3) Fail(InvoiceErrorKind::InvalidSignature, "recovery id is above 3");
    if (n) {
        const auto sig = EcdsaSignature::FromCompact(signature.compact);
        if (!sig || !VerifyEcdsa(*n, signing_hash, *sig)) Fail(InvoiceErrorKind::InvalidSignature, "signature is not by the n field's key");
        return *n;
    }
    const auto key = RecoverPubKey(signing_hash, signature);
    if (!key) Fail(InvoiceErrorKind::InvalidSignature, "signature is not recoverable");
    return *key;
}

void CheckMandatoryFields(const FieldState& state)
{
    if (!state.payment_hash) Fail(InvoiceErrorKind::MissingPaymentHash, "no payment hash (p)");
    // BOLT 11 writers "MUST include exactly one s field"; payers need it for the onion.
    if (!state.invoice.payment_secret) Fail(InvoiceErrorKind::MissingPaymentSecret, "no payment secret (s)");
    // "MUST include either exactly one d or exactly one h field".
    if (state.invoice.description.has_value() == state.invoice.description_hash.has_value()) {
        Fail(InvoiceErrorKind::InvalidDescription, "needs exactly one of description (d) and its hash (h)");
    }
    if (state.features) {
        if (auto error = CheckFeatures(*state.features)) throw DecodeFailure{std::move(*error)};
    }
}

DecodedInvoice DecodeOrThrow(std::string_view text)
{
    // A reader "MUST parse the address as Bech32 ... (also without the character limit)".
    auto parsed = bech32::Decode(text, std::numeric_limits<size_t>::max());
    if (const auto* error = std::get_if<bech32::DecodeError>(&parsed)) Fail(InvoiceErrorKind::Bech32, Bech32Reason(*error));
    const auto& bech = std::get<bech32::Decoded>(parsed);
    if (bech.encoding != bech32::Encoding::Bech32) Fail(InvoiceErrorKind::Bech32, "bech32: bech32m checksum");

    FieldState state;
    Invoice& invoice = state.invoice;
    ParseHrp(bech.hrp, invoice);
    const ByteSpan values = bech.values;
    if (values.size() < TIMESTAMP_GROUPS + SIGNATURE_GROUPS) Fail(InvoiceErrorKind::TooShort, "too short for timestamp and signature");
    const ByteSpan signed_part = values.first(values.size() - SIGNATURE_GROUPS);
    invoice.timestamp = *GroupsToInt(signed_part.first(TIMESTAMP_GROUPS), std::numeric_limits<uint64_t>::max());

    ParseFields(signed_part.subspan(TIMESTAMP_GROUPS), state);
    CheckMandatoryFields(state);
    invoice.payment_hash = *state.payment_hash;
    if (state.features) invoice.features = state.features->ToWire();

    const Bytes sig_bytes = *bech32::ConvertBits(values.last(SIGNATURE_GROUPS), 5, 8, false);
    RecoverableSignature signature;
    std::copy_n(sig_bytes.begin(), signature.compact.size(), signature.compact.begin());
    signature.recovery_id = sig_bytes[64];
    const Hash256 signing_hash = SigningHash(bech.hrp, signed_part);
    const PubKey payee = CheckSignature(invoice.payee, signing_hash, signature);
    return DecodedInvoice{std::move(invoice), payee, signing_hash, signature, std::move(state.order)};
}

// ---- Encoding ----

Bytes BytesToGroups(ByteSpan bytes) { return *bech32::ConvertBits(bytes, 8, 5, true); }

Bytes IntToGroups(uint64_t value)
{
    Bytes groups;
    for (; value != 0; value >>= 5) groups.insert(groups.begin(), static_cast<uint8_t>(value & 31));
    return groups;
}

void AppendField(Bytes& out, char tag, ByteSpan groups)
{
    if (groups.size() > MAX_FIELD_GROUPS) throw std::invalid_argument(std::string("invoice field ") + tag + " is too long");
    out.push_back(TagValue(tag));
    out.push_back(static_cast<uint8_t>(groups.size() >> 5));
    out.push_back(static_cast<uint8_t>(groups.size() & 31));
    Append(out, groups);
}

//! The hrp amount with the largest multiplier that keeps it whole ("SHOULD use the shortest
//! representation possible").
std::string EncodeAmount(Msat amount)
{
    const uint64_t msat = amount.value();
    if (msat == 0) throw std::invalid_argument("invoice amount must be positive");
    if (msat % MSAT_PER_BTC == 0) return std::to_string(msat / MSAT_PER_BTC);
    for (const char multiplier : {'m', 'u', 'n'}) {
        const uint64_t unit = *MsatPerUnit(multiplier);
        if (msat % unit == 0) return std::to_string(msat / unit) + multiplier;
    }
    if (msat > std::numeric_limits<uint64_t>::max() / 10) throw std::invalid_argument("invoice amount too large for pico");
    return std::to_string(msat * 10) + 'p';
}

void CheckWritable(const Invoice& inv, const PubKey& signer)
{
    if (!IsKnownCurrency(inv.hrp_currency)) throw std::invalid_argument("invoice currency unknown");
    if (inv.timestamp >> (5 * TIMESTAMP_GROUPS)) throw std::invalid_argument("invoice timestamp above 35 bits");
    if (!inv.payment_secret) throw std::invalid_argument("invoice needs a payment secret");
    if (inv.description.has_value() == inv.description_hash.has_value()) {
        throw std::invalid_argument("invoice needs exactly one of description and description hash");
    }
    if (inv.description && (inv.description->size() > MAX_FIELD_BYTES ||
                            !IsValidUtf8({reinterpret_cast<const uint8_t*>(inv.description->data()), inv.description->size()}))) {
        throw std::invalid_argument("invoice description too long or not UTF-8");
    }
    if (inv.metadata && inv.metadata->size() > MAX_FIELD_BYTES) throw std::invalid_argument("invoice metadata too long");
    // "MUST set n to the public key used to create the signature".
    if (inv.payee && *inv.payee != signer) throw std::invalid_argument("invoice payee is not the signing key");
    if (!std::all_of(inv.fallbacks.begin(), inv.fallbacks.end(), ValidFallback)) throw std::invalid_argument("invalid fallback");
    for (const auto& route : inv.route_hints) {
        if (route.empty() || route.size() * ROUTE_HOP_BYTES > MAX_FIELD_BYTES) throw std::invalid_argument("route hint empty or too long");
    }
    if (auto error = CheckFeatures(FeatureBits::FromWire(inv.features))) throw std::invalid_argument("invoice " + error->reason);
}

Bytes RouteGroups(const std::vector<RouteHintHop>& route)
{
    Bytes bytes;
    WireWriter writer(bytes);
    for (const auto& hop : route) {
        writer.WritePoint(hop.node_id);
        writer.WriteShortChannelId(hop.short_channel_id);
        writer.WriteU32(hop.fee_base_msat);
        writer.WriteU32(hop.fee_proportional_millionths);
        writer.WriteU16(hop.cltv_expiry_delta);
    }
    return BytesToGroups(bytes);
}

Bytes FallbackGroups(const FallbackAddress& fallback)
{
    Bytes groups{fallback.version};
    Append(groups, BytesToGroups(fallback.program));
    return groups;
}

//! Writes every field of one tag; x and c only when they differ from the BOLT 11 defaults.
void AppendFields(Bytes& out, char tag, const Invoice& inv)
{
    switch (tag) {
    case 'p': AppendField(out, tag, BytesToGroups(inv.payment_hash)); break;
    case 's': AppendField(out, tag, BytesToGroups(*inv.payment_secret)); break;
    case 'd':
        if (inv.description) AppendField(out, tag, BytesToGroups({reinterpret_cast<const uint8_t*>(inv.description->data()), inv.description->size()}));
        break;
    case 'h':
        if (inv.description_hash) AppendField(out, tag, BytesToGroups(*inv.description_hash));
        break;
    case 'n':
        if (inv.payee) AppendField(out, tag, BytesToGroups(inv.payee->span()));
        break;
    case 'm':
        if (inv.metadata) AppendField(out, tag, BytesToGroups(*inv.metadata));
        break;
    case 'x':
        if (inv.expiry != DEFAULT_EXPIRY) AppendField(out, tag, IntToGroups(inv.expiry));
        break;
    case 'c':
        if (inv.min_final_cltv_expiry_delta != DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA) {
            AppendField(out, tag, IntToGroups(inv.min_final_cltv_expiry_delta));
        }
        break;
    case 'f':
        for (const auto& fallback : inv.fallbacks) AppendField(out, tag, FallbackGroups(fallback));
        break;
    case 'r':
        for (const auto& route : inv.route_hints) AppendField(out, tag, RouteGroups(route));
        break;
    case '9': {
        // "if 9 contains non-zero bits: SHOULD use the minimum data_length possible.
        // otherwise: MUST omit the 9 field altogether".
        const Bytes groups = FeaturesToGroups(FeatureBits::FromWire(inv.features));
        if (!groups.empty()) AppendField(out, tag, groups);
        break;
    }
    }
}

//! Each known tag at most once, and every field the invoice carries given a place.
void CheckFieldOrder(const Invoice& inv, std::string_view order)
{
    for (size_t i = 0; i < order.size(); ++i) {
        if (KNOWN_TAGS.find(order[i]) == std::string_view::npos || order.find(order[i], i + 1) != std::string_view::npos) {
            throw std::invalid_argument("invoice field order has an unknown or repeated tag");
        }
    }
    const std::pair<char, bool> present[] = {
        {'p', true}, {'s', true}, {'d', inv.description.has_value()}, {'h', inv.description_hash.has_value()},
        {'n', inv.payee.has_value()}, {'m', inv.metadata.has_value()}, {'x', inv.expiry != DEFAULT_EXPIRY},
        {'c', inv.min_final_cltv_expiry_delta != DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA}, {'f', !inv.fallbacks.empty()},
        {'r', !inv.route_hints.empty()}, {'9', !FeatureBits::FromWire(inv.features).empty()},
    };
    for (const auto& [tag, used] : present) {
        if (used && order.find(tag) == std::string_view::npos) throw std::invalid_argument(std::string("invoice field order lacks ") + tag);
    }
}
} // namespace

std::string EncodeInvoice(const Invoice& invoice, const PrivKey& node_key, std::string_view field_order)
{
    CheckWritable(invoice, node_key.GetPubKey());
    CheckFieldOrder(invoice, field_order);
    std::string hrp = std::string(HRP_PREFIX) + invoice.hrp_currency;
    if (invoice.amount_msat) hrp += EncodeAmount(*invoice.amount_msat);

    Bytes groups(TIMESTAMP_GROUPS, 0);
    for (size_t i = 0; i < TIMESTAMP_GROUPS; ++i) groups[i] = static_cast<uint8_t>(invoice.timestamp >> (5 * (TIMESTAMP_GROUPS - 1 - i)) & 31);
    for (const char tag : field_order) AppendFields(groups, tag, invoice);

    const RecoverableSignature sig = node_key.SignRecoverable(SigningHash(hrp, groups));
    Bytes sig_bytes(sig.compact.begin(), sig.compact.end());
    sig_bytes.push_back(sig.recovery_id);
    Append(groups, BytesToGroups(sig_bytes));
    return bech32::Encode(bech32::Encoding::Bech32, hrp, groups, std::numeric_limits<size_t>::max());
}

Expected<DecodedInvoice, InvoiceError> DecodeInvoice(std::string_view text)
{
    try {
        return DecodeOrThrow(text);
    } catch (DecodeFailure& failure) {
        return std::move(failure.error);
    }
}

bool InvoiceExpired(const Invoice& invoice, uint64_t now_seconds)
{
    const uint64_t end = invoice.timestamp > std::numeric_limits<uint64_t>::max() - invoice.expiry
                             ? std::numeric_limits<uint64_t>::max()
                             : invoice.timestamp + invoice.expiry;
    return now_seconds > end;
}

std::string_view InvoiceCurrency(Network network) { return Params(network).bolt11_currency; }

bool DescriptionHashMatches(const Invoice& invoice, std::string_view description)
{
    return invoice.description_hash &&
           *invoice.description_hash == Sha256({reinterpret_cast<const uint8_t*>(description.data()), description.size()});
}

std::optional<Bytes> FallbackScriptPubKey(const FallbackAddress& fallback)
{
    if (!ValidFallback(fallback)) return std::nullopt;
    Hash160 hash;
    std::copy_n(fallback.program.begin(), std::min(fallback.program.size(), hash.size()), hash.begin());
    if (fallback.version == kFallbackP2pkh) return P2pkhScript(hash).Data();
    if (fallback.version == kFallbackP2sh) return P2shScript(hash).Data();
    Script script;
    script.Num(fallback.version).Push(fallback.program);
    return script.Data();
}

std::optional<std::string> FallbackAddressString(const FallbackAddress& fallback, Network network)
{
    const auto script = FallbackScriptPubKey(fallback);
    if (!script) return std::nullopt;
    return EncodeAddress(*script, network);
}

} // namespace sidebolt
