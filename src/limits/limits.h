/* limits.h - task-history limits: "at most 5 deploys per task in 24 h",
 * "payments of one delegation tree total at most 2,000 a day".
 *
 * Declared in the configuration, one line each (docs/LIMITS.md):
 *
 *   limit = NAME WINDOW ACTIONS [sum PATH] [per task|agent|root]
 *
 * counted by Writ, and read by policies as ordinary Cedar values: before
 * each decision, every limit whose ACTIONS match the request's action puts
 * context.history.NAME (over the window, not counting this request) into
 * the context; after an allow the request is counted.
 *
 * Counting.  A limit's window is cut into WR_LIMIT_BUCKETS buckets of
 * width ceil(WINDOW / WR_LIMIT_BUCKETS) ms, aligned on the unix epoch
 * (bucket b covers [b * width, (b + 1) * width)).  Each (limit, key) has a
 * ring of WR_LIMIT_SLOTS buckets: the current one and the WR_LIMIT_BUCKETS
 * before it.  The value read is the sum of all of them, so an event counts
 * for at least WINDOW and at most WINDOW + 2 * width (the rounding errs on
 * the restrictive side: a limit never forgets early).  Reading and counting
 * cost O(WR_LIMIT_SLOTS) whatever the number of past events.
 *
 * The rings live in memory (a hash table of mutex-guarded stripes) and are
 * written behind to the state store (store.h) in batches by one thread;
 * at start they are loaded from it, so a restart does not reset a limit.
 * With a shared store (wr_store_shared) the store itself is read and
 * written on every decision instead, since other replicas count too. */
#ifndef WRIT_LIMITS_LIMITS_H
#define WRIT_LIMITS_LIMITS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "writ/writ.h"

#define WR_LIMITS_MAX 64    /* limit lines in force */
#define WR_LIMIT_BUCKETS 30 /* buckets per window */
#define WR_LIMIT_SLOTS (WR_LIMIT_BUCKETS + 1)
#define WR_LIMIT_LINE_MAX 1024
#define WR_LIMIT_ACTIONS_MAX 32
#define WR_LIMIT_PATH_MAX 8
#define WR_LIMIT_WINDOW_MAX_MS ((int64_t)366 * 86400 * 1000)
#define WR_LIMIT_DECIMAL_SCALE 10000 /* sums are kept in units of 10^-4, Cedar's decimal */

typedef enum wr_limit_per { WR_PER_TASK, WR_PER_AGENT, WR_PER_ROOT } wr_limit_per;

typedef struct wr_limit {
    char name[65]; /* a Cedar identifier: context.history.NAME */
    int64_t window_ms;
    int64_t width_ms; /* one bucket */
    size_t nactions;
    char **actions; /* patterns, '*' matches any run of characters */
    bool sum;       /* sum PATH; else a count */
    char *sum_path; /* "context.amount" as written */
    size_t npath;
    char **path; /* its segments after "context" */
    wr_limit_per per;
    uint32_t line; /* in the config file, 0 = a flag or unknown */
    char id[120];  /* the store's name of its counters: NAME:per:count|sum:WIDTH */
    uint64_t lid_hash;
    const char *lid;   /* id interned by the wr_limits it is put in force in (wr_limits_install) */
    bool any;          /* a pattern of ACTIONS is all '*': it matches every action */
    uint8_t sum_first; /* the first limit of its set with the same sum PATH (its own index if none) */
} wr_limit;

/* Parse one line (the value after `limit =`).  Errors name the column
 * (1-based byte) and what was expected. */
WRIT_MUST_CHECK writ_status wr_limit_parse(const char *line, wr_limit *out, writ_error *err);
void wr_limit_clear(wr_limit *l);
/* Does the limit count action (an action id, "deploy")? */
bool wr_limit_matches(const wr_limit *l, const char *action);
const char *wr_limit_per_name(wr_limit_per p);

/* An immutable, refcounted set of limits (one configuration). */
struct cv_string;
struct wr_arena;
typedef struct wr_limit_set {
    atomic_uint refs;
    size_t n;
    wr_limit v[WR_LIMITS_MAX];
    /* for context.history as Cedar values (history.c), made when the set
     * is put in force (wr_limits_install): the names as Cedar strings,
     * "history" too, and the limits in the order of their names (a Cedar
     * record's), so that a decision builds no string and sorts nothing */
    struct wr_arena *carena;
    const struct cv_string *cname[WR_LIMITS_MAX];
    const struct cv_string *chistory;
    uint8_t order[WR_LIMITS_MAX];
} wr_limit_set;

wr_limit_set *wr_limit_set_new(void);
/* Parse line and add it; lineno goes into errors ("line 7: ...").
 * Refuses a second limit of the same name, and more than WR_LIMITS_MAX. */
