/*
 * Misbehaving and instrumented mission modules for the host's tests. One source, one behaviour
 * per build: compile with -DFIXTURE_<KIND> (see PeaceHubTesting/FixtureModules.swift).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peacehub/peacehub.h"

#ifndef FIXTURE_ID
#define FIXTURE_ID "org.peacehub.fixture"
#endif
#ifndef FIXTURE_MISSION
#define FIXTURE_MISSION "FIXTURE"
#endif

typedef struct fixture_instance {
    const phub_host_t *host;
    char services_report[8192];
} fixture_instance_t;

static phub_status_t put(phub_buffer_t *out, const char *text) {
    return phub_buffer_write(out, text, (uint64_t)strlen(text));
}

#ifdef FIXTURE_SERVICES
/* Calls every host service from create and keeps what it saw for the "services" command. */
static void exercise_host(fixture_instance_t *self, const char *person) {
    const phub_host_t *host = self->host;
    host->log(host, PHUB_LOG_INFO, "fixture: hello from create");
    void *block = host->alloc(host, 64);
    int alloc_ok = block != NULL;
    if (block) {
        memset(block, 0xab, 64);
        host->free(host, block);
    }
    char config[256] = {0};
    phub_buffer_t buffer = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, (uint8_t *)config,
                            sizeof config - 1, 0};
    phub_status_t config_status = host->get_config(host, &buffer);
    config[buffer.length < sizeof config ? buffer.length : sizeof config - 1] = 0;
    char record[4096] = {0};
    phub_buffer_t record_buffer = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, (uint8_t *)record,
                                   sizeof record - 1, 0};
    phub_status_t registry_status = host->registry_get(host, "person", person, &record_buffer);
    record[record_buffer.length < sizeof record ? record_buffer.length : sizeof record - 1] = 0;
    phub_status_t missing_status = host->registry_get(host, "person", "NOBODY", &record_buffer);
    const char *payload = "{\"notice\":1}";
    phub_status_t own_status = host->publish(host, "missions/" FIXTURE_MISSION "/notices", (const uint8_t *)payload,
                                             strlen(payload), PHUB_PRECEDENCE_FLASH);
    phub_status_t foreign_status = host->publish(host, "contingents/KAZ/inbox", (const uint8_t *)payload,
                                                 strlen(payload), PHUB_PRECEDENCE_ROUTINE);
    phub_status_t report_status = host->publish(host, "missions/" FIXTURE_MISSION "/reports/RAW",
                                                (const uint8_t *)payload, strlen(payload), PHUB_PRECEDENCE_ROUTINE);
    const phub_host_metrics_t *metrics = host->get_extension(host, PHUB_EXT_METRICS);
    if (metrics) {
        metrics->counter_add(host, "fixture_created", 1);
    }
    const void *unknown = host->get_extension(host, "org.peacehub.no-such-extension/1");
    /* Malformed: a topic longer than MQTT allows, an empty one, a size no message can have. */
    static char long_topic[70000];
    snprintf(long_topic, sizeof long_topic, "missions/%s/", FIXTURE_MISSION);
    memset(long_topic + strlen(long_topic), 'a', sizeof long_topic - strlen(long_topic) - 1);
    phub_status_t long_status = host->publish(host, long_topic, (const uint8_t *)payload, strlen(payload),
                                              PHUB_PRECEDENCE_ROUTINE);
    phub_status_t empty_status = host->publish(host, "", (const uint8_t *)payload, strlen(payload),
                                               PHUB_PRECEDENCE_ROUTINE);
    phub_status_t huge_status = host->publish(host, "missions/" FIXTURE_MISSION "/notices",
                                              (const uint8_t *)payload, UINT64_MAX, PHUB_PRECEDENCE_ROUTINE);
    snprintf(self->services_report, sizeof self->services_report,
             "{\"host\":\"%s\",\"alloc\":%d,\"unixSeconds\":%lld,\"monotonicPositive\":%d,\"configStatus\":%d,"
             "\"config\":%s,\"registryStatus\":%d,\"record\":%s,\"missingStatus\":%d,\"ownPublish\":%d,"
             "\"foreignPublish\":%d,\"reportPublish\":%d,\"metrics\":%d,\"unknownExtension\":%d,"
             "\"longTopicPublish\":%d,\"emptyTopicPublish\":%d,\"hugePublish\":%d}",
             host->name, alloc_ok, (long long)(host->clock_unix_ns(host) / 1000000000LL),
             host->clock_monotonic_ns(host) > 0, config_status, config_status == PHUB_OK ? config : "null",
             registry_status, registry_status == PHUB_OK ? record : "null", missing_status, own_status,
             foreign_status, report_status, metrics != NULL, unknown != NULL, long_status, empty_status,
             huge_status);
}
#endif

