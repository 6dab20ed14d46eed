// node20_hooks.mjs - module resolve hook (see node20.mjs): "fs" imported from
// inside @modelcontextprotocol/conformance resolves to node20_fs.mjs.
const SHIM = new URL("./node20_fs.mjs", import.meta.url).href;

export async function resolve(specifier, context, next) {
  const from = context.parentURL ?? "";
  if ((specifier === "fs" || specifier === "node:fs") && from.includes("/@modelcontextprotocol/conformance/"))
    return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
