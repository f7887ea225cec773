// OpenSSL 3 for Swift. Only what Swift cannot import (function-like macros, SSL_OP_BIT constants,
// parameter-name pointers that must stay valid) is wrapped here; see C-INTEROP.md pitfalls 1-3.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/hmac.h>

static inline int COpenSSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_min_proto_version(ctx, v); }
static inline int COpenSSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_max_proto_version(ctx, v); }
static inline long COpenSSL_CTX_set_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_mode(ctx, m); }
static inline long COpenSSL_set_mode(SSL *ssl, long m) { return SSL_set_mode(ssl, m); }
static inline int COpenSSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *l) { return (int)SSL_CTX_set1_groups_list(ctx, l); }
static inline long COpenSSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long m) { return SSL_CTX_set_session_cache_mode(ctx, m); }
static inline int COpenSSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) {
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline int COpenSSL_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline long COpenSSL_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline size_t COpenSSL_BIO_pending(BIO *b) { return BIO_pending(b); }
static inline size_t COpenSSL_BIO_ctrl_pending(BIO *b) { return BIO_ctrl_pending(b); }
static inline void COpenSSL_free(void *p) { OPENSSL_free(p); }
static inline int COpenSSL_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *COpenSSL_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
static inline int COpenSSL_sk_GENERAL_NAME_num(const STACK_OF(GENERAL_NAME) *sk) { return sk_GENERAL_NAME_num(sk); }
static inline GENERAL_NAME *COpenSSL_sk_GENERAL_NAME_value(const STACK_OF(GENERAL_NAME) *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }
static inline void COpenSSL_GENERAL_NAMES_free(GENERAL_NAMES *g) { GENERAL_NAMES_free(g); }
static inline int COpenSSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *x) { return (int)SSL_CTX_add_extra_chain_cert(ctx, x); }

static const uint64_t COpenSSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t COpenSSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t COpenSSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
static const uint64_t COpenSSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const uint64_t COpenSSL_OP_ALL = SSL_OP_ALL;
static const unsigned long COpenSSL_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;

// Parameter names must outlive OSSL_PARAM_BLD_to_param (pitfall 3): static pointers, never Swift strings.
static const char *const COpenSSL_PARAM_RSA_N = OSSL_PKEY_PARAM_RSA_N;
static const char *const COpenSSL_PARAM_RSA_E = OSSL_PKEY_PARAM_RSA_E;
static const char *const COpenSSL_PARAM_GROUP_NAME = OSSL_PKEY_PARAM_GROUP_NAME;
static const char *const COpenSSL_PARAM_PUB_KEY = OSSL_PKEY_PARAM_PUB_KEY;
static const char *const COpenSSL_PARAM_EC_PUB_X = OSSL_PKEY_PARAM_EC_PUB_X;
static const char *const COpenSSL_PARAM_EC_PUB_Y = OSSL_PKEY_PARAM_EC_PUB_Y;
static const char *const COpenSSL_PARAM_PRIV_KEY = OSSL_PKEY_PARAM_PRIV_KEY;
#endif
