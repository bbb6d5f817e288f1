/*
 * PeaceHub mission-module ABI: the one symbol a module exports.
 *
 * A module is a shared library that exports exactly one function, `phub_plugin_entry_v1`.
 * The host calls it right after loading the library, before anything else.
 */
#ifndef PEACEHUB_ENTRY_H
#define PEACEHUB_ENTRY_H

#include <stdint.h>

#include "plugin.h"

#define PHUB_PLUGIN_ENTRY_SYMBOL "phub_plugin_entry_v1"

#if defined(_WIN32)
#define PHUB_EXPORT __declspec(dllexport)
#else
#define PHUB_EXPORT __attribute__((visibility("default")))
#endif

/*
 * Returns the module's table, or NULL when the module cannot serve a host speaking ABI
 * `host_major`.`host_minor` (the host then refuses it). The table is owned by the module and
 * valid until process exit. Must be cheap, idempotent and free of side effects: it may be
 * called more than once, and from a conformance checker that never creates an instance.
 * [main]
 */
typedef const phub_plugin_t *(*phub_plugin_entry_fn)(uint32_t host_major, uint32_t host_minor);

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PHUB_NO_ENTRY_PROTOTYPE
PHUB_EXPORT const phub_plugin_t *phub_plugin_entry_v1(uint32_t host_major, uint32_t host_minor);
#endif

#ifdef __cplusplus
}
#endif

#endif /* PEACEHUB_ENTRY_H */
