// Wrappers for OpenSSL 3 macros and variadic functions, which Swift cannot call directly.
#ifndef PEACEHUB_COPENSSLSHIM_H
#define PEACEHUB_COPENSSLSHIM_H

#include <openssl/ssl.h>

/// SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
static inline int phub_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

#endif
