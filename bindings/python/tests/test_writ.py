"""The Python binding against the installed libwrit (WRIT_LIBRARY), on the
example policy set (WRIT_EXAMPLES) and a token minted by `writ token mint`
(WRIT_BIN)."""
import json
import os
import subprocess
import sys
import threading

import pytest

import writ

EX = os.environ.get("WRIT_EXAMPLES") or os.path.join(os.path.dirname(__file__), "../../../examples")
WRIT_BIN = os.environ.get("WRIT_BIN")


def read(name):
    with open(os.path.join(EX, name)) as f:
        return f.read()


@pytest.fixture(scope="module")
def engine():
    e = writ.Engine(policies=read("policies.cedar"), entities=read("entities.json"),
                    schema=read("schema.cedarschema"))
    yield e
    e.close()


CTX = {"task": {"id": "task-77", "purpose": "weekly-report"}, "chain_depth": 0, "destination": "internal",
       "time": {"__extn": {"fn": "datetime", "arg": "2025-06-02T14:05:00Z"}},
       "source_ip": {"__extn": {"fn": "ip", "arg": "10.20.0.7"}}}
ANALYST = ("Writ::Agent", "spiffe://corp.example/agents/analyst")


def test_every_example_request_matches_the_cli(engine):
    """Each request of examples/requests decides as `writ authorize` says."""
    reqs = sorted(n for n in os.listdir(os.path.join(EX, "requests")) if n[0].isdigit())
    assert len(reqs) >= 10
    for name in reqs:
        text = read(os.path.join("requests", name))
        d = engine.decide_json(text)
        if WRIT_BIN:
            out = subprocess.run([WRIT_BIN, "authorize", "--policies", os.path.join(EX, "policies.cedar"),
                                  "--entities", os.path.join(EX, "entities.json"),
                                  "--schema", os.path.join(EX, "schema.cedarschema"),
                                  "--request", os.path.join(EX, "requests", name)],
                                 capture_output=True, text=True)
            cli = json.loads(out.stdout)
            assert cli["decision"] == ("allow" if d.allow else "deny"), (name, out.stdout)
            assert sorted(cli["reasons"]) == sorted(d.reasons), (name, out.stdout)


def test_decide_allow_and_reasons(engine):
    d = engine.decide(ANALYST, ("Writ::Action", "read"), ("Writ::Dataset", "usage-metrics"), CTX)
    assert d.allow and bool(d)
    assert d.reasons and all(r in engine.policy_ids for r in d.reasons)
    assert d.errors == {}


def test_decide_deny(engine):
    d = engine.decide(ANALYST, ("Writ::Action", "write"), ("Writ::Dataset", "usage-metrics"), CTX)
    assert not d.allow and not d


def test_uid_forms_agree(engine):
    a = engine.decide(ANALYST, ("Writ::Action", "read"), ("Writ::Dataset", "usage-metrics"), CTX)
    b = engine.decide('Writ::Agent::"spiffe://corp.example/agents/analyst"', 'Writ::Action::"read"',
                      {"type": "Writ::Dataset", "id": "usage-metrics"}, CTX)
    assert a == b


def test_policy_parse_error_has_position():
    with pytest.raises(writ.ParseError) as e:
        writ.Engine(policies="permit(principal, action, resource)\nwhen { 1 + };")
    assert e.value.code == "EPARSE"
    assert e.value.line == 2 and e.value.column > 0
    assert "policies:2:" in str(e.value)


def test_schema_and_entities_errors():
    with pytest.raises(writ.ParseError) as e:
        writ.Engine(policies="", schema="entity A {")
    assert e.value.what == "schema" and e.value.line >= 1
    with pytest.raises(writ.ParseError) as e:
        writ.Engine(policies="", entities='[{"uid": 1}]')
    assert e.value.what == "entities"


def test_bad_request_is_an_error_not_a_decision(engine):
    with pytest.raises(writ.ParseError) as e:
        engine.decide_json('{"principal": ')
    assert e.value.what == "request" and e.value.line == 1


def test_threads_decide_independently(engine):
    results = []

    def work():
        for _ in range(200):
            results.append(engine.decide(ANALYST, ("Writ::Action", "read"),
                                         ("Writ::Dataset", "usage-metrics"), CTX).allow)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 800 and all(results)


