"""Writ's authorization engine in-process: Cedar policies, entities, schema,
task-token verification and decisions, through libwrit (ctypes; no compiler
needed).

    import writ
    engine = writ.Engine(policies=open("policies.cedar").read(),
                         entities=open("entities.json").read(),
                         schema=open("schema.cedarschema").read())
    d = engine.decide(principal=("Writ::Agent", "spiffe://corp.example/agents/analyst"),
                      action=("Writ::Action", "read"),
                      resource=("Writ::Dataset", "usage-metrics"),
                      context={...})
    if not d.allow: raise PermissionError(d)

The library is found from $WRIT_LIBRARY (a path to libwrit.so), else by the
system's search (ldconfig, LD_LIBRARY_PATH).  An Engine is safe to use from
several threads: each call decides with an authorizer of its own, taken from
a pool as large as the most calls that ran at once.  close() (or the end of a
`with` block) waits for the calls in flight and frees the engine; a call after
it raises WritError ("... is closed").
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["Engine", "Decision", "TokenVerifier", "TaskToken", "WritError", "ParseError",
           "TokenError", "library_path"]


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("line", ctypes.c_uint32), ("col", ctypes.c_uint32),
                ("offset", ctypes.c_size_t), ("msg", ctypes.c_char * 256)]


class _PolicyError(ctypes.Structure):
    _fields_ = [("policy_id", ctypes.c_char_p), ("message", ctypes.c_char_p)]


class _Decision(ctypes.Structure):
    _fields_ = [("allow", ctypes.c_bool), ("nreasons", ctypes.c_size_t),
                ("reasons", ctypes.POINTER(ctypes.c_char_p)), ("nerrors", ctypes.c_size_t),
                ("errors", ctypes.POINTER(_PolicyError))]


class _TokenCheck(ctypes.Structure):
    # writ_token_check (include/writ/token.h), every field: libwrit reads all of them, so a
    # field left out here would be read from whatever follows this buffer in memory
    _fields_ = [("audience", ctypes.c_char_p), ("now", ctypes.c_int64), ("leeway", ctypes.c_uint32),
                ("cert_thumbprint", ctypes.c_char_p), ("revocations", ctypes.c_void_p),
                ("any_binding", ctypes.c_bool)]


class _Scope(ctypes.Structure):
    _fields_ = [("purpose", ctypes.c_char_p),
                ("actions", ctypes.POINTER(ctypes.c_char_p)), ("n_actions", ctypes.c_size_t),
                ("resources", ctypes.POINTER(ctypes.c_char_p)), ("n_resources", ctypes.c_size_t),
                ("sensitivity", ctypes.c_char_p),
                ("destinations", ctypes.POINTER(ctypes.c_char_p)), ("n_destinations", ctypes.c_size_t)]


class WritError(Exception):
    """A failure in libwrit: code is the writ_status name ("EPARSE", ...);
    line and column (1-based, 0 when unknown) point into the input."""

    def __init__(self, what: str, code: str, message: str, line: int = 0, column: int = 0,
                 offset: int = 0):
        self.what, self.code, self.message = what, code, message
        self.line, self.column, self.offset = line, column, offset
        where = f"{what}:{line}:{column}" if line else what
        super().__init__(f"{where}: {message}")


class ParseError(WritError):
    """Policies, schema, entities or a request that do not parse or fit the schema."""


class TokenError(WritError):
    """A task token that does not verify; reason is Writ's reason name ("expired", ...)."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__("token", "EINVAL", message if message.startswith(reason) else f"{reason}: {message}")


class _Calls:
    """The calls in flight on one object and its closing: close() waits for
    them to end, and a call after it raises WritError instead of reaching
    memory libwrit has freed."""

    def __init__(self, what: str):
        self.what = what
        self.lock = threading.Lock()
        self._quiet = threading.Condition(self.lock)
        self._n = 0
        self._closed = False

    def __enter__(self):
        with self.lock:
            if self._closed:
                raise WritError(self.what, "EINVAL", f"the {self.what} is closed")
            self._n += 1
        return self

    def __exit__(self, *exc):
        with self.lock:
            self._n -= 1
            if not self._n:
                self._quiet.notify_all()

    def close(self) -> bool:
        """Close; True for the first close, once no call is in flight."""
        with self.lock:
            if self._closed:
                return False
            self._closed = True
            while self._n:
                self._quiet.wait()
        return True


_lib = None
_lib_lock = threading.Lock()


