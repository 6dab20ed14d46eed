// prng.mjs - a small seeded PRNG shared by the benchmark and differential generators.
//
// splitmix64 over BigInt would be slow; mulberry32 is enough for test data and
// gives the same sequence on every Node version.

export function makeRng(seed) {
    let s = hashSeed(seed);
    const next = () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const rng = {
        float: next,
        // integer in [lo, hi]
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        chance: (p) => next() < p,
        pick: (arr) => arr[Math.floor(next() * arr.length)],
        // k distinct elements (k clipped to arr.length), order random
        sample: (arr, k) => {
            const a = arr.slice();
            k = Math.min(k, a.length);
            for (let i = 0; i < k; i++) {
                const j = i + Math.floor(next() * (a.length - i));
                [a[i], a[j]] = [a[j], a[i]];
            }
            return a.slice(0, k);
        },
        // pick by weights: [[weight, value], ...]
        weighted: (pairs) => {
            let total = 0;
            for (const [w] of pairs) total += w;
            let x = next() * total;
            for (const [w, v] of pairs) {
                if ((x -= w) < 0) return v;
            }
            return pairs[pairs.length - 1][1];
        },
    };
    return rng;
}

// Any string or number seed to a 32-bit state.
function hashSeed(seed) {
    const str = String(seed);
    let h = 2166136261 >>> 0;
    for (let i = 0; i < str.length; i++) {
        h ^= str.charCodeAt(i);
        h = Math.imul(h, 16777619) >>> 0;
    }
    return h;
}
