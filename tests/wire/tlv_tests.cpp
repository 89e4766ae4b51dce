// BOLT 1 Appendix B. The n1 and n2 namespaces exist only in the spec's tests, so they are
// implemented here, on top of the library's TlvStream and WireReader.
#include "wire/tlv.h"
#include "wire/wire.h"
#include "tests/wire/wire_test_util.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <map>

using namespace sidebolt;
using test::SpacedHex;

namespace {
//! Decoded field values of a namespace, by "record.field" name, as strings for easy comparison.
using Fields = std::map<std::string, std::string>;

//! Decodes one known record's value; the read must consume it exactly.
template <typename Read>
std::optional<DecodeError> ReadValue(const Bytes& value, Read&& read)
{
    WireReader reader(value);
    read(reader);
    reader.ExpectEnd();
    return reader.Error();
}

Decoded<Fields> DecodeN1(ByteSpan bytes)
{
    static constexpr uint64_t kKnown[] = {1, 2, 3, 254};
    const auto stream = TlvStream::Decode(bytes, kKnown);
    if (!stream) return stream.error();
    Fields fields;
    std::optional<DecodeError> error;
    if (const Bytes* v = stream->Find(1)) {
        error = ReadValue(*v, [&](WireReader& r) { fields["tlv1.amount_msat"] = std::to_string(r.ReadTu64()); });
    }
    if (const Bytes* v = stream->Find(2); v && !error) {
        error = ReadValue(*v, [&](WireReader& r) { fields["tlv2.scid"] = r.ReadShortChannelId().ToString(); });
    }
    if (const Bytes* v = stream->Find(3); v && !error) {
        error = ReadValue(*v, [&](WireReader& r) {
            const auto node_id = r.ReadPoint();
            if (node_id) fields["tlv3.node_id"] = ToHex(node_id->span());
            fields["tlv3.amount_msat_1"] = std::to_string(r.ReadU64());
            fields["tlv3.amount_msat_2"] = std::to_string(r.ReadU64());
        });
    }
    if (const Bytes* v = stream->Find(254); v && !error) {
        error = ReadValue(*v, [&](WireReader& r) { fields["tlv4.cltv_delta"] = std::to_string(r.ReadU16()); });
    }
    if (error) return *error;
    return fields;
}

Decoded<Fields> DecodeN2(ByteSpan bytes)
{
    static constexpr uint64_t kKnown[] = {0, 11};
    const auto stream = TlvStream::Decode(bytes, kKnown);
    if (!stream) return stream.error();
    Fields fields;
    std::optional<DecodeError> error;
    if (const Bytes* v = stream->Find(0)) {
        error = ReadValue(*v, [&](WireReader& r) { fields["tlv1.amount_msat"] = std::to_string(r.ReadTu64()); });
    }
    if (const Bytes* v = stream->Find(11); v && !error) {
        error = ReadValue(*v, [&](WireReader& r) { fields["tlv2.cltv_expiry"] = std::to_string(r.ReadTu32()); });
    }
    if (error) return *error;
    return fields;
}

Fields ExpectedFields(const nlohmann::json& values)
{
    Fields fields;
    for (const auto& [record, record_fields] : values.items()) {
        for (const auto& [name, value] : record_fields.items()) {
            fields[record + "." + name] = value.is_string() ? value.get<std::string>() : std::to_string(value.get<uint64_t>());
        }
    }
    return fields;
}

void CheckFails(const nlohmann::json& cases, Decoded<Fields> (*decode)(ByteSpan))
{
    for (const auto& c : cases) {
        CAPTURE(c["stream"].get<std::string>());
        const auto result = decode(SpacedHex(c["stream"]));
        REQUIRE_FALSE(result);
        CHECK(ToString(result.error()) == c["our_error"].get<std::string>());
    }
}

//! Every stream n1 accepts, per Appendix B.
std::vector<Bytes> ValidN1Streams(const nlohmann::json& vectors)
{
    std::vector<Bytes> streams;
    for (const auto& c : vectors["successes_ignored_either_namespace"]) streams.push_back(SpacedHex(c["stream"]));
    for (const auto& c : vectors["successes_n1"]) streams.push_back(SpacedHex(c["stream"]));
    return streams;
}

std::vector<Bytes> InvalidN1Streams(const nlohmann::json& vectors)
{
    std::vector<Bytes> streams;
    for (const char* group : {"failures_any_namespace", "failures_either_namespace", "failures_n1", "stream_failures_n1"}) {
        for (const auto& c : vectors[group]) streams.push_back(SpacedHex(c["stream"]));
    }
    return streams;
}

std::vector<uint64_t> TypesOf(const Bytes& stream)
{
    static constexpr uint64_t kN1Types[] = {1, 2, 3, 254};
    std::vector<uint64_t> types;
    const TlvStream decoded = TlvStream::Decode(stream, kN1Types).value();
    for (const auto& record : decoded.Records()) types.push_back(record.type);
    return types;
}
} // namespace

