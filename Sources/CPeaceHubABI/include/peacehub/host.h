/*
 * PeaceHub mission-module ABI: the services the host offers a module.
 *
 * The host hands a module this table in plugin->create. Modules never link against host
 * symbols: everything they may call is here, which keeps a module loadable by any host (and
 * by a test harness) and independent of the language the host is written in.
 *
 * Thread tags used in these headers:
 *   [thread-safe]  may be called from any thread, also concurrently.
 *   [main]         called only from the host's control thread, never concurrently with any
 *                  other call into the same module instance.
 */
#ifndef PEACEHUB_HOST_H
#define PEACEHUB_HOST_H

#include <stdint.h>

#include "version.h"
#include "status.h"
#include "buffer.h"

typedef struct phub_host phub_host_t;

struct phub_host {
    PHUB_STRUCT_HEADER;

    /* Reserved for the host. Modules must not read or write it. */
    void *host_data;

    /* The host's name and version, NUL-terminated UTF-8, e.g. "peacehub", "1.0.0".
     * Valid as long as the table. */
    const char *name;
    const char *version;

    /* Writes one log line attributed to the module. `message` is NUL-terminated UTF-8, borrowed
     * for the call. Levels are PHUB_LOG_*; unknown levels are logged as errors.
     * [thread-safe] */
    void (*log)(const phub_host_t *host, phub_log_level_t level, const char *message);

    /* Allocates `size` bytes from the host's allocator (aligned for any type). Returns NULL when
     * out of memory. The module owns the block until it passes it to `free`.
     * [thread-safe] */
    void *(*alloc)(const phub_host_t *host, uint64_t size);

    /* Frees a block from `alloc`. NULL is ignored. Never pass memory from another allocator.
     * [thread-safe] */
    void (*free)(const phub_host_t *host, void *block);

    /* The wall clock: nanoseconds since the Unix epoch, UTC. Use it for dates (tour ends,
     * qualification expiry); a host under test may return a fixed time.
     * [thread-safe] */
    int64_t (*clock_unix_ns)(const phub_host_t *host);

    /* A monotonic clock in nanoseconds from an arbitrary origin, for measuring durations.
     * [thread-safe] */
    int64_t (*clock_monotonic_ns)(const phub_host_t *host);

    /* Publishes a message as this module. `topic` (NUL-terminated UTF-8) must lie under the
     * module's own mission, "missions/<MISSION>/...", but not under its report topics
     * ("missions/<MISSION>/reports/...", which carry contingents' judged reports); `payload`
     * (`size` bytes, may be NULL when size is 0) is copied before the call returns. Returns
     * PHUB_OK when the hub took the message, PHUB_ERR_DENIED for a topic outside the mission or a
     * report topic, PHUB_ERR_INVALID_ARGUMENT for a malformed topic (empty, a wildcard, a NUL, more
     * than 65,535 bytes), a payload over 16 MiB, or a message whose PUBLISH would be larger than
     * the hub's MQTT maximum packet size (mqtt.maximumPacketSize, 4 MiB by default),
     * PHUB_ERR_UNAVAILABLE when no broker runs (e.g. in the CLI).
     * [thread-safe] */
    phub_status_t (*publish)(const phub_host_t *host, const char *topic, const uint8_t *payload,
                             uint64_t size, phub_precedence_t precedence);

    /* Reads one registry record as a JSON object into `out` (see docs/abi.md for the kinds and
     * their schemas): `kind` is "person" (key: service number), "contingent" (key: ISO 3166
     * alpha-3 code) or "mission" (key: mission code). Both strings are NUL-terminated UTF-8,
     * borrowed for the call. Returns PHUB_OK, PHUB_ERR_NOT_FOUND, PHUB_ERR_INVALID_ARGUMENT for
     * an unknown kind or a NULL argument, PHUB_ERR_BUFFER_TOO_SMALL (call again with
     * `out->length` bytes), or PHUB_ERR_UNAVAILABLE when the host has no registry (checked before
     * the kind: the CLI answers PHUB_ERR_UNAVAILABLE for any kind).
     * [thread-safe] */
    phub_status_t (*registry_get)(const phub_host_t *host, const char *kind, const char *key,
                                  phub_buffer_t *out);

    /* Copies the module's configuration, a JSON object from the hub's configuration file ("{}"
     * when there is none), into `out`. Returns PHUB_OK, PHUB_ERR_BUFFER_TOO_SMALL, or
     * PHUB_ERR_INVALID_ARGUMENT for a NULL `out`.
     * [thread-safe] */
    phub_status_t (*get_config)(const phub_host_t *host, phub_buffer_t *out);

    /* Returns the host extension with this versioned ID (e.g. PHUB_EXT_METRICS), or NULL when
     * the host does not offer it. The returned table is owned by the host and valid as long as
     * this table. `id` is borrowed for the call.
     * [thread-safe] */
    const void *(*get_extension)(const phub_host_t *host, const char *id);
};

#endif /* PEACEHUB_HOST_H */
