/* webhook.c - POST each new pending approval to approval_webhook.
 *
 * A decision never waits for the webhook: wr_webhook_post copies the body
 * into a bounded queue and returns; one sender thread POSTs the bodies in
 * order (libcurl, Content-Type: application/json, 5 s timeout).  A body
 * that is not answered 2xx is retried with a doubling backoff (0.5 s, 1 s,
 * 2 s, 4 s, 8 s: six tries in about 15 s), then given up and logged.  Only
 * the head of the queue waits meanwhile; the queue holds at most
 * HOOK_QUEUE_MAX bodies, and one posted to a full queue is dropped.
 * Stopping gives what is queued HOOK_STOP_MS in all (one try each, each
 * try cut to what is left), then gives the rest up, logged: a receiver that
 * hangs must not hold a shutdown for 5 s a body (1,024 bodies: 85 min),
 * before the audit log signs its closing checkpoint.
 *
 * Every POST is signed (Standard Webhooks, whsig.c): webhook-id, made once
 * per body and kept across its retries; webhook-timestamp, the unix
 * seconds of each try; webhook-signature, "v1," and the base64 of
 * HMAC-SHA256 over "ID.TIMESTAMP.BODY", BODY the very bytes POSTed.  A body
 * that cannot be signed is not sent (counted as failed, logged). */
#include "approval/approval.h"
#include "util/alloc.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HOOK_QUEUE_MAX 1024
#define HOOK_TRIES 6
#define HOOK_FIRST_BACKOFF_MS 500
#define HOOK_STOP_MS 5000

typedef struct hook_item {
    struct hook_item *next;
    size_t len;
    char body[];
} hook_item;

struct wr_webhook {
    char *url;
    wr_whsig_keys keys; /* under mu: replaced by a reload */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hook_item *head, *tail;
    size_t n;
    bool stop;
    struct timespec stop_by; /* once stopping: when what is still queued is given up */
    atomic_ullong sent, failed;
};

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

void wr_webhook_log(const char *fmt, ...)
{
    char ts[32], msg[700];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s writ serve: approval_webhook: %s\n", ts, msg); /* one line, whole */
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* The headers of one try of a body: its type and signature, or NULL
 * (why set) when it cannot be signed: then it is not sent. */
static struct curl_slist *signed_headers(wr_webhook *h, const char *id, const hook_item *it, char *why,
                                         size_t wn)
{
    char sig[WR_WHSIG_KEYS_MAX * WR_WHSIG_SIG_MAX], line[64 + WR_WHSIG_ID_MAX + sizeof sig];
    int64_t ts = (int64_t)time(NULL);
    wr_whsig_keys keys;
    pthread_mutex_lock(&h->mu);
    keys = h->keys;
    pthread_mutex_unlock(&h->mu);
    size_t at = 0;
    bool ok = keys.n > 0;
    for (size_t i = 0; ok && i < keys.n; i++) { /* "v1,A v1,B": one per key */
        if (i)
            sig[at++] = ' ';
        ok = wr_whsig_sign(&keys.k[i], id, ts, it->body, it->len, sig + at);
        at += strlen(sig + at);
    }
    wr_whsig_clear_all(&keys);
    if (!ok) {
        snprintf(why, wn, "cannot sign it");
        return NULL;
    }
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json"), *t;
    snprintf(line, sizeof line, "webhook-id: %s", id);
    if (l && (t = curl_slist_append(l, line)))
        l = t;
    else
        goto oom;
    snprintf(line, sizeof line, "webhook-timestamp: %" PRId64, ts);
    if ((t = curl_slist_append(l, line)))
        l = t;
    else
        goto oom;
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    if ((t = curl_slist_append(l, line)))
        return t;
oom:
    curl_slist_free_all(l);
    snprintf(why, wn, "out of memory");
    return NULL;
}

/* One POST: the HTTP status, or 0 when none came (or it was not sent). */
static long post_once(CURL *cu, wr_webhook *hk, const char *id, const hook_item *it, long timeout_ms,
                      char *why, size_t wn)
{
    struct curl_slist *h = signed_headers(hk, id, it, why, wn);
    if (!h)
        return 0;
    curl_easy_reset(cu);
    curl_easy_setopt(cu, CURLOPT_URL, hk->url);
    curl_easy_setopt(cu, CURLOPT_POST, 1L);
    const char *body = it->body;
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000L ? timeout_ms : 3000L);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(cu);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(why, wn, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(h);
    return status;
}

/* Wait up to ms, or until stop; true when stopping. */
static bool nap(wr_webhook *h, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&h->mu);
    while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
        ;
    bool stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    return stop;
}

