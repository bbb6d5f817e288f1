// The C ABI target needs one source file. It pins the struct layouts of ABI 1.0 on LP64
// platforms, so an accidental change to a released struct fails the build.
#include "peacehub/peacehub.h"
#include <stddef.h>

#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
_Static_assert(sizeof(phub_buffer_t) == 40, "phub_buffer_t layout changed");
_Static_assert(sizeof(phub_message_t) == 88, "phub_message_t layout changed");
_Static_assert(sizeof(phub_verdict_t) == 40, "phub_verdict_t layout changed");
_Static_assert(sizeof(phub_create_info_t) == 32, "phub_create_info_t layout changed");
_Static_assert(offsetof(phub_host_t, get_extension) == 104, "phub_host_t layout changed");
_Static_assert(sizeof(phub_host_t) == 112, "phub_host_t layout changed");
_Static_assert(offsetof(phub_plugin_t, get_extension) == 96, "phub_plugin_t layout changed");
_Static_assert(sizeof(phub_plugin_t) == 104, "phub_plugin_t layout changed");
_Static_assert(sizeof(phub_host_metrics_t) == 32, "phub_host_metrics_t layout changed");
#endif
