#include "runner.hpp"
#include "core/thread_name.hpp"
#include "core/thread_priority.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <numeric>

#include "core/logger.hpp"
#include "records.hpp"
#include "store.hpp"

namespace strata::exporters {

namespace {

using steady = std::chrono::steady_clock;

// How long an idle exporter waits for the log before looking again (and
// saving a cursor that moved past messages none of its routes take).
constexpr auto idle_wait = std::chrono::milliseconds(1000);
// A failed write is logged at most this often while it keeps failing.
constexpr auto repeat_log_every = std::chrono::seconds(30);

std::string log_key(std::uint64_t seq) {
    std::string k;
    storage::put_u64(k, seq);
    return k;
}

}  // namespace

bool read_exporter_password(const config::exporter_config& cfg, std::string& password, std::string& error) {
    password.clear();
    if (!cfg.password_file.empty()) {
        std::ifstream in(cfg.password_file);
        if (!in) {
            error = "exporter " + cfg.name + ": cannot read exporter_password_file " + cfg.password_file;
            return false;
        }
        std::getline(in, password);
        while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) password.pop_back();
    } else if (!cfg.password_env.empty()) {
        const char* value = std::getenv(cfg.password_env.c_str());
        if (!value) {
            error = "exporter " + cfg.name + ": environment variable " + cfg.password_env + " is not set";
            return false;
        }
        password = value;
    }
    return true;
}

runner::runner(std::shared_ptr<const config::exporter_config> cfg, storage::store& store, logger& log,
               std::unique_ptr<sink> s, std::optional<std::uint64_t> resume_at)
    : cfg_(std::move(cfg)), store_(store), log_(log), sink_(std::move(s)), routes_(cfg_->routes) {
    status_.name = cfg_->name;
    status_.kind = cfg_->kind;
    status_.state = "starting";
    if (resume_at) {
        cursor_ = *resume_at;
        cursor_unsaved_ = store_.load_cursor(cfg_->name) != resume_at;
    } else if (auto saved = store_.load_cursor(cfg_->name)) {
        cursor_ = *saved;
        // While the exporter was not configured (removed on SIGHUP, or strata
        // ran without it), the log was cut below the exporters that were: what
        // lay after its cursor may be gone. Said, not skipped in silence.
        std::unique_ptr<rocksdb::Iterator> it(store_.db().NewIterator(rocksdb::ReadOptions(), store_.log()));
        it->SeekToFirst();
        if (it->Valid() && it->key().size() == 8) {
            if (const auto oldest = storage::get_u64(it->key().data()); oldest > cursor_ + 1) {
                log_.warning("Exporter ", cfg_->name, ": the export log no longer holds positions ", cursor_ + 1,
                             " to ", oldest - 1, " after its cursor (cut while the exporter was not configured); "
                             "messages stored then are not exported by it.");
            }
        }
    } else {
        // A new exporter: from the oldest logged message, or from the next one.
        // Saved at once, so that the log is not cut below it; if that fails,
        // the writer tries again (and says so).
        cursor_ = cfg_->start_at_end ? store_.log_end() - 1 : 0;
        cursor_unsaved_ = !save_cursor(cursor_);
    }
    status_.cursor = cursor_;
}

runner::~runner() { stop(); }

void runner::start() {
    reader_ = std::thread([this] {
        name_this_thread("exp-" + cfg_->name);
        make_this_thread_background();
        read_loop();
    });
    writer_ = std::thread([this] {
        name_this_thread("expw-" + cfg_->name);
        make_this_thread_background();
        write_loop();
    });
}

void runner::stop() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    {
        std::lock_guard lock(handoff_mutex_);  // so that no wait misses stopping_
    }
    handoff_.notify_all();
    if (sink_) sink_->interrupt();
    if (reader_.joinable()) reader_.join();
    if (writer_.joinable()) writer_.join();
    if (sink_) sink_->disconnect();
    set_state("stopped");
}

exporter_status runner::status() const {
    std::lock_guard lock(status_mutex_);
    exporter_status s = status_;
    s.cursor = cursor_.load(std::memory_order_acquire);
    const auto end = store_.log_end();
    s.lag = end > s.cursor + 1 ? end - 1 - s.cursor : 0;
    return s;
}

