/*
 * PeaceHub mission-module ABI: version numbers.
 *
 * The ABI is versioned MAJOR.MINOR:
 *   - MAJOR changes only when a released struct or function changes meaning, order or type.
 *     The host refuses any module whose major differs from its own.
 *   - MINOR counts append-only additions (new fields at the end of a struct, new function
 *     pointers at the end of a table, new constants). A module built for a newer minor loads
 *     in an older host, which never reads past the fields it knows; a module built for an
 *     older minor loads in a newer host, which checks `struct_size` before touching a field
 *     the module may not have.
 *
 * The append-only rule: once released, a boundary struct is never reordered, retyped or
 * shrunk. New fields go at its end, and every reader checks `struct_size` first.
 */
#ifndef PEACEHUB_VERSION_H
#define PEACEHUB_VERSION_H

#include <stddef.h>
#include <stdint.h>

#define PHUB_ABI_MAJOR 1u
#define PHUB_ABI_MINOR 0u

/*
 * Every boundary struct starts with these four fields. `struct_size` is sizeof() of the struct
 * as its writer compiled it; `abi_major`/`abi_minor` are the writer's PHUB_ABI_MAJOR/MINOR;
 * `reserved` is zero.
 */
#define PHUB_STRUCT_HEADER \
    uint32_t struct_size;  \
    uint32_t abi_major;    \
    uint32_t abi_minor;    \
    uint32_t reserved

/*
 * 1 when `ptr`, a `type` its writer filled, holds `field`: what a reader checks before it uses a
 * field, since the writer may have been built for an older minor. Compare with the field, not with
 * sizeof(type): a struct from a newer minor is larger, one from an older minor smaller, and a
 * reader needs only the fields it uses.
 */
#define PHUB_HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 1 when a peer speaking `major`.`minor` can talk to this header's ABI, else 0. */
static inline int32_t phub_abi_is_compatible(uint32_t major, uint32_t minor) {
    (void)minor; /* any minor of the same major is compatible, in both directions */
    return major == PHUB_ABI_MAJOR ? 1 : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* PEACEHUB_VERSION_H */
