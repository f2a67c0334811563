// Reads Mosquitto-syntax configuration: lines, files and include_dir, listener
// blocks and the checks that need the whole file. What each key means is in
// the key table (config_keys.cpp).
//
// Line syntax, as Mosquitto 2 reads it: `#` starts a comment line; the key is
// the first word; booleans, numbers and enumerations are one word, strings
// take the rest of the line. strata also accepts leading blanks before `#`
// and tabs between words (Mosquitto only splits on spaces), and a `# comment`
// after a one-word value (Mosquitto ignores anything after such a value; strata
// refuses other extra words instead of ignoring them).
#include "config/config_parser.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "config/config_keys.hpp"

namespace strata::config {

std::string config_error::to_string() const {
    if (line > 0) return file + ":" + std::to_string(line) + ": " + reason;
    if (!file.empty()) return file + ": " + reason;
    return reason;
}

namespace {

constexpr std::string_view blanks = " \t\r\n\v\f";
// Mosquitto 2 opens 127.0.0.1 and ::1 when nothing defines a listener.
constexpr std::string_view loopback = "localhost";
constexpr int outside_block = -1;  // listener id of the default (port / bind_address) listener

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

std::vector<std::string_view> split_words(std::string_view s) {
    std::vector<std::string_view> words;
    while (true) {
        const auto start = s.find_first_not_of(blanks);
        if (start == std::string_view::npos) break;
        s.remove_prefix(start);
        const auto end = std::min(s.find_first_of(blanks), s.size());
        words.push_back(s.substr(0, end));
        s.remove_prefix(end);
    }
    return words;
}

listener_config loopback_listener(std::uint16_t port, std::string defined_at) {
    listener_config l;
    l.port = port;
    l.bind_address = std::string(loopback);
    l.defined_at = std::move(defined_at);
    l.implicit = true;
    return l;
}

// Mosquitto's include_dir order: letters compared case-insensitively (as upper
// case), then upper case before lower case, a prefix before longer names.
bool mosquitto_file_order(const std::string& a, const std::string& b) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        const int x = std::toupper(static_cast<unsigned char>(a[i]));
        const int y = std::toupper(static_cast<unsigned char>(b[i]));
        if (x != y) return x < y;
        if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
    }
    return a.size() < b.size();
}

std::string expectation(const key_spec& k) {
    switch (k.kind) {
        case value_kind::boolean: return "true or false";
        case value_kind::integer: return "an integer from " + std::to_string(k.min) + " to " + std::to_string(k.max);
        case value_kind::duration: return "a duration such as 12h, 14d, 2w, 6m or 1y";
        case value_kind::choice: {
            std::string s = k.choices.size() > 2 ? "one of " : "";
            for (std::size_t i = 0; i < k.choices.size(); ++i) {
                if (i > 0) s += i + 1 == k.choices.size() ? " or " : ", ";
                s += k.choices[i].word;
            }
            return s;
        }
        case value_kind::text:
        case value_kind::words: return std::string(k.syntax.empty() ? "a value" : k.syntax);
    }
    return {};
}

