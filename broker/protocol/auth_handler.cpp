// Plugins' say in a connection's life (docs/plugins.md):
//  - CONNECT: authentication (auth_basic, or auth_extended with the MQTT 5
//    AUTH exchange of section 4.12), then the connect event, then CONNACK;
//  - AUTH: the exchange's next step, and re-authentication (reason 0x19);
//  - deferred answers: the connection holds further packets until resume();
//  - the disconnect event, and refusals of PUBLISH with a reason string.
// A chain asks the registrations of one event in turn (plugin_state::index)
// until one decides; a deferred answer continues the chain where it stopped.
#include "core/logger.hpp"
#include "plugin/worker_hooks.hpp"
#include "protocol/connection.hpp"
#include "protocol/plugin_state.hpp"

namespace strata::protocol {

using codec::packet_type;
using codec::protocol_version;
using codec::reason_code;

plugin::client_view connection::plugin_client() const {
    plugin::client_view v;
    v.client_id = client_id();
    v.peer = peer_;
    v.protocol_version = static_cast<std::uint8_t>(version_);
    v.listener_port = listener_.port;
    v.connection = (std::uint64_t{broker_->worker_index()} << 48) | id;  // ids are per worker
    if (plugin_) {
        v.username = plugin_->username;
        v.has_username = plugin_->has_username;
    } else if (session_) {
        v.username = session_->username;
        v.has_username = session_->has_username;
    }
    return v;
}

bool connection::paused() const { return awaiting_interest_ || (plugin_ && plugin_->awaiting_resume); }

void connection::note_close(reason_code rc, bool client_initiated) {
    if (!plugin_ || plugin_->close_reason != 0 || plugin_->client_initiated) return;  // the first reason counts
    plugin_->close_reason = static_cast<std::uint8_t>(rc);
    plugin_->client_initiated = client_initiated;
}

void connection::plugin_closing() {
    auto& ps = *plugin_;
    ps.awaiting_resume = ps.awaiting_auth = false;
    if (ps.claim_held) {
        ps.claim_held = false;
        broker_->end_authentication(client_id());
    }
    if (ps.reached_connect) {
        ps.reached_connect = false;
        broker_->hooks().disconnected(plugin_client(), ps.accepted, ps.client_initiated, ps.close_reason);
    }
}

// ---- CONNECT ----------------------------------------------------------------------

void connection::start_authentication(codec::bytes_view connect_body, bool assigned_id) {
    plugin_ = std::make_unique<plugin_state>();
    auto& ps = *plugin_;
    ps.connect_body.assign(connect_body.begin(), connect_body.end());
    ps.assigned_id = assigned_id;
    ps.table = broker_->hooks().snapshot();
    broker_->begin_authentication(client_id());
    ps.claim_held = true;
    codec::connect_packet p;
    read_connect(ps.connect_body, p);  // decoded once already: it is valid
    ps.username.assign(p.username);
    ps.has_username = p.has_username;
    if (version_ == protocol_version::v5 && p.props.authentication_method) {
        ps.event = STRATA_EVENT_AUTH_EXTENDED;
        ps.stage = STRATA_AUTH_START;
        ps.method.assign(*p.props.authentication_method);
        const auto data = p.props.authentication_data.value_or(std::string_view{});
        ps.auth_data.assign(data.begin(), data.end());
    } else {
        ps.event = STRATA_EVENT_AUTH_BASIC;
    }
    run_authentication(nullptr);
}

void connection::run_authentication(plugin::answer* late) {
    auto& ps = *plugin_;
    codec::connect_packet p;
    if (!ps.reauthenticating) read_connect(ps.connect_body, p);
    while (ps.event != 0 && (state_ == connection_state::awaiting_connect || state_ == connection_state::active)) {
        plugin::answer a;
        if (late) {
            a = std::move(*late);
            late = nullptr;
        } else if (ps.index < ps.table->at(ps.event).size()) {
            a = ask_plugin(ps.reauthenticating ? nullptr : &p);
        } else if (chain_exhausted(p)) {
            continue;
        } else {
            return;
        }
        if (a.result == STRATA_DEFER) {
            ++ps.sequence;
            ps.awaiting_resume = true;
            return;
        }
        if (!take_answer(std::move(a), p)) return;
    }
}

plugin::answer connection::ask_plugin(const codec::connect_packet* p) {
    auto& ps = *plugin_;
    const auto& r = ps.table->at(ps.event)[ps.index];
    const strata_client client = plugin_client().to_c();
    const std::uint32_t w = static_cast<std::uint32_t>(broker_->worker_index());
    // The handle names the deferral this call would start.
    const strata_defer defer{id, w, ps.sequence + 1};
    switch (ps.event) {
        case STRATA_EVENT_AUTH_BASIC: {
            strata_event_auth_basic ev;
            plugin::init_event(ev, ps.event, w);
            ev.client = &client;
            ev.has_password = p->has_password ? 1 : 0;
            ev.password = plugin::to_c_bytes(p->password.data(), p->password.size());
            ev.defer = defer;
            return plugin::call(r, ps.event, ev.header);
        }
        case STRATA_EVENT_AUTH_EXTENDED: {
            strata_event_auth_extended ev;
            plugin::init_event(ev, ps.event, w);
            ev.client = &client;
            ev.stage = ps.stage;
            ev.method = plugin::to_c(ps.method);
            ev.data = plugin::to_c_bytes(ps.auth_data.data(), ps.auth_data.size());
            if (p && ps.stage == STRATA_AUTH_START) {
                ev.has_password = p->has_password ? 1 : 0;
                ev.password = plugin::to_c_bytes(p->password.data(), p->password.size());
            }
            ev.defer = defer;
            auto a = plugin::call(r, ps.event, ev.header);
            if (ev.data_out.data) a.auth_data.assign(ev.data_out.data, ev.data_out.data + ev.data_out.size);
            return a;
        }
        default: {
            strata_event_connect ev;
            plugin::init_event(ev, STRATA_EVENT_CONNECT, w);
            ev.client = &client;
            ev.clean_start = p->clean_start ? 1 : 0;
            ev.has_will = p->has_will ? 1 : 0;
            ev.assigned_client_id = ps.assigned_id ? 1 : 0;
            ev.keep_alive = p->keep_alive;
            if (p->has_will) ev.will_topic = plugin::to_c(p->will.topic);
            ev.defer = defer;
            return plugin::call(r, STRATA_EVENT_CONNECT, ev.header);
        }
    }
}

// The answer of the registration at ps.index. True: the chain goes on (the
// event or index moved); false: it stopped (decided, refused, or waiting).
bool connection::take_answer(plugin::answer a, const codec::connect_packet& p) {
    auto& ps = *plugin_;
    const auto& r = ps.table->at(ps.event)[ps.index];
    const bool extended = ps.event == STRATA_EVENT_AUTH_EXTENDED;
    switch (a.result) {
        case STRATA_PASS:
            // The plugin that started an exchange has to finish it.
            if (extended && ps.stage == STRATA_AUTH_CONTINUE) break;
            ++ps.index;
            return true;
        case STRATA_OK:
            if (ps.event == STRATA_EVENT_CONNECT) {
                ++ps.index;
                return true;
            }
            ps.auth_data_out = std::move(a.auth_data);
            if (!ps.reauthenticating) return authenticated(p);
            send_auth(reason_code::success, ps.auth_data_out, a.reason_string);
            ps.auth_data_out.clear();
            ps.event = 0;
            ps.reauthenticating = false;
            return false;
        case STRATA_CONTINUE:
            if (!extended) break;
            ps.awaiting_auth = true;
            send_auth(reason_code::continue_authentication, a.auth_data, a.reason_string);
            return false;
        case STRATA_DENY:
            refuse_authentication(a, ps.event == STRATA_EVENT_AUTH_BASIC ? reason_code::bad_username_or_password
                                                                        : reason_code::not_authorized);
            return false;
        case STRATA_ERROR: refuse_authentication(a, reason_code::unspecified_error); return false;
        default: break;
    }
    broker_->hooks().log_bad_result(r, ps.event, a.result);
    a.reason_code = 0;
    refuse_authentication(a, reason_code::unspecified_error);
    return false;
}

// Every registration passed: the event's default.
bool connection::chain_exhausted(const codec::connect_packet& p) {
    auto& ps = *plugin_;
    switch (ps.event) {
        case STRATA_EVENT_AUTH_BASIC:
            // No plugin decided: the password file, or anonymous access.
            if (check_credentials(p) == reason_code::success) return authenticated(p);
            refuse_connect(reason_code::not_authorized, "not authorized (no plugin accepted it)");
            return false;
        case STRATA_EVENT_AUTH_EXTENDED:
            if (ps.reauthenticating) {
                disconnect(reason_code::bad_authentication_method);
            } else {
                refuse_connect(reason_code::bad_authentication_method, "no plugin handles authentication method " + ps.method);
            }
            return false;
        default: finish_authentication(p); return false;
    }
}

bool connection::authenticated(const codec::connect_packet& p) {
    auto& ps = *plugin_;
    auto& hooks = broker_->hooks();
    if (p.has_will && hooks.wants(STRATA_EVENT_ACL)) {
        // The will is published later on this client's behalf: it must be allowed to write it (as in Mosquitto).
        const std::string topic = mounted(p.will.topic);
        std::string reason;
        const auto rc = hooks.acl(plugin_client(), STRATA_ACCESS_WRITE, topic, {}, p.will.qos, p.will.retain,
                                  p.will.payload, &reason);
        if (rc != reason_code::success) {
            refuse_connect(rc, "will topic refused by a plugin", reason);
            return false;
        }
    }
    ps.event = STRATA_EVENT_CONNECT;
    ps.index = 0;
    ps.reached_connect = true;  // from here on a disconnect event is owed
    return true;
}

void connection::refuse_authentication(const plugin::answer& a, reason_code fallback) {
    auto& ps = *plugin_;
    const auto rc = plugin::refusal(a.reason_code, fallback);
    const auto& regs = ps.table->at(ps.event);
    const std::string by = ps.index < regs.size() ? std::string(plugin::plugin_name(regs[ps.index])) : "a plugin";
    ps.event = 0;
    if (ps.reauthenticating) {
        broker_->log().notice("Client ", client_id(), " failed re-authentication (plugin ", by, ").");
        disconnect(rc);
        return;
    }
    refuse_connect(rc, std::string(codec::to_string(rc)) + " (plugin " + by + ")", a.reason_string);
}

void connection::finish_authentication(const codec::connect_packet& p) {
    auto& ps = *plugin_;
    ps.event = 0;
    accept_connect(p, ps.assigned_id);  // reads method and auth_data_out for the CONNACK
    ps.accepted = state_ == connection_state::active;  // not when its CONNACK could not fit
    if (ps.claim_held) {  // the session exists now and holds the claim
        ps.claim_held = false;
        broker_->end_authentication(client_id());
    }
    ps.table.reset();
    ps.connect_body = {};
    ps.auth_data = {};
    ps.auth_data_out = {};
}

void connection::resume(std::uint32_t sequence, plugin::answer a) {
    if (!plugin_ || !plugin_->awaiting_resume || plugin_->sequence != sequence) return;  // stale or repeated
    if (state_ != connection_state::awaiting_connect && state_ != connection_state::active) return;
    plugin_->awaiting_resume = false;
    run_authentication(&a);
    // Packets that arrived meanwhile.
    if (!paused() && !input_.empty()) on_input({});
    notify_transport();
}

// ---- AUTH ---------------------------------------------------------------------------

void connection::handle_auth(codec::bytes_view body) {
    codec::auth_packet p;
    const auto rc = codec::decode_auth(body, p);
    if (rc != reason_code::success) {
        protocol_violation(rc, "malformed AUTH");
        return;
    }
    const auto method = p.props.authentication_method.value_or(std::string_view{});
    const auto data = p.props.authentication_data.value_or(std::string_view{});
    auto* ps = plugin_.get();
    // An AUTH only fits an exchange in progress, or a re-authentication with
    // the method of the CONNECT [MQTT-4.12.0-5] (section 4.12.1).
    const bool continues = ps && ps->awaiting_auth && p.reason == reason_code::continue_authentication;
    const bool reauthenticates = ps && state_ == connection_state::active && ps->event == 0 && !ps->method.empty() &&
                                 p.reason == reason_code::re_authenticate;
    if (!continues && !reauthenticates) {
        protocol_violation(reason_code::protocol_error, "AUTH out of place");
        return;
    }
    if (method != ps->method) {
        protocol_violation(reason_code::protocol_error, "AUTH with another authentication method");
        return;
    }
    ps->auth_data.assign(data.begin(), data.end());
    if (continues) {
        ps->awaiting_auth = false;
        ps->stage = STRATA_AUTH_CONTINUE;  // the same plugin answers
    } else {
        ps->reauthenticating = true;
        ps->stage = STRATA_AUTH_REAUTHENTICATE;
        ps->event = STRATA_EVENT_AUTH_EXTENDED;
        ps->index = 0;
        ps->table = broker_->hooks().snapshot();
    }
    run_authentication(nullptr);
}

void connection::send_auth(reason_code rc, std::span<const std::uint8_t> data, std::string_view reason_string) {
    codec::auth_packet a;
    a.reason = rc;
    a.props.authentication_method = plugin_->method;
    if (!data.empty()) a.props.authentication_data = codec::as_chars(data);
    if (!reason_string.empty() && wants_problem_information()) a.props.reason_string = reason_string;
    codec::encode_auth(out_.bytes(), a);
    notify_transport();
}

// ---- PUBLISH refused by a plugin -----------------------------------------------------

void connection::refuse_publish(const codec::publish_packet& p, reason_code rc, std::string_view reason_string) {
    broker_->log().debug("Denied PUBLISH from ", client_id(), " (q", static_cast<int>(p.qos), ", '", p.topic,
                        "'): ", codec::to_string(rc), ".");
    if (p.qos == 0) return;
    // MQTT 5 learns why; MQTT 3.1.1 has no code, its flow just completes (as Mosquitto does).
    if (version_ != protocol_version::v5 || reason_string.empty() || !wants_problem_information()) {
        acknowledge_publish(p.qos, p.packet_id, rc);
        return;
    }
    codec::ack_packet ack;
    ack.type = p.qos == 1 ? packet_type::puback : packet_type::pubrec;
    ack.packet_id = p.packet_id;
    ack.reason = rc;
    ack.props.reason_string = reason_string;
    // Without the reason string when the client would not accept the packet [MQTT-3.4.2-2].
    const std::uint32_t props = 3 + static_cast<std::uint32_t>(reason_string.size());
    const std::uint32_t body = 3 + codec::varint_size(props) + props;
    if (client_maximum_packet_size_ != 0 && 1 + codec::varint_size(body) + body > client_maximum_packet_size_) {
        ack.props.reason_string.reset();
    }
    codec::encode_ack(out_.bytes(), version_, ack);
    notify_transport();
}

}  // namespace strata::protocol
