#include "flags.hpp"

#include <algorithm>
#include <charconv>

namespace strata::bench {

void flag_set::add(std::string name, std::string* target, std::string help) {
    flags_.push_back({std::move(name), kind::text, target, std::move(help), *target});
}
void flag_set::add(std::string name, std::int64_t* target, std::string help) {
    flags_.push_back({std::move(name), kind::integer, target, std::move(help), std::to_string(*target)});
}
void flag_set::add(std::string name, double* target, std::string help) {
    flags_.push_back({std::move(name), kind::real, target, std::move(help), std::to_string(*target)});
}
void flag_set::add(std::string name, bool* target, std::string help) {
    flags_.push_back({std::move(name), kind::boolean, target, std::move(help), *target ? "true" : "false"});
}

bool flag_set::assign(const flag& f, std::string_view value, std::string& error) {
    const char* first = value.data();
    const char* last = value.data() + value.size();
    switch (f.type) {
        case kind::text: *static_cast<std::string*>(f.target) = std::string(value); return true;
        case kind::integer: {
            std::int64_t v = 0;
            auto [ptr, ec] = std::from_chars(first, last, v);
            if (ec != std::errc() || ptr != last) break;
            *static_cast<std::int64_t*>(f.target) = v;
            return true;
        }
        case kind::real: {
            double v = 0;
            auto [ptr, ec] = std::from_chars(first, last, v);
            if (ec != std::errc() || ptr != last) break;
            *static_cast<double*>(f.target) = v;
            return true;
        }
        case kind::boolean:
            if (value == "true" || value == "1") *static_cast<bool*>(f.target) = true;
            else if (value == "false" || value == "0") *static_cast<bool*>(f.target) = false;
            else break;
            return true;
    }
    error = "invalid value \"" + std::string(value) + "\" for flag -" + f.name;
    return false;
}

bool flag_set::parse(int argc, char** argv, std::string& error) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (!arg.starts_with('-') || arg == "-" || arg == "--") {
            error = "unexpected argument \"" + std::string(arg) + "\"";
            return false;
        }
        arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
        std::string_view name = arg;
        std::string_view value;
        bool has_value = false;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        auto it = std::find_if(flags_.begin(), flags_.end(), [&](const flag& f) { return f.name == name; });
        if (it == flags_.end()) {
            error = "flag provided but not defined: -" + std::string(name);
            return false;
        }
        if (!has_value) {
            if (it->type == kind::boolean) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                error = "flag needs an argument: -" + std::string(name);
                return false;
            }
        }
        if (!assign(*it, value, error)) return false;
    }
    return true;
}

std::string flag_set::usage() const {
    std::string out;
    for (const auto& f : flags_) {
        out += "  -" + f.name + "\n    \t" + f.help;
        if (!f.default_text.empty() && f.default_text != "false" && f.default_text != "0") {
            out += " (default " + f.default_text + ")";
        }
        out += '\n';
    }
    return out;
}

}  // namespace strata::bench
