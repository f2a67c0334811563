// Reads Mosquitto-syntax configuration files into a broker_config. The key
// table (config_keys.hpp) decides what each line means; this file only deals
// with files, lines, includes and error reporting.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/broker_config.hpp"

namespace strata::config {

struct config_error {
    std::string file;
    int line = 0;  // 0 = about the file as a whole (e.g. cannot be read)
    std::string reason;
    // "file:line: reason" (or "file: reason"), as printed by --check.
    std::string to_string() const;
};

struct load_result {
    std::optional<broker_config> config;  // set when there were no errors
    std::vector<config_error> errors;     // every error found, in file order
};

// Parses `path` (and files pulled in by include_dir). Unknown keys, bad values
// and keys strata does not support yet are errors with file and line. Without
// any listener, the result has Mosquitto 2's implicit loopback listener on
// 1883 and allows anonymous clients unless allow_anonymous says otherwise.
load_result load_file(const std::filesystem::path& path);

// Parses configuration text as if it came from a file named `name`.
load_result load_text(const std::string& text, const std::string& name);

// The configuration Mosquitto 2 uses without -c: a listener on 1883 bound to
// the loopback interface ("localhost", implicit), anonymous clients allowed.
broker_config default_config();

// Applies Mosquitto's command-line options on top of a configuration, as
// mosquitto 2.0 does: when the configuration has only the implicit loopback
// listener (no conf file, or one without listener / port / bind_address), the
// -p ports replace it with loopback listeners (duplicates dropped); when the
// conf defines a listener, -p is ignored (the caller may warn). -v enables
// every log type, overriding log_type. `from_conf_file` does not change the
// outcome: Mosquitto treats "no conf" and "a conf without listener" alike.
void apply_command_line(broker_config& cfg, const std::vector<std::uint16_t>& ports, bool verbose,
                        bool from_conf_file);

}  // namespace strata::config