TEST_CASE("BOLT 1 Appendix B: decoding failures in any namespace")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_tlv.json");
    CheckFails(vectors["failures_any_namespace"], DecodeN1);
    CheckFails(vectors["failures_any_namespace"], DecodeN2);
    CheckFails(vectors["failures_either_namespace"], DecodeN1);
    CheckFails(vectors["failures_either_namespace"], DecodeN2);
}

TEST_CASE("BOLT 1 Appendix B: decoding failures specific to n1 and n2")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_tlv.json");
    CheckFails(vectors["failures_n1"], DecodeN1);
    CheckFails(vectors["stream_failures_n1"], DecodeN1);
    CheckFails(vectors["stream_failures_n2"], DecodeN2);
}

TEST_CASE("BOLT 1 Appendix B: ignored streams decode in both namespaces and re-encode unchanged")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_tlv.json");
    for (const auto& c : vectors["successes_ignored_either_namespace"]) {
        CAPTURE(c["stream"].get<std::string>());
        const Bytes bytes = SpacedHex(c["stream"]);
        const auto n1 = DecodeN1(bytes);
        const auto n2 = DecodeN2(bytes);
        REQUIRE(n1);
        REQUIRE(n2);
        CHECK(n1->empty());
        CHECK(n2->empty());
        CHECK(TlvStream::Decode(bytes, {}).value().Encode() == bytes);
    }
}

TEST_CASE("BOLT 1 Appendix B: n1 successes carry the given values")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_tlv.json");
    for (const auto& c : vectors["successes_n1"]) {
        CAPTURE(c["stream"].get<std::string>());
        const auto fields = DecodeN1(SpacedHex(c["stream"]));
        REQUIRE(fields);
        CHECK(*fields == ExpectedFields(c["values"]));
    }
}

TEST_CASE("BOLT 1 Appendix B: appending streams")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_tlv.json");
    const auto valid = ValidN1Streams(vectors);
    const auto invalid = InvalidN1Streams(vectors);
    for (const auto& prefix : valid) {
        // "Any appending of an invalid stream to a valid stream should trigger a decoding failure."
        for (const auto& suffix : invalid) {
            CAPTURE(ToHex(prefix) + "|" + ToHex(suffix));
            CHECK_FALSE(DecodeN1(Concat({prefix, suffix})));
        }
        // "Any appending of a higher-numbered valid stream to a lower-numbered valid stream
        // should not trigger a decoding failure."
        for (const auto& suffix : valid) {
            const auto low = TypesOf(prefix);
            const auto high = TypesOf(suffix);
            if (low.empty() || high.empty() || low.back() >= high.front()) continue;
            CAPTURE(ToHex(prefix) + "|" + ToHex(suffix));
            CHECK(DecodeN1(Concat({prefix, suffix})));
        }
    }
}

TEST_CASE("TlvStream keeps order on Set, finds, filters and encodes canonically")
{
    TlvStream stream;
    stream.Set(5, {0x05});
    stream.Set(1, {0x01});
    stream.Set(300, Bytes(300, 0xaa));
    stream.Set(5, {0x55});
    REQUIRE(stream.Records().size() == 3);
    CHECK(stream.Records()[0].type == 1);
    CHECK(*stream.Find(5) == Bytes{0x55});
    CHECK(stream.Find(2) == nullptr);
    const Bytes encoded = stream.Encode();
    CHECK(ToHex(ByteSpan(encoded).first(9)) == "010101050155fd012c");
    const uint64_t known[] = {300};
    const auto again = TlvStream::Decode(encoded, known);
    REQUIRE(again);
    CHECK(*again == stream);
    const uint64_t drop[] = {1, 300};
    CHECK(stream.Without(drop).Encode() == ParseHex("050155"));
}
