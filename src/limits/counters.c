#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
/* counters.c - the counters of a server: rings in a striped hash table,
 * written behind to the state store, loaded from it at start (limits.h).
 *
 * Persistence.  Each count is added to its ring at once (so the next
 * decision sees it) and to the entry's pending delta; a thread writes the
 * pending deltas of every entry to the store every flush_ms (default 50
 * ms) in one transaction (wr_store_counter_add_many: SQLite, BEGIN
 * IMMEDIATE ... COMMIT with synchronous=FULL), and on close.  So a kill -9
 * (or a power loss) forgets at most the counts of the last flush period
 * plus the one being written; a clean stop (SIGTERM) forgets nothing.  A
 * write that fails is kept and retried with the next period's.
 *
 * An entry's pending delta belongs to one bucket; when a count arrives for
 * a newer bucket before the flush, the old (bucket, delta) moves to the
 * stripe's overflow list, so nothing pending is ever merged into the wrong
 * bucket.
 *
 * Concurrent decisions.  A decision reads the ring's sum plus what the
 * decisions in flight have taken (entry.held) and is made on that; an
 * allow then takes its delta (wr_history_take: added to held, in one step
 * with reading the value again).  If the value is what the decision read,
 * the allow stands; if another decision counted or took meanwhile, the
 * take is given back and the request decided again, this time taking
 * first (wr_history_begin with take), so that the decisions after it see
 * it.  An allow moves the take into the ring (wr_history_commit),
 * anything else gives it back (wr_history_end).  So of 50 requests sent
 * at once against a limit of 5 with 4 counted, one allow stands on 4 and
 * the others are decided on 5 or more: an unknown outcome counts as an
 * allow, the restrictive side; and a request that is denied never takes,
 * so it never denies the others of its key while it is decided.  With a
 * shared store the take is one atomic step there (wr_store_counter_take)
 * and the give-back a negative add; a replica that dies in between leaves
 * its take counted (restrictive again).
 *
 * Memory.  At most max_keys entries; a ring with nothing left in its
 * window, nothing pending and nothing held is dropped by the sweep (about once a second,
 * on the flusher thread).  When the table is full a decision that would
 * need a new entry is refused (fail closed: a count that could not be kept
 * is never silently skipped). */
#include "limits/limits.h"
#include "cedar/value.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NSTRIPES 64

typedef struct entry {
    struct entry *next, *dirty_next;
    uint64_t hash;
    const char *lid; /* interned, lives as long as L */
    char *key;
    int64_t width;
    bool dirty;
    int64_t pend_bucket, pend_delta;
    int64_t held; /* what decisions being made now have taken (wr_history_begin) */
    wr_ring ring;
} entry;

typedef struct pend {
    const char *lid;
    char *key;
    int64_t bucket, delta, expires;
} pend;

typedef struct stripe {
    pthread_mutex_t mu;
    /* sweeps that freed entries of it: the entries a decision found stay
     * valid for its count while this holds (wr_history_commit) */
    uint64_t gen;
    entry **tab;
    size_t cap, n;
    entry *dirty;
    pend *ov;
    size_t nov, cov;
} stripe;

struct wr_limits {
    wr_store *store;
    bool shared;
    size_t max_keys;
    unsigned flush_ms;
    atomic_size_t nkeys;
    stripe st[NSTRIPES];
    pthread_mutex_t set_mu;
    wr_limit_set *set;
    atomic_size_t in_force; /* set->n, read without the lock (wr_limits_in_force) */
    pthread_mutex_t ids_mu;
    char **ids;
    size_t nids;
    pthread_mutex_t flush_mu; /* one flush at a time */
    pend *retry;
    size_t nretry;
    pthread_mutex_t thr_mu;
    pthread_cond_t thr_cv;
    bool stop, thr_started;
    pthread_t thr;
    atomic_ullong flush_failures;
    atomic_ullong counted, refused; /* events counted; commits that failed */
    atomic_ullong kept;             /* give-backs a shared store refused (the take stays counted) */
};

