#include "core/connection_registry.hpp"

#include "protocol/connection.hpp"

namespace strata::core {

void connection_registry::add(protocol::connection* c) {
    c->worker_slot = list_.size();
    c->id = next_id_++;
    list_.push_back(c);
    by_id_.emplace(c->id, c);
}

void connection_registry::remove(protocol::connection* c) {
    by_id_.erase(c->id);
    const std::size_t slot = c->worker_slot;
    if (slot >= list_.size() || list_[slot] != c) return;
    list_[slot] = list_.back();
    list_[slot]->worker_slot = slot;
    list_.pop_back();
}

protocol::connection* connection_registry::find(std::uint64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

}  // namespace strata::core
