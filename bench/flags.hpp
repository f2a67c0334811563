// Go-style command-line flags ("-broker tcp://h:p", "-count=10", "--qos 1"),
// because strata-bench takes mqtt-bench's flags, which are Go's flag package
// syntax: single-dash long names that CLI11 does not parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::bench {

class flag_set {
public:
    void add(std::string name, std::string* target, std::string help);
    void add(std::string name, std::int64_t* target, std::string help);
    void add(std::string name, double* target, std::string help);
    void add(std::string name, bool* target, std::string help);

    // Parses argv[1..]; false with a message on an unknown flag or a bad value.
    bool parse(int argc, char** argv, std::string& error);
    // One line per flag with its default, as Go's flag package prints it.
    std::string usage() const;

private:
    enum class kind { text, integer, real, boolean };
    struct flag {
        std::string name;
        kind type;
        void* target;
        std::string help;
        std::string default_text;
    };
    bool assign(const flag& f, std::string_view value, std::string& error);

    std::vector<flag> flags_;
};

}  // namespace strata::bench
