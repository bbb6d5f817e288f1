/*
 * Host extension "peacehub.metrics/1": counters and timers a module reports to the hub's
 * metrics (exported for Prometheus as peacehub_module_<name>{module="<id>"}).
 *
 * Get it with host->get_extension(host, PHUB_EXT_METRICS); NULL means the host has no metrics.
 * A name keeps the kind it is first used as, by any module (a counter and a timer cannot share one),
 * and the hub's own "verdicts_total" and "call_duration_seconds" are taken: such a call is ignored,
 * and the hub logs it once.
 */
#ifndef PEACEHUB_EXT_METRICS_H
#define PEACEHUB_EXT_METRICS_H

#include <stdint.h>

#include "../version.h"
#include "../host.h"

#define PHUB_EXT_METRICS "peacehub.metrics/1"

typedef struct phub_host_metrics {
    PHUB_STRUCT_HEADER;

    /* Adds `delta` (>= 0; a negative one is ignored) to the counter `name` ([a-z0-9_]+, NUL-terminated,
     * borrowed). The hub sums in double precision: exact to 2^53, and never wrapping.
     * [thread-safe] */
    void (*counter_add)(const phub_host_t *host, const char *name, int64_t delta);

    /* Records one duration of `nanoseconds` (>= 0; a negative one is ignored) in the timer `name` (same
     * naming rule).
     * [thread-safe] */
    void (*timer_record_ns)(const phub_host_t *host, const char *name, int64_t nanoseconds);
} phub_host_metrics_t;

#endif /* PEACEHUB_EXT_METRICS_H */
