// The shared message: what it carries in its one allocation.
#include <doctest/doctest.h>

#include <cstring>

#include "session/message.hpp"

using namespace strata;

namespace {

std::span<const std::uint8_t> bytes(const char* s) { return {reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)}; }

}  // namespace

TEST_CASE("message: a retained message keeps its publisher after the payload; others keep none") {
    const std::string client_id = "sensor-1";  // gone when the message is still used
    message::init in;
    in.topic = "a/b";
    in.payload = bytes("21.5");
    in.qos = 1;
    in.retain = true;
    const message_source source{client_id, "alice", true, 3};
    in.source = &source;
    const message_ref with(message::create(in));
    CHECK(with->has_source());
    CHECK(with->source().client_id == "sensor-1");
    CHECK(with->source().client_id.data() != client_id.data());  // a copy
    CHECK(with->source().username == "alice");
    CHECK(with->source().has_username);
    CHECK(with->source().listener == 3);
    CHECK(with->topic() == "a/b");
    CHECK(with->payload().size() == 4);

    in.source = nullptr;
    const message_ref without(message::create(in));
    CHECK_FALSE(without->has_source());
    CHECK(without->source().client_id.empty());
}