static phub_status_t fixture_create(const phub_plugin_t *plugin, const phub_host_t *host,
                                    const phub_create_info_t *info, void **out_instance, phub_buffer_t *error) {
    (void)plugin;
    (void)info;
#if defined(FIXTURE_CREATE_FAILS_LONG)
    (void)host;
    (void)out_instance;
    static char text[2000];
    memset(text, 'x', sizeof text);
    phub_buffer_write(error, text, sizeof text);
    return PHUB_ERR_INTERNAL;
#elif defined(FIXTURE_CREATE_FAILS)
    (void)host;
    (void)out_instance;
    /* A line break and a terminal escape the host must not pass on, and a length past the buffer, as a text
       cut to fit reports it. */
    put(error, "the data file areas.geojson is corrupt\n\x1b[31mforged line");
    error->length = error->capacity + 29;
    return PHUB_ERR_INTERNAL;
#else
    (void)error;
    fixture_instance_t *self = calloc(1, sizeof(fixture_instance_t));
    self->host = host;
#ifdef FIXTURE_SERVICES
    exercise_host(self, "KAZ-1");
#endif
    *out_instance = self;
    return PHUB_OK;
#endif
}

static void fixture_destroy(const phub_plugin_t *plugin, void *instance) {
    (void)plugin;
    free(instance);
}

static phub_status_t fixture_judge(void *instance, const phub_message_t *message, phub_verdict_t *verdict) {
    (void)instance;
#if defined(FIXTURE_CRASH)
    (void)message;
    (void)verdict;
    volatile int *nowhere = NULL;
    return (phub_status_t)*nowhere;
#elif defined(FIXTURE_HANG)
    (void)message;
    (void)verdict;
    for (;;) {
        sleep(1);
    }
#elif defined(FIXTURE_CHATTY_HANG)
    (void)message;
    (void)verdict;
    for (int check = 0; check < 20; check++) {
        printf("PASS %d\n", check);
    }
    for (;;) {
        printf("tick\n");
        fflush(stdout);
        usleep(100000);
    }
#elif defined(FIXTURE_GARBAGE)
    /* The payload picks the kind of garbage. */
    if (message->payload_size > 0 && message->payload[0] == 'L') {
        verdict->decision = PHUB_DECISION_ACCEPT;
        verdict->annotations->length = verdict->annotations->capacity + 100; /* length beyond the buffer */
        return PHUB_OK;
    }
    if (message->payload_size > 0 && message->payload[0] == 'J') {
        verdict->decision = PHUB_DECISION_ACCEPT;
        return put(verdict->annotations, "{not json");
    }
    if (message->payload_size > 0 && message->payload[0] == 'D') {
        verdict->decision = PHUB_DECISION_ACCEPT;
        return put(verdict->annotations, "{\"a\":1,\"a\":2}");
    }
    if (message->payload_size > 0 && message->payload[0] == 'A') {
        verdict->decision = PHUB_DECISION_ACCEPT;
        return put(verdict->annotations, "[1]");
    }
    if (message->payload_size > 0 && message->payload[0] == 'U') {
        verdict->decision = PHUB_DECISION_REJECT;
        verdict->reason_code = PHUB_REASON_OTHER;
        return phub_buffer_write(verdict->reason, "\xff\xfe", 2); /* not UTF-8 */
    }
    if (message->payload_size > 0 && message->payload[0] == 'B') {
        verdict->reason->length = (uint64_t)1 << 40; /* asks for a terabyte */
        return PHUB_ERR_BUFFER_TOO_SMALL;
    }
    verdict->decision = 7; /* an unknown verdict */
    return PHUB_OK;
#else
    if (message->payload_size == 0 || message->payload[0] != '{') {
        verdict->decision = PHUB_DECISION_REJECT;
        verdict->reason_code = PHUB_REASON_MALFORMED;
        return put(verdict->reason, "the payload is not a JSON object");
    }
    verdict->decision = PHUB_DECISION_ACCEPT;
    /* Report what arrived, so the tests can check the message struct. */
    char annotations[512];
    snprintf(annotations, sizeof annotations,
             "{\"topic\":\"%s\",\"reportType\":\"%s\",\"sender\":\"%s\",\"label\":\"%s\",\"precedence\":%d,\"qos\":%d}",
             message->topic, message->report_type ? message->report_type : "",
             message->sender_contingent ? message->sender_contingent : "",
             message->security_label ? message->security_label : "", message->precedence, message->qos);
    return put(verdict->annotations, annotations);
#endif
}