WRIT_MUST_CHECK writ_status wr_limit_set_add(wr_limit_set *set, const char *line, uint32_t lineno,
                                             writ_error *err);
void wr_limit_set_release(wr_limit_set *set);
/* Make the set's Cedar names and order (carena, cname, chistory, order);
 * wr_limits_install does it.  WRIT_ENOMEM on out of memory. */
WRIT_MUST_CHECK writ_status wr_limit_set_seal(wr_limit_set *set);

/* ---- the ring of one (limit, key) */
typedef struct wr_ring {
    int64_t head;  /* the newest bucket held; INT64_MIN = none */
    int64_t total; /* the sum of v while !slow, so that reading at head is one load */
    bool slow;     /* a slot went negative or total overflowed: sum the slots */
    int64_t v[WR_LIMIT_SLOTS];
} wr_ring;

void wr_ring_init(wr_ring *r);
/* Add delta to bucket (saturating); a bucket older than the ring holds is
 * dropped, a newer one moves the ring on. */
void wr_ring_add(wr_ring *r, int64_t bucket, int64_t delta);
/* The sum of buckets now - WR_LIMIT_BUCKETS .. now, and of any after now
 * (counted by a decision whose clock read later), saturating. */
int64_t wr_ring_sum(const wr_ring *r, int64_t now);
/* Does the ring hold nothing that counts at bucket now or later? */
bool wr_ring_dead(const wr_ring *r, int64_t now);

/* ---- the counters of a server */
typedef struct wr_limits wr_limits;

typedef struct wr_limits_opts {
    size_t max_keys;   /* (limit, key) rings held; past it new keys are refused (0: 262144) */
    unsigned flush_ms; /* write-behind period (0: 50) */
} wr_limits_opts;

/* store: where the counters persist (borrowed, outlives L; NULL = memory
 * only, for tests). */
WRIT_MUST_CHECK writ_status wr_limits_open(wr_store *store, const wr_limits_opts *o, wr_limits **out,
                                           writ_error *err);
/* Flushes what is pending, then frees. */
void wr_limits_close(wr_limits *L);
/* Put set in force (L takes the reference): the counters of limits new to
 * L are loaded from the store first.  On failure the old set stays. */
WRIT_MUST_CHECK writ_status wr_limits_install(wr_limits *L, wr_limit_set *set, int64_t now_ms,
                                              writ_error *err);
/* Write everything pending to the store now. */
WRIT_MUST_CHECK writ_status wr_limits_flush(wr_limits *L, writ_error *err);
/* Rings held (for tests and metrics). */
size_t wr_limits_keys(wr_limits *L);
/* What /metrics shows.  counted: (limit, key) counts added since start
 * (one request matching three limits counts three); not_counted: those a
 * full table or a failing shared store refused; flush_failures: write-behind
 * batches that failed (retried).  keys is 0 with a shared store (no rings
 * are held locally then). */
typedef struct wr_limits_stat {
    size_t in_force, keys;
    bool shared;
    unsigned long long counted, not_counted, flush_failures;
    unsigned long long giveback_failures; /* takes a shared store would not give back: still counted */
} wr_limits_stat;
void wr_limits_stats(wr_limits *L, wr_limits_stat *out);
/* How many limits are in force (no lock: a decision racing a reload sees
 * the old number or the new one, as it would the set). */
size_t wr_limits_in_force(wr_limits *L);
/* Drop the rings with nothing left in their window (the flusher does it
 * about once a second). */
void wr_limits_sweep(wr_limits *L, int64_t now_ms);

/* ---- one decision */
typedef struct wr_history_keys {
    const char *task;  /* the task id ("" = no task: every task-less request shares one count) */
    const char *agent; /* the requesting agent's id */
    const char *root;  /* the chain's root agent id */
} wr_history_keys;

typedef struct wr_history {
    wr_limit_set *set; /* held from begin to end */
    wr_limits *L;      /* where its takes are given back (wr_history_end) */
    const wr_history_keys *keys;
    int64_t now_ms;
    size_t n;
    uint64_t matched; /* bit i: set->v[i] matches (m[] holds them in set order) */
    uint64_t kh[3];   /* the keys' hashes, by wr_limit_per */
    uint64_t gen[3];  /* their stripes' sweep generation when read (counters.c) */
    struct {
        uint16_t limit;
        uint8_t per;    /* the limit's wr_limit_per */
        char kind;      /* as wr_history_kind_fn said: 0 = not in the context */
        int64_t bucket; /* now's bucket of the limit */
        int64_t value;  /* read: a count, or a sum in units of 10^-4 */
        int64_t delta;
        int64_t held;  /* taken, not yet counted or given back */
        uint64_t hash; /* of (limit, key) */
        void *e;       /* its ring's entry when read (counters.c), or NULL */
    } m[WR_LIMITS_MAX];
} wr_history;

