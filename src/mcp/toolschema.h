/* toolschema.h - a Cedar schema fragment (.cedarschema text) for the tools an
 * MCP upstream lists: what `writ mcp schema` prints.
 *
 * Input: the `result` of the upstream's tools/list answer, {"tools": [{
 * "name", "inputSchema", "annotations"?, ...}, ...]}.  Output, for upstream
 * NAME in namespace NS (no namespace block when NS is empty):
 *
 *   namespace NS {
 *     entity Agent;                  (only with declare_agent)
 *     entity McpServer;
 *     action "NAME/TOOL" appliesTo {
 *       principal: [Agent],
 *       resource: [McpServer],
 *       context: {
 *         "task": {"id": String, "purpose": String}, "chain": Set<String>,
 *         "chain_depth": Long, "time": datetime, "source_ip": ipaddr,
 *         "destination": String, "sensitivity": String,
 *         "destinations": Set<String>,
 *         "tool": {"name": String, "annotations": {"readOnlyHint"?: Bool,
 *                  "destructiveHint"?: Bool, "idempotentHint"?: Bool,
 *                  "openWorldHint"?: Bool}},
 *         "input": { ...from the tool's inputSchema... },
 *       }
 *     };
 *   }
 *
 * Cedar allows one `namespace NS { }` block per schema, so to add the
 * fragment to a schema that already has a block for NS, generate it with no
 * namespace (and without declare_agent) and paste it inside that block:
 * the names (Agent, McpServer, Action) then resolve in NS.
 *
 * Every attribute and action name is a quoted Cedar string (any tool or
 * property name works: quotes, slashes, unicode, reserved words).
 *
 * inputSchema (JSON Schema) -> Cedar type:
 *   "string" -> String, "integer" -> Long, "number" -> decimal (see
 *   input.h for how numbers are converted), "boolean" -> Bool,
 *   "array" with an "items" schema -> Set<T>, "object" with "properties"
 *   -> a record (a property is required, without `?`, when listed in
 *   "required"); a type list of one type and "null" (["string","null"])
 *   -> that type, always optional (a null member is left out of input).
 * Left out, with a `// "prop" left out: WHY` comment line in its place:
 *   oneOf/anyOf/allOf/not/$ref/if, a type union, "null", an object without
 *   "properties" (a map), an array without a single "items" schema, a
 *   schema without "type", boolean schemas, nesting deeper than
 *   MCP_TOOLSCHEMA_MAX_DEPTH.  A left-out property still arrives in a
 *   call's input, and Cedar records are closed: with this schema in force
 *   such a call fails validation (a deny) until the schema is edited by
 *   hand.  The same holds for an object's additional properties (noted in
 *   a comment when "additionalProperties" is not false).
 *
 * Errors: WRIT_EINVAL (not a tools/list result; a tool without a non-empty
 * string name; a namespace that is not Ident(::Ident)*), WRIT_EDUP (two
 * tools with one name), WRIT_ENOMEM.  *out is wr_malloc'd text (free with
 * wr_free), NUL-terminated; NULL on error.
 */
#ifndef WRIT_MCP_TOOLSCHEMA_H
#define WRIT_MCP_TOOLSCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "writ/writ.h"

#define MCP_TOOLSCHEMA_MAX_DEPTH 32

typedef struct mcp_toolschema_opts {
    const char *ns;     /* e.g. "Writ"; NULL or "" = no namespace */
    bool declare_agent; /* also print `entity Agent;` (a standalone schema) */
} mcp_toolschema_opts;

WRIT_MUST_CHECK writ_status mcp_toolschema(const json_t *list_result, const char *upstream,
                                           const mcp_toolschema_opts *opts, char **out, size_t *len,
                                           writ_error *err);

#endif
