/*
 * strata plugin API, version 1: the contract between the broker and its plugins.
 *
 * A plain C header (it compiles as C99 and as C++), so that a plugin can be
 * written in C or C++ and keeps working when the broker is built with another
 * compiler: only C types cross the boundary, every struct starts with its
 * size, nothing is allocated on one side and freed on the other.
 *
 * A plugin is a shared object that exports three functions (declared below):
 *
 *   strata_plugin_version()   the API version it was built for (STRATA_PLUGIN_API_VERSION);
 *   strata_plugin_init()      called once at start-up with the host table and the plugin's
 *                             options; it registers callbacks for the events it wants;
 *   strata_plugin_cleanup()   called once at shutdown, after the last callback.
 *
 * It is loaded with `plugin /path/to/plugin.so` in the broker's conf file;
 * `plugin_opt_KEY VALUE` lines after it are its options. Several plugins are
 * called in the order of the conf file. docs/plugins.md has the event model,
 * the threading rules and a walk through plugins/examples/.
 *
 * Threading, in short (details in docs/plugins.md):
 *  - init, cleanup and the reload event run on the broker's main thread;
 *  - every other callback runs on the worker thread of the connection (or
 *    session) it is about, and several workers call callbacks at the same
 *    time: state shared between clients needs the plugin's own locking, or one
 *    slot per worker (`header.worker` < host->worker_count());
 *  - a callback must not block. An answer that needs I/O is deferred: return
 *    STRATA_DEFER, keep a copy of the event's `defer` handle and call
 *    host->resume() later, from any thread.
 *
 * Views: strings and byte arrays are (pointer, size) views into the broker's
 * memory, valid only during the callback; strings are NOT NUL-terminated.
 * Copy what you keep.
 *
 * Growth: every struct has a size field (the host's sizeof) and reserved
 * slots. Later versions only append fields or use reserved slots, so a plugin
 * built against this header keeps working; a plugin built against a newer
 * header checks `struct_size` before reading a field this version lacks.
 */
#ifndef STRATA_PLUGIN_HOOKS_H
#define STRATA_PLUGIN_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_PLUGIN_API_VERSION 1

/* Marks the three entry points as exported from a plugin built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define STRATA_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define STRATA_PLUGIN_EXPORT
#endif

/* ---- Views ------------------------------------------------------------------ */

/* UTF-8 text; not NUL-terminated. An absent optional string has data == NULL. */
typedef struct strata_str {
    const char* data;
    size_t size;
} strata_str;

/* Binary data. */
typedef struct strata_bytes {
    const uint8_t* data;
    size_t size;
} strata_bytes;

/* One MQTT 5 user property (key and value are UTF-8). */
typedef struct strata_user_property {
    strata_str key;
    strata_str value;
} strata_user_property;

/* One `plugin_opt_KEY VALUE` line: key without the `plugin_opt_` prefix.
 * NUL-terminated; valid until strata_plugin_cleanup() returns. */
typedef struct strata_option {
    const char* key;
    const char* value;
} strata_option;

/* ---- Results ------------------------------------------------------------------ */
/* What a callback returns. Which results an event accepts, and what they mean
 * there, is documented with each event struct below. A result an event does not
 * accept is treated as STRATA_ERROR (and logged). */

/* Allowed / accepted / done. For auth and acl events this decides: later plugins are not asked. */
#define STRATA_OK 0
/* No opinion: ask the next plugin; when every plugin passes, the broker's default applies. */
#define STRATA_PASS 1
/* Refused. `header.reason_code` may carry the MQTT 5 reason code (0 = the event's default). */
#define STRATA_DENY 2
/* The answer comes later through host->resume() (connection-level events only: auth_basic,
 * auth_extended, connect). The connection holds its further packets until then. */
#define STRATA_DEFER 3
/* The plugin failed: the broker refuses what was asked, with reason code 0x80 unless set. */
#define STRATA_ERROR 4
/* auth_extended only: send `data_out` to the client in an AUTH packet (reason 0x18) and wait
 * for its answer, which comes to this same plugin with stage STRATA_AUTH_CONTINUE. */
#define STRATA_CONTINUE 5

/* ---- Events ------------------------------------------------------------------ */

