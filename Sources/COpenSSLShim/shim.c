#define _GNU_SOURCE
#include "COpenSSLShim.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <pthread.h>

void phub_ssl_ctx_disable_resumption(SSL_CTX *ctx) {
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

void phub_ssl_ctx_disable_renegotiation(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
}

/* A context whose method is `method` (a server's TLS 1.3 method: the only one `phub_ssl_release_session` asks
 * for), made at the first call: swapped in for the moment of `SSL_set_session`. It holds no certificate and is
 * never used for a handshake. NULL if it cannot be made, or for another method. */
static SSL_CTX *phub_method_context(const SSL_METHOD *method) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static SSL_CTX *made;
    pthread_mutex_lock(&lock);
    if (made == NULL) made = SSL_CTX_new(method);
    SSL_CTX *found = made != NULL && SSL_CTX_get_ssl_method(made) == method ? made : NULL;
    pthread_mutex_unlock(&lock);
    return found;
}

int phub_ssl_release_session(SSL *ssl) {
    if (SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_server(ssl) || SSL_in_init(ssl)) return 0;
    SSL_CTX *own = SSL_get_SSL_CTX(ssl);
    SSL_CTX *same_method = phub_method_context(SSL_get_ssl_method(ssl));
    if (same_method == NULL) return 0;
    SSL_CTX_up_ref(own);
    int released = SSL_set_SSL_CTX(ssl, same_method) == same_method && SSL_set_session(ssl, NULL) == 1;
    int restored = SSL_set_SSL_CTX(ssl, own) == own;
    SSL_CTX_free(own);
    return released && restored;
}

EVP_PKEY *phub_keygen_ed25519(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

EVP_PKEY *phub_keygen_p256(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

char *phub_x509_name_rfc2253(const X509_NAME *name) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    char *result = NULL;
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        char *data = NULL;
        long length = BIO_get_mem_data(bio, &data);
        if (length >= 0) {
            result = malloc((size_t)length + 1);
            if (result != NULL) {
                if (length > 0) memcpy(result, data, (size_t)length);
                result[length] = '\0';
            }
        }
    }
    BIO_free(bio);
    return result;
}

int phub_general_names_count(const GENERAL_NAMES *names) {
    return names == NULL ? 0 : sk_GENERAL_NAME_num(names);
}

int phub_general_names_get(const GENERAL_NAMES *names, int index, int *type, const unsigned char **data,
                           int *length) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    *data = NULL;
    *length = 0;
    if (name == NULL) {
        *type = -1;
        return 0;
    }
    *type = name->type;
    const ASN1_STRING *string = NULL;
    switch (name->type) {
    case GEN_URI: string = name->d.uniformResourceIdentifier; break;
    case GEN_DNS: string = name->d.dNSName; break;
    case GEN_EMAIL: string = name->d.rfc822Name; break;
    case GEN_IPADD: string = name->d.iPAddress; break;
    default: return 0;
    }
    if (string == NULL) return 0;
    *data = ASN1_STRING_get0_data(string);
    *length = ASN1_STRING_length(string);
    return 1;
}

int phub_general_names_add(GENERAL_NAMES *names, int type, const unsigned char *data, int length) {
    ASN1_STRING *string = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (string == NULL) return 0;
    if (!ASN1_STRING_set(string, data, length)) {
        ASN1_STRING_free(string);
        return 0;
    }
    GENERAL_NAME *name = GENERAL_NAME_new();
    if (name == NULL) {
        ASN1_STRING_free(string);
        return 0;
    }
    GENERAL_NAME_set0_value(name, type, string);
    if (!sk_GENERAL_NAME_push(names, name)) {
        GENERAL_NAME_free(name);
        return 0;
    }
    return 1;
}

int phub_ssl_ctx_has_tls13_suite(const SSL_CTX *ctx, const char *name) {
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; ciphers != NULL && i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
        if (strcmp(SSL_CIPHER_get_version(cipher), "TLSv1.3") == 0
            && strcmp(SSL_CIPHER_standard_name(cipher), name) == 0) return 1;
    }
    return 0;
}

