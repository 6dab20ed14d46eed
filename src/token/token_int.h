/* token_int.h - internals shared by the files of src/token. */
#ifndef WRIT_TOKEN_INT_H
#define WRIT_TOKEN_INT_H

#include "jose/jose.h"
#include "writ/token.h"

typedef struct wr_key {
    EVP_PKEY *pkey;   /* private key */
    char kid[44];     /* RFC 7638 thumbprint */
    wr_alg alg;
} wr_key;

struct writ_keyring {
    wr_key *keys;
    size_t n, cap;
    size_t active;
};

const wr_key *wr_keyring_find(const writ_keyring *kr, const char *kid, size_t len);
const wr_key *wr_keyring_active(const writ_keyring *kr);

#define WR_TASK_TYP "txntoken+jwt"
#define WR_SUB_PROFILE "ai_agent"

#endif
