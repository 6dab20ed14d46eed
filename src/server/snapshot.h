/* snapshot.h - the policy set, schema and entities in force, hot-swappable.
 *
 * A snapshot is immutable once loaded and refcounted: a request takes a
 * reference (snap_acquire), decides against it, and drops it
 * (snap_release).  A reload builds a whole new snapshot off to the side and
 * swaps the current pointer under a mutex only if every file loaded; a bad
 * new set is refused with its error and the old one keeps serving.  The last
 * reference frees a replaced snapshot, so requests in flight finish on the
 * set they started with.
 *
 * A file being written is never loaded half-way, as far as the files' stat
 * can tell: a load stats every file before reading and again after parsing
 * all of them, and refuses the whole set if any changed in between (or a
 * read came short of the size), so the next check retries; a change seen by
 * polling is loaded only once the files have stayed the same across two
 * checks (snap_files_changed).  A writer that pauses longer than that with
 * a file cut at a policy boundary cannot be told from a finished one: write
 * a new file and rename it over the old one.
 *
 * A refused reload leaves the store "degraded" with the reason
 * (snap_degraded) until a reload succeeds. */
#ifndef WRIT_SERVER_SNAPSHOT_H
#define WRIT_SERVER_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "writ/cedar.h"

typedef struct srv_snapshot {
    atomic_uint refs;
    uint64_t generation;
    writ_policyset *ps;
    writ_schema *schema;       /* NULL when none */
    writ_entities *es;
    struct shd_set *shadow; /* shadow policies / candidate set (src/shadow/); NULL = none */
    /* Policies annotated @approval(...), so an answer's obligations need
     * no scan of the whole set: ids and values point into ps. */
    size_t napprovals;
    const char **approval_id;
    const char **approval_val;
} srv_snapshot;

typedef struct srv_file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
    int missing;
} srv_file_stamp;

typedef struct srv_policy_store srv_policy_store;

/* Load the files (entities/schema/shadow may be NULL or "" for none;
 * shadow is the candidate policy set of `shadow_policies`, loaded, polled
 * and reloaded with the others). */
WRIT_MUST_CHECK writ_status snap_store_open(const char *policies, const char *entities, const char *schema,
                                            const char *shadow, srv_policy_store **out, writ_error *err);
void snap_store_close(srv_policy_store *st);
srv_snapshot *snap_acquire(srv_policy_store *st);
void snap_release(srv_snapshot *s);
/* Load the files again and swap them in.  On failure the old set stays and
 * err says why (the file name is in the message). */
WRIT_MUST_CHECK writ_status snap_reload(srv_policy_store *st, writ_error *err);
/* Have the files changed since the last load (attempt)?  SNAP_SETTLING: they
 * differ from the last load but not from the previous call's look (still
 * being written, perhaps): check again soon.  SNAP_CHANGED: they differ
 * from the last load and are as they were at the previous call. */
enum { SNAP_SAME = 0, SNAP_CHANGED = 1, SNAP_SETTLING = 2 };
int snap_files_changed(srv_policy_store *st);
/* A reload refused for a reason outside the files (a limit line that does
 * not parse): degraded with why until a reload succeeds. */
void snap_refuse(srv_policy_store *st, const char *why);
/* Did the last reload fail?  Then the reason goes to reason (cap bytes,
 * NUL-terminated; may be NULL) and the answer is true. */
bool snap_degraded(srv_policy_store *st, char *reason, size_t cap);
uint64_t snap_generation(srv_policy_store *st);

#endif
