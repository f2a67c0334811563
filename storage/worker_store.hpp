// The store as one worker thread sees it (core::persistence): encodes the
// worker's messages, delivery records and session records into its current
// write set, which goes to the writer at the end of the event-loop turn.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "core/persistence.hpp"
#include "store.hpp"
#include "topic/topic_trie.hpp"

namespace strata::storage {

class worker_store final : public core::persistence {
public:
    worker_store(store& s, core::persistence_owner& owner);

    bool writable() const override { return store_.writable(); }
    bool backlogged() const override { return store_.backlogged(); }
    bool durable_acks() const override { return store_.options().mode != durability::none; }

    void store_message(message& m, std::string_view client_id, std::function<void(bool)> ack) override;
    void routed(const message& m) override;
    void retained(const message& m) override;

    void save_session(const session& s, std::uint8_t protocol_version, std::uint64_t disconnected_us) override;
    void remove_session(const session& s) override;
    void save_inbound(const session& s, std::uint16_t packet_id, const message* held) override;
    encoded_record encode_planned(const session& s, const pending_delivery& d) override;
    void write_planned(const message& m, const std::vector<encoded_record>& records) override;
    void remove_record(const std::string& key) override;
    void remove_inbound(const session& s, std::uint16_t packet_id) override;
    void after_commit(std::function<void(bool)> fn) override;
    void after_stored(std::function<void(bool)> fn) override;
    void flush() override;

    // session_journal
    void delivery_saved(const session& s, const pending_delivery& d, state st, std::uint16_t packet_id) override;
    void delivery_removed(const session& s, std::uint64_t journal_seq) override;
    void send_pubrel_when_durable(const session& s, std::uint16_t packet_id) override;
    void send_publish_when_durable(const session& s, std::uint16_t packet_id) override;

private:
    write_set& current();
    // The message's record into the current set (history: always, when it
    // is stored; without history: by the first record that refers to it).
    void put_message(const message& m, std::string_view client_id);
    void ensure_record(const message& m) {
        if (m.claim_record()) put_message(m, {});
    }
    std::uint64_t topic_id(std::string_view topic);

    store& store_;
    core::persistence_owner& owner_;
    std::uint32_t worker_index_;
    std::unique_ptr<write_set> set_;
    std::unordered_map<std::string, std::uint64_t, topic::transparent_string_hash, std::equal_to<>> topic_ids_;
    std::uint32_t next_seq_ = 0;
    std::string value_;  // encoding scratch
};

}  // namespace strata::storage
