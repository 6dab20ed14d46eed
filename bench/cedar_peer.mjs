// cedar_peer.mjs - load the reference engine from the repository's tests/peers (npm ci there).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

export function loadCedar() {
    const req = createRequire(join(repo, 'tests', 'peers', 'package.json'));
    try {
        return req('@cedar-policy/cedar-wasm/nodejs');
    } catch (e) {
        throw new Error(`cedar-wasm not found: run \`npm ci\` in ${join(repo, 'tests', 'peers')} (${e.message})`);
    }
}