def library_path() -> str:
    path = os.environ.get("WRIT_LIBRARY") or ctypes.util.find_library("writ")
    if not path:
        raise OSError("libwrit not found: install it (cmake --install) or set WRIT_LIBRARY")
    return path


def _load():
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        L = ctypes.CDLL(library_path())
        P, S, I, E = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_Error)
        sz = ctypes.c_size_t
        sigs = {
            "writ_status_name": (S, [I]),
            "writ_reason_name": (S, [I]),
            "writ_policyset_parse": (I, [S, sz, ctypes.POINTER(P), E]),
            "writ_policyset_parse_flags": (I, [S, sz, ctypes.c_uint, ctypes.POINTER(P), E]),
            "writ_policyset_free": (None, [P]),
            "writ_policyset_count": (sz, [P]),
            "writ_policyset_id": (S, [P, sz]),
            "writ_schema_parse": (I, [S, sz, ctypes.POINTER(P), E]),
            "writ_schema_free": (None, [P]),
            "writ_entities_parse": (I, [S, sz, P, ctypes.POINTER(P), E]),
            "writ_entities_free": (None, [P]),
            "writ_request_parse": (I, [S, sz, P, ctypes.c_bool, ctypes.POINTER(P), E]),
            "writ_request_free": (None, [P]),
            "writ_authorizer_new": (P, []),
            "writ_authorizer_free": (None, [P]),
            "writ_authorize": (I, [P, P, P, P, ctypes.POINTER(_Decision)]),
            "writ_authorize_json": (I, [P, P, P, P, ctypes.c_bool, S, sz, ctypes.POINTER(_Decision), E]),
            "writ_token_verifier_from_jwks": (I, [S, sz, S, sz, ctypes.POINTER(P), E]),
            "writ_token_verifier_free": (None, [P]),
            "writ_token_verify": (I, [P, ctypes.POINTER(_TokenCheck), S, sz, ctypes.POINTER(P),
                                      ctypes.POINTER(I), E]),
            "writ_task_token_free": (None, [P]),
            "writ_task_token_context_json": (P, [P]),
            "writ_task_token_claims_json": (P, [P]),
            "writ_task_token_scope": (None, [P, ctypes.POINTER(_Scope)]),
            "writ_free_string": (None, [P]),
            "writ_scope_list_covers": (ctypes.c_bool, [ctypes.POINTER(S), sz, S]),
        }
        for name, (res, args) in sigs.items():
            f = getattr(L, name)
            f.restype, f.argtypes = res, args
        _lib = L
        return L


def _b(s: str) -> bytes:
    return s.encode("utf-8")


# writ_status, in the order of include/writ/writ.h
_CODES = ("OK", "ENOMEM", "EPARSE", "ELIMIT", "EJSON", "ESCHEMA", "EVALIDATE", "EIO", "EINVAL", "ELINK",
          "EDUP", "EEVAL")


def _fail(L, what: str, st: int, err: _Error, cls=WritError):
    code = _CODES[st] if 0 <= st < len(_CODES) else str(st)
    msg = err.msg.decode("utf-8", "replace")
    pos = f"{err.line}:{err.col}: "
    if err.line and msg.startswith(pos):  # the parsers' messages begin with it; WritError says it once
        msg = msg[len(pos):]
    raise cls(what, code, msg, err.line, err.col, err.offset)


_NO_ERRORS: Mapping[str, str] = {}


class Decision(tuple):
    """allow, the ids of the determining policies, and the policies whose
    evaluation failed ({policy id: message}).  True when allowed."""
    __slots__ = ()

    def __new__(cls, allow: bool, reasons: Tuple[str, ...] = (), errors: Optional[Mapping[str, str]] = None):
        return tuple.__new__(cls, (bool(allow), reasons, errors if errors is not None else _NO_ERRORS))

    allow = property(lambda self: self[0])
    reasons = property(lambda self: self[1])
    errors = property(lambda self: self[2])

    def __bool__(self) -> bool:
        return self[0]

    def __repr__(self) -> str:
        return f"Decision(allow={self[0]}, reasons={self[1]!r}, errors={dict(self[2])!r})"


Uid = Union[str, Tuple[str, str], Mapping[str, str]]


def _uid(u: Uid) -> Any:
    """("Writ::Agent", "id") or {"type", "id"} or Cedar text 'Writ::Agent::"id"'."""
    if isinstance(u, tuple):
        return {"type": u[0], "id": u[1]}
    return u


