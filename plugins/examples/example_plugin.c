/*
 * strata example plugin, in C (see README.md next to this file).
 *
 * Options (plugin_opt_KEY VALUE in the conf):
 *   deny_topic    FILTER  publishes to topics matching FILTER are refused (0x87)
 *   rewrite_from  PREFIX  topics starting with PREFIX ...
 *   rewrite_to    PREFIX  ... are routed with PREFIX replaced by this
 *   stamp         true    rewritten messages get the user property stamped-by: strata-example
 *   user, password        clients with a username must use these; others are left to allow_anonymous
 *
 * Callbacks run on several worker threads at once, and reload runs on the
 * main thread meanwhile: the settings are an immutable struct behind an
 * atomic pointer. Reload swaps in a new one; the old ones are freed at
 * cleanup, when no callback can still be reading them.
 */
/* strdup is POSIX, not ISO C: ask for it, so that -std=c11 builds work too. */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.hpp"

struct settings {
    char* deny_topic;
    char* rewrite_from;
    char* rewrite_to;
    int stamp;
    char* user;
    char* password;
    struct settings* retired; /* older settings, freed at cleanup */
};

struct plugin {
    const strata_host* host;
    _Atomic(struct settings*) current;
};

static char* copy_option(const strata_option* options, size_t count, const char* key) {
    for (size_t i = 0; i < count; ++i) {
        if (strcmp(options[i].key, key) == 0) return strdup(options[i].value);
    }
    return NULL;
}

static struct settings* read_settings(const strata_option* options, size_t count) {
    struct settings* s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->deny_topic = copy_option(options, count, "deny_topic");
    s->rewrite_from = copy_option(options, count, "rewrite_from");
    s->rewrite_to = copy_option(options, count, "rewrite_to");
    char* stamp = copy_option(options, count, "stamp");
    s->stamp = stamp && strcmp(stamp, "true") == 0;
    free(stamp);
    s->user = copy_option(options, count, "user");
    s->password = copy_option(options, count, "password");
    return s;
}

static void free_settings(struct settings* s) {
    while (s) {
        struct settings* next = s->retired;
        free(s->deny_topic);
        free(s->rewrite_from);
        free(s->rewrite_to);
        free(s->user);
        free(s->password);
        free(s);
        s = next;
    }
}

static int equals(strata_str a, const char* b) { return a.size == strlen(b) && memcmp(a.data, b, a.size) == 0; }

/* MQTT topic filter matching (section 4.7): '+' one level, '#' the rest;
 * filters starting with a wildcard do not match topics starting with '$'. */
static int topic_matches(const char* filter, strata_str topic) {
    size_t t = 0;
    if ((filter[0] == '+' || filter[0] == '#') && topic.size > 0 && topic.data[0] == '$') return 0;
    for (;;) {
        if (filter[0] == '#' && filter[1] == '\0') return 1;
        if (filter[0] == '+') {
            while (t < topic.size && topic.data[t] != '/') ++t;
            ++filter;
        } else {
            while (*filter && *filter != '/') {
                if (t >= topic.size || topic.data[t] != *filter) return 0;
                ++filter;
                ++t;
            }
            if (t < topic.size && topic.data[t] != '/') return 0;
        }
        if (*filter == '\0') return t == topic.size;
        /* *filter == '/' */
        if (t == topic.size) return filter[1] == '#' && filter[2] == '\0'; /* "a/#" matches "a" */
        ++filter;
        ++t;
    }
}

static int on_auth_basic(int event, void* data, void* userdata) {
    struct plugin* p = userdata;
    strata_event_auth_basic* ev = data;
    const struct settings* s = atomic_load(&p->current);
    (void)event;
    /* Clients without a username, or with no user configured: allow_anonymous decides. */
    if (!s->user || !ev->client->has_username) return STRATA_PASS;
    if (equals(ev->client->username, s->user) && ev->has_password && s->password &&
        ev->password.size == strlen(s->password) && memcmp(ev->password.data, s->password, ev->password.size) == 0) {
        return STRATA_OK;
    }
    ev->header.reason_code = 0x86; /* bad user name or password (3.1.1: return code 4) */
    return STRATA_DENY;
}

