/* shadow.c - shadow policies and the candidate set (see shadow.h). */
#include "shadow/shadow.h"
#include "cedar/pdiff.h"
#include "cedar/policyset.h"
#include "util/alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- counters.  Per policy id, for the life of the process: a reload keeps
 * a policy's count (Prometheus counters must not go back while the process
 * lives).  A set resolves its policies' counters at load, so the decision
 * path only adds.  At most SHD_MAX_COUNTERS ids; later ones share
 * policy="_other" (labels must stay bounded). */
#define SHD_MAX_COUNTERS 1024

typedef struct shd_counter {
    char *policy;
    atomic_uint_fast64_t n;
} shd_counter;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static shd_counter *reg[SHD_MAX_COUNTERS + 1]; /* [SHD_MAX_COUNTERS] = _other */
static size_t nreg;
static atomic_uint_fast64_t set_disagreements, shadow_errors;

static shd_counter *counter_for(const char *policy)
{
    shd_counter *c = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nreg && !c; i++)
        if (!strcmp(reg[i]->policy, policy))
            c = reg[i];
    if (!c) {
        bool other = nreg >= SHD_MAX_COUNTERS;
        size_t at = other ? SHD_MAX_COUNTERS : nreg;
        if (!reg[at] && (reg[at] = wr_calloc(1, sizeof *reg[at]))) {
            const char *name = other ? "_other" : policy;
            reg[at]->policy = wr_strndup(name, strlen(name));
            if (!reg[at]->policy) {
                wr_free(reg[at]);
                reg[at] = NULL;
            } else if (!other) {
                nreg++;
            }
        }
        c = reg[at];
    }
    pthread_mutex_unlock(&reg_mu);
    return c;
}

static void label(sbuf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_putc(o, '\\');
        if (*v == '\n')
            sb_puts(o, "\\n");
        else
            sb_putc(o, *v);
    }
}

void shd_metrics(sbuf *o)
{
    sb_puts(o, "# HELP writ_shadow_changes_total Decisions a shadow policy (@mode(\"shadow\")) would have "
               "changed, by policy.\n# TYPE writ_shadow_changes_total counter\n");
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i <= nreg; i++) {
        const shd_counter *c = i < nreg ? reg[i] : reg[SHD_MAX_COUNTERS];
        if (!c)
            continue;
        sb_puts(o, "writ_shadow_changes_total{policy=\"");
        label(o, c->policy);
        sb_printf(o, "\"} %llu\n", (unsigned long long)atomic_load_explicit(&c->n, memory_order_relaxed));
    }
    pthread_mutex_unlock(&reg_mu);
    sb_printf(o,
              "# HELP writ_shadow_set_disagreements_total Decisions the candidate set (shadow_policies) "
              "would have made otherwise.\n# TYPE writ_shadow_set_disagreements_total counter\n"
              "writ_shadow_set_disagreements_total %llu\n"
              "# HELP writ_shadow_errors_total Shadow evaluations that failed (the live answer stands).\n"
              "# TYPE writ_shadow_errors_total counter\nwrit_shadow_errors_total %llu\n",
              (unsigned long long)atomic_load(&set_disagreements),
              (unsigned long long)atomic_load(&shadow_errors));
}

/* ---- the sets */

struct shd_set {
    writ_policyset *shadow; /* the live file's shadow policies alone; NULL = none */
    size_t nshadow;
    size_t npermit, nforbid;   /* of them (templates too, which are never evaluated) */
    const char **shadow_id;    /* their ids (pointers into shadow) */
    shd_counter **count;       /* their counters */
    writ_policyset *candidate; /* NULL = none */
    cedar_pdiff *diff;         /* candidate against the live set (shd_attach_live), NULL = none */
    bool joined;               /* diff evaluates shadow with the candidate's own (cedar_pdiff_join) */
};

void shd_free(shd_set *sh)
{
    if (!sh)
        return;
    cedar_pdiff_free(sh->diff);
    writ_policyset_free(sh->shadow);
    writ_policyset_free(sh->candidate);
    wr_free(sh->shadow_id);
    wr_free(sh->count);
    wr_free(sh);
}

static writ_status oom(writ_error *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    return WRIT_ENOMEM;
}

