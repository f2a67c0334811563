// Password hashes, password files, ACL files and the failed-login throttle.
// Hashes made by mosquitto_passwd are checked here; the end-to-end tests
// use files made by mosquitto_passwd itself.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "auth/acl_file.hpp"
#include "auth/login_throttle.hpp"
#include "auth/password_file.hpp"
#include "auth/password_hash.hpp"

using namespace strata::auth;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() / ("strata-test-" + name);
    std::ofstream(path) << text;
    return path.string();
}

// Made by mosquitto_passwd 2.0.11 (-H sha512-pbkdf2, and -H sha512).
constexpr const char* alice_pbkdf2 =
    "$7$101$Qt1C40ugvzhwIsEz$SnY7mm+QV/YH+5iKgwemQHHQEts9DoqxUOnDOriWx0NkXr7vGJMuy91ncWiHaQvbQqYD/eljyNjvOvE69l54kA==";
constexpr const char* bob_sha512 =
    "$6$gqLaCCduk9i3mDXz$RqvbQQ2KY+0YIpz/1ISYYVsonJgno+gnca4ir/u6Jf1XhW0IyhluAn2rlZn37LJxRVAmU3TXHtJAR1jiIajy4A==";

client_acl resolve(const std::string& text, const char* user, const char* client_id = "c1") {
    std::string error;
    const auto file = acl_file::load(write_temp("acl", text), error);
    REQUIRE_MESSAGE(file, error);
    const std::string name = user ? user : "";
    return file->resolve(user ? &name : nullptr, client_id);
}

std::string acl_error(const std::string& text) {
    std::string error;
    CHECK_FALSE(acl_file::load(write_temp("acl-bad", text), error));
    return error.substr(error.find(':') + 1);  // without the temporary path
}

}  // namespace

TEST_CASE("auth: mosquitto_passwd's hashes verify, wrong passwords do not") {
    CHECK(verify_password(alice_pbkdf2, "secret1"));
    CHECK_FALSE(verify_password(alice_pbkdf2, "secret2"));
    CHECK_FALSE(verify_password(alice_pbkdf2, ""));
    CHECK(verify_password(bob_sha512, "secret2"));
    CHECK_FALSE(verify_password(bob_sha512, "Secret2"));
}

TEST_CASE("auth: new hashes have the format and verify") {
    const auto h7 = hash_password("pässword", hash_kind::sha512_pbkdf2, 1000);
    CHECK(h7.starts_with("$7$1000$"));
    CHECK(verify_password(h7, "pässword"));
    CHECK_FALSE(verify_password(h7, "password"));
    const auto h6 = hash_password("x", hash_kind::sha512);
    CHECK(h6.starts_with("$6$"));
    CHECK(verify_password(h6, "x"));
    // A new salt each time.
    CHECK(hash_password("x", hash_kind::sha512) != h6);
}

TEST_CASE("auth: malformed hashes are named, never accepted") {
    CHECK(check_hash_syntax("plaintext").value().find("strata passwd -U") != std::string::npos);
    CHECK(check_hash_syntax("$7$abc$c2FsdA==$aGFzaA==").value().find("iteration") != std::string::npos);
    CHECK(check_hash_syntax("$6$c2FsdA==").has_value());
    CHECK(check_hash_syntax("$6$!!!!$aGFzaA==").has_value());
    CHECK(check_hash_syntax("$6$c2FsdA==$aGFzaA==").value().find("SHA-512") != std::string::npos);
    CHECK_FALSE(check_hash_syntax(alice_pbkdf2).has_value());
    CHECK_FALSE(verify_password("$6$c2FsdA==$aGFzaA==", ""));
}

