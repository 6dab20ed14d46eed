/* identity_int.h - identity internals shared inside src/identity and src/token. */
#ifndef WRIT_IDENTITY_INT_H
#define WRIT_IDENTITY_INT_H

#include "writ/identity.h"

struct writ_identity {
    writ_identity_kind kind;
    char *subject; /* SPIFFE ID or OIDC sub */
    char *issuer;
    int64_t exp;
    char *x5t;   /* base64url SHA-256 of the client cert, or NULL */
    char *ptype; /* OIDC: the principal type of the issuer's subjects; NULL for SVIDs */
};

/* Does s begin with the URI scheme "spiffe:" (scheme compared
 * case-insensitively, as URI schemes are)? */
bool wr_looks_spiffe(const char *s, size_t len);

#endif
