#include "topic/retained_store.hpp"

namespace strata::topic {

retained_store::~retained_store() {
    // Each node is detached from its children before it is destroyed, so that
    // a deep tree does not destroy itself recursively (see the header).
    std::vector<std::unique_ptr<node>> detached;
    for (auto& [key, child] : root_.children) detached.push_back(std::move(child));
    root_.children.clear();
    while (!detached.empty()) {
        std::unique_ptr<node> next = std::move(detached.back());
        detached.pop_back();
        for (auto& [key, child] : next->children) detached.push_back(std::move(child));
        next->children.clear();
    }
}

retained_store::node* retained_store::walk(std::string_view topic, bool create) {
    node* n = &root_;
    level_iterator it(topic);
    std::string_view level;
    while (it.next(level)) {
        auto found = n->children.find(level);
        if (found == n->children.end()) {
            if (!create) return nullptr;
            auto [pos, inserted] = n->children.emplace(std::string(level), std::make_unique<node>());
            pos->second->parent = n;
            pos->second->key = pos->first;
            found = pos;
        }
        n = found->second.get();
    }
    return n;
}

void retained_store::apply(const message_ref& m) {
    node* n = walk(m->topic(), true);
    if (m->retain_order() < n->order) return;  // a newer update already arrived
    n->order = m->retain_order();
    if (m->payload().empty()) {
        clear_node(n);
        tombstones_.push_back(tombstone{steady_clock::now(), std::string(m->topic()), n->order});
        return;
    }
    if (!n->msg) ++count_;
    n->msg = m;
}

void retained_store::clear_node(node* n) {
    if (n->msg) {
        n->msg.reset();
        --count_;
    }
}

void retained_store::sweep(time_point now, std::chrono::seconds grace) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < tombstones_.size(); ++i) {
        auto& t = tombstones_[i];
        if (now - t.cleared_at < grace) {
            if (kept != i) tombstones_[kept] = std::move(t);
            ++kept;
            continue;
        }
        node* n = walk(t.topic, false);
        if (n && !n->msg && n->order == t.order) {
            n->order = 0;
            prune(n);
        }
    }
    tombstones_.resize(kept);
}

void retained_store::prune(node* n) {
    while (n != &root_ && !n->msg && n->order == 0 && n->children.empty()) {
        node* parent = n->parent;
        parent->children.erase(parent->children.find(n->key));
        n = parent;
    }
}

}  // namespace strata::topic