char *phub_ssl_ctx_tls13_suites(const SSL_CTX *ctx) {
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    char *names = NULL;
    size_t used = 0;
    for (int i = 0; ciphers != NULL && i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
        if (strcmp(SSL_CIPHER_get_version(cipher), "TLSv1.3") != 0) continue;
        const char *name = SSL_CIPHER_standard_name(cipher);
        char *grown = realloc(names, used + strlen(name) + 2);
        if (grown == NULL) break;
        if (used > 0) grown[used++] = ':';
        strcpy(grown + used, name);
        used += strlen(name);
        names = grown;
    }
    return names;
}

int phub_crl_revoked_count(const X509_CRL *crl) {
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED((X509_CRL *)crl);
    return revoked == NULL ? 0 : sk_X509_REVOKED_num(revoked);
}

long phub_crl_number(const X509_CRL *crl) {
    ASN1_INTEGER *number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (number == NULL) return -1;
    long value = ASN1_INTEGER_get(number);
    ASN1_INTEGER_free(number);
    return value;
}

long phub_revoked_reason(const X509_REVOKED *entry) {
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
    if (reason == NULL) return -1;
    long value = ASN1_ENUMERATED_get(reason);
    ASN1_ENUMERATED_free(reason);
    return value;
}

X509_REVOKED *phub_crl_revoked_get(const X509_CRL *crl, int index) {
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED((X509_CRL *)crl);
    return revoked == NULL ? NULL : sk_X509_REVOKED_value(revoked, index);
}

char *phub_asn1_integer_hex(const ASN1_INTEGER *serial) {
    BIGNUM *number = ASN1_INTEGER_to_BN(serial, NULL);
    if (number == NULL) return NULL;
    char *hex = BN_bn2hex(number);
    BN_free(number);
    if (hex == NULL) return NULL;
    char *result = strdup(hex);
    OPENSSL_free(hex);
    return result;
}

int phub_x509_set_random_serial(X509 *cert) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return 0;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;  // never a leading zero byte: serials keep 16 bytes and a stable hex form
    BIGNUM *number = BN_bin2bn(bytes, sizeof bytes, NULL);
    if (number == NULL) return 0;
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(number, NULL);
    BN_free(number);
    if (serial == NULL) return 0;
    int ok = X509_set_serialNumber(cert, serial);
    ASN1_INTEGER_free(serial);
    return ok;
}

/* The extension `nid` = `value` (openssl.cnf syntax) for a certificate `subject` or a `crl` issued by `issuer`. */
static X509_EXTENSION *phub_make_ext(X509 *issuer, X509 *subject, X509_CRL *crl, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, subject, NULL, crl, 0);
    return X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
}

