// exporter_url for the client/server databases: SCHEME://[USER@]HOST[:PORT][/DATABASE].
// The password is never in the URL (exporter_password_file / _env).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace strata::exporters {

struct db_url {
    std::string scheme;
    std::string user;
    std::string host;
    std::uint16_t port = 0;
    std::string database;
};

// nullopt when `text` does not have that shape; `default_port` when none is given.
std::optional<db_url> parse_db_url(const std::string& text, std::uint16_t default_port);

}  // namespace strata::exporters