#define STRATA_EVENT_CONNECT 1       /* strata_event_connect */
#define STRATA_EVENT_AUTH_BASIC 2    /* strata_event_auth_basic */
#define STRATA_EVENT_AUTH_EXTENDED 3 /* strata_event_auth_extended */
#define STRATA_EVENT_ACL 4           /* strata_event_acl */
#define STRATA_EVENT_MESSAGE_IN 5    /* strata_event_message */
#define STRATA_EVENT_MESSAGE_OUT 6   /* strata_event_message */
#define STRATA_EVENT_SUBSCRIBE 7     /* strata_event_subscribe */
#define STRATA_EVENT_UNSUBSCRIBE 8   /* strata_event_unsubscribe */
#define STRATA_EVENT_DISCONNECT 9    /* strata_event_disconnect */
#define STRATA_EVENT_TICK 10         /* strata_event_tick */
#define STRATA_EVENT_RELOAD 11       /* strata_event_reload */
/* One more than the largest event number of this version. */
#define STRATA_EVENT_LIMIT 12

/* A callback: `event` is the STRATA_EVENT_* number, `event_data` points to the
 * event's struct (cast it), `userdata` is what was given to register_event(). */
typedef int (*strata_callback)(int event, void* event_data, void* userdata);

/* First member of every event struct. */
typedef struct strata_event_header {
    uint32_t struct_size;  /* sizeof the whole event struct as the host filled it */
    uint16_t api_version;  /* the host's STRATA_PLUGIN_API_VERSION */
    uint16_t event;        /* STRATA_EVENT_* */
    uint32_t worker;       /* worker thread running the callback, 0 .. worker_count()-1 (0 for reload) */
    /* out: with STRATA_DENY or STRATA_ERROR, the MQTT 5 reason code to send (0 = the
     * event's default). MQTT 3.1.1 clients get the closest code their version has. */
    uint8_t reason_code;
    uint8_t reserved8[3];
    /* out: optional reason string for MQTT 5 clients (CONNACK, PUBACK/PUBREC, SUBACK,
     * UNSUBACK, AUTH); the host copies it when the callback returns. */
    strata_str reason_string;
} strata_event_header;

/* The client an event is about. */
typedef struct strata_client {
    uint32_t struct_size;
    /* 3 (MQTT 3.1), 4 (3.1.1) or 5; 0 for a request of the HTTP API (auth_basic and
     * acl read only; client_id is then the username, connection has its top bit set;
     * docs/plugins.md, "Requests of the HTTP API"), and 0 for the publisher of a
     * retained message checked by check_retain_source (acl write; connection 0). */
    uint8_t protocol_version;
    uint8_t has_username;
    uint16_t listener_port;   /* local port the client connected to; 0 for an offline session */
    /* Unique for the life of the process: key per-connection state by it. A new
     * connection with the same client id (session takeover) has another number,
     * and its connect event can come before the old connection's disconnect.
     * 0 for an offline session (message_out, acl read while the client is away). */
    uint64_t connection;
    strata_str client_id;     /* as sent, or the identifier the broker assigned */
    strata_str username;      /* empty when has_username is 0 */
    strata_str peer;          /* "address:port"; empty for an offline session */
    void* reserved[4];
} strata_client;

/* Handle of a deferred decision: copy the struct, pass it to host->resume(). */
typedef struct strata_defer {
    uint64_t connection;
    uint32_t worker;
    uint32_t sequence;
} strata_defer;

/* ---- connect ------------------------------------------------------------------
 * After authentication succeeded, before the session is attached and CONNACK
 * is sent: the last chance to refuse a client (client id policy, limits).
 * Results: OK or PASS (next plugin; after the last, the client is accepted),
 * DENY (CONNACK with reason_code, default 0x87 not authorized), DEFER, ERROR.
 * Every connection that reaches this event gets exactly one disconnect event
 * later, accepted or not (see strata_event_disconnect). */
typedef struct strata_event_connect {
    strata_event_header header;
    const strata_client* client;
    uint8_t clean_start;
    uint8_t has_will;
    uint8_t assigned_client_id; /* 1: the client sent an empty id and got client->client_id */
    uint8_t reserved8;
    uint16_t keep_alive;        /* seconds, as requested */
    strata_str will_topic;      /* when has_will */
    strata_defer defer;
    void* reserved[4];
} strata_event_connect;

/* ---- auth_basic ---------------------------------------------------------------
 * Username/password check of a CONNECT without an authentication method
 * (every such client, with or without a username: client->has_username).
 * Results: OK (authenticated; later plugins are not asked), DENY (CONNACK
 * reason_code, default 0x86 bad user name or password; 3.1.1 return code 4),
 * PASS (next plugin), DEFER, ERROR.
 * When every plugin passes, `allow_anonymous` decides: true accepts, false
 * refuses with 0x87 not authorized (3.1.1: 5). */
