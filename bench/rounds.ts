import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { RunResult } from './lib';

/**
 * Alternated rounds with CPU accounting, for benches whose sides are separate server processes
 * (bench/peers.bench.ts): per run the server's own CPU time per request and the share of the
 * machine other processes took meanwhile, from /proc (Linux; NaN elsewhere).
 */

export interface Sample extends RunResult {
  /** Server CPU (user + system) per request, µs. */
  cpuUs: number;
  /** CPU per request of the front process (nginx) where the run goes through one, µs; NaN otherwise. */
  frontCpuUs: number;
  /** Share of the machine's CPU used by other processes during the run, %. */
  othersPct: number;
}

export interface Row extends Sample {
  /** req/s of every round, in order. */
  rounds: number[];
}

export interface Side {
  name: string;
  /** The server whose CPU per request is reported (the auth server behind nginx). */
  pid?: number;
  /** A front process (nginx) whose CPU is reported apart and not counted as "other processes". */
  frontPid?: number;
  go: () => Promise<RunResult>;
}

/** CPU time (user + system) of a process in ms, from /proc (Linux); NaN elsewhere. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return NaN;
  }
}

/** Busy CPU time of the whole machine in ms (user, nice, system, irq, softirq), from /proc/stat. */
function machineBusyMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] + f[1] + f[2] + f[5] + f[6]) * 1000) / 100;
  } catch {
    return NaN;
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Alternates the runs A B C … rounds times, measuring for each run the server's CPU per request and
 * the CPU that other processes took meanwhile (machine busy time − server − front − this process,
 * which is autocannon's). A round is clean when no run in it saw other processes take more than
 * cleanPct of the machine; rows are medians over the clean rounds (over all rounds when none is clean).
 */
export async function alternateMedian(
  rounds: number,
  runs: Side[],
  durationS: number,
  cleanPct: number,
): Promise<{ rows: Row[]; kept: number[]; anyClean: boolean; samples: Sample[][] }> {
  const all = runs.map(() => [] as Sample[]);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < runs.length; k++) {
      const server0 = cpuMs(runs[k].pid);
      const front0 = cpuMs(runs[k].frontPid);
      const busy0 = machineBusyMs();
      const self0 = process.cpuUsage();
      const t0 = Date.now();
      const res = await runs[k].go();
      const self = process.cpuUsage(self0);
      const server = cpuMs(runs[k].pid) - server0;
      const front = cpuMs(runs[k].frontPid) - front0;
      const others = machineBusyMs() - busy0 - server - (Number.isNaN(front) ? 0 : front) - (self.user + self.system) / 1000;
      const capacity = (Date.now() - t0) * cpus().length;
      const requests = Math.max(1, res.rps * durationS);
      all[k].push({ ...res, cpuUs: (server * 1000) / requests, frontCpuUs: (front * 1000) / requests, othersPct: Math.max(0, (100 * others) / capacity) });
    }
  }
  const clean = Array.from({ length: rounds }, (_, r) => r).filter((r) => all.every((rs) => !(rs[r].othersPct > cleanPct)));
  const kept = clean.length > 0 ? clean : Array.from({ length: rounds }, (_, r) => r);
  const rows = all.map((every, k) => {
    const rs = kept.map((r) => every[r]);
    const med = (f: (x: Sample) => number) => median(rs.map(f));
    return {
      name: runs[k].name,
      rps: Math.round(med((x) => x.rps)),
      p50: r2(med((x) => x.p50)),
      p99: r2(med((x) => x.p99)),
      errors: every.reduce((a, x) => a + x.errors, 0),
      non2xx: every.reduce((a, x) => a + x.non2xx, 0),
      cpuUs: Math.round(med((x) => x.cpuUs)),
      frontCpuUs: Math.round(med((x) => x.frontCpuUs)),
      othersPct: Math.round(med((x) => x.othersPct)),
      rounds: every.map((x) => Math.round(x.rps)),
    };
  });
  return { rows, kept, anyClean: clean.length > 0, samples: all };
}

/** A markdown table of rows against a reference row (the BFF's side of the comparison). */
export function ratioTable(rows: Row[], ref: Row): string {
  const front = rows.some((r) => !Number.isNaN(r.frontCpuUs));
  const lines = [
    `| run | req/s | p50 ms | p99 ms | errors | non-2xx | server CPU µs/req |${front ? ' nginx CPU µs/req |' : ''} other processes | BFF ÷ this (req/s) | this ÷ BFF (CPU/req) |`,
    `|---|---:|---:|---:|---:|---:|---:|${front ? '---:|' : ''}---:|---:|---:|`,
  ];
  for (const r of rows) {
    const same = r === ref;
    lines.push(
      `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} | ${r.cpuUs} |${front ? ` ${r.frontCpuUs} |` : ''} ${r.othersPct} % | ${same ? '1.00' : (ref.rps / r.rps).toFixed(2)} | ${same ? '1.00' : (r.cpuUs / ref.cpuUs).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}
