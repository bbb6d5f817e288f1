// The system OpenSSL 3 headers the hub uses (Debian: libssl-dev).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/provider.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
