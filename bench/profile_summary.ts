/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`, e.g.
 * `deno task capacity --calls 300 --profile`): self time by function, by
 * source file, and inclusive time of a few Parley entry points.
 *
 * ```sh
 * deno run --allow-read bench/profile_summary.ts bench/.profile/CPU.*.cpuprofile [top=25]
 * ```
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A short name for a script URL: `src/bus/frame_bus.ts`, `npm:werift`, … */
function area(url: string): string {
  if (!url) return "(native / runtime)";
  const npm = url.match(
    /node_modules\/(?:\.deno\/)?(?:[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/@]+)/,
  );
  if (npm) return `npm:${npm[1]}`;
  const local = url.match(/\/((?:src|bench|examples|tests)\/.*)$/);
  if (local) return local[1];
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return url.replace(/^(ext:[^/]+|node:[^/]+).*$/, "$1");
  }
  return url;
}

async function main(): Promise<void> {
  const file = Deno.args[0];
  if (!file) {
    throw new Error(
      "usage: deno run --allow-read bench/profile_summary.ts FILE.cpuprofile [top]",
    );
  }
  const top = Number(Deno.args[1] ?? 25);
  const p = JSON.parse(await Deno.readTextFile(file)) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const entry = [
    "decode",
    "sendInput",
    "receive",
    "process",
    "submit",
    "#run",
    "#settle",
    "sendOutput",
    "pumpOutput",
    "encodeAudio",
    "withTimeout",
  ];
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += us;
      continue;
    }
    total += us;
    const key = `${name} ${area(n.callFrame.url)}:${
      n.callFrame.lineNumber + 1
    }`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = name.startsWith("(") ? name : area(n.callFrame.url);
    files.set(a, (files.get(a) ?? 0) + us);
    // Inclusive time of the entry points (each counted once per sample).
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const f = byId.get(at)!.callFrame;
      const label = `${f.functionName} ${area(f.url)}`;
      if (entry.includes(f.functionName) && !seen.has(label)) {
        seen.add(label);
        inclusive.set(label, (inclusive.get(label) ?? 0) + us);
      }
    }
  }
  const pct = (us: number) => `${(us * 100 / total).toFixed(1).padStart(5)} %`;
  const wall = (p.endTime - p.startTime) / 1e6;
  console.log(
    `${file}: ${wall.toFixed(1)} s profiled, busy ${
      (total / 1e6).toFixed(1)
    } s, idle ${(idle / 1e6).toFixed(1)} s (percentages are of busy time)`,
  );
  console.log("\nself time by area:");
  for (const [k, v] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(v)}  ${k}`);
  }
  console.log("\nself time by function:");
  for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(v)}  ${k}`);
  }
  console.log("\ninclusive time of entry points:");
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1])) {
    console.log(`${pct(v)}  ${k}`);
  }
}

if (import.meta.main) await main();
