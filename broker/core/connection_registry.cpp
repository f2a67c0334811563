#include "core/connection_registry.hpp"

#include "protocol/connection.hpp"

namespace strata::core {

namespace {

std::uint32_t slot_of(std::uint64_t id) { return static_cast<std::uint32_t>(id & 0xFFFFFFFFu); }

}  // namespace

void connection_registry::add(protocol::connection* c) {
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.push_back(nullptr);
    }
    slots_[slot] = c;
    c->id = (next_sequence_++ << 32) | slot;
    c->worker_slot = list_.size();
    list_.push_back(c);
}

void connection_registry::remove(protocol::connection* c) {
    if (const auto stable = slot_of(c->id); stable < slots_.size() && slots_[stable] == c) {
        slots_[stable] = nullptr;
        free_slots_.push_back(stable);
    }
    const std::size_t slot = c->worker_slot;
    if (slot >= list_.size() || list_[slot] != c) return;
    list_[slot] = list_.back();
    list_[slot]->worker_slot = slot;
    list_.pop_back();
}

protocol::connection* connection_registry::find(std::uint64_t id) const {
    const auto slot = slot_of(id);
    if (slot >= slots_.size()) return nullptr;
    protocol::connection* c = slots_[slot];
    return c && c->id == id ? c : nullptr;
}

}  // namespace strata::core
