#ifndef SIDEBOLT_UTIL_AMOUNT_H
#define SIDEBOLT_UTIL_AMOUNT_H

#include <compare>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace sidebolt {

//! An amount left the range of its type (overflow, or a result below zero). Amounts come from
//! peers, so this is an input error to report, never a value to wrap around.
class AmountError : public std::range_error
{
public:
    using std::range_error::range_error;
};

/**
 * A non-negative amount in one unit (the Tag), with checked arithmetic: + - * throw AmountError
 * instead of wrapping; the Checked* forms return nullopt for callers that reject rather than
 * throw. Units never mix implicitly: Sat and Msat convert only through ToMsat / ToSatFloor.
 */
template <typename Tag>
class Amount
{
public:
    constexpr Amount() = default;
    constexpr explicit Amount(uint64_t value) : m_value(value) {}

    constexpr uint64_t value() const { return m_value; }
    constexpr auto operator<=>(const Amount&) const = default;

    static constexpr std::optional<Amount> CheckedAdd(Amount a, Amount b)
    {
        if (a.m_value > std::numeric_limits<uint64_t>::max() - b.m_value) return std::nullopt;
        return Amount{a.m_value + b.m_value};
    }
    static constexpr std::optional<Amount> CheckedSub(Amount a, Amount b)
    {
        if (b.m_value > a.m_value) return std::nullopt;
        return Amount{a.m_value - b.m_value};
    }
    static constexpr std::optional<Amount> CheckedMul(Amount a, uint64_t factor)
    {
        if (factor != 0 && a.m_value > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
        return Amount{a.m_value * factor};
    }

    constexpr Amount operator+(Amount other) const { return Require(CheckedAdd(*this, other), "overflow"); }
    constexpr Amount operator-(Amount other) const { return Require(CheckedSub(*this, other), "below zero"); }
    constexpr Amount operator*(uint64_t factor) const { return Require(CheckedMul(*this, factor), "overflow"); }
    constexpr Amount& operator+=(Amount other) { return *this = *this + other; }
    constexpr Amount& operator-=(Amount other) { return *this = *this - other; }

    //! a - b, or zero when b exceeds a (BOLT 3 floors outputs the opener cannot pay at zero).
    static constexpr Amount SaturatingSub(Amount a, Amount b) { return b > a ? Amount{} : Amount{a.m_value - b.m_value}; }

    std::string ToString() const { return std::to_string(m_value) + Tag::kSuffix; }

private:
    static constexpr Amount Require(std::optional<Amount> result, const char* what)
    {
        if (!result) throw AmountError(std::string("amount ") + what + " (" + Tag::kSuffix + ")");
        return *result;
    }

    uint64_t m_value{0};
};

struct SatTag {
    static constexpr const char* kSuffix = "sat";
};
struct MsatTag {
    static constexpr const char* kSuffix = "msat";
};

using Sat = Amount<SatTag>;
using Msat = Amount<MsatTag>;

//! 21 million bitcoin: no real amount exceeds it, so a larger one from a peer is a lie.
inline constexpr Sat kMaxMoney{21'000'000ULL * 100'000'000ULL};

//! Throws AmountError when the msat value would not fit (above 2^64 / 1000 sat).
inline constexpr Msat ToMsat(Sat sat) { return Msat{(sat * 1000).value()}; }
//! BOLT 3 converts msat to sat by rounding down wherever an output amount is computed.
inline constexpr Sat ToSatFloor(Msat msat) { return Sat{msat.value() / 1000}; }

/**
 * The boundary with primitives/, whose transaction output values are int64_t as in Bitcoin
 * Core: both directions throw AmountError outside 0..kMaxMoney, the range of a valid output.
 */
inline constexpr int64_t ToTxValue(Sat sat)
{
    if (sat > kMaxMoney) throw AmountError("amount above 21 million bitcoin (sat)");
    return static_cast<int64_t>(sat.value());
}
inline constexpr Sat SatFromTxValue(int64_t value)
{
    if (value < 0 || static_cast<uint64_t>(value) > kMaxMoney.value()) throw AmountError("transaction value out of range (sat)");
    return Sat{static_cast<uint64_t>(value)};
}

namespace amount_literals {
constexpr Sat operator""_sat(unsigned long long value) { return Sat{value}; }
constexpr Msat operator""_msat(unsigned long long value) { return Msat{value}; }
} // namespace amount_literals

} // namespace sidebolt

#endif
