/* ptest.h - policy tests: the files `writ test` runs (docs/POLICY_TESTS.md).
 *
 * A test file is a JSON object next to the policies it tests:
 *   {"policies": "../policies.cedar",        required; paths relative to the test file
 *    "schema": "../schema.cedarschema",      optional
 *    "entities": "../entities.json",         optional
 *    "namespace": "Writ",                    optional: as the server's `namespace`
 *    "validate": false,                      optional: as the server's `validate`
 *    "forbid_error_denies": true,            optional: as the server's (a forbid whose
 *                                            evaluation fails denies, and is the reason)
 *    "cases": [{"name": "...",               optional
 *               "request": {AuthZEN subject/action/resource/context},
 *               "decision": "allow" | "deny",
 *               "reasons": [policy ids],     optional: the determining policies, any order
 *               "errors": [policy ids]}]}    optional: the policies whose evaluation failed
 * The request is read exactly as the server's AuthZEN endpoint reads a
 * caller's (server/azmap.h), so a case can be pasted from a real call.
 * Unknown fields and fields of the wrong type are errors with the test
 * file's line:column. */
#ifndef WRIT_AUTHORING_PTEST_H
#define WRIT_AUTHORING_PTEST_H

#include <stddef.h>
#include <stdio.h>

typedef struct pt_totals {
    size_t passed, failed;
} pt_totals;

/* Run the test file at path: `ok` or `FAIL` (with what differed and why the
 * engine decided so) per case on out, counts added to *t.  0 when the file
 * ran (whatever its cases said), -1 when it is bad: the message, with
 * file:line:column, on err, and no case run or counted. */
int pt_run_file(const char *path, FILE *out, FILE *err, pt_totals *t);

#endif
