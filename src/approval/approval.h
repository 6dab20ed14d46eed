/* approval.h - human approval bound to one exact action (issue 10).
 *
 * A request whose allow rests only on permits annotated
 * @approval("required") is held: the decision path (src/server/decide.c)
 * calls srv_approval_gate (gate.c), which binds the request to an
 * approval in the state store (store.h: wr_store_approval_take) and
 * answers from it: consumed -> allow (once), pending -> "approval
 * required", denied -> deny with the approver's reason.  People decide at
 * /approvals (api.c); new pending approvals are POSTed to approval_webhook
 * (webhook.c).  docs/APPROVALS.md describes the whole feature.
 *
 * This header holds the parts that need no server: the binding, ids,
 * times, the JSON of an approval and the Cedar attributes of the
 * Writ::Approval entity an approver is decided against. */
#ifndef WRIT_APPROVAL_APPROVAL_H
#define WRIT_APPROVAL_APPROVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/sbuf.h"
#include "writ/writ.h"

/* Longest reason an approver may give, bytes. */
#define WR_APPROVAL_REASON_MAX 1024

/* The binding of a: lowercase hex SHA-256 over its agent, task id, task
 * purpose, chain, action, resource and input_sha256 (each length-prefixed, so no two
 * different field lists hash alike), into a->binding. */
void wr_approval_bind(wr_approval *a);

/* A fresh id: "apr_" and 22 base64url characters of 16 random bytes
 * (128 bits: unguessable; URL-safe).  -1 when there is no randomness. */
int wr_approval_new_id(char id[40]);

/* Is s the shape of an id (what a URL may name)? */
bool wr_approval_id_ok(const char *s);

/* The cursor of GET /approvals ("next"): the place after an approval
 * (store.h: its created_ms and id) as base64url of "CREATED_MS.ID",
 * opaque to clients. */
#define WR_APPROVAL_CURSOR_MAX 96
void wr_approval_cursor(const wr_approval_pos *p, char out[WR_APPROVAL_CURSOR_MAX]);
/* The place a cursor names; false when s is not one wr_approval_cursor
 * writes (bytes for bytes). */
bool wr_approval_cursor_parse(const char *s, wr_approval_pos *p);

/* RFC 3339 UTC with milliseconds ("2026-12-03T09:00:00.123Z"). */
void wr_approval_time(int64_t ms, char out[40]);

/* {"id","status","agent","action","resource","task","chain","input_sha256",
 *  "input","created_at","expires_at","decided_by","reason","url","owner"},
 *  its text as wr_json_visible writes it;
 *  url only when base is not NULL (PUBLIC_URL); owner (the agent's `owner`
 *  attribute, for the people deciding) only when not NULL. */
void wr_approval_json(sbuf *b, const wr_approval *a, const char *base, const char *owner);

/* JSON text (n bytes) into out with every character a terminal or a reader
 * could be fooled by written as its \u escape: controls (C0 but tab, line
 * feed and carriage return; DEL; C1, where U+009B is a CSI), bidi and other
 * format characters, the default ignorables (zero-width characters,
 * variation selectors ...), line and paragraph separators and the spaces
 * other than U+0020; invalid UTF-8 as \ufffd.  In valid JSON such a
 * character stands only inside a string, where its escape is the same
 * value: the JSON means what it meant, and its text shows every character.
 * Everything else is copied as it is. */
void wr_json_visible(const char *in, size_t n, sbuf *out);

/* The short form answers carry: {"id","status","expires_at","url"} (plus
 * "decided_by" and "reason" once decided). */
void wr_approval_ref_json(sbuf *b, const char *id, const char *status, int64_t expires_ms, const char *base,
                          const char *decided_by, const char *reason);

/* Split a Cedar uid text (`Writ::Agent::"id"`, the id a JSON string) into
 * its type and id (wr_malloc'd).  -1 when it is not one. */
int wr_uid_split(const char *uid, char **type, char **id);

/* The attributes of Writ::Approval::"<id>" in Cedar's JSON entity format:
 * agent and target (entity references), action (String), task {id,
 * purpose}, input (the request's context input: a record, or the other
 * value it is) and chain_depth (Long).  NULL on out of memory or a stored field that does not read. */
json_t *wr_approval_attrs(const wr_approval *a);

/* An OIDC token's claims as a Cedar record (Cedar's JSON value format):
 * strings, booleans and integers as they are, other numbers as their
 * text, arrays as sets, objects as records; nulls and the keys Cedar's
 * reader would take for an entity or an extension value ("__entity",
 * "__extn", "__expr") are left out, so a claim can never forge one. */
json_t *wr_claims_cedar(const json_t *claims);

/* ---- fit.c: with a schema (NULL: no change), cut the values Writ makes
 * up for an approver's decision to what the schema declares, in place:
 * the attributes of an entity of type (`Writ::Approval`), and the context
 * of action action_type::"action_id" (context.claims). */
