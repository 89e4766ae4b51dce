#ifndef SIDEBOLT_WIRE_EXPECTED_H
#define SIDEBOLT_WIRE_EXPECTED_H

#include <utility>
#include <variant>

namespace sidebolt {

//! A value or an error, for results of parsing peer input (C++20 has no std::expected).
//! T and E must be distinct, non-convertible types so construction is unambiguous.
//! Accessing the wrong alternative throws std::bad_variant_access: a local bug, never peer input.
template <typename T, typename E>
class Expected
{
public:
    Expected(T value) : m_value(std::in_place_index<0>, std::move(value)) {}
    Expected(E error) : m_value(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const noexcept { return m_value.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return std::get<0>(m_value); }
    const T& value() const& { return std::get<0>(m_value); }
    T&& value() && { return std::get<0>(std::move(m_value)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const { return std::get<1>(m_value); }

private:
    std::variant<T, E> m_value;
};

} // namespace sidebolt

#endif
