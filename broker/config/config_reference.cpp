// Renders the key table as docs/configuration.md. Only the introduction is
// prose written here; everything about a key comes from its row.
#include "config/config_reference.hpp"

#include <cctype>
#include <string_view>

#include "config/config_keys.hpp"

namespace strata::config {

namespace {

constexpr std::string_view intro = R"(# Configuration

<!-- Generated from broker/config/config_keys.cpp by `strata --conf-reference`. Do not edit. -->

strata reads Mosquitto 2's configuration file: start it with `strata -c FILE`, as you would start
`mosquitto -c FILE`, and check a file without starting the broker with `strata --check -c FILE`.

Each line holds one key and its value, separated by blanks. A line whose first non-blank character is
`#` is a comment. Booleans, numbers and words are a single word (a `# comment` may follow them); paths
and other strings take the rest of the line, spaces included. Listener keys apply to the listener
block opened by the last `listener` line of the same file. `include_dir` reads more files, which
start outside any listener block.

Mistakes stop the broker with every error found, each as `file:line: reason`: unknown keys, values
out of range, a string key set twice, a listener key outside a listener block, two listeners on the
same port and address. Keys that strata will support in a later release are refused with
`file:line: KEY: not supported yet (RELEASE)` rather than ignored, so that a configuration asking for
TLS, passwords or access control never starts an open broker.

Listeners work as in Mosquitto 2:

- Without `-c`, or with a file that defines no `listener`, `port` or `bind_address`, strata listens
  on port 1883 of the loopback interface only and allows anonymous clients (unless the file sets
  `allow_anonymous false`).
- Once the file defines a listener, listeners use every interface unless given an address, and
  `allow_anonymous` defaults to false: set it, or no client can connect until authentication arrives.
- `-p PORT` (repeatable) replaces the loopback default with loopback listeners on those ports; as in
  Mosquitto 2 it is ignored when the file defines a listener. `-v` logs every message type.

Where strata is stricter than Mosquitto 2.0, it refuses what Mosquitto would silently ignore or
misread: extra words after a value, listener keys before any `listener` line in a file without `port`
or `bind_address` (Mosquitto would open port 1883 on every interface, with anonymous access when
`allow_anonymous` is not set), `include_dir` in an included file, different values of
`max_qos`, `max_topic_alias`, `allow_zero_length_clientid` or `auto_id_prefix` on different listeners
(strata applies one value to all listeners for now).
)";

constexpr std::string_view section_titles[] = {"Listeners", "Access",      "Limits",   "Logging",
                                               "Process",   "Persistence", "HTTP API",  "Exporters"};
constexpr key_section section_order[] = {key_section::listeners, key_section::access,      key_section::limits,
                                         key_section::logging,   key_section::process,     key_section::persistence,
                                         key_section::http,      key_section::exporters};

std::string code(std::string_view s) { return "`" + std::string(s) + "`"; }

// Defaults in parentheses are prose ("(never)"), the others are conf values.
std::string default_of(const key_spec& k) {
    if (k.default_text.empty()) return "none";
    if (k.default_text.front() == '(') return std::string(k.default_text.substr(1, k.default_text.size() - 2));
    return code(k.default_text);
}

// One blank line between blocks, whatever the previous block ended with.
void new_block(std::string& out) {
    while (out.ends_with("\n")) out.pop_back();
    out += "\n\n";
}

std::string syntax_of(const key_spec& k) {
    if (!k.syntax.empty()) return std::string(k.syntax);
    switch (k.kind) {
        case value_kind::boolean: return "true | false";
        case value_kind::integer: return std::to_string(k.min) + ".." + std::to_string(k.max);
        case value_kind::duration: return "DURATION";
        case value_kind::choice: {
            std::string s;
            for (const auto& c : k.choices) s += (s.empty() ? "" : " | ") + std::string(c.word);
            return s;
        }
        case value_kind::text:
        case value_kind::words: return "VALUE";
    }
    return {};
}

std::string scope_of(const key_spec& k) {
    std::string s;
    switch (k.scope) {
        case key_scope::global: s = "global"; break;
        case key_scope::listener: s = "per listener"; break;
        case key_scope::listener_block: s = "per listener, inside a `listener` block only"; break;
        case key_scope::security: s = "global; per listener with `per_listener_settings true`"; break;
        case key_scope::http_listener_block: s = "per HTTP listener, after its `http_listener` line"; break;
    }
    if (k.one_value_for_all_listeners) s += " (strata: the same value on every listener for now)";
    return s;
}

void render_key(std::string& out, const key_spec& k) {
    new_block(out);
    out += "### " + code(k.name) + "\n\n";
    out += "- Syntax: " + code(std::string(k.name) + " " + syntax_of(k)) + "\n";
    if (k.kind == value_kind::duration) {
        out += "- Units: `h` hours, `d` days, `w` weeks, `m` months (30 days), `y` years (365 days), e.g. `14d`\n";
    }
    out += "- Default: " + default_of(k) + "\n";
    out += "- Scope: " + scope_of(k) + "\n";
    if (k.repeatable) out += "- May be repeated\n";
    if (!k.alias.empty()) out += "- Also accepted as " + code(k.alias) + "\n";
    if (k.status == key_status::ignored) out += "- Status: accepted, no effect\n";
    if (!k.only_value.empty()) {
        out += "- Status: only " + code(k.only_value) + " for now; other values are not supported yet (" +
               std::string(release_name(k.when)) + ")\n";
    }
    for (const auto& c : k.choices) {
        if (c.not_yet != release::none) {
            out += "- Not supported yet: " + code(c.word) + " (" + std::string(release_name(c.not_yet)) + ")\n";
        }
    }
    out += "\n" + std::string(k.doc) + "\n";
}

}  // namespace

std::string reference_markdown() {
    std::string out(intro);
    for (std::size_t s = 0; s < std::size(section_order); ++s) {
        new_block(out);
        out += "## " + std::string(section_titles[s]) + "\n";
        for (const auto& k : all_keys()) {
            if (k.section == section_order[s] && k.status != key_status::not_supported_yet &&
                k.status != key_status::not_supported) {
                render_key(out, k);
            }
        }
    }
    new_block(out);
    out += "## Not supported\n\nThese Mosquitto keys stop the broker with `not supported` and the reason below.\n\n"
           "| Key | Why, and what to use instead |\n| --- | --- |\n";
    for (const auto& k : all_keys()) {
        if (k.status == key_status::not_supported) {
            std::string why(k.doc);
            why[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(why[0])));
            out += "| " + code(k.name) + " | " + why + " |\n";
        }
    }
    new_block(out);
    out += "## Not supported yet\n\n"
           "These Mosquitto keys stop the broker with `not supported yet` until the release that brings them.\n";
    for (const auto r : {release::tls, release::auth, release::websockets, release::bridge, release::storage,
                         release::later}) {
        std::string rows;
        for (const auto& k : all_keys()) {
            if (k.status == key_status::not_supported_yet && k.when == r) {
                rows += "| " + code(k.name) + " | " + std::string(k.doc) + " |\n";
            }
        }
        if (rows.empty()) continue;
        std::string title(release_name(r));
        title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
        new_block(out);
        out += "### " + title + "\n\n| Key | What it does in Mosquitto |\n| --- | --- |\n" + rows;
    }
    return out;
}

}  // namespace strata::config
