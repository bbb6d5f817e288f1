/*
 * A mission module in plain C: the starting point for partner nations that do not use Swift.
 *
 * It needs only the PeaceHub headers and a C compiler. `make plugins` builds it from the PeaceHub
 * source tree (into .build/plugin-examples/) with:
 *   cc -std=c11 -shared -fPIC -O2 -fvisibility=hidden -Wall -Wextra -pedantic -Werror \
 *      -ISources/CPeaceHubABI/include -Wl,--version-script=Plugins/exports.map \
 *      Plugins/template-c/template.c -o libpeacehub_template_c.so
 *   peacehub plugins manifest libpeacehub_template_c.so --id org.peacehub.template-c --mission TEMPLATE
 * Rename the id, the mission and the display name, then
 * replace the bodies of judge_message, evaluate_readiness and run_command with your mission's
 * rules. The comments in peacehub/plugin.h say who owns what; docs/abi.md is the specification.
 */
#include <stdio.h>
#include <string.h>

#include "peacehub/peacehub.h"

#define TEMPLATE_ID "org.peacehub.template-c"
#define TEMPLATE_MISSION "TEMPLATE"
#define TEMPLATE_VERSION "1.0.0"

/* One instance: what create allocated with the host's allocator. */
typedef struct template_instance {
    const phub_host_t *host;
    uint64_t messages_judged;
} template_instance_t;

static phub_status_t write_text(phub_buffer_t *out, const char *text) {
    return phub_buffer_write(out, text, (uint64_t)strlen(text));
}

static int is_space(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* A cheap shape check: the bytes start with '{' and end with '}', ignoring white space. A real
 * module parses the JSON with a JSON library and checks every field it needs. */
static int looks_like_json_object(const uint8_t *bytes, uint64_t size) {
    uint64_t first = 0;
    uint64_t last = size;
    while (first < size && is_space(bytes[first])) {
        first++;
    }
    while (last > first && is_space(bytes[last - 1])) {
        last--;
    }
    return last - first >= 2 && bytes[first] == '{' && bytes[last - 1] == '}';
}

static phub_status_t template_create(const phub_plugin_t *plugin, const phub_host_t *host,
                                     const phub_create_info_t *info, void **out_instance, phub_buffer_t *error) {
    (void)plugin;
    (void)info;
    /* The host's table holds every field used here (`free` is the last of them), whatever minor either side
     * was built for: comparing with sizeof(phub_host_t) refused every older host once this was built for a
     * newer minor. */
    if (host == NULL || !PHUB_HAS_FIELD(host, phub_host_t, free) || out_instance == NULL) {
        if (error != NULL) {
            const char *text = "the host table is missing or too small";
            phub_buffer_write_cut(error, text, strlen(text));
        }
        return PHUB_ERR_INVALID_ARGUMENT;
    }
    template_instance_t *instance = host->alloc(host, sizeof(template_instance_t));
    if (instance == NULL) {
        return PHUB_ERR_INTERNAL;
    }
    instance->host = host;
    instance->messages_judged = 0;
    host->log(host, PHUB_LOG_INFO, "module created");
    *out_instance = instance;
    return PHUB_OK;
}

static void template_destroy(const phub_plugin_t *plugin, void *instance) {
    (void)plugin;
    template_instance_t *self = instance;
    self->host->free(self->host, self);
}

/* Accepts any JSON object payload, annotated with its size; rejects anything else. */
static phub_status_t template_judge(void *instance, const phub_message_t *message, phub_verdict_t *verdict) {
    template_instance_t *self = instance;
    if (message->payload == NULL || !looks_like_json_object(message->payload, message->payload_size)) {
        verdict->decision = PHUB_DECISION_REJECT;
        verdict->reason_code = PHUB_REASON_MALFORMED;
        verdict->annotations->length = 0;
        return write_text(verdict->reason, "the payload is not a JSON object");
    }
    __atomic_add_fetch(&self->messages_judged, 1, __ATOMIC_RELAXED);
    char annotations[64];
    snprintf(annotations, sizeof annotations, "{\"payloadBytes\":%llu}", (unsigned long long)message->payload_size);
    verdict->decision = PHUB_DECISION_ACCEPT;
    verdict->reason_code = PHUB_REASON_NONE;
    verdict->reason->length = 0;
    return write_text(verdict->annotations, annotations);
}

/* A minimal reader of the host's JSON, enough for the readiness request: spans of values, found by member
 * name. It trusts the host to send valid JSON (the host does); a real module may prefer a JSON library. */
typedef struct span {
    const uint8_t *bytes;
    uint64_t size; /* 0: absent */
} span_t;

static uint64_t skip_space(span_t text, uint64_t at) {
    while (at < text.size && is_space(text.bytes[at])) {
        at++;
    }
    return at;
}

/* One past the end of the value that starts at `at`: a string, an object, an array or a scalar. */
static uint64_t value_end(span_t text, uint64_t at) {
    int depth = 0;
    int in_string = 0;
    for (uint64_t i = at; i < text.size; i++) {
        uint8_t c = text.bytes[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = 0;
                if (depth == 0) {
                    return i + 1;
                }
            }
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                return i; /* a scalar that ends its container */
            }
            if (--depth == 0) {
                return i + 1;
            }
        } else if (depth == 0 && (c == ',' || is_space(c))) {
            return i;
        }
    }
    return text.size;
}