typedef struct strata_event_auth_basic {
    strata_event_header header;
    const strata_client* client;
    uint8_t has_password;
    uint8_t reserved8[7];
    strata_bytes password;
    strata_defer defer;
    void* reserved[4];
} strata_event_auth_basic;

/* ---- auth_extended -------------------------------------------------------------
 * MQTT 5 enhanced authentication (section 4.12): a CONNECT with an
 * Authentication Method, the AUTH packets that follow it, and re-authentication
 * of a connected client (AUTH with reason 0x19).
 * Results:
 *   OK        authenticated (CONNACK success, or AUTH success on re-authentication),
 *             carrying `data_out` as Authentication Data when set;
 *   CONTINUE  send `data_out` in AUTH 0x18 and wait; the client's next AUTH comes to
 *             the same plugin with stage STRATA_AUTH_CONTINUE;
 *   PASS      not this plugin's method: ask the next one. When no plugin handles the
 *             method: CONNACK 0x8C bad authentication method;
 *   DENY      CONNACK with reason_code (default 0x87 not authorized); on
 *             re-authentication, DISCONNECT with it;
 *   DEFER, ERROR. */
#define STRATA_AUTH_START 0         /* from CONNECT */
#define STRATA_AUTH_CONTINUE 1      /* from AUTH 0x18 during the exchange */
#define STRATA_AUTH_REAUTHENTICATE 2 /* from AUTH 0x19 on a connected client */

typedef struct strata_event_auth_extended {
    strata_event_header header;
    const strata_client* client;
    uint8_t stage;            /* STRATA_AUTH_* */
    uint8_t has_password;     /* a CONNECT may carry a password too (START only) */
    uint8_t reserved8[6];
    strata_str method;        /* Authentication Method */
    strata_bytes data;        /* Authentication Data from the client (may be empty) */
    strata_bytes password;
    /* out: Authentication Data to send back with OK or CONTINUE; must stay
     * valid until the callback returns (the host copies it). */
    strata_bytes data_out;
    strata_defer defer;
    void* reserved[4];
} strata_event_auth_extended;

/* ---- acl ----------------------------------------------------------------------
 * May this client do this to this topic? Asked for every PUBLISH from the client
 * (write), every delivery to it (read; also retained messages sent on
 * subscribe), every SUBSCRIBE and UNSUBSCRIBE filter, and for the will topic at
 * CONNECT (write). With check_retain_source, a retained message sent on
 * subscribe is also checked as a write by its publisher, who may be offline:
 * that client has connection 0, no peer and protocol_version 0, and a DENY
 * keeps the message from that subscriber.
 * Results: OK (granted; later plugins are not asked), DENY (refused), PASS
 * (next plugin; when every plugin passes, access is granted), ERROR (refused).
 * Refusals: PUBLISH gets reason_code (default 0x87) in an MQTT 5 PUBACK/PUBREC
 * and is dropped silently for MQTT 3.1.1; a delivery is skipped; SUBSCRIBE gets
 * 0x87 (3.1.1: 0x80); UNSUBSCRIBE gets 0x87 (3.1.1 has no code; the
 * subscription stays); a will topic refuses the CONNECT with 0x87. */
#define STRATA_ACCESS_READ 1
#define STRATA_ACCESS_WRITE 2
#define STRATA_ACCESS_SUBSCRIBE 4
#define STRATA_ACCESS_UNSUBSCRIBE 8

typedef struct strata_event_acl {
    strata_event_header header;
    const strata_client* client;
    uint32_t access;         /* one STRATA_ACCESS_* value */
    uint8_t qos;
    uint8_t retain;
    uint8_t reserved8[2];
    /* Topic name (read, write), or filter without its `$share/GROUP/` prefix
     * (subscribe, unsubscribe). With a listener mount_point, the mounted topic. */
    strata_str topic;
    strata_str share_group;  /* subscribe/unsubscribe of a shared subscription; else empty */
    strata_bytes payload;    /* read/write: the message payload */
    void* reserved[4];
} strata_event_acl;

/* ---- message_in / message_out ----------------------------------------------------
 * message_in: a PUBLISH from a client, after the acl write check, before it is
 * routed and stored. Results: OK or PASS (next plugin), DENY (dropped: an MQTT 5
 * publisher gets reason_code in PUBACK/PUBREC, default 0x87; an MQTT 3.1.1
 * publisher's QoS flow completes normally), ERROR (dropped, 0x80).
 * A callback may rewrite the message with host->message_set_*(); the next
 * plugin sees the rewritten message, and what the last one leaves is what is
 * routed, retained and stored. The rewritten topic is not checked by acl again.
 * Wills are not passed to message_in (their topic is checked by acl at CONNECT).
 *
 * message_out: a message about to be delivered to one subscriber (client is
 * the subscriber; the session may be offline, then the message is queued).
 * Read-only. Results: OK or PASS (next plugin), DENY or ERROR (not delivered to
 * this subscriber). */
