/*
 * PeaceHub mission-module ABI: status codes, log levels and other integer constants.
 *
 * C enums are never used across the boundary (their size is the compiler's choice): each
 * enumeration is an int32_t typedef with #define constants. Readers must accept values they
 * do not know (a newer peer may send them) and treat them as the documented fallback.
 */
#ifndef PEACEHUB_STATUS_H
#define PEACEHUB_STATUS_H

#include <stdint.h>

/* The result of every fallible ABI call. 0 is success; anything else is an error. */
typedef int32_t phub_status_t;

#define PHUB_OK                     0  /* success */
#define PHUB_ERR_INVALID_ARGUMENT   1  /* an input was malformed (bad JSON, NULL where not allowed) */
#define PHUB_ERR_BUFFER_TOO_SMALL   2  /* the output did not fit; `length` holds the size needed */
#define PHUB_ERR_UNSUPPORTED        3  /* the function, command or extension is not offered */
#define PHUB_ERR_NOT_FOUND          4  /* the record or key asked for does not exist */
#define PHUB_ERR_DENIED             5  /* the caller may not do this (e.g. publish on that topic) */
#define PHUB_ERR_UNAVAILABLE        6  /* a service is not ready (store closed, hub shutting down) */
#define PHUB_ERR_INTERNAL           7  /* anything else; details go to the log or an error buffer */

/* Log levels for phub_host_t.log. */
typedef int32_t phub_log_level_t;

#define PHUB_LOG_TRACE               0
#define PHUB_LOG_DEBUG               1
#define PHUB_LOG_INFO                2
#define PHUB_LOG_WARNING             3
#define PHUB_LOG_ERROR               4
#define PHUB_LOG_HOST_MISBEHAVING    5  /* the module saw the host break this contract */

/* Precedence of a message (military message handling, highest last). 0 means "not given"; a
 * reader takes a value it does not know, as 0, for ROUTINE (the fallback of every reader). */
typedef int32_t phub_precedence_t;

#define PHUB_PRECEDENCE_NONE         0
#define PHUB_PRECEDENCE_ROUTINE      1
#define PHUB_PRECEDENCE_PRIORITY     2
#define PHUB_PRECEDENCE_IMMEDIATE    3
#define PHUB_PRECEDENCE_FLASH        4

/* The decision in a phub_verdict_t. 0 (unset) or any other value is a module error. */
typedef int32_t phub_decision_t;

#define PHUB_DECISION_ACCEPT         1
#define PHUB_DECISION_REJECT         2

/*
 * Why a message was rejected (phub_verdict_t.reason_code). Codes 1..999 are defined here;
 * a module may use its own codes from 1000 up and must explain them in its documentation.
 * A host that meets an unknown code treats it as PHUB_REASON_OTHER.
 */
typedef int32_t phub_reason_t;

#define PHUB_REASON_NONE             0   /* accepted */
#define PHUB_REASON_MALFORMED        1   /* the payload is not a JSON object */
#define PHUB_REASON_MISSING_FIELD    2   /* a required field is absent */
#define PHUB_REASON_INVALID_VALUE    3   /* a field has the wrong type, is out of range or not in its enum */
#define PHUB_REASON_UNKNOWN_TYPE     4   /* the report type is not one this mission knows */
#define PHUB_REASON_OUT_OF_AREA      5   /* the report type requires a location inside the area */
#define PHUB_REASON_NOT_PERMITTED    6   /* the sender may not file this report */
#define PHUB_REASON_MISSION_CLOSED   7   /* the mission no longer takes this report */
#define PHUB_REASON_OTHER            999 /* anything else; the reason text says what */

#endif /* PEACEHUB_STATUS_H */