#include "writ/cedar.h"
void wr_fit_entity_attrs(const writ_schema *s, const char *type, json_t *attrs);
void wr_fit_context(const writ_schema *s, const char *action_type, const char *action_id, json_t *ctx);
/* The String attribute key of the entity named by a uid text in es
 * (wr_malloc'd), or NULL (not there, not a String). */
char *wr_entity_string_attr(const writ_entities *es, const char *uid, const char *key);

/* ---- whsig.c: the Standard Webhooks signature of each webhook POST
 * (https://www.standardwebhooks.com/): headers webhook-id, webhook-timestamp
 * and webhook-signature "v1,<base64 of HMAC-SHA256(key, ID.TIMESTAMP.BODY)>",
 * the key being the bytes the secret "whsec_<base64>" decodes to. */
#define WR_WHSIG_KEY_MIN 24 /* bytes of a key */
#define WR_WHSIG_KEY_MAX 64
#define WR_WHSIG_KEY_NEW 32 /* bytes of a key Writ makes */
#define WR_WHSIG_SIG_MAX 48 /* "v1," + 44 base64 characters + NUL */
#define WR_WHSIG_ID_MAX 32  /* "msg_" + 22 base64url characters + NUL */
typedef struct wr_whsig_key {
    unsigned char k[WR_WHSIG_KEY_MAX];
    size_t n; /* 0: no key */
} wr_whsig_key;
/* The keys a POST is signed with: one, or during a rotation the new and
 * the old (Standard Webhooks: one "v1,..." per key, space-separated; a
 * receiver accepts the POST when any one verifies). */
#define WR_WHSIG_KEYS_MAX 4
typedef struct wr_whsig_keys {
    wr_whsig_key k[WR_WHSIG_KEYS_MAX];
    size_t n;
} wr_whsig_keys;
/* The key of the secret s (len bytes, no line end): "whsec_" and the
 * standard, padded, canonical base64 of 24 to 64 bytes.  false, with what
 * is wrong in why (never a byte of the secret), when it is not one. */
bool wr_whsig_parse(const char *s, size_t len, wr_whsig_key *key, char *why, size_t wn);
/* Into out: "v1," and the base64 of HMAC-SHA256(key, id "." ts "." body),
 * body being len bytes (any bytes).  false (out empty) when key is empty,
 * id is empty or holds a '.', or OpenSSL fails. */
bool wr_whsig_sign(const wr_whsig_key *key, const char *id, int64_t ts, const void *body, size_t len,
                   char out[WR_WHSIG_SIG_MAX]);
/* A fresh message id: "msg_" and 22 base64url characters of 16 random
 * bytes.  false when there is no randomness. */
bool wr_whsig_new_id(char out[WR_WHSIG_ID_MAX]);
/* The keys to sign with: read from file when file is not empty; else
 * from STATE_DIR/webhook.secret, made on the first call (32 random bytes,
 * mode 0600, never through a symbolic link) and read on later ones.  The
 * file holds one secret per line, at most WR_WHSIG_KEYS_MAX (empty lines
 * skipped): every one signs each POST, so a rotation puts the new secret
 * in beside the old, then (once receivers know it) takes the old out,
 * each time with a SIGHUP.  *path (wr_malloc'd): the file it came from;
 * *made: it was made now.  An error names the file, the line and what is
 * wrong with it (never a byte of a secret). */
WRIT_MUST_CHECK writ_status wr_whsig_load(const char *file, const char *state_dir, wr_whsig_keys *keys,
                                          char **path, bool *made, writ_error *err);
/* Wipe a key, or every key. */
void wr_whsig_clear(wr_whsig_key *key);
void wr_whsig_clear_all(wr_whsig_keys *keys);

/* ---- webhook.c: POST each new pending approval to approval_webhook */
typedef struct wr_webhook wr_webhook;
/* Is url one approval_webhook can be (http:// or https://)?  Else false
 * with why. */
bool wr_webhook_url_ok(const char *url, char *why, size_t n);
/* Start the sender thread for url (http or https), each POST signed with
 * every one of keys (copied; required: no key is refused). */
WRIT_MUST_CHECK writ_status wr_webhook_start(const char *url, const wr_whsig_keys *keys, wr_webhook **out,
                                             writ_error *err);
/* A line of the server's log about the webhook ("TIME writ serve:
 * approval_webhook: ..."). */
void wr_webhook_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sign from now on with keys (copied; a POST being retried is signed anew
 * on its next try).  false (nothing changed) when keys holds no key. */
bool wr_webhook_set_keys(wr_webhook *h, const wr_whsig_keys *keys);
/* Queue one JSON body (copied).  Never blocks: when the queue is full the
 * body is dropped (counted, logged). */
void wr_webhook_post(wr_webhook *h, const char *json, size_t len);
/* Counters: bodies delivered (2xx) and given up (after the retries, or
 * dropped from a full queue). */
void wr_webhook_counts(wr_webhook *h, uint64_t *sent, uint64_t *failed);
/* Stop: tries what is queued once more (bounded), then frees. */
void wr_webhook_stop(wr_webhook *h);

#endif
