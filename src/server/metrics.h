/* metrics.h - counters and a latency histogram, exposed as Prometheus text.
 *
 * Relaxed atomics: each counter is exact, the set of them is not a
 * consistent snapshot (Prometheus does not need one). */
#ifndef WRIT_SERVER_METRICS_H
#define WRIT_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/sbuf.h"

#define MET_NBUCKETS 14

typedef enum met_endpoint {
    MET_EP_EVALUATION,
    MET_EP_EVALUATIONS,
    MET_EP_CHECK,
    MET_EP_EXT, /* the extension routes: the MCP gateway */
    MET_EP_OTHER,
    MET_EP_COUNT
} met_endpoint;

typedef struct srv_metrics {
    atomic_uint_fast64_t decisions_allow;
    atomic_uint_fast64_t decisions_deny;
    atomic_uint_fast64_t decision_errors;      /* denies because deciding failed */
    atomic_uint_fast64_t forbid_error_denies;  /* of them: a forbid failed to evaluate (decide.c) */
    atomic_uint_fast64_t http_status[6];       /* by class: 1xx..5xx, [0] other */
    atomic_uint_fast64_t requests[MET_EP_COUNT];
    atomic_uint_fast64_t latency_bucket[MET_EP_COUNT][MET_NBUCKETS + 1];  /* last = +Inf */
    atomic_uint_fast64_t latency_sum_ns[MET_EP_COUNT];
    atomic_uint_fast64_t reloads_ok;
    atomic_uint_fast64_t reloads_failed;
    atomic_uint_fast64_t audit_written;
    atomic_uint_fast64_t audit_failed;
    atomic_uint_fast64_t body_too_large;
    atomic_uint_fast64_t token_issued;
    atomic_uint_fast64_t token_revoked;
    atomic_uint_fast64_t token_rejected;
    atomic_uint_fast64_t token_refused;       /* /oauth2/token requests refused */
    atomic_uint_fast64_t cert_verified;       /* client certificates verified as X.509-SVIDs */
    atomic_uint_fast64_t cert_refused;        /* client certificates that did not verify */
} srv_metrics;

void met_init(srv_metrics *m);
void met_decision(srv_metrics *m, int allow, int failed);
void met_request(srv_metrics *m, met_endpoint ep, unsigned status, uint64_t ns);
/* Prometheus text format; extra gauges passed in by the server. */
void met_render(const srv_metrics *m, sbuf *out, uint64_t generation, uint64_t audit_queued, uint64_t connections);

#endif
