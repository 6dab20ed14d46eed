/* metrics.c - Prometheus counters (see metrics.h). */
#include "server/metrics.h"

#include <string.h>

/* Upper bounds in nanoseconds; the text shows them in seconds. */
static const uint64_t bounds_ns[MET_NBUCKETS] = {
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
    100000000, 250000000, 1000000000,
};
static const char *const bounds_txt[MET_NBUCKETS] = {
    "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "1",
};
static const char *const ep_names[MET_EP_COUNT] = {"evaluation", "evaluations", "check", "mcp", "other"};

#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

void met_init(srv_metrics *m)
{
    memset(m, 0, sizeof *m);   /* all-zero bits is a valid zero atomic on every target we build for */
}

void met_decision(srv_metrics *m, int allow, int failed)
{
    if (allow)
        ADD(m->decisions_allow, 1);
    else
        ADD(m->decisions_deny, 1);
    if (failed)
        ADD(m->decision_errors, 1);
}

void met_request(srv_metrics *m, met_endpoint ep, unsigned status, uint64_t ns)
{
    unsigned cls = status / 100;
    ADD(m->http_status[cls >= 1 && cls <= 5 ? cls : 0], 1);
    ADD(m->requests[ep], 1);
    size_t b = 0;
    while (b < MET_NBUCKETS && ns > bounds_ns[b])
        b++;
    ADD(m->latency_bucket[ep][b], 1);
    ADD(m->latency_sum_ns[ep], ns);
}

static void counter(sbuf *o, const char *name, const char *help, const char *labels, uint64_t v)
{
    if (help)
        sb_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    sb_printf(o, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

void met_render(const srv_metrics *m, sbuf *o, uint64_t generation, uint64_t audit_queued, uint64_t connections)
{
    counter(o, "writ_decisions_total", "Decisions made, by result.", "{decision=\"allow\"}",
            GET(m->decisions_allow));
    counter(o, "writ_decisions_total", NULL, "{decision=\"deny\"}", GET(m->decisions_deny));
    counter(o, "writ_decision_errors_total", "Denies because the decision could not be made (fail closed).",
            NULL, GET(m->decision_errors));
    counter(o, "writ_forbid_error_denies_total",
            "Of those, denies because a forbid failed to evaluate (forbid_error_denies): Cedar would have "
            "skipped it.",
            NULL, GET(m->forbid_error_denies));
    sb_puts(o, "# HELP writ_http_responses_total HTTP responses by status class.\n"
               "# TYPE writ_http_responses_total counter\n");
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i < 6; i++)
        sb_printf(o, "writ_http_responses_total{code=\"%s\"} %llu\n", cls[i],
                  (unsigned long long)GET(m->http_status[i]));
    sb_puts(o, "# HELP writ_request_duration_seconds Time from request start to response, by endpoint.\n"
               "# TYPE writ_request_duration_seconds histogram\n");
    for (int e = 0; e < MET_EP_COUNT; e++) {
        uint64_t cum = 0;
        for (int b = 0; b <= MET_NBUCKETS; b++) {
            cum += GET(m->latency_bucket[e][b]);
            sb_printf(o, "writ_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%s\"} %llu\n", ep_names[e],
                      b < MET_NBUCKETS ? bounds_txt[b] : "+Inf", (unsigned long long)cum);
        }
        uint64_t ns = GET(m->latency_sum_ns[e]);
        sb_printf(o, "writ_request_duration_seconds_sum{endpoint=\"%s\"} %llu.%09llu\n", ep_names[e],
                  (unsigned long long)(ns / 1000000000u), (unsigned long long)(ns % 1000000000u));
        sb_printf(o, "writ_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e],
                  (unsigned long long)cum);
    }
    counter(o, "writ_policy_reloads_total", "Policy reloads, by result.", "{result=\"ok\"}", GET(m->reloads_ok));
    counter(o, "writ_policy_reloads_total", NULL, "{result=\"error\"}", GET(m->reloads_failed));
    sb_printf(o, "# HELP writ_policy_generation Generation of the policy set in force.\n"
                 "# TYPE writ_policy_generation gauge\nwrit_policy_generation %llu\n",
              (unsigned long long)generation);
    counter(o, "writ_audit_records_total", "Audit records committed to the log.", NULL, GET(m->audit_written));
    counter(o, "writ_audit_errors_total", "Audit write failures.", NULL, GET(m->audit_failed));
    sb_printf(o, "# HELP writ_audit_queue_depth Audit records waiting for the writer.\n"
                 "# TYPE writ_audit_queue_depth gauge\nwrit_audit_queue_depth %llu\n",
              (unsigned long long)audit_queued);
    sb_printf(o, "# HELP writ_connections Open HTTP connections.\n"
                 "# TYPE writ_connections gauge\nwrit_connections %llu\n",
              (unsigned long long)connections);
    counter(o, "writ_body_too_large_total", "Requests refused for an oversized body.", NULL,
            GET(m->body_too_large));
    counter(o, "writ_tokens_issued_total", "Task tokens issued.", NULL, GET(m->token_issued));
    counter(o, "writ_tokens_revoked_total", "Revocations recorded.", NULL, GET(m->token_revoked));
    counter(o, "writ_tokens_rejected_total", "Presented tokens refused.", NULL, GET(m->token_rejected));
    counter(o, "writ_token_requests_refused_total", "Token exchange requests refused (/oauth2/token).", NULL,
            GET(m->token_refused));
    counter(o, "writ_client_certs_verified_total", "Client certificates verified as X.509-SVIDs (mTLS).", NULL,
            GET(m->cert_verified));
    counter(o, "writ_client_certs_refused_total", "Client certificates that did not verify (mTLS).", NULL,
            GET(m->cert_refused));
}
