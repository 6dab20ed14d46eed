/* revfeed.c - a revocation set following a store (revfeed.h): the
 * store's operations handed to the set, which lives in libwrit. */
#include "store/revfeed.h"

writ_status wr_revocations_follow(writ_revocations *r, wr_store *st, unsigned stale_after_s,
                                  void (*log)(const char *msg), writ_error *err)
{
    static const wr_revfeed_ops ops = {wr_store_revocation_publish, wr_store_revocation_follow};
    return wr_revocations_follow_ops(r, st, &ops, stale_after_s, log, err);
}