writ_status shd_load_live(const char *text, size_t len, shd_set **out, writ_error *err)
{
    *out = NULL;
    writ_policyset *only = NULL;
    /* the live set was parsed from this text already: no error here but
     * out of memory */
    writ_status st =
        writ_policyset_parse_flags(text, len, WRIT_PS_ID_ANNOTATION | WRIT_PS_ONLY_SHADOW, &only, err);
    if (st)
        return st;
    size_t ns = writ_policyset_count(only);
    if (ns == 0) {
        writ_policyset_free(only);
        return WRIT_OK;
    }
    shd_set *sh = wr_calloc(1, sizeof *sh);
    if (!sh || !(sh->shadow_id = wr_calloc(ns, sizeof *sh->shadow_id)) ||
        !(sh->count = wr_calloc(ns, sizeof *sh->count))) {
        writ_policyset_free(only);
        shd_free(sh);
        return oom(err);
    }
    sh->shadow = only;
    for (; sh->nshadow < ns; sh->nshadow++) {
        sh->shadow_id[sh->nshadow] = writ_policyset_id(only, sh->nshadow);
        *(only->pol[sh->nshadow]->permit ? &sh->npermit : &sh->nforbid) += 1;
        if (!(sh->count[sh->nshadow] = counter_for(sh->shadow_id[sh->nshadow]))) {
            shd_free(sh);
            return oom(err);
        }
    }
    *out = sh;
    return WRIT_OK;
}

writ_status shd_load_candidate(shd_set **set, const char *text, size_t len, writ_error *err)
{
    writ_policyset *c = NULL;
    writ_status st =
        writ_policyset_parse_flags(text, len, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW, &c, err);
    if (st)
        return st;
    if (!*set && !(*set = wr_calloc(1, sizeof **set))) {
        writ_policyset_free(c);
        return oom(err);
    }
    cedar_pdiff_free((*set)->diff);
    (*set)->diff = NULL;
    (*set)->joined = false;
    writ_policyset_free((*set)->candidate);
    (*set)->candidate = c;
    return WRIT_OK;
}

void shd_attach_live(shd_set *sh, const writ_policyset *live)
{
    if (!sh || !sh->candidate || !live)
        return;
    cedar_pdiff_free(sh->diff);
    sh->diff = cedar_pdiff_new(live, sh->candidate); /* NULL (out of memory): the whole set, as before */
    sh->joined = sh->diff && sh->shadow && cedar_pdiff_join(sh->diff, sh->shadow);
}

/* ---- deciding */

static pthread_key_t az_key;
static pthread_once_t az_once = PTHREAD_ONCE_INIT;
static bool az_key_ok;

static void az_free(void *p) { writ_authorizer_free(p); }
static void az_key_make(void) { az_key_ok = pthread_key_create(&az_key, az_free) == 0; }

/* This thread's authorizer for shadow answers: the live one holds the live
 * answer, which the caller still reads. */
static writ_authorizer *thread_az(void)
{
    if (pthread_once(&az_once, az_key_make) != 0 || !az_key_ok)
        return NULL;
    writ_authorizer *az = pthread_getspecific(az_key);
    if (!az) {
        az = writ_authorizer_new();
        if (az && pthread_setspecific(az_key, az) != 0) {
            writ_authorizer_free(az);
            az = NULL;
        }
    }
    return az;
}

static void answer(sbuf *b, const writ_decision *d, const shd_set *sh, bool shadow, bool candidate)
{
    sb_puts(b, d->allow ? "{\"decision\":\"allow\",\"policies\":[" : "{\"decision\":\"deny\",\"policies\":[");
    for (size_t i = 0; i < d->nreasons; i++) {
        if (shadow) {
            size_t k = 0;
            while (k < sh->nshadow && sh->shadow_id[k] != d->reasons[i])
                k++;
            if (k < sh->nshadow)
                atomic_fetch_add_explicit(&sh->count[k]->n, 1, memory_order_relaxed);
        }
        if (i)
            sb_putc(b, ',');
        sb_json_str(b, d->reasons[i]);
    }
    sb_puts(b, candidate ? "],\"set\":\"candidate\"}" : "]");
}

/* The would-be answer needs only the shadow policies, evaluated alone, by
 * Cedar's combining rule (a satisfied forbid wins, else a satisfied permit
 * allows):
 *   - live allow: it turns into a deny iff a shadow forbid is satisfied
 *     (so without shadow forbids the set is not evaluated);
 *     the would-be reasons are the satisfied forbids, all of them shadow
 *     ones (had a live forbid been satisfied, the live answer would be a
 *     deny);
 *   - live deny by a satisfied forbid: nothing a shadow policy adds can
 *     change it, so the shadow set is not even evaluated;
 *   - live deny by default (no permit and no forbid satisfied): it turns
 *     into an allow iff a shadow permit is satisfied and no shadow forbid
 *     is; the would-be reasons are those shadow permits (so without shadow
 *     permits the set is not evaluated).
 * So the shadow policies alone decide exactly what the whole file with
 * them enforced would, at the cost of a few policies, not the whole set. */