void runner::set_state(const char* state, std::string error) {
    std::lock_guard lock(status_mutex_);
    status_.state = state;
    if (!error.empty()) status_.last_error = std::move(error);
    else if (std::string_view(state) == "up") status_.last_error.clear();
}

bool runner::pause(std::chrono::milliseconds d) {
    std::unique_lock lock(wake_mutex_);
    wake_.wait_for(lock, d, [&] { return stopping_.load(); });
    return !stopping_;
}

const std::string& runner::topic_name(std::uint64_t id) {
    auto it = topic_names_.find(id);
    if (it == topic_names_.end()) it = topic_names_.emplace(id, store_.topic_name(id)).first;
    return it->second;
}

std::uint64_t runner::collect(std::uint64_t from, std::vector<export_row>& rows) {
    std::uint64_t last = from;
    std::uint64_t expired = 0;
    rocksdb::ReadOptions options;
    // First the log entries this exporter's routes take, then their messages
    // in one MultiGet: far cheaper than a lookup per message.
    struct wanted {
        std::uint64_t seq;
        storage::message_key key;
        const route* r;
        std::string key_bytes;
    };
    std::vector<wanted> entries;
    {
        std::unique_ptr<rocksdb::Iterator> it(store_.db().NewIterator(options, store_.log()));
        std::uint64_t bad = 0;
        std::string bad_key;
        for (it->Seek(log_key(from + 1)); it->Valid() && rows.size() + entries.size() < cfg_->batch_size; it->Next()) {
            // An entry the store did not write so (a damaged store, a bug):
            // counted and skipped, never a reason to stop exporting.
            if (it->key().size() != 8) {
                if (it->key().ToString() > last_undecodable_key_) ++bad, bad_key = it->key().ToString();
                continue;
            }
            last = storage::get_u64(it->key().data());
            storage::message_key key;
            if (!storage::decode_message_key(it->value().ToStringView(), key)) {
                if (it->key().ToString() > last_undecodable_key_) ++bad, bad_key = it->key().ToString();
                continue;
            }
            const std::string& topic = topic_name(key.topic_id);
            if (topic.empty()) {  // a topic id without a name in the store's dictionary
                if (it->key().ToString() > last_undecodable_key_) ++bad, bad_key = it->key().ToString();
                continue;
            }
            const route* r = routes_.find(topic);
            if (!r) continue;  // not for this exporter
            entries.push_back({last, key, r, it->value().ToString()});
        }
        if (bad > 0) count_undecodable(bad, bad_key, "export-log entries");
    }
    if (entries.empty()) return last;
    // The messages, by walking one iterator through the wanted keys in key
    // order. A batch's keys cluster (per topic, by time), so the next one is
    // mostly a step or two ahead: far cheaper than a search of the memtable
    // for every key, which is what MultiGet does.
    std::vector<std::uint32_t> order(entries.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return entries[a].key_bytes < entries[b].key_bytes; });
    const std::size_t base = rows.size();
    rows.resize(base + entries.size());  // in log order; a row without a route: its message was not found
    std::unique_ptr<rocksdb::Iterator> it(store_.db().NewIterator(options, store_.messages()));
    it->Seek(entries[order.front()].key_bytes);
    std::uint64_t bad = 0;
    for (const auto i : order) {
        // The iterator stands at the first key at or after the previous wanted key.
        const rocksdb::Slice want(entries[i].key_bytes);
        constexpr int max_steps = 8;
        for (int step = 0; it->Valid() && it->key().compare(want) < 0; ++step) {
            if (step == max_steps) {
                it->Seek(want);
                break;
            }
            it->Next();
        }
        storage::message_record m;
        if (!it->Valid() || it->key() != want) continue;  // retention or a purge was faster than this exporter
        if (!storage::decode_message(it->value().ToStringView(), m)) {
            ++bad;  // its row stays without a route: skipped, counted below as undecodable, not expired
            it->Next();
            continue;
        }
        export_row& row = rows[base + i];
        row.log_seq = entries[i].seq;
        row.key = entries[i].key;
        row.topic = topic_name(entries[i].key.topic_id);
        row.client_id.assign(m.client_id);
        row.qos = m.qos;
        row.retain = m.retain;
        entries[i].r->map(m.payload, row, json_);
        it->Next();
    }
    const auto found_end = std::remove_if(rows.begin() + static_cast<std::ptrdiff_t>(base), rows.end(),
                                          [](const export_row& r) { return r.route == nullptr; });
    expired = static_cast<std::uint64_t>(rows.end() - found_end) - bad;
    rows.erase(found_end, rows.end());
    if (bad > 0) count_undecodable(bad, {}, "stored messages");
    if (expired > 0) {
        log_.warning("Exporter ", cfg_->name, ": ", expired,
                     " messages were deleted (retention or purge) before they could be exported.");
        std::lock_guard lock(status_mutex_);
        status_.expired += expired;
    }
    return last;
}