int phub_x509_add_ext(X509 *issuer, X509 *subject, int nid, const char *value) {
    X509_EXTENSION *extension = phub_make_ext(issuer, subject, NULL, nid, value);
    if (extension == NULL) return 0;
    int ok = X509_add_ext(subject, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

int phub_crl_add_ext(X509 *issuer, X509_CRL *crl, int nid, const char *value) {
    X509_EXTENSION *extension = phub_make_ext(issuer, NULL, crl, nid, value);
    if (extension == NULL) return 0;
    int ok = X509_CRL_add_ext(crl, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

STACK_OF(X509) *phub_x509_stack_new(X509 *const *certs, int count) {
    STACK_OF(X509) *stack = sk_X509_new_null();
    if (stack == NULL) {
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        if (!X509_up_ref(certs[i])) {
            sk_X509_pop_free(stack, X509_free);
            return NULL;
        }
        if (sk_X509_push(stack, certs[i]) <= 0) {
            X509_free(certs[i]);
            sk_X509_pop_free(stack, X509_free);
            return NULL;
        }
    }
    return stack;
}

void phub_x509_stack_free(STACK_OF(X509) *stack) {
    sk_X509_pop_free(stack, X509_free);
}

SSL *phub_store_ctx_get_ssl(X509_STORE_CTX *store_ctx) {
    return X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
}

int phub_asn1_time_to_unix(const ASN1_TIME *time, int64_t *seconds) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
    *seconds = (int64_t)timegm(&tm);
    return 1;
}

long phub_store_ctx_peer_chain_der(X509_STORE_CTX *store_ctx, unsigned char *out, long capacity) {
    X509 *leaf = X509_STORE_CTX_get0_cert(store_ctx);
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(store_ctx);
    if (leaf == NULL) return -1;
    int count = sent != NULL ? sk_X509_num(sent) : 0;
    // The leaf first, then every other certificate sent (libssl passes the leaf in the sent list too).
    long total = i2d_X509(leaf, NULL);
    if (total <= 0) return -1;
    for (int index = 0; index < count; index++) {
        X509 *cert = sk_X509_value(sent, index);
        if (cert == leaf) continue;
        int length = i2d_X509(cert, NULL);
        if (length <= 0) return -1;
        total += length;
    }
    if (out == NULL || total > capacity) return total;
    unsigned char *next = out;
    if (i2d_X509(leaf, &next) <= 0) return -1;
    for (int index = 0; index < count; index++) {
        X509 *cert = sk_X509_value(sent, index);
        if (cert != leaf && i2d_X509(cert, &next) <= 0) return -1;
    }
    return total;
}

int phub_store_ctx_chain_validity(X509_STORE_CTX *store_ctx, int64_t *not_before, int64_t *not_after) {
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(store_ctx);
    if (chain == NULL || sk_X509_num(chain) == 0) return 0;
    *not_before = INT64_MIN;
    *not_after = INT64_MAX;
    for (int index = 0; index < sk_X509_num(chain); index++) {
        X509 *cert = sk_X509_value(chain, index);
        int64_t start, end;
        if (!phub_asn1_time_to_unix(X509_get0_notBefore(cert), &start)
            || !phub_asn1_time_to_unix(X509_get0_notAfter(cert), &end)) return 0;
        if (start > *not_before) *not_before = start;
        if (end < *not_after) *not_after = end;
    }
    return 1;
}

/// A BIO method made once and kept for the life of the process, as OpenSSL's own methods are.
static BIO_METHOD *phub_bio_method_make(const char *name, int (*read)(BIO *, char *, int),
                                        int (*write)(BIO *, const char *, int), long (*ctrl)(BIO *, int, long, void *),
                                        int (*create)(BIO *), int (*destroy)(BIO *)) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
    if (method == NULL) return NULL;
    if (!BIO_meth_set_read(method, read) || !BIO_meth_set_write(method, write) || !BIO_meth_set_ctrl(method, ctrl)
        || !BIO_meth_set_create(method, create) || !BIO_meth_set_destroy(method, destroy)) {
        BIO_meth_free(method);
        return NULL;
    }
    return method;
}

// MARK: The connection BIO: a window for reads, a sink for writes

/// Bytes the caller lends for one call into the SSL, and how many of them were read or written.
typedef struct {
    unsigned char *data;
    size_t length;
    size_t done;
} phub_span;

static void phub_span_open(phub_span *span, void *data, size_t length) {
    span->data = data;
    span->length = length;
    span->done = 0;
}

/// Ends the loan and returns how many bytes were read or written.
static size_t phub_span_close(phub_span *span) {
    size_t done = span->done;
    phub_span_open(span, NULL, 0);
    return done;
}

/// The bytes the window may read; the room the sink was lent, then what did not fit, in order.
typedef struct {
    phub_span window;
    phub_span room;
    unsigned char *spill;
    size_t spill_length;
    size_t spill_capacity;
} phub_connection_io;

static int phub_connection_read(BIO *bio, char *out, int capacity) {
    phub_connection_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    size_t left = io->window.length - io->window.done;
    if (left == 0 || capacity <= 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t count = left < (size_t)capacity ? left : (size_t)capacity;
    memcpy(out, io->window.data + io->window.done, count);
    io->window.done += count;
    return (int)count;
}

static int phub_connection_write(BIO *bio, const char *in, int length) {
    phub_connection_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (length <= 0) return 0;
    size_t count = (size_t)length;
    // Once something spilled, everything after it spills too, so the bytes stay in order.
    if (io->spill_length == 0 && io->room.data != NULL && io->room.length - io->room.done >= count) {
        memcpy(io->room.data + io->room.done, in, count);
        io->room.done += count;
        return length;
    }
    if (io->spill_capacity - io->spill_length < count) {
        size_t capacity = io->spill_capacity == 0 ? 4096 : io->spill_capacity;
        while (capacity - io->spill_length < count) capacity *= 2;
        unsigned char *grown = OPENSSL_realloc(io->spill, capacity);
        if (grown == NULL) return -1;
        io->spill = grown;
        io->spill_capacity = capacity;
    }
    memcpy(io->spill + io->spill_length, in, count);
    io->spill_length += count;
    return length;
}

static long phub_connection_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    phub_connection_io *io = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_PENDING: return (long)(io->window.length - io->window.done);
    case BIO_CTRL_WPENDING: return (long)(io->room.done + io->spill_length);
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;
    }
}

static int phub_connection_create(BIO *bio) {
    phub_connection_io *io = OPENSSL_zalloc(sizeof(phub_connection_io));
    if (io == NULL) return 0;
    BIO_set_data(bio, io);
    BIO_set_init(bio, 1);
    return 1;
}

static int phub_connection_destroy(BIO *bio) {
    phub_connection_io *io = BIO_get_data(bio);
    if (io != NULL) OPENSSL_free(io->spill);
    OPENSSL_free(io);
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *phub_connection_method;
static pthread_once_t phub_connection_method_once = PTHREAD_ONCE_INIT;

static void phub_connection_method_make(void) {
    phub_connection_method = phub_bio_method_make("PeaceHub connection", phub_connection_read, phub_connection_write,
                                                  phub_connection_ctrl, phub_connection_create,
                                                  phub_connection_destroy);
}

BIO *phub_connection_bio_new(void) {
    pthread_once(&phub_connection_method_once, phub_connection_method_make);
    return phub_connection_method == NULL ? NULL : BIO_new(phub_connection_method);
}

void phub_window_bio_set(BIO *bio, const void *data, size_t length) {
    phub_connection_io *io = BIO_get_data(bio);
    phub_span_open(&io->window, (void *)data, length);  // only ever read from
}

size_t phub_window_bio_clear(BIO *bio) {
    phub_connection_io *io = BIO_get_data(bio);
    return phub_span_close(&io->window);
}

void phub_sink_bio_lend(BIO *bio, void *data, size_t capacity) {
    phub_connection_io *io = BIO_get_data(bio);
    phub_span_open(&io->room, data, capacity);
}

size_t phub_sink_bio_recall(BIO *bio) {
    phub_connection_io *io = BIO_get_data(bio);
    return phub_span_close(&io->room);
}

size_t phub_sink_bio_spill_length(BIO *bio) {
    phub_connection_io *io = BIO_get_data(bio);
    return io->spill_length;
}

void phub_sink_bio_drain_spill(BIO *bio, void *out) {
    phub_connection_io *io = BIO_get_data(bio);
    if (io->spill_length > 0) memcpy(out, io->spill, io->spill_length);
    OPENSSL_free(io->spill);
    io->spill = NULL;
    io->spill_length = 0;
    io->spill_capacity = 0;
}

static int phub_append_provider(OSSL_PROVIDER *provider, void *arg) {
    char **names = arg;
    const char *name = OSSL_PROVIDER_get0_name(provider);
    size_t used = *names ? strlen(*names) : 0;
    char *grown = realloc(*names, used + strlen(name) + 3);
    if (grown == NULL) return 0;
    if (used > 0) memcpy(grown + used, ", ", 2), used += 2;
    strcpy(grown + used, name);
    *names = grown;
    return 1;
}

int phub_openssl_load_configuration(void) {
    OPENSSL_INIT_SETTINGS *settings = OPENSSL_INIT_new();
    if (settings == NULL) return 0;
    /* OpenSSL's default flags ignore every error in the file; these ignore none but a missing default file, as
     * the openssl command does. */
    unsigned long flags = CONF_MFLAGS_DEFAULT_SECTION;
    if (getenv("OPENSSL_CONF") == NULL) flags |= CONF_MFLAGS_IGNORE_MISSING_FILE;
    OPENSSL_INIT_set_config_file_flags(settings, flags);
    int loaded = OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, settings);
    OPENSSL_INIT_free(settings);
    return loaded;
}

char *phub_openssl_config_file(void) {
    /* OpenSSL's allocation, copied into one the caller frees with free(). */
    char *file = CONF_get1_default_config_file();
    char *copy = file == NULL ? NULL : strdup(file);
    OPENSSL_free(file);
    return copy;
}

char *phub_openssl_active_providers(void) {
    /* Loading the configuration first makes the list the one the TLS contexts will use. */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    char *names = NULL;
    OSSL_PROVIDER_do_all(NULL, phub_append_provider, &names);
    return names;
}
