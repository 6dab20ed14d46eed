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

void wr_ring_add(wr_ring *r, int64_t bucket, int64_t delta)
{
    if (r->head == INT64_MIN || bucket - r->head >= WR_LIMIT_SLOTS) {
        memset(r->v, 0, sizeof r->v);
        r->head = bucket;
    } else if (bucket > r->head) {
        /* the slots between the old head and the new one held buckets
         * that have left the ring */
        for (int64_t b = r->head + 1; b <= bucket; b++)
            r->v[slot(b)] = 0;
        r->head = bucket;
    } else if (r->head - bucket >= WR_LIMIT_SLOTS) {
        return; /* older than anything the ring holds */
    }
    r->v[slot(bucket)] = sat_add(r->v[slot(bucket)], delta);
}

int64_t wr_ring_sum(const wr_ring *r, int64_t now)
{
    if (r->head == INT64_MIN || now < INT64_MIN + WR_LIMIT_BUCKETS)
        return 0;
    int64_t lo = now - WR_LIMIT_BUCKETS, hi = now < r->head ? now : r->head;
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