char *shd_decide(const shd_set *sh, const writ_entities *es, const writ_request *rq,
                 const writ_decision *live)
{
    return shd_decide_after(sh, NULL, es, rq, live, false);
}

/* The @mode answer d (on a live allow: a deny with reasons changes it; on
 * a default deny: an allow), into b; true when it went in.  With denies, a
 * shadow forbid that failed to evaluate counts as one that held (unless
 * one did hold: those stay the reasons). */
static bool shadow_answer(sbuf *b, const shd_set *sh, bool live_allow, const writ_decision *d, bool denies)
{
    writ_decision e = *d;
    const char *fid =
        denies && (d->allow || !d->nreasons) ? writ_policyset_forbid_error(sh->shadow, d, NULL) : NULL;
    if (fid) {
        e.allow = false;
        e.nreasons = 1;
        e.reasons = &fid;
    }
    if (!(live_allow ? (!e.allow && e.nreasons > 0) : e.allow))
        return false;
    answer(b, &e, sh, true, false);
    return true;
}

/* The candidate's answer d, as enforced with denies, when it differs. */
static void candidate_answer(sbuf *b, const shd_set *sh, bool live_allow, bool open, const writ_decision *d,
                             bool denies)
{
    writ_decision e = *d;
    const char *fid;
    if (denies)
        writ_decision_deny_failed_forbid(sh->candidate, &e, &fid, NULL);
    if (e.allow == live_allow)
        return;
    atomic_fetch_add_explicit(&set_disagreements, 1, memory_order_relaxed);
    if (open)
        sb_puts(b, ",\"candidate\":");
    answer(b, &e, sh, false, true);
}

char *shd_decide_after(const shd_set *sh, const writ_authorizer *live_az, const writ_entities *es,
                       const writ_request *rq, const writ_decision *live, bool denies)
{
    bool live_allow = live->allow;
    writ_authorizer *az = thread_az();
    if (!az) {
        atomic_fetch_add_explicit(&shadow_errors, 1, memory_order_relaxed);
        return NULL;
    }
    sbuf b;
    sb_init(&b);
    bool open = false; /* b holds the @mode object, not yet closed */
    writ_decision d, dc;
    /* only a shadow forbid can turn an allow into a deny, only a shadow
     * permit a default deny into an allow: without one, nothing to evaluate */
    bool want = sh->shadow && (live_allow ? sh->nforbid > 0 : live->nreasons == 0 && sh->npermit > 0);
    /* both: one evaluation of the shadow policies and the candidate's own
     * (cedar_pdiff_join), the same answers as two */
    writ_status st = want && sh->candidate && sh->joined && live_az
                         ? cedar_pdiff_authorize_joined(sh->diff, live_az, az, es, rq, &d, &dc)
                         : WRIT_EINVAL;
    if (st == WRIT_OK) {
        open = shadow_answer(&b, sh, live_allow, &d, denies);
        candidate_answer(&b, sh, live_allow, open, &dc, denies);
    } else if (st != WRIT_EINVAL) {
        atomic_fetch_add_explicit(&shadow_errors, 2, memory_order_relaxed);
    } else {
        if (want) {
            if (writ_authorize(az, sh->shadow, es, rq, &d) != WRIT_OK)
                atomic_fetch_add_explicit(&shadow_errors, 1, memory_order_relaxed);
            else
                open = shadow_answer(&b, sh, live_allow, &d, denies);
        }
        if (sh->candidate) {
            st = sh->diff && live_az ? cedar_pdiff_authorize(sh->diff, live_az, az, es, rq, &d)
                                     : writ_authorize(az, sh->candidate, es, rq, &d);
            if (st != WRIT_OK)
                atomic_fetch_add_explicit(&shadow_errors, 1, memory_order_relaxed);
            else
                candidate_answer(&b, sh, live_allow, open, &d, denies);
        }
    }
    if (open)
        sb_putc(&b, '}');
    if (!b.len || !sb_ok(&b)) {
        if (!sb_ok(&b))
            atomic_fetch_add_explicit(&shadow_errors, 1, memory_order_relaxed);
        sb_free(&b);
        return NULL;
    }
    return sb_take(&b, NULL);
}