class parser final : public parser_hooks {
public:
    // Reads one file; `level` 0 is the main file.
    void read_file(const std::filesystem::path& path, int level) {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            add_error(path.string(), 0, "is a directory, not a configuration file");
            return;
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            add_error(path.string(), 0, "cannot open the file: " + std::string(std::strerror(errno)));
            return;
        }
        std::ostringstream text;
        text << in.rdbuf();
        if (level == 0) main_file_ = path;
        read_text(text.str(), path.string(), level);
    }

    void read_text(std::string_view text, const std::string& name, int level) {
        // Each file starts outside any listener block, as in Mosquitto.
        const auto saved = std::tuple(file_, line_, level_, current_listener_);
        file_ = name;
        level_ = level;
        current_listener_ = outside_block;
        line_ = 0;
        while (!text.empty()) {
            const auto end = std::min(text.find('\n'), text.size());
            ++line_;
            ++ordinal_;
            parse_line(text.substr(0, end));
            text.remove_prefix(std::min(end + 1, text.size()));
        }
        std::tie(file_, line_, level_, current_listener_) = saved;
    }

    load_result finish();

    // ---- parser_hooks ----
    std::optional<std::string> open_listener(std::uint16_t port, std::string_view address) override {
        std::optional<std::string> problem;
        if (const auto* other = find_listener(port, address)) {
            problem = "port " + std::to_string(port) + " on " + describe(address) + " is already defined at " +
                      other->defined_at;
        }
        // Opened even when refused, so that the keys of this block are not blamed on another listener.
        listener_config l;
        l.port = port;
        l.bind_address = std::string(address);
        l.defined_at = where();
        cfg_.listeners.push_back(std::move(l));
        current_listener_ = static_cast<int>(cfg_.listeners.size()) - 1;
        return problem;
    }

    listener_config& default_listener() override {
        if (!default_listener_) {
            default_listener_.emplace();
            default_listener_->port = 1883;
        }
        if (!default_named_) {
            default_named_ = here();
            default_named_key_ = current_key_;
            default_listener_->defined_at = where();
        }
        return *default_listener_;
    }

    std::optional<std::string> include_dir(std::string_view dir) override {
        if (level_ > 0) return "only allowed in the main configuration file";
        std::error_code ec;
        std::vector<std::string> names;
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const auto name = it->path().filename().string();
            if (name.size() > 5 && name.ends_with(".conf")) names.push_back(name);
        }
        if (ec) return "cannot read directory '" + std::string(dir) + "': " + ec.message();
        std::sort(names.begin(), names.end(), mosquitto_file_order);
        for (const auto& name : names) {
            const auto path = std::filesystem::path(dir) / name;
            if (!main_file_.empty() && std::filesystem::equivalent(path, main_file_, ec)) {
                return "'" + std::string(dir) + "' contains the main configuration file " + main_file_.string();
            }
        }
        for (const auto& name : names) read_file(std::filesystem::path(dir) / name, level_ + 1);
        return std::nullopt;
    }

    std::optional<std::string> set_per_listener_settings(bool on) override {
        if (on != cfg_.per_listener_settings && first_security_key_) {
            return "must come before " + *first_security_key_;
        }
        cfg_.per_listener_settings = on;
        return std::nullopt;
    }

private:
    struct position {
        std::string file;
        int line = 0;
        std::size_t ordinal = 0;
        std::string text() const { return file + ":" + std::to_string(line); }
    };
    struct uniform_note {
        int listener;  // index into cfg_.listeners, or outside_block
        std::string value;
        position at;
    };

    void parse_line(std::string_view raw);
    // Settings of one listener that only make sense together (TLS).
    void check_listener(const listener_config& l);
    listener_config* listener_target(std::string_view key, const key_spec& k);
    void check_uniform_values(const key_spec& k, const std::vector<uniform_note>& notes);

    std::string where() const { return file_ + ":" + std::to_string(line_); }
    position here() const { return {file_, line_, ordinal_}; }

    static std::string describe(std::string_view address) {
        return address.empty() ? std::string("every interface") : "'" + std::string(address) + "'";
    }

    const listener_config* find_listener(std::uint16_t port, std::string_view address) const {
        if (port == 0) return nullptr;  // ephemeral ports never collide
        for (const auto& l : cfg_.listeners) {
            if (l.port == port && l.bind_address == address) return &l;
        }
        return nullptr;
    }

    void add_error(std::string file, int line, std::string reason) {
        errors_.push_back({ordinal_, {std::move(file), line, std::move(reason)}});
    }
    void add_error(const position& at, std::string reason) {
        errors_.push_back({at.ordinal, {at.file, at.line, std::move(reason)}});
    }
    void error(std::string_view key, const std::string& reason) {
        add_error(file_, line_, std::string(key) + ": " + reason);
    }

    broker_config cfg_;
    std::vector<std::pair<std::size_t, config_error>> errors_;  // with the ordinal of their line
    std::filesystem::path main_file_;
    std::string file_;
    int line_ = 0;
    int level_ = 0;
    std::size_t ordinal_ = 0;  // lines read so far, across files: orders the errors
    int current_listener_ = outside_block;

    // The listener of `port` / `bind_address`, also used by listener keys
    // written before any `listener` line.
    std::optional<listener_config> default_listener_;
    std::optional<position> default_named_;     // where port / bind_address first named it
    std::string default_named_key_;
    std::string current_key_;                   // the key of the line being read
    std::optional<position> first_default_use_; // the first listener key applied to it
    std::string first_default_use_reason_;

    std::optional<std::string> first_security_key_;   // "allow_anonymous (at file:line)"
    bool allow_anonymous_set_ = false;
    std::map<std::string, std::string> strings_set_;  // "key@target" -> where, for duplicate strings
    std::map<std::string_view, std::vector<uniform_note>> uniform_;
};

