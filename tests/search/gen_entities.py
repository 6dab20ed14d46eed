#!/usr/bin/env python3
"""gen_entities.py - a generated entity store for the search tests and benchmark.

    gen_entities.py N [--seed S] [--messy] > entities.json

About N entities of the example schema's types (examples/schema.cedarschema):
teams (nested), agents in teams (some quarantined), tasks, tools (some in
the "safe" group), datasets, repos, tickets, services.  The same seed gives
the same file.  --messy leaves attributes out or gives them the wrong type
now and then (for runs without a schema), so that the search meets
entities whose conditions fail rather than hold or not."""
import json
import random
import sys


def main():
    args = sys.argv[1:]
    n = int(args[0])
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 7
    messy = "--messy" in args
    rnd = random.Random(seed)
    teams = ["engineering", "platform", "release", "data-science", "finance", "quarantine",
             "security", "support", "research", "sales"]
    parent = {"platform": "engineering", "release": "engineering", "security": "engineering"}
    ents = []

    def uid(t, i):
        return {"type": "Writ::" + t, "id": i}

    def attrs(a):
        if not messy:
            return a
        out = {}
        for k, v in a.items():
            r = rnd.random()
            if r < 0.04:
                continue                      # missing
            if r < 0.07:
                v = str(v) if not isinstance(v, str) else 3   # wrong type
            out[k] = v
        return out

    for t in teams:
        ents.append({"uid": uid("Team", t), "attrs": {},
                     "parents": [uid("Team", parent[t])] if t in parent else []})
    ents.append({"uid": uid("ToolGroup", "safe"), "attrs": {}, "parents": []})
    work = [t for t in teams if t != "quarantine"]
    owners = ["owner%d@corp.example" % i for i in range(40)]
    purposes = ["bugfix", "refactor", "weekly-report", "incident", "deploy"]
    counts = {"Agent": n // 20, "Task": n // 20, "Tool": n // 50, "Service": n // 25}
    rest = n - len(ents) - sum(counts.values())
    counts["Dataset"] = rest * 2 // 5
    counts["Repo"] = rest // 5
    counts["Ticket"] = rest - counts["Dataset"] - counts["Repo"]
    for i in range(counts["Agent"]):
        team = rnd.choice(work)
        ps = [uid("Team", team)]
        if rnd.random() < 0.05:
            ps.append(uid("Team", "quarantine"))
        ents.append({"uid": uid("Agent", "spiffe://corp.example/agents/a%d" % i),
                     "attrs": attrs({"trust_level": rnd.randint(0, 5), "team": team,
                                     "owner": rnd.choice(owners)}), "parents": ps})
    for i in range(counts["Task"]):
        ents.append({"uid": uid("Task", "task-%d" % i),
                     "attrs": attrs({"purpose": rnd.choice(purposes), "owner": rnd.choice(owners)}),
                     "parents": []})
    for i in range(counts["Tool"]):
        ents.append({"uid": uid("Tool", "tool-%d" % i), "attrs": attrs({"sensitivity": rnd.randint(0, 5)}),
                     "parents": [uid("ToolGroup", "safe")] if rnd.random() < 0.3 else []})
    for i in range(counts["Service"]):
        ents.append({"uid": uid("Service", "svc-%d" % i),
                     "attrs": attrs({"sensitivity": rnd.randint(0, 4),
                                     "environment": rnd.choice(["staging", "production", "dev"])}),
                     "parents": []})
    for i in range(counts["Dataset"]):
        ents.append({"uid": uid("Dataset", "ds-%d" % i),
                     "attrs": attrs({"sensitivity": rnd.randint(0, 5), "owner_team": rnd.choice(work),
                                     "classification": rnd.choice(["public", "internal", "restricted"])}),
                     "parents": []})
    for i in range(counts["Repo"]):
        ents.append({"uid": uid("Repo", "repo-%d" % i),
                     "attrs": attrs({"sensitivity": rnd.randint(0, 4), "owner_team": rnd.choice(work)}),
                     "parents": []})
    for i in range(counts["Ticket"]):
        ents.append({"uid": uid("Ticket", "T-%d" % i),
                     "attrs": attrs({"sensitivity": rnd.randint(0, 4), "owner_team": rnd.choice(work),
                                     "kind": rnd.choice(["payment", "bug", "incident"])}),
                     "parents": []})
    json.dump(ents, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
