// Wrappers for OpenSSL 3 macros, variadic functions and unions, which Swift cannot use directly.
#ifndef PEACEHUB_COPENSSLSHIM_H
#define PEACEHUB_COPENSSLSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/// SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
static inline int phub_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

/// SSL_CTX_get_min_proto_version is a macro over SSL_CTX_ctrl: the lowest version the context allows so far (0: any),
/// which openssl.cnf's `MinProtocol` sets for every new context.
static inline int phub_ssl_ctx_get_min_proto_version(SSL_CTX *ctx) {
    return (int)SSL_CTX_get_min_proto_version(ctx);
}

/// SSL_CTX_get_max_proto_version is a macro over SSL_CTX_ctrl (0: any); openssl.cnf's `MaxProtocol` sets it.
static inline int phub_ssl_ctx_get_max_proto_version(SSL_CTX *ctx) {
    return (int)SSL_CTX_get_max_proto_version(ctx);
}

/// SSL_CTX_set_max_proto_version is a macro over SSL_CTX_ctrl.
static inline int phub_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

/// Turns off every form of session resumption: no tickets, no server-side cache.
void phub_ssl_ctx_disable_resumption(SSL_CTX *ctx);

/// Frees the session of a server's finished TLS 1.3 connection: the client's certificate, parsed, with its public
/// key (about 4 KB with a P-256 key) and the session itself, which an idle connection would otherwise keep for its
/// whole life. Call once the peer's identity is taken: afterwards `SSL_get0_peer_certificate` returns NULL. The
/// record layer of TLS 1.3 reads nothing from the session; the `SSL`'s method must stay the negotiated one, so the
/// context is swapped for one of that method around `SSL_set_session` (which otherwise resets the method). Returns
/// 1 when released, 0 when not (TLS 1.2, a client, a handshake in progress): the connection works either way.
int phub_ssl_release_session(SSL *ssl);

/// Refuses TLS 1.2 renegotiation, whichever side asks (a no_renegotiation alert). A peer's identity is the
/// certificate of its first handshake; a renegotiation could present another one, and costs the server a full
/// handshake whenever the client likes. TLS 1.3 has none.
void phub_ssl_ctx_disable_renegotiation(SSL_CTX *ctx);

/// SSL_CTX_set_mode is a macro over SSL_CTX_ctrl. SSL_MODE_RELEASE_BUFFERS frees a connection's record buffers
/// (about 34 KB) while it has nothing to read or write: most of the hub's connections are idle most of the time.
static inline void phub_ssl_ctx_release_buffers(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

/// SSL_CTX_build_cert_chain is a macro over SSL_CTX_ctrl. Builds, once, the chain sent with the context's own
/// certificate: the certificate file's extra certificates and the CA file's, without the self-signed root (the
/// peer holds it). Without a built chain OpenSSL builds it again, CRL check included, on every handshake. A chain
/// that cannot be completed is kept as far as it goes, as OpenSSL would send it. Returns 0 on failure.
static inline int phub_ssl_ctx_build_cert_chain(SSL_CTX *ctx) {
    return (int)SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_UNTRUSTED | SSL_BUILD_CHAIN_FLAG_NO_ROOT
                                                  | SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR
                                                  | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR);
}

/// The one BIO a connection's SSL reads and writes through (one BIO, not a pair: an idle connection keeps less).
/// Reads come from a window over bytes the caller owns, the network's buffer itself, instead of from a copy in a
/// memory BIO (which also zeroes the room it grows into): the caller sets a window before each call into the SSL
/// that may read and clears it after; with no bytes left a read asks to be retried, as an empty memory BIO does.
/// Writes go into room the caller lends (`phub_sink_bio_lend`), in practice the free end of the ByteBuffer the
/// ciphertext leaves in: one copy of each record instead of two (into a memory BIO and out again) and no zeroing.
/// What does not fit, or comes while no room is lent (handshake flights, alerts), is kept in order in a spill
/// buffer of its own until `phub_sink_bio_drain_spill`; a write is never refused. Returns NULL when out of memory.
BIO *phub_connection_bio_new(void);

