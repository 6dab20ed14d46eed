// timing.mjs - the measurement scheme shared by the Node benchmarks; bench_cedar.c does the same.
//
// Each request is decided `warmup` times, then timed in `rounds` rounds of `batch`
// back-to-back decisions (batch chosen so one round lasts >= 2 us and the timer's own
// cost stays small).  A request's latency is the median over its rounds; the summary is
// the median and the 99th percentile of those per-request latencies, and throughput is
// all timed decisions over all timed time.

export function percentile(sorted, p) {
    if (!sorted.length) return 0;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[i];
}

// decide(i) runs request i once.  budgetNs: rough total time to spend.
export function measure(n, decide, budgetNs) {
    const now = () => process.hrtime.bigint();
    const per = new Array(n);
    // calibrate: one warm-up pass, timing each request once
    const single = new Array(n);
    let totalSingle = 0;
    for (let i = 0; i < n; i++) {
        decide(i); decide(i);
        const t0 = now();
        decide(i);
        single[i] = Number(now() - t0);
        totalSingle += single[i];
    }
    // rounds so that the whole run fits in the budget, between 5 and 200
    const rounds = Math.max(5, Math.min(200, Math.floor(budgetNs / Math.max(1, totalSingle))));
    let calls = 0;
    let spent = 0;
    for (let i = 0; i < n; i++) {
        const batch = Math.max(1, Math.ceil(2000 / Math.max(1, single[i])));
        const r = new Array(rounds);
        for (let k = 0; k < rounds; k++) {
            const t0 = now();
            for (let b = 0; b < batch; b++) decide(i);
            const dt = Number(now() - t0);
            r[k] = dt / batch;
            spent += dt;
            calls += batch;
        }
        r.sort((a, b) => a - b);
        per[i] = r[Math.floor(rounds / 2)];
    }
    const sorted = per.slice().sort((a, b) => a - b);
    return {
        requests: n,
        rounds,
        median_ns: Math.round(percentile(sorted, 50)),
        p99_ns: Math.round(percentile(sorted, 99)),
        mean_ns: Math.round(spent / Math.max(1, calls)),
        decisions_per_s: Math.round(calls / (spent / 1e9)),
    };
}

export function resultLine(engine, set, m) {
    return `RESULT engine=${engine} set=${set} requests=${m.requests} rounds=${m.rounds} median_ns=${m.median_ns} ` +
        `p99_ns=${m.p99_ns} mean_ns=${m.mean_ns} decisions_per_s=${m.decisions_per_s}`;
}
