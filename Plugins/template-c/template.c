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
    if (host == NULL || host->struct_size < sizeof(phub_host_t) || out_instance == NULL) {
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

/* Finds a person ready when the request mentions core pre-deployment training. */
static phub_status_t template_readiness(void *instance, const uint8_t *request, uint64_t request_size,
                                        phub_buffer_t *out) {
    (void)instance;
    if (request == NULL || !looks_like_json_object(request, request_size)) {
        write_text(out, "{\"error\":\"the readiness request is not a JSON object\"}");
        return PHUB_ERR_INVALID_ARGUMENT;
    }
    static const char needle[] = "\"UN-CPTM\"";
    size_t needle_size = sizeof needle - 1;
    int found = 0;
    for (uint64_t i = 0; i + needle_size <= request_size; i++) {
        if (memcmp(request + i, needle, needle_size) == 0) {
            found = 1;
            break;
        }
    }
    if (found) {
        return write_text(out, "[]");
    }
    return write_text(out, "[{\"code\":\"TRAINING_MISSING\",\"message\":\"core pre-deployment training (UN-CPTM) is missing\"}]");
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
