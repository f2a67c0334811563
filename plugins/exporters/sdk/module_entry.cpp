#include "sdk/module_entry.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include "exporter.h"

using namespace strata;
using namespace strata::exporters;

namespace {

std::string text(strata_str s) { return s.data ? std::string(s.data, s.size) : std::string(); }

void put(char* out, std::size_t size, const std::string& message) {
    if (!out || size == 0) return;
    const auto n = std::min(message.size(), size - 1);
    std::memcpy(out, message.data(), n);
    out[n] = '\0';
}

config::exporter_config from_c(const strata_exporter_config& c) {
    config::exporter_config cfg;
    cfg.name = c.name;
    cfg.kind = c.kind;
    cfg.url = c.url;
    cfg.defined_at = c.defined_at;
    for (std::size_t i = 0; i < c.option_count; ++i) cfg.options.emplace_back(c.options[i].key, c.options[i].value);
    for (std::size_t i = 0; i < c.route_count; ++i) {
        const auto& cr = c.routes[i];
        config::export_route_config r;
        r.filter = text(cr.filter);
        r.target = text(cr.target);
        r.payload = text(cr.payload);
        r.all_fields = cr.all_fields != 0;
        for (std::size_t f = 0; f < cr.field_count; ++f) {
            r.fields.push_back(text(cr.fields[f]));
            r.field_types.push_back(text(cr.field_types[f]));
            r.field_names.push_back(text(cr.field_names[f]));
        }
        r.key = text(cr.key);
        cfg.routes.push_back(std::move(r));
    }
    return cfg;
}

}  // namespace

struct strata_exporter {
    config::exporter_config cfg;
    std::unique_ptr<sink> out;
    std::vector<export_row> rows;  // the batch being written, kept for its buffers
};

extern "C" {

STRATA_PLUGIN_EXPORT int strata_exporter_version(void) { return STRATA_EXPORTER_API_VERSION; }

STRATA_PLUGIN_EXPORT strata_exporter* strata_exporter_create(const strata_exporter_config* c, char* error,
                                                             size_t error_size) {
    try {
        auto e = std::make_unique<strata_exporter>();
        e->cfg = from_c(*c);
        std::string why;
        e->out = make_module_sink(e->cfg, c->password ? c->password : "", why);
        if (!e->out) {
            put(error, error_size, why);
            return nullptr;
        }
        return e.release();
    } catch (const std::exception& ex) {
        put(error, error_size, ex.what());
        return nullptr;
    }
}

STRATA_PLUGIN_EXPORT unsigned strata_exporter_capabilities(strata_exporter* e) {
    return e->out->can_try() ? STRATA_EXPORTER_CAN_TRY : 0u;
}

STRATA_PLUGIN_EXPORT int strata_exporter_write(strata_exporter* e, const strata_export_row* rows, size_t count,
                                               unsigned flags, strata_export_outcome* outcome) {
    try {
        e->rows.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            const auto& c = rows[i];
            auto& r = e->rows[i];
            r.log_seq = c.log_seq;
            r.key.topic_id = c.topic_id;
            r.key.ts_us = c.ts_us;
            r.key.seq = c.seq;
            r.topic.assign(c.topic.data, c.topic.size);
            r.client_id.assign(c.client_id.data, c.client_id.size);
            r.qos = c.qos;
            r.retain = c.retain != 0;
            r.route = &e->cfg.routes.at(c.route);
            r.captures.clear();
            for (std::size_t k = 0; k < c.capture_count; ++k) {
                r.captures.emplace_back(text(c.captures[k].key), text(c.captures[k].value));
            }
            r.fields = c.fields_json.size ? nlohmann::json::parse(c.fields_json.data, c.fields_json.data + c.fields_json.size)
                                          : nlohmann::json();
            r.payload.assign(reinterpret_cast<const char*>(c.payload.data), c.payload.size);
            r.error.assign(c.error.data ? c.error.data : "", c.error.size);
        }
        const std::span<const export_row> batch(e->rows);
        if ((flags & STRATA_EXPORT_TRIAL) != 0) {
            e->out->try_write(batch);
        } else {
            e->out->write(batch);
        }
        outcome->rejected_rows = e->out->rejected_rows();
        outcome->refused_rows = e->out->refused_rows();
        return STRATA_EXPORT_OK;
    } catch (const data_error& ex) {
        put(outcome->message, outcome->message_size, ex.what());
        return STRATA_EXPORT_REFUSED;
    } catch (const std::exception& ex) {
        put(outcome->message, outcome->message_size, ex.what());
        return STRATA_EXPORT_RETRY;
    }
}

STRATA_PLUGIN_EXPORT void strata_exporter_disconnect(strata_exporter* e) { e->out->disconnect(); }

STRATA_PLUGIN_EXPORT void strata_exporter_interrupt(strata_exporter* e) { e->out->interrupt(); }

STRATA_PLUGIN_EXPORT void strata_exporter_destroy(strata_exporter* e) { delete e; }

}  // extern "C"