static writ_status fail(writ_error *err, writ_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static writ_status fail(writ_error *err, writ_status st, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

static uint64_t hash_str(const char *a)
{
    uint64_t h = 1469598103934665603ull;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ull;
    return h;
}

/* (limit, key): the two strings' hashes mixed, so that a decision hashes
 * each key once whatever the number of limits */
static uint64_t hash_mix(uint64_t lh, uint64_t kh)
{
    uint64_t h = (lh * 0x9e3779b97f4a7c15ull) ^ kh;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static const char *intern(wr_limits *L, const char *id)
{
    pthread_mutex_lock(&L->ids_mu);
    const char *out = NULL;
    for (size_t i = 0; i < L->nids && !out; i++)
        if (!strcmp(L->ids[i], id))
            out = L->ids[i];
    if (!out) {
        char *c = wr_strndup(id, strlen(id));
        char **v = c ? wr_realloc(L->ids, (L->nids + 1) * sizeof *v) : NULL;
        if (v) {
            L->ids = v;
            v[L->nids++] = c;
            out = c;
        } else {
            wr_free(c);
        }
    }
    pthread_mutex_unlock(&L->ids_mu);
    return out;
}

/* The stripe of a (limit, key) is chosen by the key alone, so that the
 * limits of a decision that count by one key (say every `per task` one)
 * are read and counted under one lock: at most three lock pairs a
 * decision whatever the number of limits. */
static stripe *stripe_of(wr_limits *L, uint64_t key_hash) { return &L->st[key_hash & (NSTRIPES - 1)]; }

/* The entry of (lid, key) in its stripe (locked), or NULL. */
static entry *find(stripe *s, uint64_t h, const char *lid, const char *key)
{
    if (!s->cap)
        return NULL;
    for (entry *e = s->tab[(h >> 6) & (s->cap - 1)]; e; e = e->next)
        if (e->hash == h && e->lid == lid && !strcmp(e->key, key))
            return e;
    return NULL;
}

static int grow(stripe *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    entry **t = wr_calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        for (entry *e = s->tab[i], *nx; e; e = nx) {
            nx = e->next;
            size_t b = (e->hash >> 6) & (cap - 1);
            e->next = t[b];
            t[b] = e;
        }
    wr_free(s->tab);
    s->tab = t;
    s->cap = cap;
    return 0;
}

/* Find or make the entry (stripe locked).  NULL: table full or out of memory. */
static entry *get(wr_limits *L, stripe *s, uint64_t h, const char *lid, int64_t width, const char *key)
{
    entry *e = find(s, h, lid, key);
    if (e)
        return e;
    if (atomic_fetch_add(&L->nkeys, 1) >= L->max_keys) {
        atomic_fetch_sub(&L->nkeys, 1);
        return NULL;
    }
    if ((s->n + 1 > s->cap * 2 && grow(s)) || !(e = wr_calloc(1, sizeof *e)) ||
        !(e->key = wr_strndup(key, strlen(key)))) {
        wr_free(e);
        atomic_fetch_sub(&L->nkeys, 1);
        return NULL;
    }
    e->hash = h;
    e->lid = lid;
    e->width = width;
    wr_ring_init(&e->ring);
    size_t b = (h >> 6) & (s->cap - 1);
    e->next = s->tab[b];
    s->tab[b] = e;
    s->n++;
    return e;
}

static void pend_free(pend *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wr_free(p[i].key);
    wr_free(p);
}

/* Count delta in bucket of e (stripe locked), pending for the store unless
 * loading.  -1: out of memory for the overflow (the count is in the ring
 * but will not reach the store). */
static int count(stripe *s, entry *e, int64_t bucket, int64_t delta, bool persist)
{
    wr_ring_add(&e->ring, bucket, delta);
    if (!persist)
        return 0;
    if (e->dirty && e->pend_bucket != bucket) {
        if (s->nov == s->cov) {
            size_t cov = s->cov ? s->cov * 2 : 16;
            pend *v = wr_realloc(s->ov, cov * sizeof *v);
            if (!v)
                return -1;
            s->ov = v;
            s->cov = cov;
        }
        char *k = wr_strndup(e->key, strlen(e->key));
        if (!k)
            return -1;
        s->ov[s->nov++] =
            (pend){e->lid, k, e->pend_bucket, e->pend_delta, (e->pend_bucket + WR_LIMIT_SLOTS) * e->width};
        e->pend_delta = 0;
        e->pend_bucket = bucket;
    }
    if (!e->dirty) {
        e->dirty = true;
        e->pend_bucket = bucket;
        e->pend_delta = 0;
        e->dirty_next = s->dirty;
        s->dirty = e;
    }
    e->pend_delta += delta;
    return 0;
}

writ_status wr_limits_flush(wr_limits *L, writ_error *err)
{
    if (!L->store || L->shared)
        return WRIT_OK;
    pthread_mutex_lock(&L->flush_mu);
    pend *b = L->retry;
    size_t n = L->nretry, cap = n;
    L->retry = NULL;
    L->nretry = 0;
    writ_status st = WRIT_OK;
    for (size_t i = 0; i < NSTRIPES && !st; i++) {
        stripe *s = &L->st[i];
        pthread_mutex_lock(&s->mu);
        size_t want = n + s->nov;
        for (entry *e = s->dirty; e; e = e->dirty_next)
            want++;
        if (want > cap) {
            pend *v = wr_realloc(b, want * sizeof *v);
            if (!v) {
                pthread_mutex_unlock(&s->mu);
                st = fail(err, WRIT_ENOMEM, "limits: out of memory writing the counters");
                break;
            }
            b = v;
            cap = want;
        }
        if (s->nov) {
            memcpy(b + n, s->ov, s->nov * sizeof *b);
            n += s->nov;
            s->nov = 0;
        }
        for (entry *e = s->dirty, *nx; e; e = nx) {
            nx = e->dirty_next;
            char *k = wr_strndup(e->key, strlen(e->key));
            if (!k) {
                /* leave the rest dirty for the next flush */
                s->dirty = e;
                st = fail(err, WRIT_ENOMEM, "limits: out of memory writing the counters");
                break;
            }
            b[n++] = (pend){e->lid, k, e->pend_bucket, e->pend_delta,
                            (e->pend_bucket + WR_LIMIT_SLOTS) * e->width};
            e->dirty = false;
            e->dirty_next = NULL;
            e->pend_delta = 0;
            s->dirty = nx;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (n) {
        wr_counter_delta *d = wr_malloc(n * sizeof *d);
        writ_status ws;
        if (!d) {
            ws = fail(err, WRIT_ENOMEM, "limits: out of memory writing the counters");
        } else {
            for (size_t i = 0; i < n; i++)
                d[i] = (wr_counter_delta){b[i].lid, b[i].key, b[i].bucket, b[i].delta, b[i].expires};
            ws = wr_store_counter_add_many(L->store, d, n, err);
            wr_free(d);
        }
        if (ws) {
            /* kept for the next flush */
            atomic_fetch_add(&L->flush_failures, 1);
            L->retry = b;
            L->nretry = n;
            b = NULL;
            n = 0;
            if (!st)
                st = ws;
        }
    }
    pend_free(b, n);
    pthread_mutex_unlock(&L->flush_mu);
    return st;
}

void wr_limits_sweep(wr_limits *L, int64_t now_ms)
{
    for (size_t i = 0; i < NSTRIPES; i++) {
        stripe *s = &L->st[i];
        pthread_mutex_lock(&s->mu);
        bool freed = false;
        for (size_t b = 0; b < s->cap; b++) {
            entry **pp = &s->tab[b];
            while (*pp) {
                entry *e = *pp;
                if (!e->dirty && !e->held && wr_ring_dead(&e->ring, floor_div(now_ms, e->width))) {
                    freed = true;
                    *pp = e->next;
                    wr_free(e->key);
                    wr_free(e);
                    s->n--;
                    atomic_fetch_sub(&L->nkeys, 1);
                } else {
                    pp = &e->next;
                }
            }
        }
        s->gen += freed;
        pthread_mutex_unlock(&s->mu);
    }
}

static void *flusher(void *arg)
{
    wr_limits *L = arg;
    unsigned ticks = 0;
    pthread_mutex_lock(&L->thr_mu);
    while (!L->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)L->flush_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&L->thr_cv, &L->thr_mu, &until);
        if (L->stop)
            break;
        pthread_mutex_unlock(&L->thr_mu);
        writ_error err;
        if (wr_limits_flush(L, &err) && atomic_load(&L->flush_failures) % 100 == 1)
            fprintf(stderr, "writ: limits: counters not written yet (retried): %s\n", err.msg);
        if (++ticks * L->flush_ms >= 1000) {
            ticks = 0;
            wr_limits_sweep(L, wr_wall_ms());
        }
        pthread_mutex_lock(&L->thr_mu);
    }
    pthread_mutex_unlock(&L->thr_mu);
    return NULL;
}

writ_status wr_limits_open(wr_store *store, const wr_limits_opts *o, wr_limits **out, writ_error *err)
{
    *out = NULL;
    wr_limits *L = wr_calloc(1, sizeof *L);
    if (!L)
        return fail(err, WRIT_ENOMEM, "out of memory");
    L->store = store;
    L->shared = store && wr_store_shared(store);
    L->max_keys = o && o->max_keys ? o->max_keys : 262144;
    L->flush_ms = o && o->flush_ms ? o->flush_ms : 50;
    atomic_init(&L->nkeys, 0);
    atomic_init(&L->flush_failures, 0);
    atomic_init(&L->counted, 0);
    atomic_init(&L->refused, 0);
    atomic_init(&L->kept, 0);
    /* a stripe is held for a few dozen instructions: spin a little before
     * sleeping (a hot key, e.g. one busy task, is taken by every thread) */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    for (size_t i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&L->st[i].mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&L->set_mu, NULL);
    pthread_mutex_init(&L->ids_mu, NULL);
    pthread_mutex_init(&L->flush_mu, NULL);
    pthread_mutex_init(&L->thr_mu, NULL);
    pthread_cond_init(&L->thr_cv, NULL);
    if (!(L->set = wr_limit_set_new())) {
        wr_limits_close(L);
        return fail(err, WRIT_ENOMEM, "out of memory");
    }
    if (store && !L->shared) {
        if (pthread_create(&L->thr, NULL, flusher, L) != 0) {
            wr_limits_close(L);
            return fail(err, WRIT_EIO, "limits: cannot start the counter writer thread");
        }
        L->thr_started = true;
    }
    *out = L;
    return WRIT_OK;
}

void wr_limits_close(wr_limits *L)
{
    if (!L)
        return;
    if (L->thr_started) {
        pthread_mutex_lock(&L->thr_mu);
        L->stop = true;
        pthread_cond_signal(&L->thr_cv);
        pthread_mutex_unlock(&L->thr_mu);
        pthread_join(L->thr, NULL);
    }
    writ_error err;
    if (wr_limits_flush(L, &err))
        fprintf(stderr, "writ: limits: counters lost at close: %s\n", err.msg);
    for (size_t i = 0; i < NSTRIPES; i++) {
        stripe *s = &L->st[i];
        for (size_t b = 0; b < s->cap; b++)
            for (entry *e = s->tab[b], *nx; e; e = nx) {
                nx = e->next;
                wr_free(e->key);
                wr_free(e);
            }
        wr_free(s->tab);
        pend_free(s->ov, s->nov);
        pthread_mutex_destroy(&s->mu);
    }
    pend_free(L->retry, L->nretry);
    wr_limit_set_release(L->set);
    for (size_t i = 0; i < L->nids; i++)
        wr_free(L->ids[i]);
    wr_free(L->ids);
    pthread_mutex_destroy(&L->set_mu);
    pthread_mutex_destroy(&L->ids_mu);
    pthread_mutex_destroy(&L->flush_mu);
    pthread_mutex_destroy(&L->thr_mu);
    pthread_cond_destroy(&L->thr_cv);
    wr_free(L);
}

size_t wr_limits_keys(wr_limits *L) { return atomic_load(&L->nkeys); }

size_t wr_limits_in_force(wr_limits *L) { return atomic_load_explicit(&L->in_force, memory_order_relaxed); }

void wr_limits_stats(wr_limits *L, wr_limits_stat *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&L->set_mu);
    out->in_force = L->set ? L->set->n : 0;
    pthread_mutex_unlock(&L->set_mu);
    out->keys = atomic_load(&L->nkeys);
    out->shared = L->shared;
    out->counted = atomic_load_explicit(&L->counted, memory_order_relaxed);
    out->not_counted = atomic_load_explicit(&L->refused, memory_order_relaxed);
    out->flush_failures = atomic_load_explicit(&L->flush_failures, memory_order_relaxed);
    out->giveback_failures = atomic_load_explicit(&L->kept, memory_order_relaxed);
}

typedef struct load_ctx {
    wr_limits *L;
    const char *lid;
    int64_t width;
    bool full;
} load_ctx;

static bool load_one(void *ud, const char *key, int64_t bucket, int64_t value, int64_t expires_ms)
{
    (void)expires_ms;
    load_ctx *c = ud;
    uint64_t kh = hash_str(key), h = hash_mix(hash_str(c->lid), kh);
    stripe *s = stripe_of(c->L, kh);
    pthread_mutex_lock(&s->mu);
    entry *e = get(c->L, s, h, c->lid, c->width, key);
    if (e)
        count(s, e, bucket, value, false);
    pthread_mutex_unlock(&s->mu);
    if (!e)
        c->full = true;
    return e != NULL;
}

/* Has any limit of the set in force (or loaded before) this id? */
static bool known(wr_limits *L, const char *id)
{
    pthread_mutex_lock(&L->ids_mu);
    bool k = false;
    for (size_t i = 0; i < L->nids && !k; i++)
        k = !strcmp(L->ids[i], id);
    pthread_mutex_unlock(&L->ids_mu);
    return k;
}

writ_status wr_limits_install(wr_limits *L, wr_limit_set *set, int64_t now, writ_error *err)
{
    if (wr_limit_set_seal(set)) {
        wr_limit_set_release(set);
        return fail(err, WRIT_ENOMEM, "out of memory");
    }
    /* the counters of limits L has not seen yet come from the store */
    for (size_t i = 0; i < set->n; i++) {
        wr_limit *l = &set->v[i];
        bool seen = known(L, l->id);
        const char *lid = l->lid = intern(L, l->id);
        l->lid_hash = lid ? hash_str(lid) : 0;
        if (!lid) {
            wr_limit_set_release(set);
            return fail(err, WRIT_ENOMEM, "out of memory");
        }
        if (seen)
            continue;
        if (!L->store || L->shared)
            continue;
        load_ctx c = {L, lid, l->width_ms, false};
        writ_status st = wr_store_counter_scan(L->store, lid, now, load_one, &c, err);
        if (!st && c.full)
            st = fail(err, WRIT_ELIMIT, "limits: more live counters in the store than the table holds");
        if (st) {
            wr_limit_set_release(set);
            return st;
        }
    }
    pthread_mutex_lock(&L->set_mu);
    wr_limit_set *old = L->set;
    L->set = set;
    atomic_store_explicit(&L->in_force, set->n, memory_order_relaxed);
    pthread_mutex_unlock(&L->set_mu);
    wr_limit_set_release(old);
    return WRIT_OK;
}

/* ---- values */

static int parse_decimal(const char *s, int64_t *v)
{
    bool neg = *s == '-';
    if (neg)
        s++;
    int64_t whole = 0;
    size_t nd = 0;
    for (; *s >= '0' && *s <= '9'; s++, nd++) {
        if (whole > (INT64_MAX / WR_LIMIT_DECIMAL_SCALE - 9) / 10)
            return -1;
        whole = whole * 10 + (*s - '0');
    }
    if (!nd || *s != '.')
        return -1;
    s++;
    int64_t frac = 0;
    size_t nf = 0;
    for (; *s >= '0' && *s <= '9'; s++, nf++) {
        if (nf == 4)
            return -1;
        frac = frac * 10 + (*s - '0');
    }
    if (!nf || *s)
        return -1;
    for (size_t k = nf; k < 4; k++)
        frac *= 10;
    int64_t x = whole * WR_LIMIT_DECIMAL_SCALE + frac;
    *v = neg ? -x : x;
    return 0;
}

int wr_limit_value(const json_t *j, int64_t *v, bool *is_decimal)
{
    if (json_is_integer(j)) {
        json_int_t x = json_integer_value(j);
        if (x > INT64_MAX / WR_LIMIT_DECIMAL_SCALE || x < INT64_MIN / WR_LIMIT_DECIMAL_SCALE)
            return -1;
        *v = (int64_t)x * WR_LIMIT_DECIMAL_SCALE;
        *is_decimal = false;
        return 0;
    }
    const json_t *e = json_object_get(j, "__extn");
    if (!e)
        e = j;
    if (json_is_object(e)) {
        const json_t *fn = json_object_get(e, "fn"), *arg = json_object_get(e, "arg");
        if (!json_is_string(fn) || strcmp(json_string_value(fn), "decimal") || !json_is_string(arg))
            return -1;
        j = arg;
    }
    if (json_is_string(j) && parse_decimal(json_string_value(j), v) == 0) {
        *is_decimal = true;
        return 0;
    }
    return -1;
}

/* What writ_json_parse_split reads (jsonfast.c), and the JSON it was:
 *   - a Long: an integer (at most 18 digits);
 *   - a String: a string (the same bytes; both readers stop at a NUL as a C
 *     string does);
 *   - a decimal: {"__extn": {"fn": "decimal", "arg": A}} with A a valid
 *     Cedar decimal literal, whose grammar is parse_decimal's
 *     (-?[0-9]+.[0-9]{1,4}); parse_decimal refuses an integer part over
 *     (INT64_MAX / 10^4 - 9) / 10 * 10 + 9 (it checks before each digit),
 *     Cedar only past i64, so that bound is checked on the value;
 *   - another extension value: {"__extn": {"fn": other, ...}}: refused;
 *   - a record: an object with neither "__extn" nor "__entity" (both are
 *     read as escapes or declined), so wr_limit_value looks at "fn" and
 *     "arg" in the object itself;
 *   - an entity, a Boolean, a set: refused, as their JSON is. */
int wr_limit_value_cedar(const cv_value *c, int64_t *v, bool *is_decimal)
{
    switch (c->type) {
    case CV_LONG:
        if (c->u.l > INT64_MAX / WR_LIMIT_DECIMAL_SCALE || c->u.l < INT64_MIN / WR_LIMIT_DECIMAL_SCALE)
            return -1;
        *v = c->u.l * WR_LIMIT_DECIMAL_SCALE;
        *is_decimal = false;
        return 0;
    case CV_STRING:
        if (parse_decimal(c->u.s->data, v))
            return -1;
        *is_decimal = true;
        return 0;
    case CV_EXT: {
        if (c->u.ext->kind != CVX_DECIMAL)
            return -1;
        int64_t d = c->u.ext->u.decimal;
        uint64_t mag = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
        if (mag / WR_LIMIT_DECIMAL_SCALE > (uint64_t)(INT64_MAX / WR_LIMIT_DECIMAL_SCALE - 9) / 10 * 10 + 9)
            return -1;
        *v = d;
        *is_decimal = true;
        return 0;
    }
    case CV_RECORD: {
        const cv_value *fn = cv_record_get(c->u.rec, "fn", 2), *arg = cv_record_get(c->u.rec, "arg", 3);
        if (!fn || fn->type != CV_STRING || strcmp(fn->u.s->data, "decimal") || !arg ||
            arg->type != CV_STRING || parse_decimal(arg->u.s->data, v))
            return -1;
        *is_decimal = true;
        return 0;
    }
    default:
        return -1;
    }
}

/* The value a sum PATH adds (0 when the request has nothing there), as
 * wr_limit_value reads it from ctx -- or, where ctx holds json null or
 * nothing for a member split holds (a body read by writ_json_parse_split,
 * lean or not), from its Cedar value, which is what the request's context
 * gets there. */
static int sum_value(const wr_limit *l, const json_t *ctx, const cv_record *split, int64_t *d, bool *dec)
{
    *d = 0;
    *dec = false;
    const json_t *v = ctx;
    for (size_t p = 0; p < l->npath && v; p++) {
        const json_t *nx = json_object_get(v, l->path[p]);
        const cv_value *c;
        if (p == 0 && split && (!nx || json_is_null(nx)) &&
            (c = cv_record_get(split, l->path[0], strlen(l->path[0])))) {
            for (size_t q = 1; q < l->npath && c; q++)
                c = c->type == CV_RECORD ? cv_record_get(c->u.rec, l->path[q], strlen(l->path[q])) : NULL;
            return c ? wr_limit_value_cedar(c, d, dec) : 0;
        }
        v = nx;
    }
    return v ? wr_limit_value(v, d, dec) : 0;
}

/* {"__extn":{"fn":"decimal","arg":"-12.3400"}}, built by hand: json_pack
 * parses its format on every call, and this runs for every sum limit of
 * every decision */
static json_t *decimal_json(int64_t v)
{
    char buf[48], *p = buf + sizeof buf;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = a / WR_LIMIT_DECIMAL_SCALE, frac = a % WR_LIMIT_DECIMAL_SCALE;
    *--p = '\0';
    for (int i = 0; i < 4; i++, frac /= 10)
        *--p = (char)('0' + frac % 10);
    *--p = '.';
    do
        *--p = (char)('0' + whole % 10);
    while (whole /= 10);
    if (v < 0)
        *--p = '-';
    json_t *e = json_object();
    if (!e || json_object_set_new_nocheck(e, "fn", json_string_nocheck("decimal")) ||
        json_object_set_new_nocheck(e, "arg", json_string_nocheck(p))) {
        json_decref(e);
        return NULL;
    }
    json_t *o = json_object();
    if (!o) {
        json_decref(e);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, "__extn", e)) { /* e is released by it */
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- one decision */

static const char *key_per(int per, const wr_history_keys *k)
{
    const char *v = per == WR_PER_TASK ? k->task : per == WR_PER_AGENT ? k->agent : k->root;
    return v ? v : "";
}

static const char *key_of(const wr_limit *l, const wr_history_keys *k) { return key_per(l->per, k); }

/* The JSON of one value (see wr_history_begin). */
static json_t *value_json(const wr_limit *l, int k, int64_t sum)
{
    if (!l->sum)
        return json_integer(sum);
    if (k == 'L')
        return json_integer(floor_div(sum, WR_LIMIT_DECIMAL_SCALE));
    return decimal_json(sum);
}

/* The stripes a decision locks: one per distinct key stripe, whatever the
 * number of limits.  first[p] is the per whose loop handles per p (the
 * first with the same stripe), so a stripe is locked once even when two
 * keys share it (the root is the agent itself when there is no chain). */
static void stripe_groups(const uint64_t kh[3], unsigned pers, int first[3])
{
    for (int p = 0; p < 3; p++) {
        first[p] = p;
        for (int q = 0; q < p; q++)
            if ((pers & (1u << q)) && (kh[q] & (NSTRIPES - 1)) == (kh[p] & (NSTRIPES - 1))) {
                first[p] = q;
                break;
            }
    }
}

/* Limit j's value from the shared store: its window's buckets and the one
 * after it, which only a replica whose clock runs ahead can have counted
 * in (leaving it out would let such a replica's counts through again at
 * every bucket edge); with take, this request's delta added to its bucket
 * in the same step. */
static writ_status shared_read(wr_limits *L, wr_history *h, size_t j, bool take, writ_error *err)
{
    const wr_limit *l = &h->set->v[h->m[j].limit];
    int64_t b = h->m[j].bucket, d = take ? h->m[j].delta : 0;
    const char *key = key_of(l, h->keys);
    h->m[j].hash = hash_mix(l->lid_hash, h->kh[l->per]);
    writ_status st =
        d ? wr_store_counter_take(L->store, l->lid, key, b - WR_LIMIT_BUCKETS, b + 1, b, d,
                                  (b + WR_LIMIT_SLOTS) * l->width_ms, &h->m[j].value, err)
          : wr_store_counter_sum(L->store, l->lid, key, b - WR_LIMIT_BUCKETS, b + 1, &h->m[j].value, err);
    if (!st)
        h->m[j].held = d;
    return st;
}

/* The rings' values (each ring's sum and what the decisions in flight hold
 * of it), one stripe lock per key of pers.  take: this request's delta is
 * held too (its entry made, so that the hold is seen).  again (a take after
 * the decision, wr_history_take): only the limits that add something are
 * read and taken, and *changed says whether a value is not the one read
 * before. */
static writ_status ring_read(wr_limits *L, wr_history *h, unsigned pers, bool take, bool again, bool *changed,
                             writ_error *err)
{
    int first[3];
    stripe_groups(h->kh, pers, first);
    const char *key[3] = {key_per(0, h->keys), key_per(1, h->keys), key_per(2, h->keys)};
    size_t full = SIZE_MAX; /* the first limit whose key the table has no room for */
    for (int p = 0; p < 3; p++) {
        if (!(pers & (1u << p)) || first[p] != p)
            continue;
        stripe *s = stripe_of(L, h->kh[p]);
        pthread_mutex_lock(&s->mu);
        for (int q = p; q < 3; q++)
            if (first[q] == p)
                h->gen[q] = s->gen;
        for (size_t j = 0; j < h->n; j++) {
            unsigned pj = h->m[j].per;
            if (first[pj] != p || (again && (!h->m[j].delta || h->m[j].held)))
                continue;
            const wr_limit *l = &h->set->v[h->m[j].limit];
            uint64_t hh = h->m[j].hash = hash_mix(l->lid_hash, h->kh[pj]);
            /* a take makes the entry, so that its hold is seen */
            bool hold = take && h->m[j].delta;
            entry *e = hold ? get(L, s, hh, l->lid, l->width_ms, key[pj]) : find(s, hh, l->lid, key[pj]);
            h->m[j].e = e;
            if (e) {
                int64_t v = sat_add(wr_ring_sum(&e->ring, h->m[j].bucket), e->held);
                if (again && v != h->m[j].value)
                    *changed = true;
                h->m[j].value = v;
                if (hold) {
                    int64_t was = e->held;
                    e->held = sat_add(was, h->m[j].delta);
                    h->m[j].held = e->held - was;
                }
            } else if (j < full && (hold || atomic_load(&L->nkeys) >= L->max_keys)) {
                full = j;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (full == SIZE_MAX)
        return WRIT_OK;
    const wr_limit *l = &h->set->v[h->m[full].limit];
    return atomic_load(&L->nkeys) >= L->max_keys
               ? fail(err, WRIT_ELIMIT, "limit %s: the history table is full (%zu keys): cannot count",
                      l->name, L->max_keys)
               : fail(err, WRIT_ENOMEM, "limit %s: out of memory: cannot count", l->name);
}

writ_status wr_history_begin(wr_limits *L, const char *action, const wr_history_keys *keys, const json_t *ctx,
                             const cv_record *split, wr_history_kind_fn kind, void *ud, int64_t now,
                             bool take, json_t **obj, wr_history *h, writ_error *err)
{
    h->L = L;
    h->keys = keys;
    h->now_ms = now;
    h->n = 0;
    h->matched = 0;
    if (obj)
        *obj = NULL;
    pthread_mutex_lock(&L->set_mu);
    h->set = L->set;
    atomic_fetch_add_explicit(&h->set->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&L->set_mu);
    /* 1. the matching limits and what this request adds to each; a sum
     * that is not a number stops here (reported after the limits before
     * it, as they would have failed first).  Limits that sum one PATH read
     * it once (by the first of them: sum_first). */
    writ_status bad = WRIT_OK;
    writ_error bad_err;
    unsigned pers = 0;
    uint64_t read = 0; /* bit f: sdelta[f], sdec[f] hold PATH of limit f's value */
    int64_t sdelta[WR_LIMITS_MAX];
    bool sdec[WR_LIMITS_MAX];
    for (size_t i = 0; i < h->set->n; i++) {
        const wr_limit *l = &h->set->v[i];
        if (!wr_limit_matches(l, action))
            continue;
        int k = kind ? kind(ud, l->name) : '?';
        int64_t delta = 1;
        if (l->sum) {
            size_t f = l->sum_first;
            if (!(read >> f & 1)) {
                if (sum_value(l, ctx, split, &sdelta[f], &sdec[f])) {
                    bad = fail(&bad_err, WRIT_EINVAL, "limit %s: %s is not a Long or a decimal", l->name,
                               l->sum_path);
                    break;
                }
                if (sdelta[f] < 0) { /* it would lower the sum: one -100000 lifts a daily cap */
                    bad = fail(&bad_err, WRIT_EINVAL, "limit %s: %s is negative (a sum only grows)", l->name,
                               l->sum_path);
                    break;
                }
                read |= 1ull << f;
            }
            bool dec = sdec[f];
            delta = sdelta[f];
            if (dec && k == 'L' && delta % WR_LIMIT_DECIMAL_SCALE) {
                bad =
                    fail(&bad_err, WRIT_EINVAL,
                         "limit %s: %s is a decimal with a fraction, but context.history.%s is declared Long",
                         l->name, l->sum_path, l->name);
                break;
            }
        }
        h->m[h->n].limit = (uint16_t)i;
        h->m[h->n].per = (uint8_t)l->per;
        h->m[h->n].bucket = floor_div(now, l->width_ms);
        h->m[h->n].kind = (char)k;
        h->m[h->n].value = 0;
        h->m[h->n].delta = delta;
        h->m[h->n].held = 0;
        h->m[h->n].e = NULL;
        h->n++;
        h->matched |= 1ull << i;
        pers |= 1u << l->per;
    }
    /* 2. the keys' hashes, each once */
    for (int p = 0; p < 3; p++)
        h->kh[p] = (pers & (1u << p)) ? hash_str(key_per(p, keys)) : 0;
    /* 3. the sums: from the shared store, or the rings, one stripe lock per key */
    writ_status st = WRIT_OK;
    if (L->shared) {
        for (size_t j = 0; j < h->n && !st; j++)
            st = shared_read(L, h, j, take, err);
    } else {
        st = ring_read(L, h, pers, take, false, NULL, err);
    }
    if (!st && bad) {
        st = bad;
        if (err)
            *err = bad_err;
    }
    if (st)
        return st;
    if (!obj)
        return WRIT_OK;
    json_t *o = json_object();
    if (!o)
        return fail(err, WRIT_ENOMEM, "out of memory");
    for (size_t j = 0; j < h->n; j++) {
        const wr_limit *l = &h->set->v[h->m[j].limit];
        if (!h->m[j].kind)
            continue;
        json_t *jv = value_json(l, h->m[j].kind, h->m[j].value);
        if (!jv || json_object_set_new_nocheck(o, l->name, jv)) {
            json_decref(o);
            return fail(err, WRIT_ENOMEM, "out of memory");
        }
    }
    *obj = o;
    return WRIT_OK;
}

writ_status wr_history_take(wr_limits *L, wr_history *h, bool *changed, writ_error *err)
{
    *changed = false;
    if (!h->set)
        return WRIT_OK;
    if (L->shared) {
        writ_status st = WRIT_OK;
        for (size_t j = 0; j < h->n && !st; j++) {
            if (!h->m[j].delta || h->m[j].held)
                continue;
            int64_t was = h->m[j].value;
            st = shared_read(L, h, j, true, err);
            if (!st && h->m[j].value != was)
                *changed = true;
        }
        return st;
    }
    unsigned pers = 0;
    for (size_t j = 0; j < h->n; j++)
        if (h->m[j].delta)
            pers |= 1u << h->m[j].per;
    return ring_read(L, h, pers, true, true, changed, err);
}

writ_status wr_history_commit(wr_limits *L, wr_history *h, writ_error *err)
{
    writ_status st = WRIT_OK;
    if (L->shared) {
        for (size_t i = 0; i < h->n; i++) {
            const wr_limit *l = &h->set->v[h->m[i].limit];
            if (h->m[i].delta == 0)
                continue;
            writ_status one = WRIT_OK;
            if (h->m[i].held) { /* taken before the decision: in the store already */
                h->m[i].held = 0;
            } else {
                int64_t bucket = floor_div(h->now_ms, l->width_ms);
                one = wr_store_counter_add(L->store, l->lid, key_of(l, h->keys), bucket, h->m[i].delta,
                                           (bucket + WR_LIMIT_SLOTS) * l->width_ms, err);
            }
            if (one && !st)
                st = one;
            atomic_fetch_add_explicit(one ? &L->refused : &L->counted, 1, memory_order_relaxed);
        }
        return st;
    }
    unsigned pers = 0;
    for (size_t i = 0; i < h->n; i++)
        pers |= 1u << h->m[i].per;
    int first[3];
    stripe_groups(h->kh, pers, first);
    unsigned long long counted = 0, refused = 0;
    for (int p = 0; p < 3; p++) {
        if (!(pers & (1u << p)) || first[p] != p)
            continue;
        stripe *s = NULL;
        for (size_t i = 0; i < h->n; i++) {
            unsigned pi = h->m[i].per;
            if (first[pi] != p || h->m[i].delta == 0)
                continue;
            const wr_limit *l = &h->set->v[h->m[i].limit];
            if (!s) {
                s = stripe_of(L, h->kh[p]);
                pthread_mutex_lock(&s->mu);
            }
            /* the entry read before the decision: held by this decision's
             * take (no sweep frees it then), or else valid unless a sweep
             * freed entries of the stripe since (then looked up again) */
            entry *e = h->m[i].held || s->gen == h->gen[pi] ? h->m[i].e : NULL;
            if (!e)
                e = get(L, s, h->m[i].hash, l->lid, l->width_ms, key_per((int)pi, h->keys));
            if (e && h->m[i].held) {
                e->held -= h->m[i].held;
                h->m[i].held = 0;
            }
            int rc = e ? count(s, e, h->m[i].bucket, h->m[i].delta, L->store != NULL) : -1;
            writ_status one = WRIT_OK;
            if (!e)
                one = fail(err, WRIT_ELIMIT, "limit %s: the history table is full: not counted", l->name);
            else if (rc)
                one = fail(err, WRIT_ENOMEM, "limit %s: out of memory: counted, but not written to the store",
                           l->name);
            if (one && !st)
                st = one;
            ++*(one ? &refused : &counted);
        }
        if (s)
            pthread_mutex_unlock(&s->mu);
    }
    if (counted)
        atomic_fetch_add_explicit(&L->counted, counted, memory_order_relaxed);
    if (refused)
        atomic_fetch_add_explicit(&L->refused, refused, memory_order_relaxed);
    return st;
}

writ_status wr_history_end(wr_history *h, writ_error *err)
{
    /* what was taken and not counted (a deny, an error) is given back */
    writ_status st = WRIT_OK;
    if (!h->set) /* never begun */
        return st;
    wr_limits *L = h->L;
    for (size_t i = 0; L && i < h->n; i++) {
        int64_t held = h->m[i].held;
        if (!held)
            continue;
        h->m[i].held = 0;
        const wr_limit *l = &h->set->v[h->m[i].limit];
        if (L->shared) {
            /* a give-back that fails leaves the take counted: restrictive */
            writ_status one =
                wr_store_counter_add(L->store, l->lid, key_of(l, h->keys), h->m[i].bucket, -held,
                                     (h->m[i].bucket + WR_LIMIT_SLOTS) * l->width_ms, err);
            if (one)
                atomic_fetch_add_explicit(&L->kept, 1, memory_order_relaxed);
            if (one && !st)
                st = one;
        } else {
            stripe *s = stripe_of(L, h->kh[h->m[i].per]);
            pthread_mutex_lock(&s->mu);
            ((entry *)h->m[i].e)->held -= held;
            pthread_mutex_unlock(&s->mu);
        }
    }
    h->L = NULL;
    h->n = 0;
    wr_limit_set_release(h->set);
    h->set = NULL;
    return st;
}