static void *sender(void *arg)
{
    wr_webhook *h = arg;
    CURL *cu = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (!h->head && !h->stop)
            pthread_cond_wait(&h->cv, &h->mu);
        hook_item *it = h->head;
        if (it) {
            h->head = it->next;
            if (!h->head)
                h->tail = NULL;
            h->n--;
        }
        bool stopping = h->stop;
        struct timespec stop_by = h->stop_by;
        size_t left = h->n;
        pthread_mutex_unlock(&h->mu);
        if (!it)
            break; /* stopping with nothing queued */
        if (stopping && ms_until(&stop_by) <= 0) {
            /* out of time: this one and every one still queued */
            atomic_fetch_add(&h->failed, left + 1);
            wr_webhook_log("stopping: gave up on %zu pending approvals not delivered in time", left + 1);
            wr_free(it);
            pthread_mutex_lock(&h->mu);
            for (hook_item *x = h->head, *nx; x; x = nx) {
                nx = x->next;
                wr_free(x);
            }
            h->head = h->tail = NULL;
            h->n = 0;
            pthread_mutex_unlock(&h->mu);
            break;
        }
        long backoff = HOOK_FIRST_BACKOFF_MS, status = 0;
        char why[256] = "";
        char id[WR_WHSIG_ID_MAX]; /* one per body, the same on each of its tries */
        if (!wr_whsig_new_id(id)) {
            atomic_fetch_add(&h->failed, 1);
            wr_webhook_log("gave up on a pending approval: no randomness for its webhook-id");
            wr_free(it);
            continue;
        }
        /* while stopping, each body gets one try, in the time left */
        for (int t = 0; t < (stopping ? 1 : HOOK_TRIES); t++) {
            why[0] = '\0';
            long limit = stopping ? ms_until(&stop_by) : 5000L;
            limit = limit > 5000L ? 5000L : limit < 1 ? 1 : limit;
            status = cu ? post_once(cu, h, id, it, limit, why, sizeof why) : 0;
            if (status >= 200 && status < 300)
                break;
            if (t + 1 < HOOK_TRIES && nap(h, backoff))
                stopping = true;
            backoff *= 2;
            if (stopping)
                break;
        }
        if (status >= 200 && status < 300) {
            atomic_fetch_add(&h->sent, 1);
        } else {
            atomic_fetch_add(&h->failed, 1);
            if (why[0])
                wr_webhook_log("gave up on a pending approval: %s (%ld)", why, status);
            else
                wr_webhook_log("gave up on a pending approval: HTTP %ld", status);
        }
        wr_free(it);
    }
    curl_easy_cleanup(cu);
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { (void)curl_global_init(CURL_GLOBAL_DEFAULT); }

bool wr_webhook_url_ok(const char *url, char *why, size_t n)
{
    if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))
        return true;
    snprintf(why, n, "approval_webhook: '%.200s' is not an http:// or https:// URL", url);
    return false;
}

static bool keys_ok(const wr_whsig_keys *keys)
{
    if (!keys || keys->n == 0 || keys->n > WR_WHSIG_KEYS_MAX)
        return false;
    for (size_t i = 0; i < keys->n; i++)
        if (keys->k[i].n < WR_WHSIG_KEY_MIN || keys->k[i].n > WR_WHSIG_KEY_MAX)
            return false;
    return true;
}

bool wr_webhook_set_keys(wr_webhook *h, const wr_whsig_keys *keys)
{
    if (!h || !keys_ok(keys))
        return false;
    pthread_mutex_lock(&h->mu);
    h->keys = *keys;
    pthread_mutex_unlock(&h->mu);
    return true;
}

writ_status wr_webhook_start(const char *url, const wr_whsig_keys *keys, wr_webhook **out, writ_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (!keys_ok(keys)) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            snprintf(err->msg, sizeof err->msg,
                     "approval_webhook: no signing secret: its POSTs are never sent unsigned");
        }
        return WRIT_EINVAL;
    }
    char why[sizeof err->msg];
    if (!wr_webhook_url_ok(url, why, sizeof why)) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            memcpy(err->msg, why, sizeof why);
        }
        return WRIT_EINVAL;
    }
    wr_webhook *h = wr_calloc(1, sizeof *h);
    if (!h || !(h->url = wr_strndup(url, strlen(url)))) {
        wr_free(h);
        return WRIT_ENOMEM;
    }
    h->keys = *keys;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->th, NULL, sender, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        wr_free(h->url);
        wr_whsig_clear_all(&h->keys);
        wr_free(h);
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EIO;
            snprintf(err->msg, sizeof err->msg, "approval_webhook: cannot start its thread");
        }
        return WRIT_EIO;
    }
    *out = h;
    return WRIT_OK;
}

void wr_webhook_post(wr_webhook *h, const char *json, size_t len)
{
    if (!h)
        return;
    hook_item *it = wr_malloc(sizeof *it + len + 1);
    if (!it) {
        atomic_fetch_add(&h->failed, 1);
        return;
    }
    it->next = NULL;
    it->len = len;
    memcpy(it->body, json, len);
    it->body[len] = '\0';
    pthread_mutex_lock(&h->mu);
    bool full = h->n >= HOOK_QUEUE_MAX || h->stop;
    if (!full) {
        if (h->tail)
            h->tail->next = it;
        else
            h->head = it;
        h->tail = it;
        h->n++;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (full) {
        wr_free(it);
        atomic_fetch_add(&h->failed, 1);
        wr_webhook_log("queue full (%d bodies): a pending approval was not sent", HOOK_QUEUE_MAX);
    }
}

void wr_webhook_counts(wr_webhook *h, uint64_t *sent, uint64_t *failed)
{
    *sent = h ? atomic_load(&h->sent) : 0;
    *failed = h ? atomic_load(&h->failed) : 0;
}

void wr_webhook_stop(wr_webhook *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    clock_gettime(CLOCK_MONOTONIC, &h->stop_by);
    h->stop_by.tv_sec += HOOK_STOP_MS / 1000;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    for (hook_item *it = h->head, *nx; it; it = nx) {
        nx = it->next;
        wr_free(it);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    wr_free(h->url);
    wr_whsig_clear_all(&h->keys);
    wr_free(h);
}
