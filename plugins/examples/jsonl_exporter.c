/*
 * An exporter module in C (plugins/exporter.h): appends each stored message
 * as one JSON line to a file, `exporter_url` being the file's path.
 *
 *   exporter lines jsonl
 *   exporter_plugin build/lib/strata_jsonl_exporter.so
 *   exporter_url /var/lib/strata/messages.jsonl
 *   exporter_route sensors/+room/# readings fields=all
 *
 * Each line: {"log_seq":N,"target":"readings","topic":"...","client_id":"...",
 * "ts_us":N,"seq":N,"qos":N,"retain":B,"captures":{"room":"r1"},
 * "fields":{...} or "payload_base64":"...", and "error":"..." for a misfit}.
 *
 * What it shows:
 *  - a write is durable before it returns OK (fsync), as the broker moves the
 *    exporter's cursor only then;
 *  - writes are idempotent: the broker may hand over again rows that were
 *    written just before a crash, so at start the module reads the last
 *    log_seq in the file and skips rows up to it;
 *  - a failure returns STRATA_EXPORT_RETRY with the reason, and the broker
 *    retries the batch later (a full disk delays export, never drops it).
 * It has no options: any exporter_option is refused with the conf line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter.h"

struct strata_exporter {
    char* path;
    int fd;                   /* -1 until the first write, and after a failure */
    uint64_t last_written;    /* the highest log_seq in the file */
    const strata_exporter_config* config;
    char* line;               /* a growing buffer for one batch */
    size_t line_size, line_used;
};

static int grow(strata_exporter* e, size_t more) {
    if (e->line_used + more <= e->line_size) return 1;
    size_t size = e->line_size ? e->line_size : 4096;
    while (size < e->line_used + more) size *= 2;
    char* bigger = realloc(e->line, size);
    if (!bigger) return 0;
    e->line = bigger;
    e->line_size = size;
    return 1;
}

static int put(strata_exporter* e, const char* s, size_t n) {
    if (!grow(e, n)) return 0;
    memcpy(e->line + e->line_used, s, n);
    e->line_used += n;
    return 1;
}

static int put_text(strata_exporter* e, const char* s) { return put(e, s, strlen(s)); }

/* A JSON string: the broker's strings are UTF-8; control characters are escaped. */
static int put_string(strata_exporter* e, const char* s, size_t n) {
    if (!put(e, "\"", 1)) return 0;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            if (!put(e, esc, 2)) return 0;
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            if (!put(e, esc, 6)) return 0;
        } else if (!put(e, (const char*)&s[i], 1)) {
            return 0;
        }
    }
    return put(e, "\"", 1);
}

static int put_base64(strata_exporter* e, const uint8_t* p, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!put(e, "\"", 1)) return 0;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char out[4] = {digits[v >> 18 & 63], digits[v >> 12 & 63], i + 1 < n ? digits[v >> 6 & 63] : '=',
                       i + 2 < n ? digits[v & 63] : '='};
        if (!put(e, out, 4)) return 0;
    }
    return put(e, "\"", 1);
}

static int put_number(strata_exporter* e, const char* key, uint64_t v) {
    char buf[64];
    snprintf(buf, sizeof buf, ",\"%s\":%" PRIu64, key, v);
    return put_text(e, buf);
}

static int put_row(strata_exporter* e, const strata_export_row* r) {
    const strata_export_route* route = &e->config->routes[r->route];
    char buf[64];
    snprintf(buf, sizeof buf, "{\"log_seq\":%" PRIu64 ",\"target\":", r->log_seq);
    int ok = put_text(e, buf) && put_string(e, route->target.data, route->target.size) &&
             put_text(e, ",\"topic\":") && put_string(e, r->topic.data, r->topic.size) &&
             put_text(e, ",\"client_id\":") && put_string(e, r->client_id.data, r->client_id.size) &&
             put_number(e, "ts_us", r->ts_us) && put_number(e, "seq", r->seq) && put_number(e, "qos", r->qos) &&
             put_text(e, r->retain ? ",\"retain\":true" : ",\"retain\":false") && put_text(e, ",\"captures\":{");
    for (size_t i = 0; ok && i < r->capture_count; ++i) {
        ok = (i == 0 || put_text(e, ",")) && put_string(e, r->captures[i].key.data, r->captures[i].key.size) &&
             put_text(e, ":") && put_string(e, r->captures[i].value.data, r->captures[i].value.size);
    }
    ok = ok && put_text(e, "}");
    if (ok && r->fields_json.size > 0) {
        ok = put_text(e, ",\"fields\":") && put(e, r->fields_json.data, r->fields_json.size);
    } else if (ok) {
        ok = put_text(e, ",\"payload_base64\":") && put_base64(e, r->payload.data, r->payload.size);
    }
    if (ok && r->error.size > 0) ok = put_text(e, ",\"error\":") && put_string(e, r->error.data, r->error.size);
    return ok && put_text(e, "}\n");
}