@pytest.fixture(scope="module")
def minted(tmp_path_factory):
    if not WRIT_BIN:
        pytest.fail("WRIT_BIN is not set: the token tests need `writ` to mint a token")
    d = tmp_path_factory.mktemp("keys")
    key = d / "k.pem"
    subprocess.run([WRIT_BIN, "keys", "generate", "--out", str(key)], check=True, capture_output=True)
    jwks = subprocess.run([WRIT_BIN, "keys", "jwks", "--key", str(key)], check=True, capture_output=True,
                          text=True).stdout
    tok = subprocess.run([WRIT_BIN, "token", "mint", "--key", str(key), "--issuer", "https://writ.test",
                          "--audience", "corp.example", "--subject", ANALYST[1], "--purpose", "weekly-report",
                          "--action", "read", "--resource", 'Writ::Dataset::"usage-*', "--ttl", "300"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return jwks, tok


def test_token_verify_and_guard(engine, minted):
    jwks, tok = minted
    v = writ.TokenVerifier(jwks, "https://writ.test", "corp.example")
    t = v.verify(tok)
    assert t.holder == ANALYST[1] and t.purpose == "weekly-report"
    assert t.chain == (ANALYST[1],)
    assert t.covers("read", 'Writ::Dataset::"usage-metrics"')
    assert not t.covers("write", 'Writ::Dataset::"usage-metrics"')
    assert not t.covers("read", 'Writ::Dataset::"payroll"')


def test_token_refusals(minted):
    jwks, tok = minted
    with pytest.raises(writ.TokenError) as e:
        writ.TokenVerifier(jwks, "https://writ.test", "other-audience").verify(tok)
    assert e.value.reason == "audience"
    with pytest.raises(writ.TokenError) as e:
        writ.TokenVerifier(jwks, "https://writ.test", "corp.example").verify(tok[:-4] + "AAAA")
    assert e.value.reason == "bad_signature"
    with pytest.raises(writ.TokenError) as e:
        writ.TokenVerifier(jwks, "https://writ.test", "corp.example").verify(tok, now=4102444800)
    assert e.value.reason == "expired"


def test_guarding_a_tool_function(engine, minted):
    """The README's pattern: a decorator that asks Writ before the tool runs."""
    jwks, tok = minted
    verifier = writ.TokenVerifier(jwks, "https://writ.test", "corp.example")
    calls = []

    def guarded(action, rtype):
        def wrap(fn):
            def run(token, rid, **kw):
                t = verifier.verify(token)
                res = f'{rtype}::{json.dumps(rid)}'
                d = engine.decide(("Writ::Agent", t.holder), ("Writ::Action", action), (rtype, rid),
                                  dict(CTX, task={"id": t.task_id, "purpose": t.purpose}))
                if not (t.covers(action, res) and d.allow):
                    raise PermissionError(f"{action} {res}: denied")
                return fn(rid, **kw)
            return run
        return wrap

    @guarded("read", "Writ::Dataset")
    def read_dataset(rid):
        calls.append(rid)
        return "rows"

    assert read_dataset(tok, "usage-metrics") == "rows"
    with pytest.raises(PermissionError):
        read_dataset(tok, "payroll")
    assert calls == ["usage-metrics"]


@pytest.fixture(scope="module")
def bound(minted, tmp_path_factory):
    """A token bound to a client certificate (cnf x5t#S256), by the key of `minted`'s JWKS."""
    d = tmp_path_factory.mktemp("bound")
    key = d / "k.pem"
    subprocess.run([WRIT_BIN, "keys", "generate", "--out", str(key)], check=True, capture_output=True)
    jwks = subprocess.run([WRIT_BIN, "keys", "jwks", "--key", str(key)], check=True, capture_output=True,
                          text=True).stdout
    thumb = "A" * 43
    tok = subprocess.run([WRIT_BIN, "token", "mint", "--key", str(key), "--issuer", "https://writ.test",
                          "--audience", "corp.example", "--subject", ANALYST[1], "--cert-thumbprint", thumb,
                          "--purpose", "weekly-report", "--action", "read", "--ttl", "300"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return jwks, tok, thumb


def test_certificate_bound_token_needs_its_certificate(bound):
    """The check struct handed to libwrit is writ_token_check as C lays it out: no byte of
    whatever follows it in memory can switch the certificate-binding check off."""
    jwks, tok, thumb = bound
    v = writ.TokenVerifier(jwks, "https://writ.test", "corp.example", cache_size=0)
    for _ in range(20):
        spray = [bytes([1]) * n for n in range(8, 40) for _ in range(300)]  # nonzero heap blocks, freed
        del spray
        with pytest.raises(writ.TokenError) as e:
            v.verify(tok)
        assert e.value.reason == "cnf_cert_missing"
    with pytest.raises(writ.TokenError) as e:
        v.verify(tok, cert_thumbprint="B" * 43)
    assert e.value.reason == "cnf_cert_mismatch"
    assert v.verify(tok, cert_thumbprint=thumb).holder == ANALYST[1]


ALL = "permit(principal, action, resource);"


def run_python(code):
    """code in a fresh interpreter (a crash there is a failure here, not the end of pytest)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(os.path.dirname(__file__), ".."),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_engine_after_close_is_an_error_not_a_crash():
    out = run_python("""
import writ
e = writ.Engine("permit(principal, action, resource);")
assert e.decide(("A", "a"), ("Action", "a"), ("R", "r"))
e.close()
for call in (lambda: e.decide(("A", "a"), ("Action", "a"), ("R", "r")), lambda: e.decide_json("{}"),
             lambda: e.policy_ids):
    try:
        call()
        raise SystemExit("no error after close")
    except writ.WritError as ex:
        assert "closed" in str(ex), ex
e.close()
print("ok")
""")
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stdout, out.stderr)


def test_close_waits_for_threads_deciding():
    """close() from one thread while others are inside decide(): they finish or get an error."""
    out = run_python("""
import threading, time, writ
pol = "\\n".join('permit(principal == A::"a%d", action, resource) when { context.x.contains(%d) };' % (i, i)
                 for i in range(2000))
ctx = {"x": list(range(3000))}
for attempt in range(5):
    e = writ.Engine(pol)
    stop = False
    def work():
        while not stop:
            try:
                e.decide(("A", "a1"), ("Action", "a"), ("R", "r"), ctx)
            except writ.WritError as ex:
                assert "closed" in str(ex), ex
    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.05)
    e.close()
    time.sleep(0.02)
    stop = True
    for t in ts:
        t.join()
print("ok")
""")
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stdout, out.stderr)


def test_threads_that_end_do_not_keep_authorizers():
    e = writ.Engine(ALL)
    for _ in range(200):
        t = threading.Thread(target=lambda: e.decide(("A", "a"), ("Action", "a"), ("R", "r")))
        t.start()
        t.join()
    held = getattr(e, "_slots", None)
    if held is None:
        held = e._authorizers
    assert len(held) <= 2, len(held)
    e.close()


def test_token_verifier_after_close(minted):
    jwks, tok = minted
    v = writ.TokenVerifier(jwks, "https://writ.test", "corp.example")
    v.close()
    with pytest.raises(writ.WritError) as e:
        v.verify(tok)
    assert "closed" in str(e.value)
    v.close()


def test_covers_refuses_a_value_with_a_nul():
    """libwrit compares C strings: a NUL would end the value early (scope item + "\\0anything")."""
    t = writ.TaskToken({}, {}, ("read",), ('Writ::Dataset::"usage-metrics"',))
    assert t.covers("read", 'Writ::Dataset::"usage-metrics"')
    assert not t.covers("read", 'Writ::Dataset::"usage-metrics"\0../../payroll')
    assert not t.covers("read\0write")
    assert not writ.TaskToken({}, {}, ("read",), ()).covers("read\0", None)


def test_long_error_messages_are_valid_utf8():
    """An evaluation error quoting a long non-ASCII id (the caller's input) is cut on a character."""
    e = writ.Engine("permit(principal, action, resource) when { principal.x == 1 };")
    for n in range(90, 110):
        d = e.decide(("A", "é" * n), ("Action", "a"), ("R", "r"))
        assert not d.allow
        msg = d.errors["policy0"]
        assert "\ufffd" not in msg, msg
    e.close()


def test_error_names_its_position_once():
    with pytest.raises(writ.ParseError) as e:
        writ.Engine(policies="permit(principal, action, resource)\nwhen { 1 + };")
    pos = f"{e.value.line}:{e.value.column}:"
    assert str(e.value).count(pos) == 1, str(e.value)
    assert not e.value.message.startswith(pos), e.value.message