static phub_status_t fixture_readiness(void *instance, const uint8_t *request, uint64_t size, phub_buffer_t *out) {
    (void)instance;
    (void)request;
    (void)size;
#ifdef FIXTURE_GARBAGE
    return put(out, "[{\"code\":42}]");
#else
    if (size >= 7 && memcmp(request, "{\"hang\"", 7) == 0) {
        for (;;) {
            sleep(1);
        }
    }
    if (size == 0 || request[0] != '{') {
        put(out, "{\"error\":\"the request is not a JSON object\"}");
        return PHUB_ERR_INVALID_ARGUMENT;
    }
    /* A large answer, to exercise the host's buffer growth. */
    static char big[40000];
    size_t used = (size_t)snprintf(big, sizeof big, "[{\"code\":\"LONG\",\"message\":\"");
    while (used < sizeof big - 10) {
        big[used++] = 'x';
    }
    strcpy(big + used, "\"}]");
    return put(out, big);
#endif
}

static phub_status_t fixture_command(void *instance, const char *name, const uint8_t *arguments, uint64_t size,
                                     phub_buffer_t *out) {
    (void)instance;
    if (strcmp(name, "describe") == 0) {
        return put(out, "{\"mission\":\"" FIXTURE_MISSION "\"}");
    }
#ifdef FIXTURE_SERVICES
    if (strcmp(name, "services") == 0) {
        return put(out, ((fixture_instance_t *)instance)->services_report);
    }
    if (strcmp(name, "services-now") == 0) {
        /* The services as the running hub lends them (a seeded registry's first person), and metric names that
           would each stop a Prometheus registry: the hub's own module metrics, and a counter's name as a timer. */
        fixture_instance_t *self = instance;
        exercise_host(self, "KAZ-100101");
        const phub_host_metrics_t *metrics = self->host->get_extension(self->host, PHUB_EXT_METRICS);
        if (metrics) {
            metrics->counter_add(self->host, "call_duration_seconds", 1);
            metrics->counter_add(self->host, "verdicts_total", 1);
            metrics->timer_record_ns(self->host, "fixture_created", 1000);
            metrics->counter_add(self->host, "fixture_created", 1);
            /* Values a Prometheus registry cannot show: a negative duration (it trapped at the next scrape) and
               a counter's sum past INT64_MAX (it wrapped to a negative value). */
            metrics->timer_record_ns(self->host, "fixture_duration", -1);
            metrics->counter_add(self->host, "fixture_big", INT64_MAX);
            metrics->counter_add(self->host, "fixture_big", INT64_MAX);
        }
        return put(out, self->services_report);
    }
#endif
#ifdef FIXTURE_GARBAGE
    if (strcmp(name, "json") == 0) {
        return put(out, "not json at all");
    }
    if (strcmp(name, "fail-quietly") == 0) {
        return PHUB_ERR_INTERNAL;
    }
    if (strcmp(name, "fail-loudly") == 0) {
        put(out, "{\"error\":\"one line\\nand a forged one \\u001b[31m\"}");
        return PHUB_ERR_INTERNAL;
    }
#endif
    if (strcmp(name, "echo") == 0) {
        return phub_buffer_write(out, arguments, size);
    }
    if (strcmp(name, "hang") == 0) {
        for (;;) {
            sleep(1);
        }
    }
    put(out, "{\"error\":\"unknown command\"}");
    return PHUB_ERR_UNSUPPORTED;
}

static const void *fixture_get_extension(void *instance, const char *id) {
    (void)instance;
    (void)id;
    return NULL;
}

