#include "mariadb_bulk.hpp"

#include <ctime>
#include <limits>

namespace strata::exporters {

namespace {

constexpr std::size_t in_row = std::numeric_limits<std::size_t>::max();  // text_column: data points into the row

MYSQL_TIME datetime_of(std::uint64_t ts_us) {
    const std::time_t seconds = static_cast<std::time_t>(ts_us / 1'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    MYSQL_TIME t{};
    t.year = static_cast<unsigned>(tm.tm_year + 1900);
    t.month = static_cast<unsigned>(tm.tm_mon + 1);
    t.day = static_cast<unsigned>(tm.tm_mday);
    t.hour = static_cast<unsigned>(tm.tm_hour);
    t.minute = static_cast<unsigned>(tm.tm_min);
    t.second = static_cast<unsigned>(tm.tm_sec);
    t.second_part = static_cast<unsigned long>(ts_us % 1'000'000);
    t.time_type = MYSQL_TIMESTAMP_DATETIME;
    return t;
}

MYSQL_BIND bind_of(enum_field_types type, void* values, bool is_unsigned = false, char* indicator = nullptr,
                   unsigned long* length = nullptr) {
    MYSQL_BIND b{};
    b.buffer_type = type;
    b.buffer = values;
    b.is_unsigned = is_unsigned;
    b.u.indicator = indicator;
    b.length = length;
    return b;
}

}  // namespace

void throw_mariadb_error(unsigned code, const char* sqlstate, const std::string& message) {
    const std::string_view state = sqlstate ? sqlstate : "";
    if (code == 1048 /* ER_BAD_NULL_ERROR */ && message.find("'topic_id'") != std::string::npos) {
        // mariadb_on_duplicate's refusal: not a NULL anyone sent.
        throw data_error("MariaDB: the row duplicates another on a unique key of the table other than the message's "
                         "key (topic_id, ts_us, seq)");
    }
    const bool row = state.starts_with("22") || state.starts_with("23") || state.starts_with("45") ||
                     code == 1153 /* ER_NET_PACKET_TOO_LARGE */ || code == 1301 /* ER_WARN_ALLOWED_PACKET_OVERFLOWED */ ||
                     code == 2020 /* CR_NET_PACKET_TOO_LARGE */;
    if (row) throw data_error(message);
    throw export_error(message);
}

mariadb_bulk_insert::mariadb_bulk_insert(MYSQL* db, const std::string& quoted_table, std::vector<sql_column> columns,
                                         bool errors_table)
    : columns_(std::move(columns)), errors_table_(errors_table), texts_(columns_.size()), numbers_(columns_.size()) {
    std::string sql = "INSERT INTO " + quoted_table + " (topic_id, ts_us, seq, ts, topic, client_id, qos, `retain`";
    for (const auto& c : columns_) sql += ", " + quote_identifier(c.name, '`');
    sql += ") VALUES (?, ?, ?, ?, ?, ?, ?, ?";
    for (std::size_t i = 0; i < columns_.size(); ++i) sql += ", ?";
    sql += ')';
    sql += mariadb_on_duplicate;
    stmt_ = mysql_stmt_init(db);
    if (!stmt_) throw export_error("MariaDB: out of memory");
    if (mysql_stmt_prepare(stmt_, sql.data(), sql.size()) != 0) {
        const std::string why = mysql_stmt_error(stmt_);
        mysql_stmt_close(stmt_);
        throw export_error("MariaDB: " + why + " (in: " + sql.substr(0, 80) + ")");
    }
}

mariadb_bulk_insert::~mariadb_bulk_insert() { mysql_stmt_close(stmt_); }

void mariadb_bulk_insert::execute(std::span<const export_row* const> rows) {
    fill(rows);
    // One execution carries at most about max_bytes of values: the server
    // refuses a packet over its max_allowed_packet (16 MB by default).
    std::size_t first = 0, bytes = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        bytes += row_bytes(i);
        if (bytes >= max_bytes || i + 1 == rows.size()) {
            bind(first, i + 1 - first);
            if (mysql_stmt_execute(stmt_) != 0) {
                throw_mariadb_error(mysql_stmt_errno(stmt_), mysql_stmt_sqlstate(stmt_),
                                    "MariaDB: " + std::string(mysql_stmt_error(stmt_)));
            }
            first = i + 1;
            bytes = 0;
        }
    }
}

std::size_t mariadb_bulk_insert::row_bytes(std::size_t i) const {
    std::size_t bytes = 64 + topic_.length[i] + client_id_.length[i];  // the fixed columns, and some slack
    for (std::size_t c = 0; c < columns_.size(); ++c) {
        bytes += columns_[c].type == sql_type::number && !errors_table_ ? 9 : 4 + texts_[c].length[i];
    }
    return bytes;
}

void mariadb_bulk_insert::fill(std::span<const export_row* const> rows) {
    const std::size_t n = rows.size();
    topic_id_.resize(n);
    ts_us_.resize(n);
    seq_.resize(n);
    ts_.resize(n);
    ts_at_.resize(n);
    qos_.resize(n);
    retain_.resize(n);
    const auto reset = [n](text_column& t) {
        t.data.resize(n);
        t.length.resize(n);
        t.indicator.assign(n, STMT_INDICATOR_NONE);
        t.serialised_at.assign(n, in_row);
        t.serialised.clear();
    };
    const auto set_text = [](text_column& t, std::size_t i, std::string_view text) {
        t.data[i] = text.data();
        t.length[i] = text.size();
    };
    reset(topic_);
    reset(client_id_);
    for (std::size_t c = 0; c < columns_.size(); ++c) {
        if (columns_[c].type == sql_type::number && !errors_table_) {
            numbers_[c].value.resize(n);
            numbers_[c].indicator.assign(n, STMT_INDICATOR_NONE);
        } else {
            reset(texts_[c]);
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        const export_row& row = *rows[i];
        topic_id_[i] = row.key.topic_id;
        ts_us_[i] = row.key.ts_us;
        seq_[i] = row.key.seq;
        ts_[i] = datetime_of(row.key.ts_us);
        ts_at_[i] = &ts_[i];
        qos_[i] = static_cast<signed char>(row.qos);
        retain_[i] = row.retain ? 1 : 0;
        set_text(topic_, i, row.topic);
        set_text(client_id_, i, row.client_id);
        if (errors_table_) {  // reason, payload
            set_text(texts_[0], i, row.error);
            set_text(texts_[1], i, row.payload);
            continue;
        }
        for (std::size_t c = 0; c < columns_.size(); ++c) {
            const auto cell = column_cell(row, columns_[c]);
            if (columns_[c].type == sql_type::number) {
                // A number column's cell is a number or NULL (the route checked the type).
                if (cell.what == sql_cell::kind::number) numbers_[c].value[i] = cell.number;
                else numbers_[c].indicator[i] = STMT_INDICATOR_NULL;
                continue;
            }
            auto& t = texts_[c];
            switch (cell.what) {
                case sql_cell::kind::null: t.indicator[i] = STMT_INDICATOR_NULL; break;
                case sql_cell::kind::text: set_text(t, i, cell.text); break;
                default: {
                    const auto at = t.serialised.size();
                    t.serialised += cell.json->dump();
                    t.serialised_at[i] = at;
                    t.length[i] = t.serialised.size() - at;
                }
            }
        }
    }
    // Serialised values' addresses only now: `serialised` may have moved while it grew.
    for (auto& t : texts_) {
        for (std::size_t i = 0; i < t.serialised_at.size(); ++i) {
            if (t.serialised_at[i] != in_row) t.data[i] = t.serialised.data() + t.serialised_at[i];
        }
    }
}

void mariadb_bulk_insert::bind(std::size_t first, std::size_t count) {
    const std::size_t i = first;
    binds_.clear();
    binds_.push_back(bind_of(MYSQL_TYPE_LONGLONG, &topic_id_[i], true));
    binds_.push_back(bind_of(MYSQL_TYPE_LONGLONG, &ts_us_[i], true));
    binds_.push_back(bind_of(MYSQL_TYPE_LONG, &seq_[i], true));
    binds_.push_back(bind_of(MYSQL_TYPE_DATETIME, &ts_at_[i]));
    binds_.push_back(bind_of(MYSQL_TYPE_STRING, &topic_.data[i], false, &topic_.indicator[i], &topic_.length[i]));
    binds_.push_back(
        bind_of(MYSQL_TYPE_STRING, &client_id_.data[i], false, &client_id_.indicator[i], &client_id_.length[i]));
    binds_.push_back(bind_of(MYSQL_TYPE_TINY, &qos_[i]));
    binds_.push_back(bind_of(MYSQL_TYPE_TINY, &retain_[i]));
    for (std::size_t c = 0; c < columns_.size(); ++c) {
        if (columns_[c].type == sql_type::number && !errors_table_) {
            auto& n = numbers_[c];
            binds_.push_back(bind_of(MYSQL_TYPE_DOUBLE, &n.value[i], false, &n.indicator[i]));
        } else {
            auto& t = texts_[c];
            const auto type = columns_[c].type == sql_type::bytes ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
            binds_.push_back(bind_of(type, &t.data[i], false, &t.indicator[i], &t.length[i]));
        }
    }
    unsigned int array_size = static_cast<unsigned int>(count);
    if (mysql_stmt_attr_set(stmt_, STMT_ATTR_ARRAY_SIZE, &array_size) != 0 ||
        mysql_stmt_bind_param(stmt_, binds_.data()) != 0) {
        throw export_error("MariaDB: " + std::string(mysql_stmt_error(stmt_)));
    }
}

}  // namespace strata::exporters
