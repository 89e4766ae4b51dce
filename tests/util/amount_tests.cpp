#include "util/amount.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <type_traits>

using namespace sidebolt;
using namespace sidebolt::amount_literals;

template <typename Tag>
struct doctest::StringMaker<Amount<Tag>> {
    static doctest::String convert(Amount<Tag> amount) { return amount.ToString().c_str(); }
};

namespace {
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
} // namespace

// Units never mix implicitly, and a bare integer is not an amount.
static_assert(!std::is_convertible_v<Sat, Msat>);
static_assert(!std::is_convertible_v<Msat, Sat>);
static_assert(!std::is_convertible_v<uint64_t, Sat>);
static_assert(!std::is_constructible_v<Sat, Msat>);
// Checked arithmetic still works at compile time.
static_assert((2_sat + 3_sat).value() == 5);
static_assert(ToMsat(21_sat) == 21'000_msat);

TEST_CASE("amount addition: exact up to the maximum, AmountError past it")
{
    CHECK(1_sat + 2_sat == 3_sat);
    CHECK(Sat{kMax - 1} + 1_sat == Sat{kMax});
    CHECK_THROWS_AS(Sat{kMax} + 1_sat, AmountError);
    CHECK_THROWS_AS(1_msat + Msat{kMax}, AmountError);
    CHECK(Sat::CheckedAdd(Sat{kMax}, 0_sat) == Sat{kMax});
    CHECK_FALSE(Sat::CheckedAdd(Sat{kMax}, 1_sat));
    CHECK_FALSE(Msat::CheckedAdd(Msat{kMax / 2 + 1}, Msat{kMax / 2 + 1}));

    Msat total = 10_msat;
    total += 5_msat;
    CHECK(total == 15_msat);
    CHECK_THROWS_AS(total += Msat{kMax}, AmountError);
    CHECK(total == 15_msat); // a failed += leaves the amount unchanged
}

TEST_CASE("amount subtraction: never below zero")
{
    CHECK(5_sat - 5_sat == 0_sat);
    CHECK(5_sat - 2_sat == 3_sat);
    CHECK_THROWS_AS(2_sat - 3_sat, AmountError);
    CHECK_THROWS_AS(0_msat - 1_msat, AmountError);
    CHECK(Sat::CheckedSub(7_sat, 7_sat) == 0_sat);
    CHECK_FALSE(Sat::CheckedSub(7_sat, 8_sat));
    CHECK(Sat::SaturatingSub(7_sat, 8_sat) == 0_sat);
    CHECK(Sat::SaturatingSub(7_sat, Sat{kMax}) == 0_sat);
    CHECK(Sat::SaturatingSub(8_sat, 7_sat) == 1_sat);

    Sat balance = 3_sat;
    CHECK_THROWS_AS(balance -= 4_sat, AmountError);
    CHECK(balance == 3_sat);
    balance -= 3_sat;
    CHECK(balance == 0_sat);
}

TEST_CASE("amount multiplication: overflow detected at the exact boundary")
{
    CHECK(3_sat * 4 == 12_sat);
    CHECK(Sat{kMax} * 0 == 0_sat);
    CHECK(0_sat * kMax == 0_sat);
    CHECK(Sat{kMax} * 1 == Sat{kMax});
    CHECK(Sat{kMax / 3} * 3 == Sat{kMax}); // 2^64 - 1 is divisible by 3
    CHECK_THROWS_AS(Sat{kMax / 3 + 1} * 3, AmountError);
    CHECK_THROWS_AS(Msat{uint64_t{1} << 32} * (uint64_t{1} << 32), AmountError);
    CHECK(Msat::CheckedMul(Msat{uint64_t{1} << 31}, uint64_t{1} << 32) == Msat{uint64_t{1} << 63});
    CHECK_FALSE(Msat::CheckedMul(Msat{uint64_t{1} << 32}, uint64_t{1} << 32));
}

TEST_CASE("sat and msat conversions")
{
    CHECK(ToMsat(0_sat) == 0_msat);
    CHECK(ToMsat(1_sat) == 1000_msat);
    CHECK(ToMsat(kMaxMoney) == Msat{2'100'000'000'000'000'000ULL});
    CHECK(ToMsat(Sat{kMax / 1000}) == Msat{kMax / 1000 * 1000});
    CHECK_THROWS_AS(ToMsat(Sat{kMax / 1000 + 1}), AmountError);
    // BOLT 3 rounds msat down to whole satoshis.
    CHECK(ToSatFloor(999_msat) == 0_sat);
    CHECK(ToSatFloor(1000_msat) == 1_sat);
    CHECK(ToSatFloor(1999_msat) == 1_sat);
    CHECK(ToSatFloor(Msat{kMax}) == Sat{kMax / 1000});
    CHECK(ToSatFloor(ToMsat(123'456_sat)) == 123'456_sat);
}

TEST_CASE("transaction value boundary: 0..kMaxMoney in both directions")
{
    CHECK(kMaxMoney == 2'100'000'000'000'000_sat);
    CHECK(ToTxValue(0_sat) == 0);
    CHECK(ToTxValue(kMaxMoney) == 2'100'000'000'000'000);
    CHECK_THROWS_AS(ToTxValue(kMaxMoney + 1_sat), AmountError);
    CHECK_THROWS_AS(ToTxValue(Sat{kMax}), AmountError); // would be negative as int64_t
    CHECK(SatFromTxValue(0) == 0_sat);
    CHECK(SatFromTxValue(330) == 330_sat);
    CHECK(SatFromTxValue(2'100'000'000'000'000) == kMaxMoney);
    CHECK_THROWS_AS(SatFromTxValue(-1), AmountError);
    CHECK_THROWS_AS(SatFromTxValue(std::numeric_limits<int64_t>::min()), AmountError);
    CHECK_THROWS_AS(SatFromTxValue(2'100'000'000'000'001), AmountError);
}

TEST_CASE("amount comparisons and formatting")
{
    CHECK(1_sat < 2_sat);
    CHECK(2_sat > 1_sat);
    CHECK(2_sat >= 2_sat);
    CHECK(2_sat <= 2_sat);
    CHECK(2_sat != 3_sat);
    CHECK(Sat{} == 0_sat);
    CHECK(0_sat < Sat{kMax});
    CHECK((5_msat <=> 7_msat) < 0);
    CHECK((1000_msat).ToString() == "1000msat");
    CHECK((21_sat).ToString() == "21sat");
    CHECK(Sat{kMax}.value() == kMax);
}
