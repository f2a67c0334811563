// A Mosquitto ACL file (`acl_file`):
//
//   topic [read|write|readwrite|deny] FILTER   before any `user` line: anonymous clients
//   user NAME                                  the following `topic` lines are NAME's
//   pattern [read|write|readwrite|deny] FILTER every client; %c = client id, %u = username
//
// No access word means readwrite; `deny` refuses both ways and wins over any
// grant. A filter not starting with '$' never matches a '$' topic. Patterns
// are skipped for a client whose id or username contains '+', '#' or '/'
// (they could otherwise widen the pattern), as Mosquitto does.
//
// The file is parsed once (start-up, SIGHUP); resolve() turns it into the
// rules of one client, with %c and %u substituted, when the client connects,
// so checking a message costs no allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata::auth {

enum acl_access : std::uint8_t { acl_read = 1, acl_write = 2, acl_deny = 4 };

struct acl_rule {
    std::string filter;
    std::uint8_t access = 0;  // acl_read | acl_write, or acl_deny
};

// The rules that apply to one client.
class client_acl {
public:
    explicit client_acl(std::vector<acl_rule> rules);
    // PUBLISH to `topic` (and the client's will).
    bool may_publish(std::string_view topic) const { return allows(topic, acl_write); }
    // Delivery of a message on `topic` to this client (retained messages too).
    bool may_receive(std::string_view topic) const { return allows(topic, acl_read); }
    // SUBSCRIBE to `filter` (without $share/group): refused when no read rule
    // can match any topic of the filter, or a deny rule covers all of it.
    // Narrower denials are applied to each message instead.
    bool may_subscribe(std::string_view filter) const;

private:
    bool allows(std::string_view topic, std::uint8_t access) const;
    std::vector<acl_rule> rules_;  // deny rules first
};

class acl_file {
public:
    // Reads `path`; on failure returns null and sets `error` ("path:line: reason").
    static std::shared_ptr<const acl_file> load(const std::string& path, std::string& error);
    // The rules of a client: its user's `topic` lines (the anonymous ones
    // without a username) and every `pattern` line. `unsafe_names` is set
    // when patterns were skipped because of the id or username.
    client_acl resolve(const std::string* username, std::string_view client_id, bool* unsafe_names = nullptr) const;
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::vector<acl_rule> anonymous_;
    std::unordered_map<std::string, std::vector<acl_rule>> users_;
    std::vector<acl_rule> patterns_;
};

// Whether some topic matches both filters (valid MQTT filters).
bool filters_intersect(std::string_view a, std::string_view b);
// Whether every topic `inner` matches is matched by `outer`.
bool filter_covers(std::string_view outer, std::string_view inner);

}  // namespace strata::auth
