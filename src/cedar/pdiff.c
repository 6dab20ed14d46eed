/* pdiff.c - a candidate policy set's decision from the live one's (pdiff.h). */
#include "cedar/pdiff.h"

#include "cedar/policyset.h"
#include "util/alloc.h"

#include <string.h>

#define NONE UINT32_MAX

struct cedar_pdiff {
    const writ_policyset *live, *cand;
    size_t nlive, ncand;       /* their sizes when compared (a link since: evaluate whole) */
    uint32_t *live_to_cand;    /* per live policy: the shared candidate policy, or NONE */
    writ_policyset *delta;     /* the candidate's other policies */
    uint32_t *delta_to_cand;   /* per delta policy: its index in cand */
    const writ_policyset *pre; /* cedar_pdiff_join: its policies, then delta's, in joined */
    writ_policyset *joined;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Policies that can be compared by their text: parsed from it, not a
 * template nor linked from one. */
static bool plain(const ast_policy *p) { return p->end > p->pos && !p->is_template && !p->template_id; }

static bool same(const writ_policyset *a, const ast_policy *pa, const writ_policyset *b, const ast_policy *pb)
{
    size_t na = pa->end - pa->pos, nb = pb->end - pb->pos;
    return pa->permit == pb->permit && na == nb && pa->end <= a->srclen && pb->end <= b->srclen &&
           !strcmp(pa->id, pb->id) && !memcmp(a->src + pa->pos, b->src + pb->pos, na);
}

cedar_pdiff *cedar_pdiff_new(const writ_policyset *live, const writ_policyset *cand)
{
    cedar_pdiff *d = wr_calloc(1, sizeof *d);
    size_t nl = writ_policyset_count(live), nc = writ_policyset_count(cand);
    /* the live policies by name, open addressing */
    size_t cap = 16;
    while (cap < 2 * nl)
        cap *= 2;
    uint32_t *tab = wr_malloc(cap * sizeof *tab);
    uint32_t *other = wr_malloc((nc ? nc : 1) * sizeof *other);
    if (!d || !tab || !other || !(d->live_to_cand = wr_malloc((nl ? nl : 1) * sizeof *d->live_to_cand)))
        goto oom;
    d->live = live;
    d->cand = cand;
    d->nlive = nl;
    d->ncand = nc;
    memset(tab, 0xff, cap * sizeof *tab);
    for (uint32_t i = 0; i < nl; i++) {
        d->live_to_cand[i] = NONE;
        if (!plain(live->pol[i]))
            continue;
        size_t k = hash_str(live->pol[i]->id) & (cap - 1);
        while (tab[k] != NONE)
            k = (k + 1) & (cap - 1);
        tab[k] = i;
    }
    size_t nother = 0;
    for (uint32_t c = 0; c < nc; c++) {
        const ast_policy *p = cand->pol[c];
        uint32_t hit = NONE;
        if (plain(p))
            for (size_t k = hash_str(p->id) & (cap - 1); tab[k] != NONE && hit == NONE;
                 k = (k + 1) & (cap - 1))
                if (same(live, live->pol[tab[k]], cand, p) && d->live_to_cand[tab[k]] == NONE)
                    hit = tab[k];
        if (hit != NONE)
            d->live_to_cand[hit] = c;
        else
            other[nother++] = c;
    }
    if (!(d->delta = cedar_policyset_subset(cand, other, nother)))
        goto oom;
    d->delta_to_cand = other;
    wr_free(tab);
    return d;
oom:
    wr_free(tab);
    wr_free(other);
    cedar_pdiff_free(d);
    return NULL;
}

void cedar_pdiff_free(cedar_pdiff *d)
{
    if (!d)
        return;
    writ_policyset_free(d->joined);
    writ_policyset_free(d->delta);
    wr_free(d->delta_to_cand);
    wr_free(d->live_to_cand);
    wr_free(d);
}

size_t cedar_pdiff_delta(const cedar_pdiff *d) { return writ_policyset_count(d->delta); }

static void sort_u32(uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* The candidate's satisfied policies of one effect: the shared ones the
 * live evaluation found, then the delta's, in the candidate's order. */
static size_t gather(const cedar_pdiff *d, const uint32_t *live, size_t nl, const uint32_t *delta, size_t nd,
                     uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < nl; i++)
        if (d->live_to_cand[live[i]] != NONE)
            out[n++] = d->live_to_cand[live[i]];
    for (size_t i = 0; i < nd; i++)
        out[n++] = d->delta_to_cand[delta[i]];
    sort_u32(out, n);
    return n;
}

/* Cedar's rule over the candidate's satisfied policies (the live ones it
 * shares, lp/lf, and the delta's, dp/df): any forbid denies, else any
 * permit allows; the reasons those policies, in the candidate's order.
 * sat and reasons hold nlp + nlf + ndp + ndf entries. */
static void combine(const cedar_pdiff *d, const uint32_t *lp, size_t nlp, const uint32_t *lf, size_t nlf,
                    const uint32_t *dp, size_t ndp, const uint32_t *df, size_t ndf, uint32_t *sat,
                    const char **reasons, writ_decision *out)
{
    size_t n = gather(d, lf, nlf, df, ndf, sat);
    bool forbid = n > 0;
    if (!forbid)
        n = gather(d, lp, nlp, dp, ndp, sat);
    for (size_t i = 0; i < n; i++)
        reasons[i] = d->cand->pol[sat[i]]->id;
    memset(out, 0, sizeof *out);
    out->allow = !forbid && n > 0;
    out->nreasons = n;
    out->reasons = reasons;
}

writ_status cedar_pdiff_authorize(const cedar_pdiff *d, const writ_authorizer *live_az, writ_authorizer *az,
                                  const writ_entities *es, const writ_request *rq, writ_decision *out)
{
    const uint32_t *lp, *lf, *dp, *df;
    size_t nlp, nlf, ndp, ndf;
    if (d->live->n != d->nlive || d->cand->n != d->ncand ||
        !cedar_authorize_last(live_az, d->live, &lp, &nlp, &lf, &nlf))
        return writ_authorize(az, d->cand, es, rq, out);
    writ_status st = writ_authorize(az, d->delta, es, rq, out);
    if (st)
        return st;
    if (!cedar_authorize_last(az, d->delta, &dp, &ndp, &df, &ndf))
        return WRIT_EINVAL;
    size_t cap = nlp + nlf + ndp + ndf;
    uint32_t *sat = cedar_authorizer_scratch(az, (cap ? cap : 1) * sizeof *sat);
    const char **reasons = cedar_authorizer_scratch(az, (cap ? cap : 1) * sizeof *reasons);
    if (!sat || !reasons)
        return WRIT_ENOMEM;
    combine(d, lp, nlp, lf, nlf, dp, ndp, df, ndf, sat, reasons, out);
    return WRIT_OK;
}

bool cedar_pdiff_join(cedar_pdiff *d, const writ_policyset *pre)
{
    writ_policyset_free(d->joined);
    d->joined = NULL;
    d->pre = NULL;
    size_t nd = writ_policyset_count(d->delta);
    uint32_t *all = wr_malloc((nd ? nd : 1) * sizeof *all);
    if (!all)
        return false;
    for (size_t i = 0; i < nd; i++)
        all[i] = (uint32_t)i;
    d->joined = cedar_policyset_join(pre, d->delta, all, nd);
    wr_free(all);
    if (d->joined)
        d->pre = pre;
    return d->joined != NULL;
}

/* The decision of the satisfied permits p and forbids f (in policy order,
 * ids from ps), as writ_authorize gives it (no errors). */
static writ_status decide(writ_authorizer *az, const writ_policyset *ps, const uint32_t *p, size_t np,
                          const uint32_t *f, size_t nf, uint32_t base, writ_decision *out)
{
    const uint32_t *why = nf ? f : p;
    size_t n = nf ? nf : np;
    const char **reasons = cedar_authorizer_scratch(az, (n ? n : 1) * sizeof *reasons);
    if (!reasons)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        reasons[i] = ps->pol[why[i] - base]->id;
    memset(out, 0, sizeof *out);
    out->allow = nf == 0 && np > 0;
    out->nreasons = n;
    out->reasons = reasons;
    return WRIT_OK;
}

writ_status cedar_pdiff_authorize_joined(const cedar_pdiff *d, const writ_authorizer *live_az,
                                         writ_authorizer *az, const writ_entities *es, const writ_request *rq,
                                         writ_decision *pre_out, writ_decision *out)
{
    const uint32_t *lp, *lf, *jp, *jf;
    size_t nlp, nlf, njp, njf;
    if (!d->joined || d->live->n != d->nlive || d->cand->n != d->ncand ||
        d->pre->n + d->delta->n != d->joined->n ||
        !cedar_authorize_last(live_az, d->live, &lp, &nlp, &lf, &nlf))
        return WRIT_EINVAL;
    writ_status st = writ_authorize(az, d->joined, es, rq, out);
    if (st)
        return st;
    if (!cedar_authorize_last(az, d->joined, &jp, &njp, &jf, &njf))
        return WRIT_EINVAL;
    /* the joined set's satisfied policies in policy order: pre's first
     * (indices below npre), then the delta's (npre + delta index) */
    uint32_t npre = (uint32_t)d->pre->n;
    size_t kp = 0, kf = 0;
    while (kp < njp && jp[kp] < npre)
        kp++;
    while (kf < njf && jf[kf] < npre)
        kf++;
    st = decide(az, d->pre, jp, kp, jf, kf, 0, pre_out);
    if (st)
        return st;
    size_t ndp = njp - kp, ndf = njf - kf;
    size_t cap = nlp + nlf + ndp + ndf;
    uint32_t *dp = cedar_authorizer_scratch(az, (ndp + ndf + 1) * sizeof *dp), *df = dp + ndp;
    uint32_t *sat = cedar_authorizer_scratch(az, (cap ? cap : 1) * sizeof *sat);
    const char **reasons = cedar_authorizer_scratch(az, (cap ? cap : 1) * sizeof *reasons);
    if (!dp || !sat || !reasons)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < ndp; i++)
        dp[i] = jp[kp + i] - npre;
    for (size_t i = 0; i < ndf; i++)
        df[i] = jf[kf + i] - npre;
    combine(d, lp, nlp, lf, nlf, dp, ndp, df, ndf, sat, reasons, out);
    return WRIT_OK;
}