/* The elements of an array or the members of an object, in turn: `*at` starts at the opening bracket and moves
 * on; for an object, `*name` is the member's name with its quotes. Returns 0 after the last one. */
static int next_item(span_t container, uint64_t *at, span_t *name, span_t *value) {
    uint64_t i = skip_space(container, *at + 1);
    if (i >= container.size || container.bytes[i] == '}' || container.bytes[i] == ']') {
        return 0;
    }
    if (container.bytes[0] == '{') {
        uint64_t name_end = value_end(container, i);
        *name = (span_t){container.bytes + i, name_end - i};
        i = skip_space(container, skip_space(container, name_end) + 1); /* past the ':' */
    }
    uint64_t end = value_end(container, i);
    *value = (span_t){container.bytes + i, end - i};
    *at = skip_space(container, end); /* the ',' or the closing bracket */
    return 1;
}

/* The value of member `quoted_name` (with its quotes) of an object, or an absent span. */
static span_t member(span_t object, const char *quoted_name) {
    span_t name = {0}, value = {0};
    uint64_t at = 0;
    if (object.size < 2 || object.bytes[0] != '{') {
        return (span_t){0};
    }
    while (next_item(object, &at, &name, &value)) {
        if (name.size == strlen(quoted_name) && memcmp(name.bytes, quoted_name, name.size) == 0) {
            return value;
        }
    }
    return (span_t){0};
}

static int equals(span_t value, const char *text) {
    return value.size == strlen(text) && memcmp(value.bytes, text, value.size) == 0;
}

/* Whether a person has core pre-deployment training. A real module also checks its dates against asOf. */
static int is_trained(span_t person) {
    span_t qualifications = member(person, "\"qualifications\"");
    span_t name, qualification;
    uint64_t at = 0;
    if (qualifications.size < 2 || qualifications.bytes[0] != '[') {
        return 0;
    }
    while (next_item(qualifications, &at, &name, &qualification)) {
        if (equals(member(qualification, "\"code\""), "\"UN-CPTM\"")) {
            return 1;
        }
    }
    return 0;
}

/* Appends what fits; `out->length` counts every byte, so a result too large for the buffer is known whole. */
static void append(phub_buffer_t *out, const void *bytes, uint64_t size) {
    if (out->length + size <= out->capacity) {
        memcpy(out->data + out->length, bytes, (size_t)size);
    }
    out->length += size;
}

static void append_text(phub_buffer_t *out, const char *text) { append(out, text, strlen(text)); }

/* A person (subject "person") or each member of a contingent (subject "contingent", the items then naming the
 * member) needs core pre-deployment training: docs/abi.md, section 8. */
