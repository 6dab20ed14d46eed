// node20_fs.mjs - node:fs plus globSync, for the conformance suite on Node 20
// (see node20.mjs).  The suite only globs "**/NAME" style patterns relative
// to a cwd; this globSync handles path segments that are literal, that hold
// "*" / "?" wildcards, or that are "**" (any depth, including none), and
// returns paths relative to cwd as fs.globSync does.
import fs from "node:fs";
import path from "node:path";

export * from "node:fs";
export default fs;

function segmentRegExp(seg) {
  let rx = "";
  for (const ch of seg) rx += ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : ch.replace(/[\\^$.|+(){}[\]]/g, "\\$&");
  return new RegExp(`^${rx}$`);
}

function entries(dir) {
  try { return fs.readdirSync(dir, { withFileTypes: true }); } catch { return []; }
}

export function globSync(pattern, options = {}) {
  const cwd = options.cwd ? String(options.cwd) : process.cwd();
  const out = new Set();
  const walk = (rel, segs) => {
    const abs = path.join(cwd, rel);
    if (segs.length === 0) { if (rel && fs.existsSync(abs)) out.add(rel); return; }
    const [seg, ...rest] = segs;
    if (seg === "**") {
      walk(rel, rest); // zero directories
      for (const e of entries(abs)) if (e.isDirectory()) walk(path.join(rel, e.name), segs);
    } else if (/[*?]/.test(seg)) {
      const rx = segmentRegExp(seg);
      for (const e of entries(abs)) if (rx.test(e.name)) walk(path.join(rel, e.name), rest);
    } else walk(path.join(rel, seg), rest);
  };
  walk("", String(pattern).split("/").filter((s) => s !== ""));
  return [...out];
}