void runner::count_undecodable(std::uint64_t n, const std::string& last_key, const char* what) {
    if (!last_key.empty()) last_undecodable_key_ = last_key;
    {
        std::lock_guard lock(status_mutex_);
        status_.undecodable += n;
    }
    undecodable_unlogged_ += n;
    const auto now = steady::now();
    if (last_undecodable_log_ != steady::time_point{} && now - last_undecodable_log_ < repeat_log_every) return;
    log_.warning("Exporter ", cfg_->name, ": skipped ", undecodable_unlogged_, " ", what,
                 " that could not be decoded (counted in `undecodable`; the store may be damaged).");
    undecodable_unlogged_ = 0;
    last_undecodable_log_ = now;
}

runner::attempt runner::write_until_done(std::span<const export_row> rows, tally& t, std::string& refusal,
                                         bool trial) {
    auto wait = std::chrono::milliseconds(cfg_->retry_min_ms);
    for (;;) {
        try {
            if (trial) {
                sink_->try_write(rows);
                return attempt::written;
            }
            sink_->write(rows);
            t.rejected += sink_->rejected_rows();
            t.refused += sink_->refused_rows();
            return attempt::written;
        } catch (const data_error& e) {
            if (stopping_) return attempt::stopped;
            refusal = e.what();
            return attempt::refused;
        } catch (const std::exception& e) {
            if (stopping_) return attempt::stopped;  // interrupted, most likely: not a database error to report
            if (!back_off(e.what(), rows.size(), wait)) return attempt::stopped;
        }
    }
}

bool runner::back_off(const std::string& why, std::size_t rows, std::chrono::milliseconds& wait) {
    bool first;
    {
        std::lock_guard lock(status_mutex_);
        ++status_.errors;
        first = status_.state != "retrying";
    }
    set_state("retrying", why);
    const auto now = steady::now();
    if (first || now - last_write_log_ >= repeat_log_every) {
        log_.warning("Exporter ", cfg_->name, " (", cfg_->kind, "): ", why, "; retrying in ", wait.count(), " ms (",
                     rows, " rows waiting, nothing is lost).");
        last_write_log_ = now;
    }
    sink_->disconnect();
    if (!pause(wait)) return false;
    wait = std::min(wait * 2, std::chrono::milliseconds(cfg_->retry_max_ms));
    return true;
}

bool runner::write_batch(std::span<export_row> rows, tally& t) {
    std::string refusal;
    switch (write_until_done(rows, t, refusal)) {
        case attempt::written: return true;
        case attempt::stopped: return false;
        case attempt::refused: break;
    }
    if (rows.size() == 1) return write_refused_row(rows.front(), std::move(refusal), t);
    if (sink_->can_try()) {
        // Find the refused rows by trying halves that the database rolls
        // back (no commit, no sync), then write the batch once, the refused
        // rows to the error table: one commit instead of one per half.
        std::vector<std::pair<std::size_t, std::string>> found;
        if (!find_refused(rows, 0, found, t)) return false;
        if (!found.empty()) {
            for (auto& [i, why] : found) refuse(rows[i], std::move(why), t);
            switch (write_until_done(rows, t, refusal)) {
                case attempt::written: return true;
                case attempt::stopped: return false;
                case attempt::refused: break;  // rows refused only together (a unique value twice): halves below
            }
        }
    }
    // Halves, in log order: a row the database takes is written with its
    // half; the refused ones end up alone. A crash in the middle replays the
    // whole batch, which the idempotent writes make harmless (the refused rows
    // go to the error table again, under the same key).
    const auto half = rows.size() / 2;
    return write_batch(rows.first(half), t) && write_batch(rows.subspan(half), t);
}

