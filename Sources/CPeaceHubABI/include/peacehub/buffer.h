/*
 * PeaceHub mission-module ABI: output buffers.
 *
 * Variable-size output (JSON documents, texts) goes into a buffer the caller owns. The callee
 * writes at most `capacity` bytes and always sets `length` to the full size of its result.
 * When the result does not fit it returns PHUB_ERR_BUFFER_TOO_SMALL and the caller may call
 * again, once, with `capacity >= length`. Functions that write into a buffer must therefore
 * give the same result when called again with the same input, and must not repeat a side
 * effect for the second call.
 */
#ifndef PEACEHUB_BUFFER_H
#define PEACEHUB_BUFFER_H

#include <stdint.h>
#include <string.h>

#include "version.h"
#include "status.h"

typedef struct phub_buffer {
    PHUB_STRUCT_HEADER;

    /* Caller-owned memory of `capacity` bytes, valid for the duration of the call. NULL only
     * when `capacity` is 0. Output is UTF-8 and is not NUL-terminated. */
    uint8_t *data;
    uint64_t capacity;

    /* Set by the callee: the full size of the result in bytes, also when it exceeds `capacity`.
     * A callee that sets `length <= capacity` has written exactly `length` bytes. */
    uint64_t length;
} phub_buffer_t;

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes `size` bytes into `buffer` by the rules above: copies them when they fit and returns
 * PHUB_OK, otherwise copies nothing and returns PHUB_ERR_BUFFER_TOO_SMALL. Sets `length` either way.
 */
static inline phub_status_t phub_buffer_write(phub_buffer_t *buffer, const void *bytes, uint64_t size) {
    buffer->length = size;
    if (size > buffer->capacity) {
        return PHUB_ERR_BUFFER_TOO_SMALL;
    }
    if (size > 0) {
        memcpy(buffer->data, bytes, (size_t)size);
    }
    return PHUB_OK;
}

/*
 * Writes as much of the UTF-8 text `text` (`size` bytes) as fits, cut before the first character that
 * would not fit whole, and sets `length` to the bytes written. For a text the caller reads once and never
 * asks for again: the error of `create`, whose buffer is "truncated to its capacity".
 */
static inline void phub_buffer_write_cut(phub_buffer_t *buffer, const char *text, uint64_t size) {
    uint64_t count = size <= buffer->capacity ? size : buffer->capacity;
    if (count < size) {
        /* text[count] is the first byte left out: while it continues a character, leave that one out too. */
        while (count > 0 && ((const uint8_t *)text)[count] >= 0x80 && ((const uint8_t *)text)[count] < 0xC0) {
            count--;
        }
    }
    if (count > 0) {
        memcpy(buffer->data, text, (size_t)count);
    }
    buffer->length = count;
}

#ifdef __cplusplus
}
#endif

#endif /* PEACEHUB_BUFFER_H */
