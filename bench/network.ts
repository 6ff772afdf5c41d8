/**
 * `npm run bench:network`: what berth's networking costs, in one run.
 *  1. Setup: `berth run --rm busybox true` on the default network (bridge, veth, address
 *     lease) against `--network none`, interleaved round-robin on the start benchmark's
 *     store and image (run.ts); reports both medians and the difference (goal: ≤ 15 ms).
 *  2. Throughput: iperf3 over TCP from a berth container's network namespace to the host
 *     through its veth and the bridge (the client runs in the container's namespace via
 *     nsenter, so the image needs no iperf3; the server listens on the bridge's address),
 *     on the default network (links of MTU 65520, default route of MTU 1500: see
 *     network/manager.ts), against iperf3 over the host's loopback (MTU 65536), alternating,
 *     `BENCH_IPERF_ROUNDS` rounds of `BENCH_IPERF_SECONDS` each; reports medians and the
 *     ratio (goal: ≥ 0.9).
 *
 * Runs as root. Environment: `BENCH_RUNS` (20), `BENCH_WARMUP` (3), `BENCH_WORK` (/var/tmp),
 * `BENCH_TIMEOUT` (60 s), `BENCH_IPERF_ROUNDS` (5), `BENCH_IPERF_SECONDS` (3). Everything
 * it starts is stopped by pid and everything it creates is removed at the end (the store,
 * its bridge and nftables table, the registry, containers), also after an error or Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { benchMain, commandLine, log, storeFs } from './harness.js';
import { check, output, stopPid, waitFor } from './proc.js';
import { intOption, parseRoundOptions, resultOf, runRounds, setupSlots, type RoundOptions, type Slot } from './rounds.js';
import { machineLine } from './report.js';
import { formatRatio, summarize } from './stats.js';
import { formatMs, summaryOf, tableRow } from './start-report.js';
import { hostWatch, prepareStart } from './start-context.js';
import { BerthEngine, berthRunner } from './start-runners.js';
import type { Teardown } from './teardown.js';

const toolIds = ['berth', 'berth-default'] as const;
type ToolId = (typeof toolIds)[number];

interface Options extends RoundOptions<ToolId> {
  readonly iperfRounds: number;
  readonly iperfSeconds: number;
}

function parseOptions(env: NodeJS.ProcessEnv): Options {
  return {
    ...parseRoundOptions(env, toolIds),
    iperfRounds: intOption(env, 'BENCH_IPERF_ROUNDS', 5, 1),
    iperfSeconds: intOption(env, 'BENCH_IPERF_SECONDS', 3, 1),
  };
}

/** One iperf3 client run (`prefix` runs it elsewhere, e.g. nsenter); bits per second received. */
async function iperf(prefix: readonly string[], server: string, port: number, seconds: number): Promise<number> {
  const [file = 'iperf3', ...args] = [...prefix, 'iperf3', '-c', server, '-p', String(port), '-t', String(seconds), '-J'];
  const report = JSON.parse(await output(file, args)) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = report.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 to ${server}:${port} reported no throughput`);
  return bps;
}

/** An iperf3 server on `address:port` until stopped; resolves once it accepts connections. */
async function iperfServer(address: string, port: number, teardown: Teardown): Promise<() => Promise<void>> {
  const child = spawn('iperf3', ['-s', '-B', address, '-p', String(port)], { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  const stop = async (): Promise<void> => {
    if (pid > 0) await stopPid(pid, 2_000);
  };
  teardown.add(`iperf3 server on ${address}:${port}`, stop);
  await waitFor(`iperf3 -s on ${address}:${port}`, 5_000, async () => (await output('ss', ['-Htln', `sport = :${port}`]).catch(() => '')).includes(address));
  return stop;
}

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  const loadBefore = loadavg()[0] ?? 0;
  const { ctx, engines, imageLine } = await prepareStart('network', options.workParent, signal, teardown);
  const slots: Slot<ToolId>[] = options.tools.map((id) => {
    const runner = berthRunner(engines, ctx, id === 'berth' ? 'none' : 'default');
    teardown.add(`${id} teardown`, () => runner.teardown());
    return { id, runner, times: [] };
  });
  await setupSlots(slots, signal);
  await runRounds(slots, options, signal);
  const results = slots.map(resultOf);

  // Throughput: a detached container, the client in its namespace, the server on the bridge.
  const berth = engines.berth;
  await berth.ensure();
  const spec = berth.spec(['run', '-d', ctx.ref, 'sleep', '3600']);
  const id = (await output(spec.file, spec.args)).trim().split('\n').at(-1) ?? '';
  teardown.add('throughput container', () => check(berth.spec(['rm', '-f', id])).then(() => undefined, () => undefined));
  const gateway = BerthEngine.bip.split('/')[0] ?? '';
  const paths: { label: string; prefix: string[]; server: string; port: number; bps: number[] }[] = [
    { label: 'container → host through veth and bridge (default network)', prefix: ['nsenter', `--net=/run/berth/netns/${id}`], server: gateway, port: 15201, bps: [] },
    { label: 'host loopback', prefix: [], server: '127.0.0.1', port: 15202, bps: [] },
  ];
  const stops: (() => Promise<void>)[] = [];
  for (const p of paths) stops.push(await iperfServer(p.server, p.port, teardown));
  for (let round = 0; round < options.iperfRounds; round++) {
    signal.throwIfAborted();
    // Each round starts with the next path, as the start rows rotate.
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(round + k) % paths.length];
      if (p !== undefined) p.bps.push(await iperf(p.prefix, p.server, p.port, options.iperfSeconds));
    }
    log(`iperf3 round ${round + 1}: ${paths.map((p) => `${((p.bps.at(-1) ?? 0) / 1e9).toFixed(1)}`).join(' / ')} Gbit/s`);
  }
  for (const stop of stops) await stop();

  const none = summaryOf(results.find((r) => r.id === 'berth'));
  const bridge = summaryOf(results.find((r) => r.id === 'berth-default'));
  const added = none !== undefined && bridge !== undefined ? bridge.median - none.median : undefined;
  const gbit = (bps: number): string => `${(bps / 1e9).toFixed(2)} Gbit/s`;
  const loopback = summarize(paths[1]?.bps ?? []).median;
  const lines = [
    `### berth networking, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${machineLine()}; ${imageLine}; store on ${await storeFs(ctx.work)}. ${options.runs} timed runs per row after ${options.warmup} warm-up rounds, interleaved.`,
    '',
    '| command | median | min | max | ÷ first row |',
    '|---|---:|---:|---:|---:|',
    ...results.map((r) => tableRow(r, none)),
    '',
    added === undefined ? 'Network setup: not measured.' : `Network setup adds **${formatMs(added)}** to \`berth run --rm\` (goal ≤ 15 ms).`,
    '',
    '| TCP throughput (iperf3, one stream) | median | min | max | ÷ loopback |',
    '|---|---:|---:|---:|---:|',
    ...paths.map((p) => {
      const s = summarize(p.bps);
      return `| ${p.label} | ${gbit(s.median)} | ${gbit(s.min)} | ${gbit(s.max)} | ${formatRatio(s.median / loopback)} |`;
    }),
    '',
    `Goal: ≥ 0.9× of loopback; ${options.iperfRounds} rounds of ${options.iperfSeconds} s, alternating which goes first.`,
    '',
    `1-minute load average: ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end (${availableParallelism()} CPUs).`,
    '',
    `Command: ${commandLine('bench:network', 'dist/bench/network.js')}`,
  ];
  return `${lines.join('\n')}\n`;
}

process.exitCode = await benchMain({
  rootBecause: 'it runs containers and makes a bridge',
  parseOptions,
  run: bench,
  ...hostWatch(),
});