typedef struct strata_event_message {
    strata_event_header header;
    const strata_client* client;    /* publisher (in) or subscriber (out) */
    strata_str topic;
    strata_bytes payload;
    uint8_t qos;                    /* in: as published; out: as delivered */
    uint8_t retain;
    int16_t payload_format;         /* Payload Format Indicator 0 or 1; -1 when absent */
    uint8_t has_message_expiry;
    uint8_t reserved8[3];
    uint32_t message_expiry;        /* seconds, when has_message_expiry */
    /* Properties forwarded to subscribers (strings: data == NULL when absent). */
    strata_str content_type;
    strata_str response_topic;
    strata_bytes correlation_data;
    const strata_user_property* user_properties;
    size_t user_property_count;
    void* reserved[4];
} strata_event_message;

/* ---- subscribe / unsubscribe ---------------------------------------------------------
 * One event per filter of a SUBSCRIBE (after acl subscribe granted it) or
 * UNSUBSCRIBE (after acl unsubscribe).
 * subscribe results: OK or PASS (next plugin; `qos` as the plugins leave it is
 * granted: a callback may lower it), DENY (SUBACK reason_code, default 0x87;
 * 3.1.1: 0x80), ERROR (0x80).
 * unsubscribe results: OK or PASS, DENY or ERROR (the subscription stays;
 * MQTT 5 UNSUBACK gets reason_code, default 0x87). */
typedef struct strata_event_subscribe {
    strata_event_header header;
    const strata_client* client;
    strata_str filter;          /* without `$share/GROUP/`; mounted with a listener mount_point */
    strata_str share_group;     /* empty unless shared */
    uint8_t qos;                /* in/out: the QoS to grant (0..2); may only be lowered */
    uint8_t no_local;
    uint8_t retain_as_published;
    uint8_t retain_handling;
    uint32_t subscription_identifier; /* 0 = none */
    void* reserved[4];
} strata_event_subscribe;

typedef struct strata_event_unsubscribe {
    strata_event_header header;
    const strata_client* client;
    strata_str filter;
    strata_str share_group;
    void* reserved[4];
} strata_event_unsubscribe;

/* ---- disconnect -------------------------------------------------------------------
 * A connection that reached the connect event has ended, for any reason (client
 * DISCONNECT, network error, keep-alive, takeover, refusal by a connect
 * callback, shutdown). Called once per such connection. The result is ignored. */
typedef struct strata_event_disconnect {
    strata_event_header header;
    const strata_client* client;
    uint8_t accepted;          /* 1 if the client got a successful CONNACK */
    uint8_t client_initiated;  /* 1 if the client sent DISCONNECT */
    uint8_t reason;            /* reason code of the DISCONNECT sent or received; 0 if none */
    uint8_t reserved8[5];
    void* reserved[4];
} strata_event_disconnect;

/* ---- tick -------------------------------------------------------------------------
 * Periodic call on every worker, at most once a second per worker; `worker`
 * in the header tells which (act on worker 0 only for once-a-second work). The
 * result is ignored. */
typedef struct strata_event_tick {
    strata_event_header header;
    uint64_t now_ms;           /* monotonic clock, milliseconds */
    void* reserved[4];
} strata_event_tick;

/* ---- reload -----------------------------------------------------------------------
 * The broker reloaded its configuration (SIGHUP). Runs on the main thread while
 * the workers keep calling other callbacks. `options` are the plugin's options
 * from the new file (or the old ones when the list of plugins changed, which
 * takes effect at restart only). The result is ignored. */
typedef struct strata_event_reload {
    strata_event_header header;
    const strata_option* options;
    size_t option_count;
    void* reserved[4];
} strata_event_reload;

/* ---- Answering later ---------------------------------------------------------------- */

/* The late answer to an event that returned STRATA_DEFER. */
typedef struct strata_resume {
    uint32_t struct_size;       /* sizeof(strata_resume) */
    int result;                 /* what the callback would have returned (not STRATA_DEFER) */
    strata_defer defer;         /* copied from the event */
    uint8_t reason_code;        /* as header.reason_code */
    uint8_t reserved8[7];
    strata_str reason_string;   /* as header.reason_string */
    strata_bytes auth_data;     /* auth_extended: as data_out */
    void* reserved[4];
} strata_resume;

