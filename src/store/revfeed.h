/* revfeed.h - the revocation set following one of the stores (token/revocations.h
 * says how; this hands it the store's operations). */
#ifndef WRIT_STORE_REVFEED_H
#define WRIT_STORE_REVFEED_H

#include "store/store.h"
#include "token/revocations.h"

/* wr_revocations_follow_ops with st's revocation_publish and
 * revocation_follow (store.h). */
WRIT_MUST_CHECK writ_status wr_revocations_follow(writ_revocations *r, wr_store *st, unsigned stale_after_s,
                                                  void (*log)(const char *msg), writ_error *err);

#endif
