/**
 * CPU time of the whole machine and of its PostgreSQL processes, read from Linux's /proc: what
 * `bench:q3` charges to each target's slices besides its server and Redis. On a machine where the
 * server, Redis, PostgreSQL and the load generator share the cores, a target's throughput follows
 * what a request costs all of them together; these say where a difference between targets lies.
 * Without /proc the readings are NaN and the report prints '–'; a database on another machine is
 * not seen (only this machine's `postgres` processes are read).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's counters (USER_HZ: 100 on every Linux build in use). */
const TICKS_PER_SECOND = 100;

export interface CpuReading {
  /** Busy CPU seconds of all cores (everything but idle and I/O wait). */
  readonly machine: number;
  /** CPU ticks (user + system) of the processes named `postgres` alive now (null: none found). */
  readonly postgres: ReadonlyMap<string, number> | null;
  /** This process's CPU seconds (the load generator's, in bench:q3). */
  readonly self: number;
}

function machineSeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU ticks of each process named `postgres`, by pid. Pools may close idle connections between a
 * target's slices, so backends come and go: a difference of two readings (postgresSecondsBetween)
 * counts a backend's whole time when it is new, and loses what one that exited spent meanwhile.
 */
function postgresTicks(): Map<string, number> | null {
  const ticks = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      // After the name: the state is the 3rd field of stat, utime and stime the 14th and 15th.
      const rest = stat.slice(close + 2).split(' ');
      ticks.set(pid, Number(rest[11]) + Number(rest[12]));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return ticks.size > 0 ? ticks : null;
}

export function readCpu(): CpuReading {
  const { user, system } = process.cpuUsage();
  return { machine: machineSeconds(), postgres: postgresTicks(), self: (user + system) / 1e6 };
}

/** PostgreSQL's CPU seconds between two readings (NaN when either found none). */
export function postgresSecondsBetween(before: CpuReading, after: CpuReading): number {
  if (!before.postgres || !after.postgres) return Number.NaN;
  let ticks = 0;
  for (const [pid, now] of after.postgres) ticks += now - (before.postgres.get(pid) ?? 0);
  return ticks / TICKS_PER_SECOND;
}