/* The highest log_seq in the file (lines start with {"log_seq":N). A last
 * line without its newline was being written when strata stopped and was not
 * acknowledged: it is cut off, and the broker hands that row over again. */
static uint64_t last_log_seq(const char* path) {
    FILE* f = fopen(path, "r+");
    if (!f) return 0;
    uint64_t last = 0;
    long complete = 0; /* where the last complete line ends */
    char buf[128];
    int at_line_start = 1;
    uint64_t line_seq = 0;
    int line_has_seq = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (at_line_start) line_has_seq = sscanf(buf, "{\"log_seq\":%" SCNu64, &line_seq) == 1;
        at_line_start = strchr(buf, '\n') != NULL;
        if (!at_line_start) continue;
        if (line_has_seq && line_seq > last) last = line_seq;
        complete = ftell(f);
    }
    if (!at_line_start && ftruncate(fileno(f), complete) != 0) { /* the next write appends after it */ }
    fclose(f);
    return last;
}

#define SAY(out, size, ...) ((out) && (size) ? (void)snprintf((out), (size), __VA_ARGS__) : (void)0)

STRATA_PLUGIN_EXPORT int strata_exporter_version(void) { return STRATA_EXPORTER_API_VERSION; }

STRATA_PLUGIN_EXPORT strata_exporter* strata_exporter_create(const strata_exporter_config* config, char* error,
                                                             size_t error_size) {
    if (config->option_count > 0) {
        SAY(error, error_size, "the jsonl exporter has no exporter_option, got '%s'", config->options[0].key);
        return NULL;
    }
    if (config->url[0] != '/') {
        SAY(error, error_size, "exporter_url must be an absolute file path, got '%s'", config->url);
        return NULL;
    }
    strata_exporter* e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(config->url))) {
        free(e);
        SAY(error, error_size, "out of memory");
        return NULL;
    }
    e->fd = -1;
    e->config = config;  /* valid until destroy */
    e->last_written = last_log_seq(e->path);
    return e;
}

STRATA_PLUGIN_EXPORT unsigned strata_exporter_capabilities(strata_exporter* e) {
    (void)e;
    return 0; /* no transactions to roll back */
}

STRATA_PLUGIN_EXPORT int strata_exporter_write(strata_exporter* e, const strata_export_row* rows, size_t count,
                                               unsigned flags, strata_export_outcome* outcome) {
    (void)flags;
    if (e->fd < 0) {
        e->fd = open(e->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (e->fd < 0) {
            SAY(outcome->message, outcome->message_size, "cannot open %s: %s", e->path, strerror(errno));
            return STRATA_EXPORT_RETRY;
        }
    }
    e->line_used = 0;
    uint64_t last = e->last_written;
    for (size_t i = 0; i < count; ++i) {
        if (rows[i].log_seq <= e->last_written) continue; /* written before a crash: once is enough */
        if (!put_row(e, &rows[i])) {
            SAY(outcome->message, outcome->message_size, "out of memory");
            return STRATA_EXPORT_RETRY;
        }
        last = rows[i].log_seq;
    }
    /* On a failure the file is cut back to where the batch began: no half line
     * is left for the retry to append to. */
    const off_t before = lseek(e->fd, 0, SEEK_END);
    const char* failed = NULL;
    for (size_t done = 0; done < e->line_used && !failed;) {
        const ssize_t n = write(e->fd, e->line + done, e->line_used - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) failed = "write";
        else done += (size_t)n;
    }
    if (!failed && fsync(e->fd) != 0) failed = "sync";
    if (failed) {
        SAY(outcome->message, outcome->message_size, "cannot %s %s: %s", failed, e->path,
            strerror(errno ? errno : EIO));
        if (before >= 0 && ftruncate(e->fd, before) != 0) { /* reported above; the next open tidies up */ }
        close(e->fd);
        e->fd = -1;
        return STRATA_EXPORT_RETRY;
    }
    e->last_written = last;
    return STRATA_EXPORT_OK;
}

STRATA_PLUGIN_EXPORT void strata_exporter_disconnect(strata_exporter* e) {
    if (e->fd >= 0) close(e->fd);
    e->fd = -1;
}

STRATA_PLUGIN_EXPORT void strata_exporter_interrupt(strata_exporter* e) { (void)e; /* writes never wait long */ }

STRATA_PLUGIN_EXPORT void strata_exporter_destroy(strata_exporter* e) {
    if (e->fd >= 0) close(e->fd);
    free(e->line);
    free(e->path);
    free(e);
}
