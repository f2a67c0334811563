// MongoDB (libmongoc): documents as mongodb_mapping.hpp describes, one
// collection per route target (with an index on ts), misfits in
// `<target>_errors`. Each batch is one unordered insert_many per collection;
// the _id of a document is the message's key, so a replayed batch only meets
// duplicate-key errors, which mean "already there" and count as success
// (mongodb_reply.hpp). A document the server refuses for good (any write
// error but a passing one, a duplicate key on a unique index of the user's
// included) goes to `<target>_errors` with the server's reason: MongoDB
// reports refusals per document, so the sink sorts them out itself and never
// throws a data_error. Any other failure throws, and the runner retries the
// batch.
//
// exporter_url: mongodb://[USER@]HOST[:PORT]/DATABASE[?OPTIONS] (libmongoc URI
// options, e.g. authSource=admin, tls=true); the password comes from
// exporter_password_file or _env, never from the URL.
#include <mongoc/mongoc.h>

#include <map>
#include <set>

#include "db_url.hpp"
#include "mongodb_mapping.hpp"
#include "mongodb_reply.hpp"
#include "sinks.hpp"

namespace strata::exporters {

namespace {

// Defaults, unless the URL sets them: a server that is down or does not answer
// fails a write within seconds (and the runner retries), instead of holding
// the exporter's thread.
constexpr std::int32_t server_selection_timeout_ms = 3000;
constexpr std::int32_t connect_timeout_ms = 3000;
constexpr std::int32_t socket_timeout_ms = 10000;

// libmongoc must be initialised once per process before any other call
// (mongoc_init: its TLS, SASL and handshake state) and cleaned up once after
// the last (mongoc_cleanup). The guard is a function-local static: C++
// constructs it exactly once, thread-safely, on the first call, and destroys it
// at exit, after main has returned and so after every exporter (and with it
// every client) was stopped and destroyed. No state of strata's own is involved.
void mongoc_library() {
    struct library {
        library() { mongoc_init(); }
        ~library() { mongoc_cleanup(); }
        library(const library&) = delete;
        library& operator=(const library&) = delete;
    };
    static library once;
}

struct uri_deleter {
    void operator()(mongoc_uri_t* u) const { mongoc_uri_destroy(u); }
};
using uri_ptr = std::unique_ptr<mongoc_uri_t, uri_deleter>;

std::string host_port(const db_url& url) {
    const bool v6 = url.host.find(':') != std::string::npos;
    return (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

class mongodb_sink final : public sink {
public:
    mongodb_sink(uri_ptr uri, std::string where, std::string user, std::string database)
        : uri_(std::move(uri)), where_(std::move(where)), user_(std::move(user)), database_(std::move(database)) {}
    ~mongodb_sink() override { disconnect(); }

    void write(std::span<const export_row> rows) override {
        connect();
        rejected_ = 0;
        refused_ = 0;
        // Documents by collection, in log order within each.
        std::map<std::string, batch> by_collection;
        for (const auto& r : rows) {
            if (!r.error.empty()) {
                errors_of(by_collection, r).add(mongodb_error_document(r, r.error), r);
                continue;
            }
            std::string problem;
            if (auto doc = mongodb_document(r, problem)) {
                by_collection[r.route->target].add(std::move(doc), r);
            } else {
                // A document MongoDB would refuse: stored as a misfit instead of
                // failing the batch forever.
                errors_of(by_collection, r).add(mongodb_error_document(r, problem), r);
                ++rejected_;
            }
        }
        // Documents the server refused (found only by trying): to the error
        // collection of their route, after the rest.
        std::map<std::string, batch> refused;
        for (const auto& [name, b] : by_collection) {
            for (const auto& [i, reason] : insert(name, b.docs, b.errors)) {
                const export_row& r = *b.rows[i];
                errors_of(refused, r).add(mongodb_error_document(r, "MongoDB refused the document: " + reason), r);
                ++rejected_;
                ++refused_;
            }
        }
        for (const auto& [name, b] : refused) insert(name, b.docs, b.errors);
    }

    std::uint64_t rejected_rows() const override { return rejected_; }
    std::uint64_t refused_rows() const override { return refused_; }

    void disconnect() override {
        for (auto& [name, c] : collections_) mongoc_collection_destroy(c);
        collections_.clear();
        if (client_) mongoc_client_destroy(client_);
        client_ = nullptr;
    }

private:
    void connect() {
        if (client_) return;
        bson_error_t error;
        client_ = mongoc_client_new_from_uri_with_error(uri_.get(), &error);
        if (!client_) throw export_error("MongoDB: " + std::string(error.message));
        mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
        // libmongoc connects lazily: a ping now turns an unreachable server or
        // a refused login into one clear error, before any document is sent.
        bson_t* ping = BCON_NEW("ping", BCON_INT32(1));
        bson_t reply;
        const bool ok = mongoc_client_command_simple(client_, database_.c_str(), ping, nullptr, &reply, &error);
        bson_destroy(ping);
        bson_destroy(&reply);
        if (!ok) {
            disconnect();
            throw export_error("cannot connect to MongoDB at " + where_ + (user_.empty() ? "" : " as " + user_) +
                               ": " + error.message);
        }
    }

    mongoc_collection_t* collection(const std::string& name) {
        const auto it = collections_.find(name);
        if (it != collections_.end()) return it->second;
        mongoc_collection_t* c = mongoc_client_get_collection(client_, database_.c_str(), name.c_str());
        // Time-range queries: an index on ts (created if missing, once per connection).
        bson_t* command = BCON_NEW("createIndexes", BCON_UTF8(name.c_str()), "indexes", "[", "{", "key", "{", "ts",
                                   BCON_INT32(1), "}", "name", BCON_UTF8("ts_1"), "}", "]");
        bson_t reply;
        bson_error_t error;
        const bool ok = mongoc_collection_write_command_with_opts(c, command, nullptr, &reply, &error);
        bson_destroy(command);
        bson_destroy(&reply);
        if (!ok) {
            mongoc_collection_destroy(c);
            throw export_error("MongoDB: cannot create the ts index of " + database_ + "." + name + ": " +
                               error.message);
        }
        return collections_.emplace(name, c).first->second;
    }

    // Inserts `docs` into collection `name`; returns the documents the server
    // refused for good (index, reason), or throws when the batch must be
    // retried. An error collection's documents must all go in (there is no
    // further place for them): a refusal there throws too.
    std::vector<std::pair<std::size_t, std::string>> insert(const std::string& name,
                                                            const std::vector<bson_ptr>& docs, bool errors) {
        mongoc_collection_t* c = collection(name);
        bson_list list;
        list.reserve(docs.size());
        for (const auto& d : docs) list.push_back(d.get());
        // Unordered: the server inserts every document it can, and reports the
        // ones it already has (a replayed batch) as duplicate keys.
        bson_t* opts = BCON_NEW("ordered", BCON_BOOL(false));
        bson_t reply;
        bson_error_t error;
        const bool ok = mongoc_collection_insert_many(c, list.data(), list.size(), opts, &reply, &error);
        bson_destroy(opts);
        insert_outcome outcome;
        if (!ok) outcome = read_insert_failure(reply, error, docs.size());
        bson_destroy(&reply);
        if (outcome.retry.empty()) sort_out_duplicates(c, name, docs, outcome);
        if (outcome.retry.empty() && errors && !outcome.refused.empty()) outcome.retry = outcome.refused.front().second;
        if (!outcome.retry.empty()) {
            throw export_error("MongoDB: insert into " + database_ + "." + name + " failed: " + outcome.retry);
        }
        return std::move(outcome.refused);
    }

    // A duplicate key on the _id index is a document already there (a
    // replayed batch); one on another unique index (the user's) is a
    // refusal, which would otherwise pass for success and lose the row. Told
    // apart by looking the _ids up: one query, only for a batch that met
    // duplicates.
    void sort_out_duplicates(mongoc_collection_t* c, const std::string& name, const std::vector<bson_ptr>& docs,
                             insert_outcome& outcome) {
        if (outcome.duplicate_at.empty()) return;
        const auto id_of = [&](std::size_t i) {
            bson_iter_t it;
            if (!bson_iter_init_find(&it, docs[i].get(), "_id") || !BSON_ITER_HOLDS_UTF8(&it)) return std::string();
            return std::string(bson_iter_utf8(&it, nullptr));
        };
        bson_t filter, id, in;
        bson_init(&filter);
        bson_append_document_begin(&filter, "_id", 3, &id);
        bson_append_array_begin(&id, "$in", 3, &in);
        for (std::size_t n = 0; n < outcome.duplicate_at.size(); ++n) {
            const std::string key = std::to_string(n);
            const std::string value = id_of(outcome.duplicate_at[n].first);
            bson_append_utf8(&in, key.c_str(), static_cast<int>(key.size()), value.c_str(),
                             static_cast<int>(value.size()));
        }
        bson_append_array_end(&id, &in);
        bson_append_document_end(&filter, &id);
        bson_t* opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
        mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(c, &filter, opts, nullptr);
        std::set<std::string> found;
        const bson_t* doc = nullptr;
        while (mongoc_cursor_next(cursor, &doc)) {
            bson_iter_t it;
            if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) found.emplace(bson_iter_utf8(&it, nullptr));
        }
        bson_error_t error;
        const bool failed = mongoc_cursor_error(cursor, &error);
        mongoc_cursor_destroy(cursor);
        bson_destroy(opts);
        bson_destroy(&filter);
        if (failed) {
            outcome.retry = "cannot look up the documents of " + database_ + "." + name + ": " + error.message;
            return;
        }
        for (const auto& [i, message] : outcome.duplicate_at) {
            if (!found.contains(id_of(i))) outcome.refused.emplace_back(i, message);
        }
    }

    struct batch {
        std::vector<bson_ptr> docs;
        std::vector<const export_row*> rows;  // of each document
        bool errors = false;                  // an error collection: no further place for a refusal
        void add(bson_ptr doc, const export_row& row) {
            docs.push_back(std::move(doc));
            rows.push_back(&row);
        }
    };

    static batch& errors_of(std::map<std::string, batch>& batches, const export_row& row) {
        batch& b = batches[row.route->target + "_errors"];
        b.errors = true;
        return b;
    }

    uri_ptr uri_;
    std::string where_;     // host:port, for messages
    std::string user_;
    std::string database_;
    mongoc_client_t* client_ = nullptr;
    std::map<std::string, mongoc_collection_t*> collections_;  // of this connection
    std::uint64_t rejected_ = 0;  // of the last write: rows mongodb_document or the server refused
    std::uint64_t refused_ = 0;   // of those, the server's
};

}  // namespace

std::unique_ptr<sink> make_mongodb_sink(const config::exporter_config& cfg, const std::string& password,
                                        std::string& error) {
    const std::string usage = cfg.defined_at + ": exporter " + cfg.name +
                              ": exporter_url must be mongodb://[USER@]HOST[:PORT]/DATABASE[?OPTIONS]";
    auto url = parse_db_url(cfg.url, 27017);
    if (!url || url->scheme != "mongodb") {
        error = usage;
        return nullptr;
    }
    std::string database = url->database, options;
    if (const auto q = database.find('?'); q != std::string::npos) {
        options = database.substr(q);
        database.resize(q);
    }
    if (database.empty()) {
        error = usage;
        return nullptr;
    }
    if (!password.empty() && url->user.empty()) {
        error = cfg.defined_at + ": exporter " + cfg.name + ": a password is set but exporter_url names no user";
        return nullptr;
    }
    mongoc_library();
    // The URI without credentials, checked by libmongoc; user and password are
    // set on it afterwards, so the password is never part of a string.
    bson_error_t e;
    uri_ptr uri(mongoc_uri_new_with_error(("mongodb://" + host_port(*url) + "/" + database + options).c_str(), &e));
    if (!uri) {
        error = usage + " (" + e.message + ")";
        return nullptr;
    }
    if (!url->user.empty()) {
        mongoc_uri_set_username(uri.get(), url->user.c_str());
        mongoc_uri_set_password(uri.get(), password.c_str());
    }
    const std::pair<const char*, std::int32_t> timeouts[] = {
        {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, server_selection_timeout_ms},
        {MONGOC_URI_CONNECTTIMEOUTMS, connect_timeout_ms},
        {MONGOC_URI_SOCKETTIMEOUTMS, socket_timeout_ms}};
    for (const auto& [key, ms] : timeouts) {
        if (!mongoc_uri_has_option(uri.get(), key)) mongoc_uri_set_option_as_int32(uri.get(), key, ms);
    }
    if (!mongoc_uri_has_option(uri.get(), MONGOC_URI_APPNAME)) mongoc_uri_set_appname(uri.get(), "strata");
    return std::make_unique<mongodb_sink>(std::move(uri), host_port(*url), url->user, database);
}

}  // namespace strata::exporters