/* How the context declares context.history.NAME for the request's action:
 * 0 not at all (the value is left out), 'L' Long, 'D' decimal, '?' no
 * schema (counts are Long, sums decimal). */
typedef int (*wr_history_kind_fn)(void *ud, const char *name);

/* Before the decision: *obj (a new JSON object, the caller owns it) gets
 * history.NAME for every limit matching action; with obj NULL no JSON is
 * built and the values are read from h (wr_history_value).  ctx is read for
 * the sum paths; split (NULL: none) holds the Cedar values of the members
 * ctx holds as json null, or not at all (an AuthZEN body read by
 * writ_json_parse_split, lean or not: cedar_split_base; a member deleted
 * from ctx must not be in split), which a sum PATH through such a member reads
 * (wr_limit_value_cedar: the same answers as reading the JSON).  A sum value that is there but not a Long or
 * decimal, or a key table that is full, fails (deny with err's reason).  h must be given to wr_history_end in
 * every case.
 *
 * Each value read includes what the other decisions in flight have taken.
 * take: this request's delta is taken now too (counters.c), held until
 * wr_history_commit counts it or wr_history_end gives it back.  Without
 * take the values are only read: a search's candidate (never counted), or
 * a decision that takes after an allow (wr_history_take). */
struct cv_record;
WRIT_MUST_CHECK writ_status wr_history_begin(wr_limits *L, const char *action, const wr_history_keys *keys,
                                             const json_t *ctx, const struct cv_record *split,
                                             wr_history_kind_fn kind, void *ud, int64_t now_ms, bool take,
                                             json_t **obj, wr_history *h, writ_error *err);
/* After an allow decided on values read without take: take this
 * request's delta now, in one step with reading those values again (each
 * limit that adds something).  *changed: a value is not the one the
 * decision read (another decision counted or took meanwhile), so the
 * decision does not stand: give the take back (wr_history_end) and decide
 * again, beginning with take.  So a request that is denied never takes
 * (it cannot deny the others of its key while it is decided), and an
 * allow stands only on the values its own take read.  Fails as a take in
 * wr_history_begin does (table full, the shared store); wr_history_end
 * gives back what was taken. */
WRIT_MUST_CHECK writ_status wr_history_take(wr_limits *L, wr_history *h, bool *changed, writ_error *err);
/* After an allow: count the request (what it took becomes its count).
 * Not undone if it fails (a shared store refusing the write; logged by the
 * caller). */
WRIT_MUST_CHECK writ_status wr_history_commit(wr_limits *L, wr_history *h, writ_error *err);
/* Give back what was taken and not counted, and let the set go.  Fails
 * only when a shared store refuses the give-back: the take then stays
 * counted (restrictive), which the caller logs. */
writ_status wr_history_end(wr_history *h, writ_error *err);
/* The i-th matching limit's value as the context gets it (i < h->n):
 * false when its kind is 0 (left out); else *name, and *v a Long or, with
 * *decimal, a decimal in units of 10^-4 - what *obj holds as JSON. */
static inline bool wr_history_value(const wr_history *h, size_t i, const char **name, int64_t *v,
                                    bool *decimal)
{
    const wr_limit *l = &h->set->v[h->m[i].limit];
    int k = h->m[i].kind;
    if (k == 0)
        return false;
    *name = l->name;
    /* as the JSON value: a count is a Long; a sum a Long where declared
     * so (floored to whole units), else a decimal */
    *decimal = l->sum && k != 'L';
    int64_t x = h->m[i].value;
    if (l->sum && k == 'L')
        x = x / WR_LIMIT_DECIMAL_SCALE - (x % WR_LIMIT_DECIMAL_SCALE < 0);
    *v = x;
    return true;
}

/* A Long or decimal JSON value (integer, {"__extn":{"fn":"decimal","arg":..}},
 * {"fn":"decimal",...} or a decimal string) in units of 10^-4: 0 with *v
 * and *is_decimal, -1 when it is neither. */
int wr_limit_value(const json_t *j, int64_t *v, bool *is_decimal);
/* wr_limit_value of the JSON a Cedar value was read from by
 * writ_json_parse_split (which reads only what it reads without fail): a
 * Long, a decimal, a string holding a decimal literal, or a record with a
 * "fn" "decimal" and a string "arg" -- with wr_limit_value's ranges. */
struct cv_value;
int wr_limit_value_cedar(const struct cv_value *c, int64_t *v, bool *is_decimal);

#endif
