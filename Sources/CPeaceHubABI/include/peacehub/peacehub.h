/*
 * PeaceHub mission-module ABI, version 1.0: the umbrella header.
 *
 * This header set is the only binary contract between the PeaceHub host and its mission
 * modules. Any language that can export a C function can implement a module; the rules
 * (versioning, ownership, threading, JSON schemas) are written in docs/abi.md.
 *
 * Rules that hold for every header:
 *   - Boundary structs start with PHUB_STRUCT_HEADER and hold only fixed-width integers,
 *     pointers and C function pointers: no bool, C enum, long or bitfields.
 *   - Append only: a released struct never loses, reorders or retypes a field.
 *   - Whoever allocates frees. Borrowed pointers are valid only for the call unless a comment
 *     says otherwise.
 *   - Strings are UTF-8. No exception, Swift error or other language-specific object ever
 *     crosses the boundary.
 */
#ifndef PEACEHUB_H
#define PEACEHUB_H

#include "version.h"
#include "status.h"
#include "buffer.h"
#include "message.h"
#include "host.h"
#include "plugin.h"
#include "entry.h"
#include "ext/metrics.h"

#endif /* PEACEHUB_H */
