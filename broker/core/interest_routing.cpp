// Routing by interest (see interest_index.hpp): a message goes only to the
// workers with a matching subscription, and a SUBACK waits until every
// worker knows of the subscription.
#include <boost/asio/post.hpp>

#include "core/broker.hpp"
#include "core/router.hpp"
#include "core/worker.hpp"

namespace strata::core {

void router::note_interest(std::string_view filter, std::size_t target, bool add) {
    if (outboxes_.size() <= 1) return;  // one worker: nobody else routes
    interest_change c{std::string(filter), static_cast<std::uint32_t>(target), add};
    // A shared group owned by another worker: this worker routes to it too.
    interest_->apply(c);
    pending_interest_.push_back(std::move(c));
    home_.request_flush();
}

void router::post_pending_interest(const std::function<void()>* ack) {
    if (pending_interest_.empty()) return;
    auto changes = std::make_shared<const std::vector<interest_change>>(std::exchange(pending_interest_, {}));
    for (std::size_t i = 0; i < outboxes_.size(); ++i) {
        if (i == home_.index()) continue;
        worker& target = home_.owner().worker_at(i);
        if (!ack) {
            boost::asio::post(target.io(), [&target, changes] { target.routing().apply_interest(*changes); });
            continue;
        }
        boost::asio::post(target.io(), [&target, changes, &origin = home_, done = *ack] {
            target.routing().apply_interest(*changes);
            boost::asio::post(origin.io(), done);
        });
    }
}

void router::when_interest_visible(std::function<void()> then) {
    if (pending_interest_.empty()) {
        then();
        return;
    }
    // Every other worker answers once it has applied the changes; the last
    // answer (they all run on this thread) releases `then`.
    struct waiter {
        std::size_t remaining;
        std::function<void()> then;
    };
    auto w = std::make_shared<waiter>(waiter{outboxes_.size() - 1, std::move(then)});
    const std::function<void()> answered = [w] {
        if (--w->remaining == 0) w->then();
    };
    post_pending_interest(&answered);
}

void router::apply_interest(const std::vector<interest_change>& changes) {
    for (const auto& c : changes) interest_->apply(c);
}

bool router::find_remote_targets(const message& m) {
    remote_targets_.clear();
    if (outboxes_.size() <= 1) return false;
    interest_->match(m.topic(), [this](std::uint32_t w) { remote_targets_.push_back(w); });
    return !remote_targets_.empty();
}

std::span<const std::uint32_t> router::remote_targets(const message& m) {
    find_remote_targets(m);
    return remote_targets_;
}

}  // namespace strata::core
