/* ast.h - the syntax tree of a Cedar policy set.
 *
 * Parser -> this tree -> (validator, index) -> evaluator.  Every node lives
 * in the policy set's arena and is immutable after parsing.  Literal
 * sub-trees (entity uids, strings, numbers) are built into cv_values once at
 * parse time so evaluation never allocates for them.
 */
#ifndef WRIT_CEDAR_AST_H
#define WRIT_CEDAR_AST_H

#include "cedar/ext.h"
#include "cedar/value.h"

typedef enum ast_kind {
    A_LIT,          /* u.lit */
    A_VAR,          /* u.var: principal, action, resource, context */
    A_SLOT,         /* u.var: ?principal / ?resource (templates only) */
    A_NOT,          /* !a */
    A_NEG,          /* -a */
    A_AND,          /* a && b && ...: u.list, n >= 2 operands, left to right */
    A_OR,           /* a || b || ...: u.list, likewise */
    A_IF,           /* if a then b else c */
    A_EQ, A_NE, A_LT, A_LE, A_GT, A_GE,
    A_ADD, A_SUB, A_MUL,
    A_IN,           /* a in b */
    A_HAS,          /* a has attr */
    A_GETATTR,      /* a.attr, a["attr"] */
    A_LIKE,         /* a like pattern */
    A_IS,           /* a is type [in b] (b NULL without `in`) */
    A_SET,          /* [items] */
    A_RECORD,       /* {key: value, ...} */
    A_CONTAINS,     /* a.contains(b) */
    A_CONTAINSALL,  /* a.containsAll(b) */
    A_CONTAINSANY,  /* a.containsAny(b) */
    A_ISEMPTY,      /* a.isEmpty() */
    A_GETTAG,       /* a.getTag(b) */
    A_HASTAG,       /* a.hasTag(b) */
    A_EXTCALL,      /* extension function or method; receiver is args[0] */
} ast_kind;

/* How deep an expression tree may be: nodes on its longest path from the
 * root to a leaf, a leaf counting one.  The parser refuses deeper trees (a
 * chain of binary operators or accesses is as deep as it is long; `&&` and
 * `||` chains are one node, however long) and the evaluator, which recurses
 * once per level, refuses them again rather than trust its caller. */
#define CEDAR_MAX_DEPTH 200

enum { VAR_PRINCIPAL, VAR_ACTION, VAR_RESOURCE, VAR_CONTEXT };
enum { SLOT_PRINCIPAL = 0, SLOT_RESOURCE = 1 };

/* A `like` pattern: elements are bytes 0..255 or PAT_STAR.  Matching bytes
 * of UTF-8 is the same as matching characters, since the only wildcard is
 * `*` and literal elements always come in whole characters. */
#define PAT_STAR (-1)
typedef struct ast_pattern {
    size_t n;
    const int16_t *elem;
} ast_pattern;

typedef struct ast_node ast_node;
struct ast_node {
    ast_kind kind;
    uint32_t pos;       /* byte offset in the source, for messages */
    uint32_t height;    /* of the tree under this node, itself included */
    union {
        cv_value lit;
        int var;
        struct { ast_node *a, *b, *c; } op;
        struct { ast_node *a; const cv_string *attr; } attr;
        struct { ast_node *a; ast_pattern pat; } like;
        struct { ast_node *a; const cv_string *type; ast_node *in; } is;
        struct { size_t n; ast_node **items; } set;
        /* A_AND, A_OR; span[2i], span[2i+1]: the source bytes of item i
         * (start, end past its last token; parentheses included) */
        struct { size_t n; ast_node **items; uint32_t *span; } list;
        struct { size_t n; const cv_string **keys; ast_node **vals; } rec;
        struct { const cedar_extfn *fn; size_t n; ast_node **args; } call;
    } u;
};

/* One scope constraint (principal, action or resource). */
typedef enum scope_op {
    SC_ANY,         /* no constraint */
    SC_EQ,          /* == uid */
    SC_IN,          /* in uid */
    SC_IN_SET,      /* action in [uids] */
    SC_IS,          /* is type */
    SC_IS_IN,       /* is type in uid */
} scope_op;

typedef struct ast_scope {
    scope_op op;
    int slot;                   /* -1, or SLOT_* when the uid is a template slot */
    const cv_uid *uid;          /* EQ, IN, IS_IN (NULL while a slot is unlinked) */
    const cv_string *type;      /* IS, IS_IN */
    size_t n;                   /* IN_SET */
    const cv_uid **uids;
    uint32_t pos;               /* offset of the uid (EQ, IN, IS_IN) or list (IN_SET), for messages */
    uint32_t type_pos;          /* offset of the type (IS, IS_IN) */
    const uint32_t *uids_pos;   /* IN_SET: offset of each uid */
} ast_scope;

typedef struct ast_annotation {
    const cv_string *key;
    const cv_string *value;     /* "" when written without a value */
} ast_annotation;

typedef struct ast_cond {
    bool when;                  /* when {...}; false for unless {...} */
    ast_node *expr;
    uint32_t pos;               /* of the `when` / `unless` keyword */
    uint32_t start, end;        /* the source bytes of expr (end: past its last token) */
} ast_cond;

typedef struct ast_policy {
    const char *id;
    bool permit;                /* effect: permit or forbid */
    bool is_template;           /* has a slot; not evaluated until linked */
    const char *template_id;    /* for a linked policy: the template it came from */
    uint32_t pos;               /* offset of the policy's first token */
    uint32_t end;               /* offset just past its `;` (0: not parsed from text) */
    size_t nannot;
    ast_annotation *annot;
    ast_scope principal, action, resource;
    size_t ncond;
    ast_cond *cond;
} ast_policy;

#endif