class Engine:
    """Policies, entities and schema, parsed once; decide() any number of
    times from any thread.  Policies are named by their @id annotation (as
    `writ serve` names them), policyN without one; ids_from_annotations=False
    names every policy policyN (Cedar's own numbering)."""

    def __init__(self, policies: str, entities: Union[str, Sequence[Any], None] = None,
                 schema: Optional[str] = None, validate_requests: bool = False, ids_from_annotations: bool = True):
        self._calls = _Calls("engine")
        L = self._L = _load()
        self._ps = self._schema = self._es = None
        self._slots = []  # every authorizer made (freed by close)
        self._idle = []   # those no call is using
        err = _Error()
        self._validate = validate_requests
        if schema is not None:
            p = ctypes.c_void_p()
            data = _b(schema)
            st = L.writ_schema_parse(data, len(data), ctypes.byref(p), ctypes.byref(err))
            if st:
                _fail(L, "schema", st, err, ParseError)
            self._schema = p
        p = ctypes.c_void_p()
        data = _b(policies)
        # policies named by their @id as the server and CLI name them (else policyN)
        st = L.writ_policyset_parse_flags(data, len(data), 1 if ids_from_annotations else 0, ctypes.byref(p),
                                          ctypes.byref(err))
        if st:
            self.close()
            _fail(L, "policies", st, err, ParseError)
        self._ps = p
        if entities is not None:
            text = entities if isinstance(entities, str) else json.dumps(entities)
            data = _b(text)
            p = ctypes.c_void_p()
            st = L.writ_entities_parse(data, len(data), self._schema, ctypes.byref(p), ctypes.byref(err))
            if st:
                self.close()
                _fail(L, "entities", st, err, ParseError)
            self._es = p
        self._authorize_json = L.writ_authorize_json

    @property
    def policy_ids(self) -> Tuple[str, ...]:
        L = self._L
        with self._calls:
            n = L.writ_policyset_count(self._ps)
            return tuple(L.writ_policyset_id(self._ps, i).decode("utf-8", "replace") for i in range(n))

    def _new_slot(self):
        """A new authorizer and its result structures (every one made is
        freed by close)."""
        az = self._L.writ_authorizer_new()
        if not az:
            raise MemoryError("writ_authorizer_new")
        d, err = _Decision(), _Error()
        slot = (ctypes.c_void_p(az), d, err, ctypes.byref(d), ctypes.byref(err))
        with self._calls.lock:
            self._slots.append(slot)
        return slot

    def decide_json(self, request: Union[str, bytes]) -> Decision:
        """Decide a request given as JSON text in the shape writ_request_parse
        reads: {"principal", "action", "resource", "context"}."""
        data = request if isinstance(request, bytes) else request.encode()
        # a call in flight (self._calls, inlined: this is the hot path) with an
        # idle authorizer of the pool, or a new one
        calls = self._calls
        with calls.lock:
            if calls._closed:
                raise WritError("engine", "EINVAL", "the engine is closed")
            calls._n += 1
            slot = self._idle.pop() if self._idle else None
        try:
            if slot is None:
                slot = self._new_slot()
            az, d, err, dref, eref = slot
            # one foreign call: parse and decide (writ_authorize_json)
            st = self._authorize_json(az, self._ps, self._es, self._schema, self._validate, data, len(data),
                                      dref, eref)
            if st:
                if err.line or st in (2, 3, 4, 5, 6):
                    _fail(self._L, "request", st, err, ParseError)
                # writ_authorize fails closed: a failure is a deny that says why
                return Decision(False, (), {"": err.msg.decode("utf-8", "replace")})
            n = d.nreasons
            reasons = (d.reasons[0].decode(),) if n == 1 else tuple(d.reasons[i].decode() for i in range(n))
            if d.nerrors:
                errors = {d.errors[i].policy_id.decode(): d.errors[i].message.decode("utf-8", "replace")
                          for i in range(d.nerrors)}
                return Decision(d.allow, reasons, errors)
            return Decision(d.allow, reasons, _NO_ERRORS)
        finally:
            with calls.lock:
                if slot is not None:
                    self._idle.append(slot)
                calls._n -= 1
                if not calls._n:
                    calls._quiet.notify_all()

    def decide(self, principal: Uid, action: Uid, resource: Uid,
               context: Optional[Mapping[str, Any]] = None) -> Decision:
        """Decide one request.  Entities are ("Type", "id") tuples, {"type",
        "id"} dicts or Cedar text; the context is a dict in Cedar's JSON
        value format (extension values as {"__extn": {...}})."""
        req = {"principal": _uid(principal), "action": _uid(action), "resource": _uid(resource),
               "context": dict(context or {})}
        return self.decide_json(json.dumps(req, separators=(",", ":")))

    def close(self) -> None:
        """Wait for the calls in flight, then free everything (again: nothing)."""
        calls = getattr(self, "_calls", None)
        if calls is None or not calls.close():
            return
        L = getattr(self, "_L", None)
        if L is None:
            return
        for slot in self._slots:
            L.writ_authorizer_free(slot[0])
        self._slots, self._idle = [], []
        if self._es:
            L.writ_entities_free(self._es)
        if self._ps:
            L.writ_policyset_free(self._ps)
        if self._schema:
            L.writ_schema_free(self._schema)
        self._es = self._ps = self._schema = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