static int on_message_in(int event, void* data, void* userdata) {
    struct plugin* p = userdata;
    strata_event_message* msg = data;
    const struct settings* s = atomic_load(&p->current);
    (void)event;
    if (s->deny_topic && topic_matches(s->deny_topic, msg->topic)) {
        static const char why[] = "denied by strata-example";
        msg->header.reason_code = 0x87; /* not authorized */
        msg->header.reason_string.data = why;
        msg->header.reason_string.size = sizeof why - 1;
        return STRATA_DENY;
    }
    if (s->rewrite_from && s->rewrite_to) {
        const size_t from = strlen(s->rewrite_from);
        if (msg->topic.size >= from && memcmp(msg->topic.data, s->rewrite_from, from) == 0) {
            const size_t to = strlen(s->rewrite_to);
            const size_t size = to + msg->topic.size - from;
            char* topic = malloc(size ? size : 1);
            if (!topic) return STRATA_ERROR;
            memcpy(topic, s->rewrite_to, to);
            memcpy(topic + to, msg->topic.data + from, msg->topic.size - from);
            /* The host copies the topic: the buffer is ours to free at once. */
            const strata_str new_topic = {topic, size};
            const int rc = p->host->message_set_topic(p->host, msg, new_topic);
            free(topic);
            if (rc != STRATA_OK) return STRATA_ERROR; /* e.g. the new topic is not a valid name */
            if (s->stamp) {
                const strata_str key = {"stamped-by", 10};
                const strata_str value = {"strata-example", 14};
                p->host->message_add_user_property(p->host, msg, key, value);
            }
        }
    }
    return STRATA_OK;
}

/* Registers a callback when `wanted`, removes it otherwise (registering twice is an error we ignore). */
static void want(struct plugin* p, int event, strata_callback cb, int wanted) {
    if (wanted) {
        p->host->register_event(p->host, event, cb, p);
    } else {
        p->host->unregister_event(p->host, event, cb, p);
    }
}

static void register_callbacks(struct plugin* p, const struct settings* s) {
    want(p, STRATA_EVENT_AUTH_BASIC, on_auth_basic, s->user != NULL);
    want(p, STRATA_EVENT_MESSAGE_IN, on_message_in, s->deny_topic || (s->rewrite_from && s->rewrite_to));
}

static int on_reload(int event, void* data, void* userdata) {
    struct plugin* p = userdata;
    strata_event_reload* ev = data;
    (void)event;
    struct settings* fresh = read_settings(ev->options, ev->option_count);
    if (!fresh) return STRATA_ERROR;
    /* Workers may still read the old settings: keep them until cleanup. */
    fresh->retired = atomic_exchange(&p->current, fresh);
    register_callbacks(p, fresh);
    p->host->log(p->host, STRATA_LOG_NOTICE, "options reloaded");
    return STRATA_OK;
}

int strata_plugin_version(void) { return STRATA_PLUGIN_API_VERSION; }

int strata_plugin_init(const strata_host* host, const strata_option* options, size_t option_count, void** userdata) {
    struct plugin* p = calloc(1, sizeof *p);
    if (!p) return STRATA_ERROR;
    p->host = host;
    struct settings* s = read_settings(options, option_count);
    if (!s) {
        free(p);
        return STRATA_ERROR;
    }
    if ((s->rewrite_from == NULL) != (s->rewrite_to == NULL)) {
        host->log(host, STRATA_LOG_ERROR, "rewrite_from and rewrite_to go together");
        free_settings(s);
        free(p);
        return STRATA_ERROR;
    }
    atomic_init(&p->current, s);
    register_callbacks(p, s);
    host->register_event(host, STRATA_EVENT_RELOAD, on_reload, p);
    *userdata = p;
    return STRATA_OK;
}

int strata_plugin_cleanup(void* userdata, const strata_option* options, size_t option_count) {
    struct plugin* p = userdata;
    (void)options;
    (void)option_count;
    free_settings(atomic_load(&p->current));
    free(p);
    return STRATA_OK;
}
