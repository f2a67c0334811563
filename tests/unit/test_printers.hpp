// doctest printers for the containers the unit tests compare, so that a
// failing CHECK shows the values instead of "{?}".
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace doctest {

namespace strata_printers {

// One element as text: strings quoted, enums and pairs as numbers.
template <typename T>
std::string element(const T& e) {
    if constexpr (std::is_convertible_v<T, std::string_view>) return "\"" + std::string(e) + "\"";
    else if constexpr (std::is_enum_v<T>) return std::to_string(static_cast<long long>(e));
    else if constexpr (requires { e.first; e.second; }) return "(" + element(e.first) + ", " + element(e.second) + ")";
    else if constexpr (requires { e.key; e.value; })
        return "\"" + std::string(e.key) + "\"=\"" + std::string(e.value) + "\"";
    else return std::to_string(+e);
}

}  // namespace strata_printers

template <typename T>
struct StringMaker<std::vector<T>> {
    static String convert(const std::vector<T>& v) {
        std::string out = "{";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += ", ";
            out += strata_printers::element(v[i]);
        }
        out += "}";
        return String(out.c_str());
    }
};

template <typename T>
struct StringMaker<std::multiset<T>> {
    static String convert(const std::multiset<T>& v) {
        return StringMaker<std::vector<T>>::convert(std::vector<T>(v.begin(), v.end()));
    }
};

}  // namespace doctest
