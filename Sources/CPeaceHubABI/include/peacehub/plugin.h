/*
 * PeaceHub mission-module ABI: the table a module hands to the host.
 *
 * Lifetimes: the table and its strings belong to the module and stay valid until the process
 * exits (the host never unloads a module). An instance lives from a successful `create` until
 * `destroy` returns. The host's table passed to `create` stays valid until `destroy` returns.
 */
#ifndef PEACEHUB_PLUGIN_H
#define PEACEHUB_PLUGIN_H

#include <stdint.h>

#include "version.h"
#include "status.h"
#include "buffer.h"
#include "host.h"
#include "message.h"

/* Where the module lives; given to `create`. Strings are NUL-terminated UTF-8, owned by the
 * host and valid only during `create`. */
typedef struct phub_create_info {
    PHUB_STRUCT_HEADER;

    /* Absolute path of the module's library file. */
    const char *library_path;

    /* Absolute path of the module's data directory (data files such as GeoJSON): the manifest's
     * "data" entry, or the manifest's own directory when it has none. */
    const char *data_dir;
} phub_create_info_t;

typedef struct phub_plugin phub_plugin_t;

struct phub_plugin {
    PHUB_STRUCT_HEADER;

    /* Who the module is: NUL-terminated UTF-8, owned by the module, valid until process exit.
     * `id` is unique and stable, lower case, reverse-domain style ("kz.peacehub.unifil");
     * `mission` is the UN mission code in capitals ("UNIFIL"); `version` is semantic ("1.2.0");
     * `display_name` is for people. None may be NULL. */
    const char *id;
    const char *mission;
    const char *version;
    const char *display_name;

    /* Reserved for the module (e.g. an SDK's per-module context). The host never touches it. */
    void *plugin_data;

    /* Creates an instance. `plugin` is this table; `host` is the host's service table, valid
     * until `destroy` returns; `info` is valid only during the call. On success stores the
     * module-owned instance in `*out_instance` and returns PHUB_OK. On failure returns another
     * status and writes a UTF-8 sentence saying why into `error` (truncated to its capacity,
     * never called again); `*out_instance` is then ignored.
     * [main] */
    phub_status_t (*create)(const phub_plugin_t *plugin, const phub_host_t *host,
                            const phub_create_info_t *info, void **out_instance, phub_buffer_t *error);

    /* Destroys an instance from `create`; no other call on it is running or will follow.
     * [main] */
    void (*destroy)(const phub_plugin_t *plugin, void *instance);

    /* Judges a message published on the module's mission topics, before anyone receives it:
     * sets `verdict->decision` and writes the reason or annotations (see message.h). `message`
     * and the buffers are host-owned, valid for the call. Returns PHUB_OK when a verdict was
     * given, PHUB_ERR_BUFFER_TOO_SMALL when a buffer was too small (the host calls again with
     * larger ones), anything else when the module could not judge (the host holds the message
     * and reports the failure). Must not block: past the hub's routing budget
     * (`mqtt.routingBudgetMilliseconds`, 2 s by default) the host holds the message and ignores the verdict.
     * [thread-safe] */
    phub_status_t (*judge_message)(void *instance, const phub_message_t *message, phub_verdict_t *verdict);

    /* Evaluates whether a person or a contingent is ready to deploy to the mission. `request` is
     * a JSON document of `request_size` bytes (schema in docs/abi.md), borrowed for the call.
     * Writes into `out` a JSON array of unmet requirements, each {"code": "...", "message":
     * "..."}; an empty array means ready. Returns PHUB_OK, PHUB_ERR_INVALID_ARGUMENT for a
     * malformed request (with {"error": "..."} in `out`), or PHUB_ERR_BUFFER_TOO_SMALL.
     * [thread-safe] */
    phub_status_t (*evaluate_readiness)(void *instance, const uint8_t *request, uint64_t request_size,
                                        phub_buffer_t *out);

    /* Runs a named command for the CLI and the admin API. `name` is NUL-terminated UTF-8,
     * `arguments` a JSON object of `arguments_size` bytes; both borrowed for the call. Writes a
     * JSON result into `out`. Returns PHUB_OK, PHUB_ERR_UNSUPPORTED for an unknown command,
     * PHUB_ERR_INVALID_ARGUMENT for bad arguments (with {"error": "..."} in `out`), or
     * PHUB_ERR_BUFFER_TOO_SMALL. Commands must be repeatable (see buffer.h).
     * [thread-safe] */
    phub_status_t (*run_command)(void *instance, const char *name, const uint8_t *arguments,
                                 uint64_t arguments_size, phub_buffer_t *out);

    /* Returns the module extension with this versioned ID, or NULL when it has none. The
     * returned table is module-owned and valid until `destroy` returns. This pointer may be NULL:
     * a module without extensions.
     * [thread-safe] */
    const void *(*get_extension)(void *instance, const char *id);
};

#endif /* PEACEHUB_PLUGIN_H */