void parser::parse_line(std::string_view raw) {
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') return;
    const auto key_end = std::min(line.find_first_of(blanks), line.size());
    const auto key = line.substr(0, key_end);
    const auto rest = trim(line.substr(key_end));

    const key_spec* k = find_key(key);
    if (!k) {
        std::string reason = "unknown configuration key '" + std::string(key) + "'";
        if (const auto hint = closest_key(key); !hint.empty()) reason += " (did you mean '" + std::string(hint) + "'?)";
        add_error(file_, line_, reason);
        return;
    }
    if (k->status == key_status::not_supported_yet) {
        error(key, "not supported yet (" + std::string(release_name(k->when)) + ")");
        return;
    }
    if (k->status == key_status::not_supported) {
        error(key, std::string(k->doc));
        return;
    }

    // Read the argument according to the key's kind.
    key_value v;
    auto words = split_words(rest);
    if (k->kind != value_kind::text && !k->takes_filters) {
        // A word starting with '#' ends the value: a trailing comment.
        const auto comment = std::find_if(words.begin(), words.end(), [](auto w) { return w.front() == '#'; });
        words.erase(comment, words.end());
    }
    v.words = words;
    v.text = k->kind == value_kind::text || k->kind == value_kind::words ? rest : (words.empty() ? "" : words[0]);
    if (words.empty()) {
        error(key, "missing value (expected " + expectation(*k) + ")");
        return;
    }
    const bool one_word = k->kind != value_kind::text && k->kind != value_kind::words;
    if (one_word && words.size() > 1) {
        error(key, "expected a single value, got '" +
                       std::string(rest.substr(0, words.back().data() + words.back().size() - rest.data())) + "'");
        return;
    }
    std::string canonical(v.text);
    const auto bad = [&](std::string_view what) {
        error(key, "expected " + expectation(*k) + ", got '" + std::string(what) + "'");
    };
    switch (k->kind) {
        case value_kind::boolean:
            // Mosquitto also accepts 1 and 0.
            if (v.text == "true" || v.text == "1") {
                v.flag = true;
            } else if (v.text != "false" && v.text != "0") {
                return bad(v.text);
            }
            canonical = v.flag ? "true" : "false";
            break;
        case value_kind::integer:
        case value_kind::duration: {
            const auto n = k->kind == value_kind::integer ? parse_integer(v.text) : parse_duration(v.text);
            if (!n || *n < k->min || *n > k->max) return bad(v.text);
            v.number = *n;
            canonical = std::to_string(*n);
            break;
        }
        case value_kind::choice:
        case value_kind::words: {
            if (k->choices.empty()) break;
            const auto it = std::find_if(k->choices.begin(), k->choices.end(),
                                         [&](const key_choice& c) { return c.word == words[0]; });
            if (it == k->choices.end()) {
                if (k->kind == value_kind::choice) return bad(words[0]);
                return error(key, "expected " + std::string(k->syntax) + ", got '" + std::string(words[0]) + "'");
            }
            if (it->not_yet != release::none) {
                return error(key, "'" + std::string(it->word) + "' is not supported yet (" +
                                      std::string(release_name(it->not_yet)) + ")");
            }
            v.choice = static_cast<std::size_t>(it - k->choices.begin());
            break;
        }
        case value_kind::text: break;
    }
    if (!k->only_value.empty() && canonical != k->only_value) {
        return error(key, "'" + std::string(v.text) + "' is not supported yet (" + std::string(release_name(k->when)) +
                              "); only " + std::string(k->only_value) + " for now");
    }

    // Where the key applies.
    listener_config* target = nullptr;
    if (k->scope == key_scope::listener_block && current_listener_ == outside_block) {
        return error(key, "must come after a 'listener' line");
    }
    if (k->scope == key_scope::security && !first_security_key_) {
        first_security_key_ = std::string(k->name) + " (at " + where() + ")";
    }
    if (k->scope == key_scope::listener || k->scope == key_scope::listener_block ||
        (k->scope == key_scope::security && cfg_.per_listener_settings)) {
        target = listener_target(key, *k);
    }

    // Mosquitto refuses a string key set twice (for the same listener).
    if (k->kind == value_kind::text && !k->repeatable) {
        const auto slot = std::string(k->name) + "@" +
                          (target ? std::to_string(current_listener_)
                           : k->scope == key_scope::http_listener_block ? "http" + std::to_string(cfg_.http.listeners.size())
                                                                        : "global");
        const auto [it, inserted] = strings_set_.emplace(slot, where());
        if (!inserted) return error(key, "set twice (first at " + it->second + ")");
    }

    current_key_ = std::string(key);
    const std::string at = where();
    apply_context ctx{cfg_, target, *this, key, at};
    if (auto problem = k->apply(ctx, v)) return error(key, *problem);

    if (k->one_value_for_all_listeners && target) {
        uniform_[k->name].push_back({current_listener_, canonical, here()});
    }
    // Only an explicit allow_anonymous survives the local-only default (see finish()).
    if (k->name == "allow_anonymous") allow_anonymous_set_ = true;
}