@dataclass(frozen=True)
class TaskToken:
    """A verified task token: who holds it, for which task and scope."""
    claims: Mapping[str, Any]
    context: Mapping[str, Any]
    actions: Tuple[str, ...]
    resources: Tuple[str, ...]

    @property
    def holder(self) -> str:
        return self.context.get("holder", "")

    @property
    def task_id(self) -> str:
        return self.context.get("task", {}).get("id", "")

    @property
    def purpose(self) -> str:
        return self.context.get("task", {}).get("purpose", "")

    @property
    def chain(self) -> Tuple[str, ...]:
        return tuple(self.context.get("chain", ()))

    def covers(self, action: str, resource: Optional[str] = None) -> bool:
        """Is the action (and resource, a Cedar uid text) inside the token's
        scope?  An empty resource list leaves resources to the policies."""
        L = _load()

        def covered(items, value):
            if "\0" in value:  # libwrit reads C strings: the NUL would end the value early
                return False
            arr = (ctypes.c_char_p * max(1, len(items)))(*[_b(i) for i in items])
            return bool(L.writ_scope_list_covers(arr, len(items), _b(value)))
        if not covered(self.actions, action):
            return False
        return resource is None or not self.resources or covered(self.resources, resource)


class TokenVerifier:
    """Verifies task tokens of one issuer against a JWKS (signature, issuer,
    audience, times)."""

    def __init__(self, jwks: str, issuer: str, audience: str, cache_size: int = 1024):
        self._calls = _Calls("token verifier")
        L = self._L = _load()
        self._v = ctypes.c_void_p()
        self._aud = _b(audience)
        err = _Error()
        data = _b(jwks)
        st = L.writ_token_verifier_from_jwks(data, len(data), _b(issuer), cache_size, ctypes.byref(self._v),
                                             ctypes.byref(err))
        if st:
            _fail(L, "jwks", st, err, ParseError)

    def verify(self, token: str, now: int = 0, leeway: int = 0,
               cert_thumbprint: Optional[str] = None) -> TaskToken:
        """A token bound to a client certificate verifies only with that
        certificate's thumbprint (base64url SHA-256 of its DER, as the mTLS
        layer gives it): cert_thumbprint."""
        L = self._L
        chk = _TokenCheck(self._aud, now, leeway, _b(cert_thumbprint) if cert_thumbprint is not None else None,
                          None, False)
        data = _b(token)
        t = ctypes.c_void_p()
        why = ctypes.c_int(0)
        err = _Error()
        with self._calls:
            st = L.writ_token_verify(self._v, ctypes.byref(chk), data, len(data), ctypes.byref(t),
                                     ctypes.byref(why), ctypes.byref(err))
        if st:
            raise TokenError(L.writ_reason_name(why.value).decode(), err.msg.decode("utf-8", "replace"))
        try:
            def take(p):
                if not p:
                    raise MemoryError("libwrit: out of memory")
                try:
                    return json.loads(ctypes.string_at(p).decode())
                finally:
                    L.writ_free_string(p)
            claims = take(L.writ_task_token_claims_json(t))
            context = take(L.writ_task_token_context_json(t))
            sc = _Scope()
            L.writ_task_token_scope(t, ctypes.byref(sc))
            actions = tuple(sc.actions[i].decode() for i in range(sc.n_actions))
            resources = tuple(sc.resources[i].decode() for i in range(sc.n_resources))
        finally:
            L.writ_task_token_free(t)
        return TaskToken(claims, context, actions, resources)

    def close(self) -> None:
        """Wait for the verifications in flight, then free the verifier."""
        calls = getattr(self, "_calls", None)
        if calls is None or not calls.close():
            return
        if getattr(self, "_v", None):
            self._L.writ_token_verifier_free(self._v)
            self._v = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
