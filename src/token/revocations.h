/* revocations.h - the revocation set (revocations.c) following a feed.
 *
 * With replicas, each one keeps the whole revocation set in memory (the
 * hot path stays a hash lookup) and a thread follows a shared store's feed
 * to learn what the others revoked.  A replica that cannot hear the store
 * cannot know whether a token was revoked elsewhere: once the feed has been
 * silent for longer than stale_after, every check answers "revoked" (fail
 * closed) until the feed answers again and the set has caught up.
 *
 * The set knows the store only as the two operations below: the stores
 * (src/store/) sit above the token library and hand them in
 * (store/revfeed.h). */
#ifndef WRIT_TOKEN_REVOCATIONS_H
#define WRIT_TOKEN_REVOCATIONS_H

#include "writ/token.h"

struct wr_store;

/* A position in a feed, opaque to the caller; "" = none yet. */
#ifndef WR_REV_CURSOR_MAX
#define WR_REV_CURSOR_MAX 128
#endif

typedef struct wr_revfeed_ops {
    writ_status (*publish)(struct wr_store *st, int kind, const char *value, size_t len, int64_t until,
                           writ_error *err);
    writ_status (*follow)(struct wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                          bool (*fn)(void *ud, int kind, const char *value, size_t len, int64_t until), void *ud,
                          bool *lost, writ_error *err);
} wr_revfeed_ops;

/* r loads every revocation of st now, then a thread follows st until
 * writ_revocations_close (st must outlive r).  When r was opened on a file,
 * that file is r's local copy: what r learns from st and what it takes is
 * written there too, and what the copy held at start is published to st
 * (the store may have lost it while r was stopped).
 * From then on writ_revocations_add publishes to st first.  The store
 * being unreachable now is not an error: r starts stale and catches up
 * when it answers.  When the store turns out to have lost what it held
 * (follow's *lost: Redis restarted empty), r publishes again every live
 * revocation it knows, so that a replica started later learns them too.
 * log (may be NULL) hears of the feed being lost and back, and of such a
 * loss; it is called from the follower thread. */
WRIT_MUST_CHECK writ_status wr_revocations_follow_ops(writ_revocations *r, struct wr_store *st,
                                                      const wr_revfeed_ops *ops, unsigned stale_after_s,
                                                      void (*log)(const char *msg), writ_error *err);
/* How long the feed has been silent past stale_after, in ms: > 0 means
 * every check fails closed now.  0 when fresh, or when r follows no feed. */
int64_t wr_revocations_stale_ms(const writ_revocations *r);

#endif