/* ---- The host ---------------------------------------------------------------------
 * Functions the broker offers. Each plugin gets its own table, valid from
 * strata_plugin_init() until strata_plugin_cleanup() returns; pass it back as
 * the first argument. Unless noted, a function may be called from any thread.
 * Functions returning int return STRATA_OK or STRATA_ERROR. */
#define STRATA_LOG_ERROR 1
#define STRATA_LOG_WARNING 2
#define STRATA_LOG_NOTICE 3
#define STRATA_LOG_INFO 4
#define STRATA_LOG_DEBUG 5

/* MQTT 5 property identifiers accepted by message_set_string_property(). */
#define STRATA_PROPERTY_CONTENT_TYPE 0x03
#define STRATA_PROPERTY_RESPONSE_TOPIC 0x08
#define STRATA_PROPERTY_CORRELATION_DATA 0x09

typedef struct strata_host strata_host;
struct strata_host {
    uint32_t struct_size;      /* sizeof(strata_host) of the broker */
    uint32_t api_version;      /* STRATA_PLUGIN_API_VERSION of the broker */
    void* host_private;        /* the broker's, do not touch */

    /* Adds `cb` for `event`; callbacks of one event run in plugin (conf) order, and
     * in registration order within a plugin. ERROR for an unknown event or a
     * (cb, userdata) pair already registered for it. Takes effect on each worker at
     * its next event-loop turn. */
    int (*register_event)(const strata_host* host, int event, strata_callback cb, void* userdata);
    /* Removes what register_event added. A call already running on another
     * worker is not waited for: keep what the callback uses alive until cleanup. */
    int (*unregister_event)(const strata_host* host, int event, strata_callback cb, void* userdata);

    /* Writes a line to the broker's log as "plugin NAME: message" (STRATA_LOG_* level). */
    void (*log)(const strata_host* host, int level, const char* message);

    /* The plugin's current options (count in *count); valid until cleanup. */
    const strata_option* (*options)(const strata_host* host, size_t* count);
    /* The value of option `key` (without `plugin_opt_`), or NULL. */
    const char* (*option)(const strata_host* host, const char* key);

    /* Number of worker threads (header.worker is below it). */
    uint32_t (*worker_count)(const strata_host* host);

    /* Answers a deferred event. Returns OK when the answer is on its way to the
     * connection's worker (if the connection is gone by then, or the handle was
     * already answered, it is dropped), ERROR for a malformed answer. The host
     * copies everything before returning. */
    int (*resume)(const strata_host* host, const strata_resume* answer);

    /* message_in only, from the callback's thread during the callback: rewrite the
     * message. The host copies the arguments; `msg` then points at the new values. */
    int (*message_set_topic)(const strata_host* host, strata_event_message* msg, strata_str topic);
    int (*message_set_payload)(const strata_host* host, strata_event_message* msg, strata_bytes payload);
    int (*message_add_user_property)(const strata_host* host, strata_event_message* msg, strata_str key,
                                     strata_str value);
    int (*message_clear_user_properties)(const strata_host* host, strata_event_message* msg);
    /* Sets (value != NULL) or removes (value == NULL) a STRATA_PROPERTY_* string property. */
    int (*message_set_string_property)(const strata_host* host, strata_event_message* msg, int property,
                                       const strata_str* value);

    void* reserved[8];
};

/* ---- Entry points a plugin exports ------------------------------------------------- */

/* The API version the plugin was built for: return STRATA_PLUGIN_API_VERSION. */
STRATA_PLUGIN_EXPORT int strata_plugin_version(void);

/* Called once, on the main thread, before any client connects. Register
 * callbacks, read options, start background threads. `*userdata` is passed to
 * cleanup. Return STRATA_OK, or anything else to stop the broker's start-up. */
STRATA_PLUGIN_EXPORT int strata_plugin_init(const strata_host* host, const strata_option* options, size_t option_count,
                                            void** userdata);

/* Called once, on the main thread, after the workers have stopped (no callback
 * runs any more): stop threads, free memory. The result is logged. */
STRATA_PLUGIN_EXPORT int strata_plugin_cleanup(void* userdata, const strata_option* options, size_t option_count);

typedef int (*strata_plugin_version_fn)(void);
typedef int (*strata_plugin_init_fn)(const strata_host*, const strata_option*, size_t, void**);
typedef int (*strata_plugin_cleanup_fn)(void*, const strata_option*, size_t);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_PLUGIN_HOOKS_H */