listener_config* parser::listener_target(std::string_view key, const key_spec& k) {
    if (current_listener_ != outside_block) return &cfg_.listeners[static_cast<std::size_t>(current_listener_)];
    // Before any `listener` line: the default listener, which `port` or
    // `bind_address` must define somewhere in the conf (checked in finish()).
    if (!default_listener_) {
        default_listener_.emplace();
        default_listener_->port = 1883;
    }
    if (!first_default_use_) {
        first_default_use_ = here();
        first_default_use_reason_ = std::string(key) + ": must come after a 'listener' line";
        if (k.scope == key_scope::security) first_default_use_reason_ += " (per_listener_settings is true)";
    }
    return &*default_listener_;
}

void parser::check_uniform_values(const key_spec& k, const std::vector<uniform_note>& notes) {
    // The value each listener ends up with: its last setting, or the default.
    const auto value_of = [&](int id) -> std::pair<std::string, const uniform_note*> {
        for (auto it = notes.rbegin(); it != notes.rend(); ++it) {
            if (it->listener == id) return {it->value, &*it};
        }
        return {std::string(k.default_text), nullptr};
    };
    const auto name_of = [&](int id) {
        return id == outside_block ? default_named_->text() : cfg_.listeners[static_cast<std::size_t>(id)].defined_at;
    };
    std::vector<int> ids;
    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) ids.push_back(static_cast<int>(i));
    if (default_named_) ids.push_back(outside_block);
    const auto [first_value, first_note] = value_of(ids.front());
    for (const int id : ids) {
        const auto [value, note] = value_of(id);
        if (value == first_value) continue;
        add_error((note ? note : first_note)->at,
                  std::string(k.name) + ": every listener must have the same value for now: the listener at " +
                      name_of(ids.front()) + " has " + first_value + ", the one at " + name_of(id) + " has " + value +
                      " (per-listener values are not supported yet)");
        return;
    }
}

void parser::check_listener(const listener_config& l) {
    const auto& t = l.tls;
    const auto refuse = [&](const std::string& reason) {
        // defined_at is already "file:line" of the listener line.
        errors_.push_back({ordinal_, {{}, 0, l.defined_at + ": listener: " + reason}});
    };
    if (!t.enabled()) {
        if (!t.cafile.empty() || !t.capath.empty() || t.require_certificate || !t.crlfile.empty() ||
            t.use_identity_as_username || t.use_subject_as_username) {
            refuse("TLS settings need certfile and keyfile (TLS is off without them)");
        }
        return;
    }
    if (t.certfile.empty()) return refuse("keyfile needs certfile");
    if (t.keyfile.empty()) return refuse("certfile needs keyfile");
    if (t.require_certificate && t.cafile.empty() && t.capath.empty()) {
        return refuse("require_certificate needs cafile or capath to check client certificates against");
    }
    if ((t.use_identity_as_username || t.use_subject_as_username) && !t.require_certificate) {
        return refuse("use_identity_as_username and use_subject_as_username need require_certificate true");
    }
    if (!t.crlfile.empty() && !t.require_certificate) return refuse("crlfile needs require_certificate true");
}

