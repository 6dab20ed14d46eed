/* ring.c - the buckets of one (limit, key): see limits.h. */
#include "limits/limits.h"

#include <string.h>

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static size_t slot(int64_t bucket)
{
    int64_t m = bucket % WR_LIMIT_SLOTS;
    return (size_t)(m < 0 ? m + WR_LIMIT_SLOTS : m);
}

void wr_ring_init(wr_ring *r)
{
    memset(r, 0, sizeof *r);
    r->head = INT64_MIN;
}

/* The running total.  Reading a ring at its head bucket (the usual case:
 * the current bucket is the one being counted) sums all its slots, in
 * order, saturating; while every slot is >= 0 and their plain sum fits,
 * no partial sum saturates, so that is the plain sum, kept in total as
 * slots change.  A negative slot (a sum of negative amounts) or an
 * overflow sets slow until the ring is cleared: the slots are summed. */
void wr_ring_add(wr_ring *r, int64_t bucket, int64_t delta)
{
    if (r->head == INT64_MIN || bucket - r->head >= WR_LIMIT_SLOTS) {
        memset(r->v, 0, sizeof r->v);
        r->head = bucket;
        r->total = 0;
        r->slow = false;
    } else if (bucket > r->head) {
        /* the slots between the old head and the new one held buckets
         * that have left the ring */
        for (int64_t b = r->head + 1; b <= bucket; b++) {
            r->total -= r->slow ? 0 : r->v[slot(b)];
            r->v[slot(b)] = 0;
        }
        r->head = bucket;
    } else if (r->head - bucket >= WR_LIMIT_SLOTS) {
        return; /* older than anything the ring holds */
    }
    int64_t old = r->v[slot(bucket)], now = sat_add(old, delta);
    r->v[slot(bucket)] = now;
    if (!r->slow && (now < 0 || __builtin_add_overflow(r->total, now - old, &r->total)))
        r->slow = true;
}

/* A bucket after now is read too: its counts were made by a decision whose
 * clock read later (another thread a moment after, or a clock stepped
 * back since), and leaving them out would let the limit through again. */
int64_t wr_ring_sum(const wr_ring *r, int64_t now)
{
    if (r->head == INT64_MIN || now < INT64_MIN + WR_LIMIT_BUCKETS)
        return 0;
    if ((now == r->head || now == r->head - 1) && !r->slow)
        return r->total; /* every slot is in the window */
    int64_t lo = now - WR_LIMIT_BUCKETS, hi = r->head;
    if (lo < r->head - WR_LIMIT_BUCKETS)
        lo = r->head - WR_LIMIT_BUCKETS;
    int64_t s = 0;
    size_t k = slot(lo); /* then on, wrapping: no division per bucket */
    for (int64_t b = lo; b <= hi; b++) {
        s = sat_add(s, r->v[k]);
        if (++k == WR_LIMIT_SLOTS)
            k = 0;
    }
    return s;
}

bool wr_ring_dead(const wr_ring *r, int64_t now)
{
    return r->head == INT64_MIN || r->head < now - WR_LIMIT_BUCKETS;
}