TEST_CASE("auth: password file") {
    std::string error;
    std::vector<std::string> warnings;
    std::string text = "# comment\nalice:";
    text += alice_pbkdf2;
    text += "\n\nbob:";
    text += bob_sha512;
    text += "\r\n";
    const auto file = password_file::load(write_temp("pw", text), error, warnings);
    REQUIRE_MESSAGE(file, error);
    CHECK(warnings.empty());
    CHECK(file->size() == 2);
    CHECK(file->verify("alice", "secret1"));
    CHECK_FALSE(file->verify("alice", "secret2"));
    CHECK(file->verify("bob", "secret2"));
    CHECK_FALSE(file->verify("carol", "secret1"));
    CHECK_FALSE(file->verify("alice", ""));  // an empty or absent password never matches
    CHECK(file->has_user("bob"));

    // As Mosquitto: a line that is no valid entry is skipped with a warning
    // naming its line; the others still count.
    const auto skipped = [](const std::string& text, std::size_t valid) {
        std::string e;
        std::vector<std::string> w;
        const auto f = password_file::load(write_temp("pw-bad", text), e, w);
        REQUIRE_MESSAGE(f, e);
        CHECK(f->size() == valid);
        REQUIRE(w.size() == 1);
        return w[0].substr(w[0].find(':') + 1);
    };
    CHECK(skipped("alice:secret\n", 0).starts_with("1: user 'alice': not a password hash"));
    const std::string alice_line = std::string("a:").append(alice_pbkdf2).append("\n");
    CHECK(skipped(alice_line + "nocolon\n", 1) == "2: expected username:hash; line skipped");
    CHECK(skipped(alice_line + ":" + alice_pbkdf2 + "\n", 1) == "2: expected username:hash; line skipped");
    CHECK(skipped(alice_line + "b:\n", 1).starts_with("2: user 'b': "));
    // Listed twice: neither entry counts.
    CHECK(skipped(alice_line + std::string("a:").append(bob_sha512), 0) ==
          "2: user 'a' is listed twice; that user cannot log in");
    CHECK_FALSE(password_file::load("/nonexistent/pw", error, warnings));
    CHECK(error.find("cannot read the password file") != std::string::npos);
}

TEST_CASE("auth: ACL topic rules for users and anonymous clients") {
    const std::string text =
        "# anonymous clients\n"
        "topic read public/#\n"
        "\n"
        "user alice\n"
        "topic readwrite sensors/#\n"
        "topic write cmd/alice\n"
        "topic deny sensors/secret/#\n"
        "user bob\n"
        "topic sensors/+/temp\n";
    const auto anon = resolve(text, nullptr);
    CHECK(anon.may_receive("public/news"));
    CHECK_FALSE(anon.may_publish("public/news"));
    CHECK_FALSE(anon.may_receive("sensors/1/temp"));

    const auto alice = resolve(text, "alice");
    CHECK(alice.may_publish("sensors/1/temp"));
    CHECK(alice.may_receive("sensors/1/temp"));
    CHECK(alice.may_publish("cmd/alice"));
    CHECK_FALSE(alice.may_receive("cmd/alice"));
    // deny wins, whatever the order of the lines
    CHECK_FALSE(alice.may_receive("sensors/secret/key"));
    CHECK_FALSE(alice.may_publish("sensors/secret/key"));
    CHECK_FALSE(alice.may_receive("public/news"));  // anonymous rules are not hers

    const auto bob = resolve(text, "bob");  // no access word: readwrite
    CHECK(bob.may_publish("sensors/7/temp"));
    CHECK(bob.may_receive("sensors/7/temp"));
    CHECK_FALSE(bob.may_receive("sensors/7/humidity"));

    const auto stranger = resolve(text, "mallory");
    CHECK_FALSE(stranger.may_receive("public/news"));
    CHECK_FALSE(stranger.may_publish("sensors/1/temp"));
}

TEST_CASE("auth: patterns substitute %c and %u, and refuse names that would widen them") {
    const std::string text = "pattern readwrite devices/%c/#\npattern read users/%u/inbox\n";
    const auto a = resolve(text, "alice", "dev-1");
    CHECK(a.may_publish("devices/dev-1/state"));
    CHECK_FALSE(a.may_publish("devices/dev-2/state"));
    CHECK(a.may_receive("users/alice/inbox"));
    CHECK_FALSE(a.may_receive("users/bob/inbox"));
    // no username: %u patterns do not apply, %c ones do
    const auto anon = resolve(text, nullptr, "dev-9");
    CHECK(anon.may_publish("devices/dev-9/x"));
    // a client id with a wildcard or slash would reach other clients' topics: no pattern applies
    CHECK_FALSE(resolve(text, "alice", "+").may_publish("devices/dev-1/state"));
    CHECK_FALSE(resolve(text, "alice", "a/b").may_publish("devices/a/b/c"));
    CHECK_FALSE(resolve(text, "#", "dev-1").may_receive("users/x/inbox"));
}

TEST_CASE("auth: '$' topics need rules that start with '$'") {
    const auto all = resolve("user root\ntopic #\ntopic read $SYS/#\n", "root");
    CHECK(all.may_receive("anything/at/all"));
    CHECK(all.may_receive("$SYS/broker/uptime"));
    CHECK_FALSE(all.may_publish("$SYS/broker/uptime"));
    CHECK_FALSE(resolve("user u\ntopic #\n", "u").may_receive("$SYS/broker/uptime"));
    CHECK_FALSE(resolve("user u\ntopic +/broker/uptime\n", "u").may_receive("$SYS/broker/uptime"));
}

