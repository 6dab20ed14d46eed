// node20.mjs - lets @modelcontextprotocol/conformance (built for Node 22)
// run on Node 20: its bundle imports `globSync` from "fs", which Node 20's
// fs lacks, so linking fails before anything runs.  Loaded with
// `node --import ./node20.mjs`; on a Node whose fs has globSync it does
// nothing.  The resolve hook (node20_hooks.mjs) hands the conformance
// package, and only it, an fs module with a globSync added (node20_fs.mjs).
import fs from "node:fs";
import { register } from "node:module";

if (typeof fs.globSync !== "function") register("./node20_hooks.mjs", import.meta.url);
