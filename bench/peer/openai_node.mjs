// Peer benchmark: the official `openai` npm client on Node doing the same
// workload as bench_overhead_llmorch (small non-streaming Chat Completions,
// CONCURRENCY in flight) against the mock server.  Prints one JSON line with
// the process's CPU (process.cpuUsage(): user + system, every thread) per
// request, measured around the run.
//
//   node bench/peer/openai_node.mjs URL N CONCURRENCY MODULES_DIR
//
// MODULES_DIR is the folder whose node_modules holds `openai` (bench/run.sh
// installs it into bench/scratch/peer, which is never committed).  A warm-up
// of WARMUP requests (default 200) runs first and is not measured, so the
// figure is Node's steady state, not its JIT warming up.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [url, nArg, concArg, modulesDir] = process.argv.slice(2);
if (!url || !nArg || !concArg || !modulesDir) {
  console.error('usage: node openai_node.mjs URL N CONCURRENCY MODULES_DIR');
  process.exit(2);
}
const n = Number(nArg);
const conc = Number(concArg);
const warmup = Number(process.env.WARMUP ?? 200);

const require = createRequire(join(resolve(modulesDir), 'package.json'));
const entry = require.resolve('openai');
const mod = await import(pathToFileURL(entry).href);
const OpenAI = mod.OpenAI ?? mod.default?.OpenAI ?? mod.default;
const version = JSON.parse(readFileSync(
  join(resolve(modulesDir), 'node_modules', 'openai', 'package.json'), 'utf8')).version;

// Same model, prompt and max_tokens as bench/bench_common.h.
const body = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello in five words.' }],
  max_tokens: 16,
};

const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'x', maxRetries: 0 });

async function run(count) {
  let next = 0;
  let ok = 0;
  let firstError = null;
  async function worker() {
    while (next < count) {
      next++;
      try {
        const r = await client.chat.completions.create(body);
        if (r.choices?.[0]?.message?.content) ok++;
      } catch (e) {
        firstError ??= String(e);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(conc, count) }, worker));
  return { ok, firstError };
}

if (warmup > 0) await run(warmup);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const { ok, firstError } = await run(n);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(c0);
if (firstError) console.error(`${n - ok} of ${n} failed; first: ${firstError}`);
const cpu = (c.user + c.system) / 1e6;
console.log(JSON.stringify({
  client: 'openai_node', n, concurrency: conc, ok, warmup,
  wall_s: +wall.toFixed(4), cpu_user_s: c.user / 1e6, cpu_sys_s: c.system / 1e6,
  cpu_us_per_req: +(cpu * 1e6 / n).toFixed(3), req_per_s: +(n / wall).toFixed(1),
  openai_version: version, node_version: process.version,
}));
process.exit(ok === n ? 0 : 1);