static phub_status_t template_readiness(void *instance, const uint8_t *request, uint64_t request_size,
                                        phub_buffer_t *out) {
    (void)instance;
    if (request == NULL || !looks_like_json_object(request, request_size)) {
        write_text(out, "{\"error\":\"the readiness request is not a JSON object\"}");
        return PHUB_ERR_INVALID_ARGUMENT;
    }
    span_t text = {request, request_size};
    uint64_t first = skip_space(text, 0);
    span_t root = {request + first, value_end(text, first) - first};
    span_t subject = member(root, "\"subject\"");
    static const char missing[] =
        "{\"code\":\"TRAINING_MISSING\",\"message\":\"core pre-deployment training (UN-CPTM) is missing\"";
    out->length = 0;
    if (equals(subject, "\"person\"")) {
        span_t person = member(root, "\"person\"");
        if (person.size == 0 || person.bytes[0] != '{') {
            write_text(out, "{\"error\":\"field 'person' is required\"}");
            return PHUB_ERR_INVALID_ARGUMENT;
        }
        append_text(out, "[");
        if (!is_trained(person)) {
            append_text(out, missing);
            append_text(out, "}");
        }
    } else if (equals(subject, "\"contingent\"")) {
        span_t members = member(member(root, "\"contingent\""), "\"members\"");
        span_t name, person;
        uint64_t at = 0;
        int count = 0;
        if (members.size < 2 || members.bytes[0] != '[') {
            write_text(out, "{\"error\":\"field 'contingent.members' is required\"}");
            return PHUB_ERR_INVALID_ARGUMENT;
        }
        append_text(out, "[");
        while (next_item(members, &at, &name, &person)) {
            if (is_trained(person)) {
                continue;
            }
            span_t service_number = member(person, "\"serviceNumber\"");
            append_text(out, count++ > 0 ? "," : "");
            append_text(out, missing);
            if (service_number.size > 0 && service_number.bytes[0] == '"') {
                append_text(out, ",\"serviceNumber\":");
                append(out, service_number.bytes, service_number.size);
            }
            append_text(out, "}");
        }
    } else {
        write_text(out, "{\"error\":\"field 'subject' must be person or contingent\"}");
        return PHUB_ERR_INVALID_ARGUMENT;
    }
    append_text(out, "]");
    return out->length <= out->capacity ? PHUB_OK : PHUB_ERR_BUFFER_TOO_SMALL;
}

static phub_status_t template_command(void *instance, const char *name, const uint8_t *arguments,
                                      uint64_t arguments_size, phub_buffer_t *out) {
    template_instance_t *self = instance;
    (void)arguments;
    (void)arguments_size;
    if (strcmp(name, "describe") == 0) {
        char text[160];
        snprintf(text, sizeof text, "{\"mission\":\"%s\",\"language\":\"C\",\"messagesJudged\":%llu}",
                 TEMPLATE_MISSION, (unsigned long long)__atomic_load_n(&self->messages_judged, __ATOMIC_RELAXED));
        return write_text(out, text);
    }
    write_text(out, "{\"error\":\"unknown command\"}");
    return PHUB_ERR_UNSUPPORTED;
}

static const void *template_get_extension(void *instance, const char *id) {
    (void)instance;
    (void)id;
    return NULL;
}

static const phub_plugin_t template_plugin = {
    .struct_size = sizeof(phub_plugin_t),
    .abi_major = PHUB_ABI_MAJOR,
    .abi_minor = PHUB_ABI_MINOR,
    .reserved = 0,
    .id = TEMPLATE_ID,
    .mission = TEMPLATE_MISSION,
    .version = TEMPLATE_VERSION,
    .display_name = "Template mission module (C)",
    .plugin_data = NULL,
    .create = template_create,
    .destroy = template_destroy,
    .judge_message = template_judge,
    .evaluate_readiness = template_readiness,
    .run_command = template_command,
    .get_extension = template_get_extension,
};

PHUB_EXPORT const phub_plugin_t *phub_plugin_entry_v1(uint32_t host_major, uint32_t host_minor) {
    return phub_abi_is_compatible(host_major, host_minor) ? &template_plugin : NULL;
}
