#include "sql_mapping.hpp"

#include <cmath>
#include <ctime>

namespace strata::exporters {

std::vector<sql_column> table_columns(std::string_view name, const config::export_route_config& route) {
    if (name.ends_with("_errors")) return {{"reason", sql_type::text}, {"payload", sql_type::bytes}};
    return route_columns(route);
}

std::vector<sql_column> route_columns(const config::export_route_config& route) {
    std::vector<sql_column> columns;
    // Captured levels of the filter, in order.
    std::string_view filter = route.filter;
    while (!filter.empty()) {
        const auto slash = filter.find('/');
        const auto level = filter.substr(0, slash);
        if (level.size() > 1 && level.front() == '+') columns.push_back({std::string(level.substr(1)), sql_type::text});
        if (slash == std::string_view::npos) break;
        filter.remove_prefix(slash + 1);
    }
    if (route.payload == "json" && !route.all_fields) {
        // Declared types, not guessed from the first value: the schema must not
        // depend on which message came first.
        for (std::size_t i = 0; i < route.fields.size(); ++i) {
            const auto& t = route.field_types[i];
            columns.push_back({route.field_names[i], t == "number" ? sql_type::number : t == "text" ? sql_type::text
                                                                                               : sql_type::json});
        }
    } else if (route.payload == "json") {
        columns.push_back({"payload", sql_type::json});
    } else {
        columns.push_back({"payload", route.payload == "bytes" ? sql_type::bytes : sql_type::text});
    }
    return columns;
}

sql_cell column_cell(const export_row& row, const sql_column& column) {
    using kind = sql_cell::kind;
    for (const auto& [name, value] : row.captures) {
        if (name == column.name) return {kind::text, 0, value};
    }
    const bool field_list = row.route->payload == "json" && !row.route->all_fields;
    if (!field_list) {  // the payload column
        if (row.fields.is_null()) return {kind::text, 0, row.payload};
        return {kind::json, 0, {}, &row.fields};
    }
    if (!row.fields.is_object()) return {};
    const auto it = row.fields.find(column.name);
    if (it == row.fields.end() || it->is_null()) return {};
    switch (column.type) {
        case sql_type::number: {
            const double n = it->is_boolean() ? (it->get<bool>() ? 1 : 0) : it->get<double>();
            // JSON has no NaN or infinity, but a number too large for a double parses as one.
            if (!std::isfinite(n)) return {};
            return {kind::number, n, {}, &*it};
        }
        case sql_type::text: return {kind::text, 0, it->get_ref<const std::string&>()};  // checked by the route
        default: return {kind::json, 0, {}, &*it};
    }
}

std::optional<std::string> column_value(const export_row& row, const sql_column& column) {
    const auto cell = column_cell(row, column);
    switch (cell.what) {
        case sql_cell::kind::null: return std::nullopt;
        case sql_cell::kind::text: return std::string(cell.text);
        case sql_cell::kind::number: return cell.json->is_boolean() ? (cell.number != 0 ? "1" : "0") : cell.json->dump();
        default: return cell.json->dump();
    }
}

std::string quote_identifier(std::string_view name, char quote) {
    std::string out(1, quote);
    for (char c : name) {
        if (c == quote) out += quote;
        out += c;
    }
    out += quote;
    return out;
}

std::string iso_time(std::uint64_t ts_us) {
    const std::time_t seconds = static_cast<std::time_t>(ts_us / 1'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%06uZ", buf, static_cast<unsigned>(ts_us % 1'000'000));
    return out;
}

}  // namespace strata::exporters
