/*
 * PeaceHub mission-module ABI: the message a module judges and the verdict it returns.
 */
#ifndef PEACEHUB_MESSAGE_H
#define PEACEHUB_MESSAGE_H

#include <stdint.h>

#include "version.h"
#include "status.h"
#include "buffer.h"

/*
 * A message published on one of the module's mission topics. Every pointer is owned by the
 * host and valid only for the duration of the call that receives it; copy what you keep.
 * Strings are NUL-terminated UTF-8.
 */
typedef struct phub_message {
    PHUB_STRUCT_HEADER;

    /* The full topic, e.g. "missions/UNIFIL/reports/BLUE_LINE_VIOLATION". Never NULL. */
    const char *topic;

    /* The last topic level after ".../reports/", e.g. "BLUE_LINE_VIOLATION"; NULL when the
     * topic is not a report topic. */
    const char *report_type;

    /* The payload: the report's body (a JSON object), taken out of its envelope where it had one and
     * written again by the hub's JSON writer, for MQTT 5 and 3.1.1 alike (docs/abi.md section 6): not
     * the bytes as published. NULL only when size is 0. */
    const uint8_t *payload;
    uint64_t payload_size;

    /* Who published: the ISO 3166 alpha-3 code of the sender's contingent ("KAZ"), or NULL
     * when an operator or the hub itself published. */
    const char *sender_contingent;

    /* The operator's name when an operator published, else NULL. */
    const char *sender_operator;

    /* The security label (e.g. "UN RESTRICTED"), from the envelope or MQTT 5 user property;
     * NULL when none was given. */
    const char *security_label;

    /* When the hub received the message: nanoseconds since the Unix epoch, UTC. */
    int64_t received_unix_ns;

    /* PHUB_PRECEDENCE_*; PHUB_PRECEDENCE_NONE when none was given. */
    phub_precedence_t precedence;

    /* The MQTT quality of service the message was published with: 0, 1 or 2. */
    int32_t qos;
} phub_message_t;

/*
 * The module's judgement of a message. The host fills the header and the two buffer pointers;
 * the module sets `decision` and `reason_code` and writes into the buffers.
 */
typedef struct phub_verdict {
    PHUB_STRUCT_HEADER;

    /* Out: PHUB_DECISION_ACCEPT or PHUB_DECISION_REJECT. Left at 0, or any other value, the
     * host counts the call as failed and holds the message. */
    phub_decision_t decision;

    /* Out, on reject: a PHUB_REASON_* code (or the module's own, 1000 and up). */
    phub_reason_t reason_code;

    /* Host-owned. Out, on reject: a UTF-8 sentence for the sender that names the offending
     * field, e.g. "field 'location.lat' must be a number between -90 and 90". On accept it may
     * hold a warning for the sender, or stay empty. */
    phub_buffer_t *reason;

    /* Host-owned. Out, on accept: a JSON object whose members the host attaches to the message
     * under "annotations" before delivery, e.g. {"insideArea":true,"sector":"WEST"}. Empty
     * (length 0) means no annotations. Ignored on reject. */
    phub_buffer_t *annotations;
} phub_verdict_t;

#endif /* PEACEHUB_MESSAGE_H */
