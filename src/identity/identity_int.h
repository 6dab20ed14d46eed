/* identity_int.h - identity internals shared by the files of src/identity. */
#ifndef WRIT_IDENTITY_INT_H
#define WRIT_IDENTITY_INT_H

#include "util/text.h"
#include "writ/identity.h"

struct writ_identity {
    writ_identity_kind kind;
    char *subject; /* SPIFFE ID or OIDC sub */
    char *issuer;
    int64_t exp;
    char *x5t;   /* base64url SHA-256 of the client cert, or NULL */
    char *ptype; /* OIDC: the principal type of the issuer's subjects; NULL for SVIDs */
};

#endif
