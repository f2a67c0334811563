// -action pub | sub | pubsub: connect, subscribe, publish, wait for the
// subscribers, report.
#include <algorithm>
#include <iostream>
#include <random>

#include "report.hpp"
#include "runner.hpp"

namespace strata::bench {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Who publishes where and who subscribes to what.
struct topology {
    std::vector<std::string> publish_topics;    // one per publisher
    std::vector<std::string> subscribe_filters; // one per subscriber
    std::uint64_t expected_unique = 0;          // over all subscribers
    bool shared = false;
};

topology plan(const options& o) {
    topology t;
    const auto base = o.topic;
    std::uint64_t pubs = 0;
    std::uint64_t subs = 0;
    switch (o.act) {
        case action::publish: pubs = static_cast<std::uint64_t>(o.clients); break;
        case action::subscribe: subs = static_cast<std::uint64_t>(o.clients); break;
        default:
            pubs = static_cast<std::uint64_t>(o.clients);
            if (o.subscribers >= 0) subs = static_cast<std::uint64_t>(o.subscribers);
            else subs = o.pat == pattern::fanin ? 1 : pubs;
            break;
    }
    for (std::uint64_t i = 0; i < pubs; ++i) {
        t.publish_topics.push_back(o.pat == pattern::fanout ? base : base + "/" + std::to_string(i));
    }
    const auto per_publisher = static_cast<std::uint64_t>(o.count);
    for (std::uint64_t j = 0; j < subs; ++j) {
        switch (o.act == action::subscribe ? pattern::p2p : o.pat) {
            case pattern::p2p: {
                t.subscribe_filters.push_back(base + "/" + std::to_string(j));
                // Subscriber j hears every publisher i with i % subs == j... when subs == pubs, just publisher j.
                if (o.act != action::subscribe) {
                    for (std::uint64_t i = j; i < pubs; i += subs) t.expected_unique += per_publisher;
                } else {
                    t.expected_unique += per_publisher;
                }
                break;
            }
            case pattern::fanin:
                t.subscribe_filters.push_back(base + "/#");
                t.expected_unique += pubs * per_publisher;
                break;
            case pattern::fanout:
                t.subscribe_filters.push_back(base);
                t.expected_unique += pubs * per_publisher;
                break;
            case pattern::shared:
                t.subscribe_filters.push_back("$share/strata-bench/" + base + "/#");
                t.shared = true;
                break;
        }
    }
    if (t.shared) t.expected_unique = pubs * per_publisher;
    if (o.act == action::pubsub && o.pat == pattern::p2p && subs > pubs) {
        // Subscribers beyond the publishers listen to topics nobody publishes to.
        t.expected_unique = pubs * per_publisher;
    }
    return t;
}

// Connects `all` clients, at most `parallel` attempts at a time; calls done() at the end.
void connect_all(std::vector<std::shared_ptr<client>>& all, const tcp::endpoint& ep, std::size_t parallel,
                 std::function<std::optional<asio::ip::address>(std::size_t)> source, std::function<void()> done) {
    struct state {
        std::size_t next = 0;
        std::size_t finished = 0;
    };
    auto st = std::make_shared<state>();
    auto launch = std::make_shared<std::function<void()>>();
    *launch = [&all, ep, st, launch, source, done]() {
        if (st->next >= all.size()) return;
        const std::size_t i = st->next++;
        all[i]->connect(ep, source(i), [st, launch, &all, done](bool) {
            if (++st->finished == all.size()) {
                done();
                return;
            }
            (*launch)();
        });
    };
    if (all.empty()) {
        done();
        return;
    }
    for (std::size_t i = 0; i < std::min(parallel, all.size()); ++i) (*launch)();
}

}  // namespace

