// The hub's memory allocator: jemalloc, linked into the `peacehub` executable in place of glibc's malloc
// (docs/performance.md, item 24).
//
// Why: on the message path a block is often allocated on one event loop and freed on another (a message routed
// on the publisher's loop, released when the subscriber's acknowledgement arrives on its own). glibc returns such a
// block to the arena of the thread that allocated it, under that arena's lock, once the freeing thread's small cache
// is full; the two loops then wait for each other in futex calls, about one per QoS 1 delivery. jemalloc frees a
// foreign block into the freeing thread's cache and hands blocks back in batches: at 1 publisher -> 1 subscriber,
// QoS 1, the hub spent 9-10 instead of 14-15 us of CPU per delivery.
//
// jemalloc reads `malloc_conf` before the first allocation; the MALLOC_CONF environment variable still overrides
// it. One background thread gives unused pages back to the system a second after they were freed (jemalloc's
// default is ten seconds, and only when the process allocates again), so that an idle hub keeps no more resident
// memory than it needs: after a burst, or beside thousands of quiet connections.
#include "allocator.h"

const char *malloc_conf = "background_thread:true,max_background_threads:1,dirty_decay_ms:1000";