bool runner::find_refused(std::span<export_row> rows, std::size_t offset,
                          std::vector<std::pair<std::size_t, std::string>>& found, tally& t) {
    // `rows` as a whole was refused: try each half (the first call's halves,
    // then the refused halves' halves) down to single rows.
    const auto half = rows.size() / 2;
    for (const auto& [part, at] : {std::pair(rows.first(half), offset), std::pair(rows.subspan(half), offset + half)}) {
        std::string refusal;
        switch (write_until_done(part, t, refusal, true)) {
            case attempt::written: break;
            case attempt::stopped: return false;
            case attempt::refused:
                if (part.size() == 1) found.emplace_back(at, std::move(refusal));
                else if (!find_refused(part, at, found, t)) return false;
        }
    }
    return true;
}

void runner::refuse(export_row& row, std::string refusal, tally& t) {
    if (!row.error.empty()) return;  // already a misfit: its error table refused it (write_refused_row copes)
    refusal = reason_text(refusal);
    const auto raw = raw_payload(row.key);
    make_misfit(row, refusal, raw ? &*raw : nullptr);
    ++t.refused;
    if (t.first_refusal.empty()) t.first_refusal = refusal;
}

bool runner::write_refused_row(export_row& row, std::string refusal, tally& t) {
    refusal = reason_text(refusal);
    if (row.error.empty()) {
        refuse(row, refusal, t);
    } else {
        // The error table refused the row as well: what it could object to is
        // the payload (its size, most likely). Keep the rest, say why.
        row.error = reason_text(row.error + " (payload of " + std::to_string(row.payload.size()) +
                                " bytes not kept: " + refusal + ")");
        row.payload.clear();
    }
    auto wait = std::chrono::milliseconds(cfg_->retry_min_ms);
    for (;;) {
        switch (write_until_done(std::span(&row, 1), t, refusal)) {
            case attempt::written: return true;
            case attempt::stopped: return false;
            case attempt::refused: break;
        }
        if (!row.payload.empty()) {
            row.error = reason_text(row.error + " (payload of " + std::to_string(row.payload.size()) +
                                    " bytes not kept: " + refusal + ")");
            row.payload.clear();
            continue;
        }
        // Even that: the error table is not as strata made it. Retried, and
        // reported, like an outage, until someone repairs it.
        if (!back_off("the error table " + destination_of(row) + " refused row " + row.unique_id() + ": " + refusal,
                      1, wait)) {
            return false;
        }
    }
}

std::optional<std::string> runner::raw_payload(const storage::message_key& key) {
    std::string value;
    const auto s = store_.db().Get(rocksdb::ReadOptions(), store_.messages(), storage::encode_message_key(key), &value);
    storage::message_record m;
    if (!s.ok() || !storage::decode_message(value, m)) return std::nullopt;
    return std::string(m.payload);
}

bool runner::save_cursor(std::uint64_t c) {
    if (store_.save_cursor(cfg_->name, c)) {
        if (save_failing_) {
            log_.notice("Exporter ", cfg_->name, " saved its cursor again (", c, ").");
            save_failing_ = false;
        }
        return true;
    }
    const auto now = steady::now();
    if (!save_failing_ || now - last_save_log_ >= repeat_log_every) {
        log_.warning("Exporter ", cfg_->name, ": cannot save its cursor (", c,
                     ") in the store; retrying. Until it is saved, a restart exports again, idempotently, what lies "
                     "after the last saved one.");
        last_save_log_ = now;
    }
    save_failing_ = true;
    return false;
}

bool runner::hand_over(batch& b) {
    std::unique_lock lock(handoff_mutex_);
    handoff_.wait(lock, [&] { return !pending_ || stopping_; });
    if (stopping_) return false;
    pending_ = std::move(b);
    lock.unlock();
    handoff_.notify_all();
    return true;
}