static const phub_plugin_t fixture_plugin = {
#ifdef FIXTURE_SMALL_TABLE
    .struct_size = 48,
#else
    .struct_size = sizeof(phub_plugin_t),
#endif
#ifdef FIXTURE_TABLE_ABI_2
    .abi_major = 2,
#else
    .abi_major = PHUB_ABI_MAJOR,
#endif
    .abi_minor = PHUB_ABI_MINOR,
    .reserved = 0,
    .id = FIXTURE_ID,
    .mission = FIXTURE_MISSION,
#ifdef FIXTURE_CONTROL_TEXT
    .version = "1.0\nFORGED \x1b[31mRED",
    .display_name = "fixture\x1b[2J",
#else
    .version = "0.0.1",
    .display_name = "Test fixture",
#endif
    .plugin_data = NULL,
    .create = fixture_create,
    .destroy = fixture_destroy,
#ifdef FIXTURE_NULL_JUDGE
    .judge_message = NULL,
#else
    .judge_message = fixture_judge,
#endif
    .evaluate_readiness = fixture_readiness,
    .run_command = fixture_command,
    .get_extension = fixture_get_extension,
};

#ifdef FIXTURE_EXTRA_EXPORTS
/* Exported beside the entry point, as a library linked without the version script would be. */
__attribute__((visibility("default"))) int fixture_helper(void) { return 1; }
__attribute__((visibility("default"))) int fixture_counter = 0;
/* An absolute symbol, as `-Wl,--defsym` makes one. */
__asm__(".globl fixture_absolute\n.set fixture_absolute, 0x1234");
#endif

#ifdef FIXTURE_INITIALIZER_HANG_SECOND
/* Opens the first time (the child trial), then hangs in its initializer, inside dlopen, every time after: the
   file FIXTURE_MARKER names remembers the first. */
__attribute__((constructor)) static void fixture_initializer_hang_second(void) {
    const char *marker = getenv("FIXTURE_MARKER");
    if (marker == NULL) return;
    if (access(marker, F_OK) != 0) {
        FILE *file = fopen(marker, "w");
        if (file != NULL) fclose(file);
        return;
    }
    for (;;) {
        sleep(1);
    }
}
#endif

#ifdef FIXTURE_INITIALIZER_DAEMON
/* Leaves a process behind from the library's initializer, which lives 12 s (more than the load budget) with the
   descriptors it inherited but its standard streams. */
__attribute__((constructor)) static void fixture_initializer_daemon(void) {
    if (fork() == 0) {
        close(0);
        close(1);
        close(2);
        sleep(12);
        _exit(0);
    }
}
#endif

#ifdef FIXTURE_INITIALIZER_EXIT
/* Ends the process from the library's initializer: opened in the hub, it would end the hub. */
__attribute__((constructor)) static void fixture_initializer_exit(void) { exit(0); }
#endif

#ifdef FIXTURE_INITIALIZER_EXIT_FAILURE
/* The same with status 1, which is also the status of a refusal in the child that tries the library. */
__attribute__((constructor)) static void fixture_initializer_exit_failure(void) { exit(1); }
#endif

#ifdef FIXTURE_INITIALIZER_HANG
/* Never returns from the library's initializer: dlopen holds the system's loader lock meanwhile. */
__attribute__((constructor)) static void fixture_initializer_hang(void) {
    for (;;) {
        sleep(1);
    }
}
#endif

#ifndef FIXTURE_NO_ENTRY
PHUB_EXPORT const phub_plugin_t *phub_plugin_entry_v1(uint32_t host_major, uint32_t host_minor) {
#if defined(FIXTURE_ENTRY_NULL)
    (void)host_major;
    (void)host_minor;
    return NULL;
#elif defined(FIXTURE_ENTRY_CRASH)
    (void)host_major;
    (void)host_minor;
    volatile const phub_plugin_t *volatile *nowhere = NULL;
    return (const phub_plugin_t *)*nowhere;
#elif defined(FIXTURE_ENTRY_HANG)
    (void)host_major;
    (void)host_minor;
    for (;;) {
        sleep(1);
    }
#else
    return phub_abi_is_compatible(host_major, host_minor) ? &fixture_plugin : NULL;
#endif
}
#else
PHUB_EXPORT int phub_not_the_entry(void) { return fixture_plugin.struct_size > 0; }
#endif