/// Lets `bio` read `length` bytes at `data`, which must stay valid until `phub_window_bio_clear`.
void phub_window_bio_set(BIO *bio, const void *data, size_t length);

/// Ends the window and returns how many of its bytes OpenSSL took.
size_t phub_window_bio_clear(BIO *bio);

/// Lends `capacity` bytes at `data` for the writes that follow; they must stay valid until `phub_sink_bio_recall`.
void phub_sink_bio_lend(BIO *bio, void *data, size_t capacity);

/// Takes the lent room back and returns how many of its bytes were written.
size_t phub_sink_bio_recall(BIO *bio);

/// How many bytes wait in the spill buffer. (A write that cannot grow it fails, and with it the SSL call.)
size_t phub_sink_bio_spill_length(BIO *bio);

/// Copies the spill buffer to `out` (room for `phub_sink_bio_spill_length` bytes) and frees it.
void phub_sink_bio_drain_spill(BIO *bio, void *out);

/// SSL_set_tlsext_host_name is a macro over SSL_ctrl (sets SNI).
static inline int phub_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// SSL_get_ex_new_index is a macro over CRYPTO_get_ex_new_index.
static inline int phub_ssl_get_ex_new_index(void) {
    return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/// OPENSSL_free is a macro adding file and line.
static inline void phub_openssl_free(void *pointer) {
    OPENSSL_free(pointer);
}

/// EVP_PKEY_Q_keygen is variadic: Ed25519 key pair.
EVP_PKEY *phub_keygen_ed25519(void);

/// EVP_PKEY_Q_keygen is variadic: P-256 (prime256v1) key pair.
EVP_PKEY *phub_keygen_p256(void);

/// The name in RFC 2253 form, UTF-8 kept (not escaped), malloc'ed; NULL on failure. Free with free().
char *phub_x509_name_rfc2253(const X509_NAME *name);

/// Number of entries in a GENERAL_NAMES stack (sk_GENERAL_NAME_num is a macro).
int phub_general_names_count(const GENERAL_NAMES *names);

/// Entry `index` of a GENERAL_NAMES stack: its GEN_* type, and for URI, DNS, email and IP names
/// the raw bytes (borrowed). Returns 0 when the entry has no string form (data is then NULL).
int phub_general_names_get(const GENERAL_NAMES *names, int index, int *type, const unsigned char **data,
                           int *length);

/// Appends a URI (GEN_URI), DNS (GEN_DNS) or IP (GEN_IPADD, 4 or 16 raw bytes) name with the exact
/// bytes given (no validation, so tests can build malformed names). Returns 1 on success.
int phub_general_names_add(GENERAL_NAMES *names, int type, const unsigned char *data, int length);

/// 1 when the TLS 1.3 cipher suite `name` (e.g. TLS_AES_128_GCM_SHA256) is among the context's, else 0.
/// SSL_CTX_set_ciphersuites skips names it does not know, so a configured list is checked name by name.
int phub_ssl_ctx_has_tls13_suite(const SSL_CTX *ctx, const char *name);

/// The context's TLS 1.3 cipher suites in its order, separated by ":", as a malloc'ed string the caller frees
/// (NULL for none): what the hub's `tls.cipherSuites` or the system's `Ciphersuites` made of OpenSSL's list.
char *phub_ssl_ctx_tls13_suites(const SSL_CTX *ctx);

/// Number of entries in a CRL's revoked list (sk_X509_REVOKED_num is a macro); 0 when empty.
int phub_crl_revoked_count(const X509_CRL *crl);

/// The CRL's cRLNumber extension (RFC 5280 5.2.3), or -1 when it has none (or one too large for a long).
long phub_crl_number(const X509_CRL *crl);

/// Entry `index` of a CRL's revoked list (borrowed).
X509_REVOKED *phub_crl_revoked_get(const X509_CRL *crl, int index);

/// The CRL entry's reasonCode (RFC 5280 5.3.1), or -1 when it has none.
long phub_revoked_reason(const X509_REVOKED *entry);

/// The serial number as upper-case hex without leading zeros (as BN_bn2hex), malloc'ed. Free with free().
char *phub_asn1_integer_hex(const ASN1_INTEGER *serial);

/// Sets a fresh random positive 127-bit serial number on `cert`. Returns 1 on success.
int phub_x509_set_random_serial(X509 *cert);

/// Adds the extension `nid` with the value `value` (openssl.cnf syntax) in the context of `issuer`
/// (for the authority key identifier) and `subject`. Returns 1 on success.
int phub_x509_add_ext(X509 *issuer, X509 *subject, int nid, const char *value);
/// Adds the extension `nid` with the text `value` (as in openssl.cnf) to `crl`, issued by `issuer`: the
/// authority key identifier "keyid:always" takes the issuer's subject key identifier. 1 on success.
int phub_crl_add_ext(X509 *issuer, X509_CRL *crl, int nid, const char *value);

/// A new stack of `count` certificates, each up-referenced (sk_X509_* are macros); NULL when out of memory.
/// Free it with phub_x509_stack_free.
STACK_OF(X509) *phub_x509_stack_new(X509 *const *certs, int count);

/// Frees a stack from phub_x509_stack_new and drops its references.
void phub_x509_stack_free(STACK_OF(X509) *stack);

/// X509_STORE_CTX's SSL (the SSL ex-data slot of the store context).
SSL *phub_store_ctx_get_ssl(X509_STORE_CTX *store_ctx);

/// Converts an ASN1_TIME to seconds since 1970. Returns 1 on success.
int phub_asn1_time_to_unix(const ASN1_TIME *time, int64_t *seconds);

/// The DER of the peer's certificate, then of the other certificates it sent, one after the other, written into
/// `out` when all fit in `capacity` bytes. Returns their total length (call with `out` NULL to learn it), -1 when one cannot be
/// encoded. For a certificate verification callback (SSL_CTX_set_cert_verify_callback), before or after
/// X509_verify_cert.
long phub_store_ctx_peer_chain_der(X509_STORE_CTX *store_ctx, unsigned char *out, long capacity);

/// The latest notBefore and the earliest notAfter (seconds since 1970) among the certificates of the chain
/// X509_verify_cert built. Returns 1 on success, 0 without a chain or with a time that cannot be read.
int phub_store_ctx_chain_validity(X509_STORE_CTX *store_ctx, int64_t *not_before, int64_t *not_after);

/// How many certificates the chain X509_verify_cert built holds, leaf first; 0 without a chain.
static inline int phub_store_ctx_chain_count(X509_STORE_CTX *store_ctx) {
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(store_ctx);
    return chain == NULL ? 0 : sk_X509_num(chain);
}

/// The certificate at `index` of that chain (borrowed); NULL out of range.
static inline X509 *phub_store_ctx_chain_get(X509_STORE_CTX *store_ctx, int index) {
    return sk_X509_value(X509_STORE_CTX_get0_chain(store_ctx), index);
}

/// Loads the system's openssl.cnf (or the file OPENSSL_CONF names) and applies it, as the first use of OpenSSL in
/// the process; 1 on success, 0 with OpenSSL's reason on its error queue. Unlike OpenSSL's own loading, which
/// goes on with its defaults, an error in the file (its syntax, a section it names that is not there, as when the
/// FIPS module's file it includes is missing) or a file OPENSSL_CONF names and that does not exist fails: a
/// `fips=yes` the file asked for is not silently lost. (OpenSSL skips a provider whose module does not load, and
/// an include of a missing file that nothing needs, either way.)
/// Once OpenSSL has loaded its configuration (this call or any other first use), it answers as that load did.
int phub_openssl_load_configuration(void);

/// The configuration file OpenSSL reads (OPENSSL_CONF, or openssl.cnf in its directory), malloc'ed; caller frees.
char *phub_openssl_config_file(void);

/// The names of the providers active in the default library context, separated by ", " (e.g. "default" or
/// "fips, base"), as a malloc'ed string the caller frees; the system's openssl.cnf (or OPENSSL_CONF) decides them.
char *phub_openssl_active_providers(void);

#endif
