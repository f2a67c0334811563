#include "plugin/worker_hooks.hpp"

#include "codec/utf8.hpp"
#include "core/logger.hpp"
#include "protocol/connection.hpp"
#include "topic/topic_name.hpp"

namespace strata::plugin {

using codec::reason_code;

namespace {

// Points the property fields of a message event at decoded properties.
void fill_properties(strata_event_message& e, const codec::properties& props, std::vector<strata_user_property>& views) {
    e.payload_format = props.payload_format_indicator ? static_cast<std::int16_t>(*props.payload_format_indicator) : -1;
    e.content_type = props.content_type ? to_c(*props.content_type) : strata_str{};
    e.response_topic = props.response_topic ? to_c(*props.response_topic) : strata_str{};
    e.correlation_data = props.correlation_data ? to_c_bytes(reinterpret_cast<const std::uint8_t*>(props.correlation_data->data()),
                                                             props.correlation_data->size())
                                                : strata_bytes{};
    views.clear();
    for (const auto& up : props.user_properties) views.push_back({to_c(up.key), to_c(up.value)});
    e.user_properties = views.data();
    e.user_property_count = views.size();
}

// `filter` behind the mount point (built in `storage` only when there is one).
std::string_view with_mount_point(std::string_view mount_point, std::string_view filter, std::string& storage) {
    if (mount_point.empty()) return filter;
    storage.assign(mount_point);
    storage += filter;
    return storage;
}

std::optional<std::string_view> optional_view(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    return std::string_view(*s);
}

}  // namespace

// ---- message_draft ------------------------------------------------------------

void message_draft::start(strata_event_message& ev, const codec::properties& received) {
    ev_ = &ev;
    received_ = &received;
    topic_set_ = payload_set_ = properties_set_ = false;
}

void message_draft::apply(message::init& in, codec::byte_buffer& forwarded) const {
    if (topic_set_) in.topic = topic_;
    if (payload_set_) in.payload = payload_;
    if (!properties_set_) return;
    codec::properties fwd;
    fwd.payload_format_indicator = received_->payload_format_indicator;
    fwd.content_type = optional_view(content_type_);
    fwd.response_topic = optional_view(response_topic_);
    fwd.correlation_data = optional_view(correlation_data_);
    for (const auto& [key, value] : user_properties_) fwd.user_properties.push_back({key, value});
    forwarded.clear();
    encode_forwarded_properties(fwd, forwarded);
    in.forwarded_properties = forwarded;
}

int message_draft::set_topic(std::string_view topic) {
    // Plugins publish under the same rules as clients: a valid name, and not
    // into the broker's own $SYS tree or the $share prefix.
    if (topic.size() > 65535 || !codec::is_valid_mqtt_utf8(topic) || !topic::is_valid_name(topic) ||
        topic.starts_with("$SYS") || topic.starts_with("$share")) {
        return STRATA_ERROR;
    }
    topic_.assign(topic);
    topic_set_ = true;
    ev_->topic = to_c(topic_);
    return STRATA_OK;
}

int message_draft::set_payload(std::span<const std::uint8_t> payload) {
    if (payload.size() > codec::max_variable_byte_integer) return STRATA_ERROR;
    payload_.assign(payload.begin(), payload.end());
    payload_set_ = true;
    ev_->payload = to_c_bytes(payload_.data(), payload_.size());
    return STRATA_OK;
}

void message_draft::own_properties() {
    if (properties_set_) return;
    const auto copy = [](const std::optional<std::string_view>& v) {
        return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    };
    content_type_ = copy(received_->content_type);
    response_topic_ = copy(received_->response_topic);
    correlation_data_ = copy(received_->correlation_data);
    user_properties_.clear();
    for (const auto& up : received_->user_properties) user_properties_.emplace_back(up.key, up.value);
    properties_set_ = true;
}

void message_draft::point_event_at_properties() {
    const auto str = [](const std::optional<std::string>& s) { return s ? to_c(*s) : strata_str{}; };
    ev_->content_type = str(content_type_);
    ev_->response_topic = str(response_topic_);
    const auto corr = str(correlation_data_);
    ev_->correlation_data = to_c_bytes(reinterpret_cast<const std::uint8_t*>(corr.data), corr.size);
    // Rebuilt after every change: adding a property may move the strings.
    user_property_views_.clear();
    for (const auto& [key, value] : user_properties_) user_property_views_.push_back({to_c(key), to_c(value)});
    ev_->user_properties = user_property_views_.data();
    ev_->user_property_count = user_property_views_.size();
}

int message_draft::add_user_property(std::string_view key, std::string_view value) {
    if (!codec::is_valid_mqtt_utf8(key) || !codec::is_valid_mqtt_utf8(value) || key.size() > 65535 ||
        value.size() > 65535) {
        return STRATA_ERROR;
    }
    own_properties();
    user_properties_.emplace_back(key, value);
    point_event_at_properties();
    return STRATA_OK;
}

int message_draft::clear_user_properties() {
    own_properties();
    user_properties_.clear();
    point_event_at_properties();
    return STRATA_OK;
}

int message_draft::set_string_property(int property, const strata_str* value) {
    std::optional<std::string>* slot = nullptr;
    switch (property) {
        case STRATA_PROPERTY_CONTENT_TYPE: slot = &content_type_; break;
        case STRATA_PROPERTY_RESPONSE_TOPIC: slot = &response_topic_; break;
        case STRATA_PROPERTY_CORRELATION_DATA: slot = &correlation_data_; break;
        default: return STRATA_ERROR;
    }
    if (value) {
        const std::string_view v = to_view(*value);
        if (v.size() > 65535) return STRATA_ERROR;
        if (property != STRATA_PROPERTY_CORRELATION_DATA && !codec::is_valid_mqtt_utf8(v)) return STRATA_ERROR;
        // A response topic is a topic name [MQTT-3.3.2-14].
        if (property == STRATA_PROPERTY_RESPONSE_TOPIC && !topic::is_valid_name(v)) return STRATA_ERROR;
    }
    own_properties();
    if (value) {
        *slot = std::string(to_view(*value));
    } else {
        slot->reset();
    }
    point_event_at_properties();
    return STRATA_OK;
}

// ---- worker_hooks ---------------------------------------------------------------

worker_hooks::worker_hooks(std::uint32_t worker, logger& log) : worker_(worker), log_(log), table_(empty_table()) {}

void worker_hooks::set_table(std::shared_ptr<const table> t) {
    // Tables are posted; should two cross on the way, the newer one stays.
    if (t && t->generation >= table_->generation) table_ = std::move(t);
}

void worker_hooks::log_bad_result(const registration& r, int event, int result) {
    log_.warning("plugin ", plugin_name(r), ": ", event_name(event), " callback returned ", result,
                 ", which that event does not accept; treated as an error.");
}

reason_code worker_hooks::acl(const client_view& c, std::uint32_t access, std::string_view topic, std::string_view group,
                              std::uint8_t qos, bool retain, std::span<const std::uint8_t> payload,
                              std::string* reason_string) {
    const strata_client client = c.to_c();
    strata_event_acl ev;
    init_event(ev, STRATA_EVENT_ACL, worker_);
    ev.client = &client;
    ev.access = access;
    ev.qos = qos;
    ev.retain = retain ? 1 : 0;
    ev.topic = to_c(topic);
    ev.share_group = to_c(group);
    ev.payload = to_c_bytes(payload.data(), payload.size());
    for (const auto& r : table_->at(STRATA_EVENT_ACL)) {
        auto a = call(r, STRATA_EVENT_ACL, ev.header);
        if (a.result == STRATA_PASS) continue;
        if (a.result == STRATA_OK) return reason_code::success;
        if (reason_string) *reason_string = std::move(a.reason_string);
        if (a.result == STRATA_DENY) return refusal(a.reason_code, reason_code::not_authorized);
        if (a.result != STRATA_ERROR) log_bad_result(r, STRATA_EVENT_ACL, a.result);
        return refusal(a.reason_code, reason_code::unspecified_error);
    }
    return reason_code::success;  // nobody decided: no ACL means access
}

reason_code worker_hooks::check_publish(const client_view& c, std::string_view topic, const codec::publish_packet& p,
                                        const message_draft*& rewritten, std::string& reason_string) {
    rewritten = nullptr;
    if (wants(STRATA_EVENT_ACL)) {
        const auto rc = acl(c, STRATA_ACCESS_WRITE, topic, {}, p.qos, p.retain, p.payload, &reason_string);
        if (rc != reason_code::success) return rc;
    }
    if (!wants(STRATA_EVENT_MESSAGE_IN)) return reason_code::success;
    const strata_client client = c.to_c();
    auto& ev = message_in_.c;
    init_event(ev, STRATA_EVENT_MESSAGE_IN, worker_);
    message_in_.draft = &draft_;
    ev.client = &client;
    ev.topic = to_c(topic);
    ev.payload = to_c_bytes(p.payload.data(), p.payload.size());
    ev.qos = p.qos;
    ev.retain = p.retain ? 1 : 0;
    ev.has_message_expiry = p.props.message_expiry_interval ? 1 : 0;
    ev.message_expiry = p.props.message_expiry_interval.value_or(0);
    fill_properties(ev, p.props, user_property_views_);
    draft_.start(ev, p.props);
    for (const auto& r : table_->at(STRATA_EVENT_MESSAGE_IN)) {
        auto a = call(r, STRATA_EVENT_MESSAGE_IN, ev.header);
        if (a.result == STRATA_OK || a.result == STRATA_PASS) continue;
        reason_string = std::move(a.reason_string);
        if (a.result == STRATA_DENY) return refusal(a.reason_code, reason_code::not_authorized);
        if (a.result != STRATA_ERROR) log_bad_result(r, STRATA_EVENT_MESSAGE_IN, a.result);
        return refusal(a.reason_code, reason_code::unspecified_error);
    }
    if (draft_.modified()) rewritten = &draft_;
    return reason_code::success;
}

void worker_hooks::prepare_delivery(const message& m) {
    delivery_message_ = &m;
    init_event(delivery_, STRATA_EVENT_MESSAGE_OUT, worker_);
    delivery_.topic = to_c(m.topic());
    delivery_.payload = to_c_bytes(m.payload().data(), m.payload().size());
    delivery_.has_message_expiry = m.has_expiry() ? 1 : 0;
    delivery_.message_expiry = m.has_expiry() ? m.remaining_expiry(steady_clock::now()) : 0;
    // The message keeps its forwarded properties encoded (they are spliced
    // into each PUBLISH as they are); decode them once for the event.
    delivery_properties_.clear();
    const auto raw = m.forwarded_properties();
    if (!raw.empty()) {
        delivery_property_bytes_.clear();
        codec::byte_writer w(delivery_property_bytes_);
        w.varint(static_cast<std::uint32_t>(raw.size()));
        w.raw(raw);
        codec::byte_reader r(delivery_property_bytes_);
        codec::read_properties(r, codec::property_context::publish, delivery_properties_);
    }
    fill_properties(delivery_, delivery_properties_, delivery_property_views_);
}

bool worker_hooks::allow_delivery(const session& subscriber, std::uint8_t qos, bool retain) {
    const message& m = *delivery_message_;
    const client_view c = view_of(subscriber);
    if (wants(STRATA_EVENT_ACL) &&
        acl(c, STRATA_ACCESS_READ, m.topic(), {}, qos, retain, m.payload()) != reason_code::success) {
        return false;
    }
    if (!wants(STRATA_EVENT_MESSAGE_OUT)) return true;
    const strata_client client = c.to_c();
    for (const auto& r : table_->at(STRATA_EVENT_MESSAGE_OUT)) {
        // A fresh copy for each plugin: the struct is theirs to scribble on.
        strata_event_message ev = delivery_;
        ev.client = &client;
        ev.qos = qos;
        ev.retain = retain ? 1 : 0;
        const auto a = call(r, STRATA_EVENT_MESSAGE_OUT, ev.header);
        if (a.result == STRATA_OK || a.result == STRATA_PASS) continue;
        if (a.result != STRATA_DENY && a.result != STRATA_ERROR) log_bad_result(r, STRATA_EVENT_MESSAGE_OUT, a.result);
        return false;
    }
    return true;
}

reason_code worker_hooks::check_subscribe(const client_view& c, std::string_view mount_point,
                                          const topic::subscription_filter& f, subscription_options& o,
                                          std::uint32_t identifier) {
    std::string mounted;
    const std::string_view filter = with_mount_point(mount_point, f.filter, mounted);
    const std::string_view group = f.group;
    if (wants(STRATA_EVENT_ACL)) {
        const auto rc = acl(c, STRATA_ACCESS_SUBSCRIBE, filter, group, o.qos, false, {});
        if (rc != reason_code::success) return rc;
    }
    if (!wants(STRATA_EVENT_SUBSCRIBE)) return reason_code::success;
    const strata_client client = c.to_c();
    for (const auto& r : table_->at(STRATA_EVENT_SUBSCRIBE)) {
        strata_event_subscribe ev;
        init_event(ev, STRATA_EVENT_SUBSCRIBE, worker_);
        ev.client = &client;
        ev.filter = to_c(filter);
        ev.share_group = to_c(group);
        ev.qos = o.qos;
        ev.no_local = o.no_local ? 1 : 0;
        ev.retain_as_published = o.retain_as_published ? 1 : 0;
        ev.retain_handling = o.retain_handling;
        ev.subscription_identifier = identifier;
        const auto a = call(r, STRATA_EVENT_SUBSCRIBE, ev.header);
        if (a.result == STRATA_OK || a.result == STRATA_PASS) {
            if (ev.qos < o.qos) o.qos = ev.qos;  // lowered only
            continue;
        }
        if (a.result == STRATA_DENY) return refusal(a.reason_code, reason_code::not_authorized);
        if (a.result != STRATA_ERROR) log_bad_result(r, STRATA_EVENT_SUBSCRIBE, a.result);
        return refusal(a.reason_code, reason_code::unspecified_error);
    }
    return reason_code::success;
}

reason_code worker_hooks::check_unsubscribe(const client_view& c, std::string_view mount_point,
                                            const topic::subscription_filter& f) {
    std::string mounted;
    const std::string_view filter = with_mount_point(mount_point, f.filter, mounted);
    const std::string_view group = f.group;
    if (wants(STRATA_EVENT_ACL)) {
        const auto rc = acl(c, STRATA_ACCESS_UNSUBSCRIBE, filter, group, 0, false, {});
        if (rc != reason_code::success) return rc;
    }
    if (!wants(STRATA_EVENT_UNSUBSCRIBE)) return reason_code::success;
    const strata_client client = c.to_c();
    strata_event_unsubscribe ev;
    for (const auto& r : table_->at(STRATA_EVENT_UNSUBSCRIBE)) {
        init_event(ev, STRATA_EVENT_UNSUBSCRIBE, worker_);
        ev.client = &client;
        ev.filter = to_c(filter);
        ev.share_group = to_c(group);
        const auto a = call(r, STRATA_EVENT_UNSUBSCRIBE, ev.header);
        if (a.result == STRATA_OK || a.result == STRATA_PASS) continue;
        if (a.result == STRATA_DENY) return refusal(a.reason_code, reason_code::not_authorized);
        if (a.result != STRATA_ERROR) log_bad_result(r, STRATA_EVENT_UNSUBSCRIBE, a.result);
        return refusal(a.reason_code, reason_code::unspecified_error);
    }
    return reason_code::success;
}

void worker_hooks::disconnected(const client_view& c, bool accepted, bool client_initiated, std::uint8_t reason) {
    if (!wants(STRATA_EVENT_DISCONNECT)) return;
    const strata_client client = c.to_c();
    strata_event_disconnect ev;
    for (const auto& r : table_->at(STRATA_EVENT_DISCONNECT)) {
        init_event(ev, STRATA_EVENT_DISCONNECT, worker_);
        ev.client = &client;
        ev.accepted = accepted ? 1 : 0;
        ev.client_initiated = client_initiated ? 1 : 0;
        ev.reason = reason;
        call(r, STRATA_EVENT_DISCONNECT, ev.header);
    }
}

void worker_hooks::run_tick(time_point now) {
    if (last_tick_ != time_point{} && now - last_tick_ < std::chrono::seconds(1)) return;
    last_tick_ = now;
    strata_event_tick ev;
    for (const auto& r : table_->at(STRATA_EVENT_TICK)) {
        init_event(ev, STRATA_EVENT_TICK, worker_);
        ev.now_ms = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
        call(r, STRATA_EVENT_TICK, ev.header);
    }
}

client_view view_of(const session& s) {
    if (const auto* c = static_cast<const protocol::connection*>(s.sink())) return c->plugin_client();
    client_view v;
    v.client_id = s.client_id();
    v.username = s.username;
    v.has_username = s.has_username;
    v.protocol_version = s.protocol_version;
    return v;
}

}  // namespace strata::plugin
