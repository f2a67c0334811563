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

template <typename T>
struct StringMaker<std::vector<T>> {
    static String convert(const std::vector<T>& v) {
        std::string out = "{";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) out += ", ";
            if constexpr (std::is_convertible_v<T, std::string_view>) out += "\"" + std::string(v[i]) + "\"";
            else if constexpr (requires { v[i].key; v[i].value; })
                out += "\"" + std::string(v[i].key) + "\"=\"" + std::string(v[i].value) + "\"";
            else out += std::to_string(+v[i]);
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
