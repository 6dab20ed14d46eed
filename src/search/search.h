/* search.h - "what can this agent do": AuthZEN 1.0 subject, resource and
 * action search over the loaded entities and policies.
 *
 * A search fixes two of (principal, action, resource) and asks which
 * values of the third are allowed.  The answer is exact for the candidates
 * Writ knows (the entities of the searched type in the store, plus uids of
 * that type named by some policy's scope): every result is allowed by the
 * caller's final check (the real decision), and every candidate the final
 * check would allow is a result.  How the search avoids asking the final
 * check about every candidate, and why that loses nothing, is explained in
 * search.c. */
#ifndef WRIT_SEARCH_SEARCH_H
#define WRIT_SEARCH_SEARCH_H

#include "cedar/value.h"
#include "writ/cedar.h"

typedef enum wr_search_kind { WR_SEARCH_SUBJECT, WR_SEARCH_RESOURCE, WR_SEARCH_ACTION } wr_search_kind;

/* One search.  Types are full Cedar type names ("Writ::Dataset"); the
 * searched part has only its type (for an action search: the action
 * type, "Writ::Action"), the fixed parts a type and an id. */
typedef struct wr_search {
    wr_search_kind kind;
    const writ_policyset *ps;
    const writ_entities *es;   /* NULL = none */
    const writ_schema *schema; /* NULL = none (used to tell an unknown type) */
    const char *type[3];       /* principal, action, resource type (DIM order) */
    const char *id[3];         /* ids of the fixed parts (the searched one: ignored) */
    size_t id_len[3];
    /* the final check sees per-request attributes on that part: the
     * pre-filter then reads nothing of it from the store */
    bool props[3];
    bool exhaustive; /* no pre-filter: every candidate goes to the final check (brute force) */
    /* at most this many final checks in one run (0: no bound); past it the
     * run ends with *next at the first candidate not yet checked, so a page
     * may hold fewer than `limit` results and still have a next one */
    size_t max_checked;
} wr_search;

/* The final check of one candidate (a uid of the searched type): 1
 * allowed, 0 not, -1 a failure that ends the search. */
typedef int (*wr_search_check_fn)(void *arg, const cv_uid *candidate);
/* A result, in candidate order. 0, or -1 to end the search (out of memory). */
typedef int (*wr_search_emit_fn)(void *arg, const cv_uid *result);

typedef struct wr_search_stats {
    size_t candidates; /* of the searched type, from the start position */
    size_t checked;    /* given to the final check */
    size_t allowed;
    size_t permits; /* permits whose fixed parts can match */
} wr_search_stats;

#define WR_SEARCH_END UINT64_MAX

/* Run q from candidate position from (0 = the start): results go to emit
 * until limit of them; *next is then the position of the next allowed
 * candidate (for a page token), or WR_SEARCH_END when there is none.
 * WRIT_EINVAL with err for a searched type nothing declares (no schema
 * type, no entity, no policy names it); WRIT_ENOMEM; WRIT_EEVAL when the
 * final check failed. */
WRIT_MUST_CHECK writ_status wr_search_run(const wr_search *q, uint64_t from, size_t limit,
                                          wr_search_check_fn check, wr_search_emit_fn emit, void *arg,
                                          uint64_t *next, wr_search_stats *st, writ_error *err);

/* ---- page tokens: signed (readable, not alterable) (HMAC-SHA256 under a key
 * made at random once per process), bound to the search they continue
 * (a digest of its request) and the snapshot generation they were made
 * on. */
typedef struct wr_page_pos {
    uint8_t kind;
    uint64_t generation;
    uint64_t pos;
    unsigned char query[16]; /* leading bytes of a SHA-256 of the request */
} wr_page_pos;
/* The token text (NUL-terminated) into out, at least WR_PAGE_TOKEN_MAX bytes. */
#define WR_PAGE_TOKEN_MAX 96
int wr_page_token_make(const wr_page_pos *p, char *out, size_t cap);
/* 0 with *p, or -1 with why (not one of ours, altered, bad encoding). */
int wr_page_token_read(const char *tok, size_t len, wr_page_pos *p, char *why, size_t n);
/* SHA-256 of bytes, first 16 bytes. */
void wr_page_digest(const void *data, size_t len, unsigned char out[16]);

#endif