TEST_CASE("auth: subscriptions are refused only when they could never receive anything") {
    const std::string text = "user u\ntopic read sensors/#\ntopic deny sensors/secret/#\ntopic read a/+/c\n";
    const auto u = resolve(text, "u");
    CHECK(u.may_subscribe("sensors/#"));
    CHECK(u.may_subscribe("sensors/+/temp"));
    CHECK(u.may_subscribe("#"));        // overlaps sensors/#: deliveries are filtered one by one
    CHECK(u.may_subscribe("+/x"));      // sensors/x
    CHECK(u.may_subscribe("a/b/#"));    // a/b/c
    CHECK_FALSE(u.may_subscribe("other/#"));
    CHECK_FALSE(u.may_subscribe("sensors/secret/#"));  // covered by a deny
    CHECK_FALSE(u.may_subscribe("sensors/secret/+/x"));
    CHECK_FALSE(u.may_subscribe("a/b/d"));
    CHECK_FALSE(u.may_subscribe("$SYS/#"));
    CHECK_FALSE(resolve("user w\ntopic write sensors/#\n", "w").may_subscribe("sensors/#"));
}

TEST_CASE("auth: filter intersection and coverage") {
    CHECK(filters_intersect("a/#", "a"));
    CHECK(filters_intersect("a/+", "+/b"));
    CHECK(filters_intersect("#", "x/y/z"));
    CHECK_FALSE(filters_intersect("a/b", "a/c"));
    CHECK_FALSE(filters_intersect("a/+", "a"));
    CHECK_FALSE(filters_intersect("a", "a/b"));
    CHECK_FALSE(filters_intersect("#", "$SYS/#"));
    CHECK_FALSE(filters_intersect("+/x", "$SYS/x"));
    CHECK(filters_intersect("$SYS/#", "$SYS/broker"));

    CHECK(filter_covers("a/#", "a"));
    CHECK(filter_covers("a/#", "a/+/c"));
    CHECK(filter_covers("+/+", "a/b"));
    CHECK(filter_covers("#", "x/#"));
    CHECK_FALSE(filter_covers("a/+", "a/#"));
    CHECK_FALSE(filter_covers("a/b", "a/+"));
    CHECK_FALSE(filter_covers("a/+", "a/b/c"));
    CHECK_FALSE(filter_covers("a/b/c", "a/b"));
    CHECK_FALSE(filter_covers("#", "$SYS/x"));
}

TEST_CASE("auth: ACL file errors name the line") {
    CHECK(acl_error("topic read a\nuser\n") == "2: user needs a username");
    CHECK(acl_error("topic sometimes a/b\n") == "1: expected read, write, readwrite or deny, got 'sometimes'");
    CHECK(acl_error("\n\ntopic read a/#/b\n") == "3: 'a/#/b' is not a valid topic filter");
    CHECK(acl_error("allow a\n") == "1: expected topic, pattern or user, got 'allow'");
}

TEST_CASE("auth: failed logins block an address, doubling up to the maximum") {
    login_throttle t;
    t.configure(3, std::chrono::seconds(4));
    const auto t0 = login_throttle::clock::now();
    CHECK(t.failed("10.0.0.1", t0).count() == 0);
    CHECK(t.failed("10.0.0.1", t0).count() == 0);
    CHECK(t.blocked_for("10.0.0.1", t0).count() == 0);
    CHECK(t.failed("10.0.0.1", t0).count() == 1000);
    CHECK(t.blocked_for("10.0.0.1", t0).count() == 1000);
    CHECK(t.blocked_for("10.0.0.2", t0).count() == 0);  // per address
    CHECK(t.failed("10.0.0.1", t0).count() == 2000);
    CHECK(t.failed("10.0.0.1", t0).count() == 4000);
    CHECK(t.failed("10.0.0.1", t0).count() == 4000);  // capped
    CHECK(t.blocked_for("10.0.0.1", t0 + std::chrono::seconds(5)).count() == 0);
    t.succeeded("10.0.0.1");
    CHECK(t.failed("10.0.0.1", t0).count() == 0);  // counting starts again
    t.configure(0, std::chrono::seconds(4));
    for (int i = 0; i < 10; ++i) CHECK(t.failed("10.0.0.3", t0).count() == 0);  // off
}
