// CRC32C against RFC 3720's known answers, and the BOLT 7 channel_update checksum: it covers the
// update without its signature and timestamp, trailing fields included.
#include "gossip/checksum.h"

#include "gossip_fixtures.h"

#include <doctest/doctest.h>

#include <numeric>
#include <string_view>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
ByteSpan Ascii(std::string_view text) { return {reinterpret_cast<const uint8_t*>(text.data()), text.size()}; }
} // namespace

TEST_CASE("CRC32C known answers")
{
    CHECK(Crc32c(Ascii("123456789")) == 0xE3069283);
    CHECK(Crc32c({}) == 0);
    // RFC 3720 appendix B.4.
    CHECK(Crc32c(Bytes(32, 0x00)) == 0x8A9136AA);
    CHECK(Crc32c(Bytes(32, 0xFF)) == 0x62A8AB43);
    Bytes ascending(32);
    std::iota(ascending.begin(), ascending.end(), uint8_t{0});
    CHECK(Crc32c(ascending) == 0x46DD794E);
    const Bytes descending(ascending.rbegin(), ascending.rend());
    CHECK(Crc32c(descending) == 0x113FDB5C);
}

TEST_CASE("CRC32C continues over split input")
{
    const ByteSpan all = Ascii("123456789");
    for (size_t split = 0; split <= all.size(); ++split) {
        CHECK(Crc32c(all.subspan(split), Crc32c(all.first(split))) == 0xE3069283);
    }
}

TEST_CASE("channel_update checksum leaves out signature and timestamp")
{
    const TestNode a = NodeOf(1);
    const ShortChannelId scid{700'000, 5, 1};
    const ChannelUpdateMessage update = SignedUpdate(a.node_key, scid, 0);
    const Bytes payload = PayloadOf(update);
    // chain_hash and short_channel_id, then everything after the 4-byte timestamp.
    Bytes covered(payload.begin() + 64, payload.begin() + 104);
    covered.insert(covered.end(), payload.begin() + 108, payload.end());
    CHECK(ChannelUpdateChecksum(payload) == Crc32c(covered));
    CHECK(ChannelUpdateChecksum(update) == Crc32c(covered));

    SUBCASE("a new timestamp or signature keeps the checksum")
    {
        UpdateTerms later;
        later.timestamp += 100;
        const ChannelUpdateMessage refreshed = SignedUpdate(a.node_key, scid, 0, later);
        CHECK(refreshed.signature != update.signature);
        CHECK(ChannelUpdateChecksum(refreshed) == ChannelUpdateChecksum(update));
    }
    SUBCASE("any other field changes it")
    {
        UpdateTerms fee;
        fee.fee_base_msat += 1;
        CHECK(ChannelUpdateChecksum(SignedUpdate(a.node_key, scid, 0, fee)) != ChannelUpdateChecksum(update));
        UpdateTerms disabled;
        disabled.disabled = true;
        CHECK(ChannelUpdateChecksum(SignedUpdate(a.node_key, scid, 0, disabled)) != ChannelUpdateChecksum(update));
        CHECK(ChannelUpdateChecksum(SignedUpdate(a.node_key, ShortChannelId{700'000, 5, 2}, 0)) !=
              ChannelUpdateChecksum(update));
        UpdateTerms trailing;
        trailing.trailing = {0x01};
        CHECK(ChannelUpdateChecksum(SignedUpdate(a.node_key, scid, 0, trailing)) != ChannelUpdateChecksum(update));
    }
    CHECK(ChannelUpdateChecksum(ByteSpan(payload).first(100)) == 0);
}