load_result parser::finish() {
    if (default_listener_) {
        if (!default_named_) {
            add_error(*first_default_use_, first_default_use_reason_);
        } else if (const auto* other = find_listener(default_listener_->port, default_listener_->bind_address)) {
            add_error(*default_named_, default_named_key_ + ": the default listener (port " +
                                           std::to_string(default_listener_->port) + " on " +
                                           describe(default_listener_->bind_address) + ") is already defined at " +
                                           other->defined_at);
        }
    }
    for (const auto& [name, notes] : uniform_) {
        const auto on_default = [](const uniform_note& n) { return n.listener == outside_block; };
        if (!default_named_ && std::all_of(notes.begin(), notes.end(), on_default)) {
            continue;  // already refused: no listener to apply them to
        }
        check_uniform_values(*find_key(name), notes);
    }

    for (const auto& l : cfg_.listeners) check_listener(l);
    for (const auto& e : cfg_.exporters) {
        if (auto problem = check_exporter(e)) errors_.push_back({ordinal_, {{}, 0, e.defined_at + ": " + *problem}});
    }
    if (default_listener_ && default_named_) check_listener(*default_listener_);

    load_result result;
    if (!errors_.empty()) {
        std::stable_sort(errors_.begin(), errors_.end(), [](auto& a, auto& b) { return a.first < b.first; });
        for (auto& [ordinal, e] : errors_) result.errors.push_back(std::move(e));
        return result;
    }
    if (default_listener_) cfg_.listeners.push_back(std::move(*default_listener_));
    if (cfg_.listeners.empty()) {
        // Mosquitto 2's local-only mode: loopback, anonymous clients allowed
        // unless the conf says otherwise (Mosquitto 2.0 even overrides an
        // explicit false; strata keeps it).
        cfg_.listeners.push_back(loopback_listener(1883, "default listener"));
        if (!allow_anonymous_set_) cfg_.allow_anonymous = true;
    }
    if (cfg_.per_listener_settings) {
        for (auto& l : cfg_.listeners) {
            if (!l.allow_anonymous) l.allow_anonymous = l.implicit ? cfg_.allow_anonymous : false;
        }
    }
    if (auto problem = finish_http(cfg_)) {
        result.errors.push_back({{}, 0, *problem});
        return result;
    }
    result.config = std::move(cfg_);
    return result;
}

}  // namespace

load_result load_file(const std::filesystem::path& path) {
    parser p;
    p.read_file(path, 0);
    return p.finish();
}

load_result load_text(const std::string& text, const std::string& name) {
    parser p;
    p.read_text(text, name, 0);
    return p.finish();
}

broker_config default_config() {
    broker_config cfg;
    cfg.listeners.push_back(loopback_listener(1883, "default listener"));
    cfg.allow_anonymous = true;
    return cfg;
}

void apply_command_line(broker_config& cfg, const std::vector<std::uint16_t>& ports, bool verbose,
                        bool from_conf_file) {
    if (verbose) {
        cfg.log.types = log_all;  // -v overrides log_type, as in Mosquitto
        cfg.log.types_set = true;
    }
    if (ports.empty()) return;
    // Mosquitto 2 ignores -p when the conf defines a listener (also through
    // port / bind_address); otherwise each -p replaces the loopback default
    // with a loopback listener, with or without a conf file.
    if (!std::all_of(cfg.listeners.begin(), cfg.listeners.end(), [](const auto& l) { return l.implicit; })) return;
    const auto anonymous = cfg.listeners.empty() ? std::nullopt : cfg.listeners.front().allow_anonymous;
    cfg.listeners.clear();
    for (const auto port : ports) {
        const bool seen = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                      [&](const auto& l) { return port != 0 && l.port == port; });
        if (seen) continue;
        auto l = loopback_listener(port, "-p " + std::to_string(port));
        l.allow_anonymous = anonymous;
        cfg.listeners.push_back(std::move(l));
    }
    (void)from_conf_file;  // Mosquitto 2 treats "no conf" and "a conf without listener" alike
}

}  // namespace strata::config
