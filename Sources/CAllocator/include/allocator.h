#ifndef PHUB_ALLOCATOR_H
#define PHUB_ALLOCATOR_H

/// jemalloc's options for the hub (allocator.c). Nothing to call: linking the target is what takes effect.
extern const char *malloc_conf;

#endif