int run_messages(const options& o) {
    asio::io_context io(1);
    run_totals totals;
    const topology topo = plan(o);
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    const auto resolved = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || resolved.empty()) {
        std::cerr << "cannot resolve " << o.host << ": " << ec.message() << "\n";
        return 2;
    }
    const tcp::endpoint ep = *resolved.begin();

    std::vector<std::shared_ptr<client>> pubs, subs, all;
    const auto tag = std::to_string(::getpid());
    for (std::size_t i = 0; i < topo.publish_topics.size(); ++i) {
        pubs.push_back(std::make_shared<client>(io, o, totals, "bench-" + tag + "-p" + std::to_string(i)));
    }
    for (std::size_t j = 0; j < topo.subscribe_filters.size(); ++j) {
        subs.push_back(std::make_shared<client>(io, o, totals, "bench-" + tag + "-s" + std::to_string(j)));
    }
    all = subs;
    all.insert(all.end(), pubs.begin(), pubs.end());
    if (o.shuffle) {
        std::mt19937 order(20261207);  // the same order on every run
        std::shuffle(all.begin(), all.end(), order);
    }

    const auto started = steady::now();
    const auto deadline = started + std::chrono::seconds(o.timeout_s);
    bool timed_out = false;
    bool publishing_done = pubs.empty();
    steady::time_point publish_end{};
    asio::steady_timer pretime(io);
    asio::steady_timer ticker(io);

    auto finish = [&] {
        ticker.cancel();
        pretime.cancel();
        for (auto& c : all) c->disconnect();
    };
    auto start_publishing = [&] {
        if (pubs.empty()) return;
        std::chrono::nanoseconds interval{0};
        if (o.rate > 0) interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * static_cast<double>(pubs.size()) / o.rate));
        else if (o.interval_ms > 0) interval = std::chrono::milliseconds(o.interval_ms);
        auto remaining = std::make_shared<std::size_t>(pubs.size());
        for (std::size_t i = 0; i < pubs.size(); ++i) {
            client::publish_plan p{topo.publish_topics[i], static_cast<std::uint64_t>(o.count), static_cast<std::uint32_t>(i), interval};
            pubs[i]->publish(std::move(p), [&, remaining] {
                if (--*remaining == 0) {
                    publishing_done = true;
                    publish_end = steady::now();
                    if (subs.empty()) finish();
                }
            });
        }
    };
    auto after_subscribed = [&] {
        if (o.pretime_ms > 0 && !pubs.empty()) {
            pretime.expires_after(std::chrono::milliseconds(o.pretime_ms));
            pretime.async_wait([&](const boost::system::error_code& e) {
                if (!e) start_publishing();
            });
        } else {
            start_publishing();
        }
    };
    connect_all(all, ep, 256, [](std::size_t) { return std::nullopt; }, [&] {
        if (subs.empty()) {
            after_subscribed();
            return;
        }
        auto pending = std::make_shared<std::size_t>(subs.size());
        for (std::size_t j = 0; j < subs.size(); ++j) {
            if (!subs[j]->connected()) {
                if (--*pending == 0) after_subscribed();
                continue;
            }
            subs[j]->subscribe(topo.subscribe_filters[j], static_cast<std::uint8_t>(o.qos), [&, pending](bool) {
                if (--*pending == 0) after_subscribed();
            });
        }
    });

    // Once a second: keep-alive, progress, and the end conditions of the subscribers.
    std::uint64_t last_published = 0, last_received = 0;
    std::function<void()> tick = [&] {
        ticker.expires_after(std::chrono::seconds(1));
        ticker.async_wait([&](const boost::system::error_code& e) {
            if (e) return;
            const auto now = steady::now();
            for (auto& c : all) c->keep_alive(now);
            const double elapsed = std::chrono::duration<double>(now - started).count();
            if (o.progress_s > 0 && static_cast<std::int64_t>(elapsed) % o.progress_s == 0) {
                print_progress(elapsed, totals, last_published, last_received, 1.0);
            }
            last_published = totals.published;
            last_received = totals.received;
            if (now >= deadline) {
                timed_out = true;
                finish();
                return;
            }
            if (!subs.empty() && publishing_done) {
                const bool all_in = totals.unique >= topo.expected_unique && topo.expected_unique > 0;
                const auto quiet_since = std::max(totals.last_receive, publish_end);
                if (all_in || (o.act != action::subscribe && now - quiet_since > std::chrono::milliseconds(o.quiet_ms))) {
                    finish();
                    return;
                }
            }
            if (o.act == action::subscribe && totals.unique >= topo.expected_unique && topo.expected_unique > 0) {
                finish();
                return;
            }
            tick();
        });
    };
    tick();
    io.run();

    run_summary s;
    s.action = o.act == action::publish ? "pub" : o.act == action::subscribe ? "sub" : "pubsub";
    s.pattern = o.pattern_text;
    s.publishers = pubs.size();
    s.subscribers = subs.size();
    s.expected = topo.expected_unique;
    s.publish_ms = milliseconds_between(totals.first_publish, totals.last_ack);
    s.receive_ms = milliseconds_between(totals.first_publish != steady::time_point{} ? totals.first_publish : totals.first_receive,
                                        totals.last_receive);
    s.timed_out = timed_out;
    if (!subs.empty()) {
        s.lost = topo.expected_unique > totals.unique ? topo.expected_unique - totals.unique : 0;
        s.duplicates = totals.duplicates;
        if (topo.shared && totals.unique > topo.expected_unique) s.duplicates += totals.unique - topo.expected_unique;
    }
    print_report(o, totals, s);
    const bool lossless_expected = o.qos > 0;
    if (timed_out || totals.connect_failures > 0 || totals.errors > 0) return 1;
    if (lossless_expected && (s.lost > 0 || s.duplicates > 0)) return 1;
    return 0;
}

}  // namespace strata::bench