void runner::read_loop() {
    std::uint64_t read_from = cursor_;
    bool first = true;  // the writer announces the start and the state "up" from the first batch, even an empty one
    while (!stopping_) {
        batch b;
        b.last = collect(read_from, b.rows);
        if (!b.rows.empty() && b.rows.size() < cfg_->batch_size && cfg_->batch_time_ms > 0) {
            // A small batch waits a little for company: fewer, larger writes.
            if (store_.wait_for_log(b.last, std::chrono::milliseconds(cfg_->batch_time_ms)) && !stopping_) {
                b.last = collect(b.last, b.rows);
            }
        }
        const bool moved = b.last != read_from;
        const bool full = b.rows.size() >= cfg_->batch_size;
        if (moved || first) {
            // Even a batch without rows: the cursor only moves in the writer, in order.
            read_from = b.last;
            if (!hand_over(b)) break;
            first = false;
        }
        if (!full && !moved) store_.wait_for_log(read_from, idle_wait);  // nothing new
    }
}

void runner::write_loop() {
    auto rate_from = steady::now();
    std::uint64_t rate_rows = 0;
    // What the store holds; std::nullopt when the constructor could not save a new exporter's cursor.
    std::optional<std::uint64_t> saved;
    if (!cursor_unsaved_) saved = cursor_.load();
    bool announced = false;
    for (;;) {
        batch b;
        {
            std::unique_lock lock(handoff_mutex_);
            if (!handoff_.wait_for(lock, idle_wait, [&] { return pending_.has_value() || stopping_.load(); })) {
                lock.unlock();
                // Idle: save a cursor that moved past messages none of the
                // routes take, or one whose saving failed before.
                if (const auto c = cursor_.load(); c != saved && save_cursor(c)) saved = c;
                continue;
            }
            if (stopping_) break;
            b = std::move(*pending_);
            pending_.reset();
        }
        handoff_.notify_all();
        if (!b.rows.empty()) {
            tally t;
            if (!write_batch(b.rows, t)) break;
            std::uint64_t error_rows = t.rejected;
            for (const auto& r : b.rows) error_rows += r.error.empty() ? 0 : 1;
            std::lock_guard lock(status_mutex_);
            status_.rows += b.rows.size();
            status_.error_rows += error_rows;
            status_.refused_rows += t.refused;
            if (status_.state != "up") {
                status_.state = "up";
                status_.last_error.clear();
                if (announced) log_.notice("Exporter ", cfg_->name, " (", cfg_->kind, ") is writing again.");
            }
            if (t.refused > 0) {
                refusals_unlogged_ += t.refused;
                const auto now = steady::now();
                if (last_refusal_log_ == steady::time_point{} || now - last_refusal_log_ >= repeat_log_every) {
                    log_.warning("Exporter ", cfg_->name, " (", cfg_->kind, "): the database refused ",
                                 refusals_unlogged_, " rows; they are in the TARGET_errors tables with its reason",
                                 t.first_refusal.empty() ? std::string(".") : " (first: " + t.first_refusal + ").");
                    refusals_unlogged_ = 0;
                    last_refusal_log_ = now;
                }
            }
        } else {
            set_state("up");
        }
        if (!announced) {
            log_.notice("Exporter ", cfg_->name, " (", cfg_->kind, ") started at log position ", cursor_.load(), ".");
            announced = true;
        }
        cursor_.store(b.last, std::memory_order_release);
        // After every written batch; past skipped entries only now and then;
        // at once again after a failed save.
        if (b.last != saved && (!b.rows.empty() || !saved || save_failing_ || b.last - *saved >= cfg_->batch_size)) {
            if (save_cursor(b.last)) saved = b.last;
        }
        const auto now = steady::now();
        if (now - rate_from >= std::chrono::seconds(1)) {
            std::lock_guard lock(status_mutex_);
            const double seconds = std::chrono::duration<double>(now - rate_from).count();
            status_.rows_per_second = static_cast<double>(status_.rows - rate_rows) / seconds;
            rate_rows = status_.rows;
            rate_from = now;
        }
    }
    // Stopping (or a changed configuration taking over): what was written is
    // not written again after a restart, if the store takes the cursor.
    if (const auto c = cursor_.load(); c != saved && !save_cursor(c)) {
        log_.warning("Exporter ", cfg_->name, ": stopped without saving its cursor (", c, "): it resumes at ",
                     saved ? std::to_string(*saved) : std::string("its start"), " and exports the rows between "
                     "again (idempotently).");
    }
}

}  // namespace strata::exporters
