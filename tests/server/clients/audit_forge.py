#!/usr/bin/env python3
"""audit_forge.py DB FROM - what someone who can write the audit log but does
not hold the signing key can do: re-hash the chain from record FROM on (after
editing, inserting or deleting records with SQL), so that every record's prev
and hash are consistent again.  The encoding is the one
src/store/audit.h documents, written here independently."""
import hashlib
import sqlite3
import struct
import sys

db, start = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
prev = bytes(32)
if start > 1:
    prev = bytes.fromhex(con.execute("SELECT hash FROM audit WHERE seq = ?", (start - 1,)).fetchone()[0])
cols = [r[1] for r in con.execute("PRAGMA table_info(audit)")]
shadow = ", shadow" if "shadow" in cols else ", ''"
replica = ", replica" if "replica" in cols else ", ''"
rows = con.execute("SELECT seq, time_ms, agent, chain, task, action, resource, decision, policies, errors"
                   + shadow + replica + " FROM audit WHERE seq >= ? ORDER BY seq", (start,)).fetchall()
last = prev
for seq, t, *rest in rows:
    # v1 without a shadow field or replica, v2 (the shadow field hashed after
    # errors) with a shadow field, v3 (shadow and replica) with a replica
    fields = rest[:5] + rest[6:]
    v3 = fields[-1] != ""
    v2 = not v3 and fields[-2] != ""
    if not v3:
        fields = fields[:-1] if v2 else fields[:-2]
    h = hashlib.sha256()
    h.update(b"writ-audit-v3\n" if v3 else b"writ-audit-v2\n" if v2 else b"writ-audit-v1\n")
    h.update(struct.pack(">Qq", seq, t))
    h.update(b"\x01" if rest[5] == "allow" else b"\x00")
    for f in fields:
        b = f.encode()
        h.update(struct.pack(">Q", len(b)) + b)
    h.update(last)
    new = h.digest()
    con.execute("UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", (last.hex(), new.hex(), seq))
    last = new
con.commit()
