/*
 * strata exporter API, version 1: the contract between the broker and an
 * exporter module, the shared object that writes stored messages to one kind
 * of database (docs/exporters.md, "Exporter modules").
 *
 * A plain C header, like hooks.hpp: only C types cross the boundary, every
 * struct starts with its size, and nothing allocated on one side is freed on
 * the other. strata's own exporters (mariadb, postgresql, mongodb, neo4j,
 * kafka, sqlite) are modules built on this API; plugins/examples/
 * jsonl_exporter.c is a small one written in C.
 *
 * What the broker does and the module does not: it reads the store after the
 * exporter's cursor, matches topics to routes, maps JSON payloads to the
 * route's fields, batches, retries with back-off, splits a refused batch to
 * find the rows the database refuses, moves the cursor only after a write
 * succeeded, and reports state in $SYS and the HTTP API. A module only
 * connects and writes a batch, idempotently: the same row written twice (a
 * batch replayed after a crash) must leave it once, keyed by (topic_id, ts_us,
 * seq).
 *
 * Loading: `exporter NAME KIND` loads exporter_plugin_dir/strata_exporter_KIND.so,
 * or the file an `exporter_plugin PATH` line of the block names. A module
 * exports the functions declared at the end of this file.
 *
 * Threading: create, write, disconnect and destroy of one exporter run on
 * that exporter's writer thread, one call at a time, and may block (on the
 * network, a database). Several exporters of the same module run at the same
 * time, each on its own thread, each with its own handle. interrupt() is
 * called from another thread.
 *
 * Views: strings and byte arrays are (pointer, size) views into the broker's
 * memory, valid only during the call; strings are NOT NUL-terminated. Copy
 * what you keep.
 */
#ifndef STRATA_EXPORTER_H
#define STRATA_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "hooks.hpp" /* strata_str, strata_bytes, strata_user_property, STRATA_PLUGIN_EXPORT */

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_EXPORTER_API_VERSION 1

/* One `exporter_option KEY VALUE` line (NUL-terminated, valid until destroy). */
typedef struct strata_exporter_option {
    const char* key;
    const char* value;
} strata_exporter_option;

/* One `exporter_route` line (docs/exporters.md). */
typedef struct strata_export_route {
    size_t struct_size;
    strata_str filter;           /* as written, with named levels: sensors/+room/# */
    strata_str target;           /* table, collection, topic, label ... */
    strata_str payload;          /* json | text | bytes */
    int all_fields;              /* payload=json without fields=: every field of the object */
    size_t field_count;          /* fields=: the JSON fields kept, in order */
    const strata_str* fields;        /* the payload's field names */
    const strata_str* field_types;   /* number | text | json */
    const strata_str* field_names;   /* the column (document field, property) each becomes */
    strata_str key;              /* key=: a captured level's name, "client_id", or empty */
    void* reserved[4];
} strata_export_route;

/* The `exporter NAME KIND` block, valid until strata_exporter_destroy(). */
typedef struct strata_exporter_config {
    size_t struct_size;
    const char* name;            /* NUL-terminated */
    const char* kind;
    const char* url;             /* exporter_url */
    const char* password;        /* from exporter_password_file or _env; "" when none */
    const char* defined_at;      /* "file:line" of the exporter line, for messages */
    size_t option_count;
    const strata_exporter_option* options;
    size_t route_count;
    const strata_export_route* routes;
    void* reserved[4];
} strata_exporter_config;

/* One stored message, mapped by its route. */
typedef struct strata_export_row {
    size_t struct_size;
    uint64_t log_seq;            /* position in the export log */
    uint64_t topic_id;           /* with ts_us and seq: the message's unique key */
    uint64_t ts_us;              /* arrival, microseconds since the Unix epoch */
    uint32_t seq;
    uint8_t qos;
    uint8_t retain;
    size_t route;                /* index into strata_exporter_config.routes */
    strata_str topic;
    strata_str client_id;        /* the publisher */
    size_t capture_count;        /* named + levels of the route's filter: name, value */
    const strata_user_property* captures;
    /* payload=json: the JSON object of the route's fields (or all of them),
     * serialised; otherwise empty. */
    strata_str fields_json;
    /* payload=text|bytes: the payload as published; for a misfit, the payload
     * as published when known. */
    strata_bytes payload;
    /* Empty for a row of its route's target. Otherwise the row is a misfit
     * (not JSON, a field missing ...): it goes to TARGET_errors with this
     * reason, never dropped. */
    strata_str error;
    void* reserved[4];
} strata_export_row;

/* What a write came to. */
typedef enum strata_export_result {
    STRATA_EXPORT_OK = 0,        /* every row is written (or in TARGET_errors) */
    STRATA_EXPORT_RETRY = 1,     /* the connection or the server failed: the batch is retried later */
    STRATA_EXPORT_REFUSED = 2    /* the database refused rows of the batch themselves (a constraint,
                                    a type): nothing was kept, and the same rows would fail again;
                                    the broker finds them by writing halves and sends those to
                                    TARGET_errors with `message` as the reason */
} strata_export_result;

/* Filled in by write(). */
typedef struct strata_export_outcome {
    size_t struct_size;
    char* message;               /* the broker's buffer: why, for RETRY and REFUSED (NUL-terminated) */
    size_t message_size;
    uint64_t rejected_rows;      /* OK: rows the module itself sent to TARGET_errors */
    uint64_t refused_rows;       /* of those, rows the database refused */
    void* reserved[4];
} strata_export_outcome;

/* write()'s flags. */
#define STRATA_EXPORT_TRIAL 1u   /* write, then roll back: only for modules with STRATA_EXPORTER_CAN_TRY */

/* Capabilities (strata_exporter_capabilities). */
#define STRATA_EXPORTER_CAN_TRY 1u /* batches are transactions that a trial write can roll back */

typedef struct strata_exporter strata_exporter; /* the module's own state, opaque to the broker */

/* The API version the module was built for: return STRATA_EXPORTER_API_VERSION. */
STRATA_PLUGIN_EXPORT int strata_exporter_version(void);

/* One exporter's state. Checks the URL and the options (connecting may wait
 * for the first write). NULL with a message in `error` (NUL-terminated, at
 * most error_size bytes) when the configuration does not fit; start-up then
 * stops with it. */
STRATA_PLUGIN_EXPORT strata_exporter* strata_exporter_create(const strata_exporter_config* config, char* error,
                                                             size_t error_size);

/* STRATA_EXPORTER_CAN_TRY or 0. */
STRATA_PLUGIN_EXPORT unsigned strata_exporter_capabilities(strata_exporter* exporter);

/* Writes rows[0..count) (one batch, in log order; a row goes to
 * destination TARGET or TARGET_errors). */
STRATA_PLUGIN_EXPORT int strata_exporter_write(strata_exporter* exporter, const strata_export_row* rows, size_t count,
                                               unsigned flags, strata_export_outcome* outcome);

/* Drops the connection (after a failed write, and before destroy). */
STRATA_PLUGIN_EXPORT void strata_exporter_disconnect(strata_exporter* exporter);

/* From another thread, when the exporter stops: a write waiting on its
 * database gives up soon and returns STRATA_EXPORT_RETRY. */
STRATA_PLUGIN_EXPORT void strata_exporter_interrupt(strata_exporter* exporter);

STRATA_PLUGIN_EXPORT void strata_exporter_destroy(strata_exporter* exporter);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_EXPORTER_H */
