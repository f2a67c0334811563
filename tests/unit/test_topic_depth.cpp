// Topics and filters as deep as MQTT allows (a 65,535-byte string of slashes
// has 65,536 levels): the subscription trie and the retained store match and
// are destroyed without a stack frame per level. Run on a thread with a
// 256 KiB stack, which a recursion over the levels would overflow.
#include <doctest/doctest.h>

#include <pthread.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "session/message.hpp"
#include "topic/retained_store.hpp"
#include "topic/topic_trie.hpp"

using namespace strata;
using namespace strata::topic;

namespace {

void on_small_stack(const std::function<void()>& fn) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t thread;
    auto* arg = const_cast<std::function<void()>*>(&fn);
    REQUIRE(pthread_create(
                &thread, &attr,
                [](void* p) -> void* {
                    (*static_cast<std::function<void()>*>(p))();
                    return nullptr;
                },
                arg) == 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
}

struct entry {
    int id = 0;
    trie_slot* slot = nullptr;
};

const std::string slashes(65535, '/');  // 65,536 empty levels
std::string pluses(std::size_t levels) {
    std::string f = "+";
    for (std::size_t i = 1; i < levels; ++i) f += "/+";
    return f;
}

}  // namespace

TEST_CASE("topic_trie: 65,536 levels on a 256 KiB stack") {
    std::set<int> deepest, half;
    on_small_stack([&] {
        std::vector<std::unique_ptr<trie_slot>> slots;
        topic_trie<entry> trie;
        int id = 0;
        for (const std::string& f : {slashes, pluses(32768), std::string("#"), slashes + "/#"}) {
            slots.push_back(std::make_unique<trie_slot>());
            trie.insert(f, entry{id++, slots.back().get()});
        }
        trie.match(slashes, [&](entry& e) { deepest.insert(e.id); });
        trie.match(std::string(32767, '/'), [&](entry& e) { half.insert(e.id); });
        trie.erase(*slots[0]);  // "slashes" has no wildcard: it lives in the trie's table
        trie.erase(*slots[3]);  // pruning the deep branch of "slashes/#"
    });  // the trie, with the deep '+' branch, is destroyed on that stack
    CHECK(deepest == std::set<int>{0, 2, 3});  // "slashes/#" also matches "slashes" [MQTT-4.7.1-2]
    CHECK(half == std::set<int>{1, 2});
}

TEST_CASE("retained_store: 65,536 levels on a 256 KiB stack") {
    std::vector<std::size_t> found;
    on_small_stack([&] {
        retained_store store;
        message::init in;
        in.topic = slashes;
        in.payload = codec::as_bytes("deep");
        in.retain = true;
        mutable_message_ref m(message::create(in));
        m->set_retain_order(1);
        store.apply(m);
        for (const std::string& f : {std::string("#"), slashes, pluses(65536), pluses(32768), std::string("+/#")}) {
            std::size_t n = 0;
            store.match(f, steady_clock::now(), [&](const message_ref&) { ++n; });
            found.push_back(n);
        }
    });
    CHECK(found == std::vector<std::size_t>{1, 1, 1, 0, 1});
}
