/**
 * A fake download server for the model-cache tests: serves fixed bytes at
 * fixed paths on 127.0.0.1, honours `Range: bytes=N-` with a 206, records
 * every request, and can misbehave on demand (see {@linkcode FileServerMode}).
 *
 * @module
 */

/**
 * How the server answers a request for a known path:
 * - `"normal"`: the whole file, or a 206 from byte N for `Range: bytes=N-`;
 * - `"cut"`: the first half of the file, then the body ends short of its
 *   `content-length` (every request);
 * - `"cut-once"`: like `"cut"` for one request, then back to `"normal"`;
 * - `"ignore-range"`: the whole file with a 200, even when a range is asked.
 */
export type FileServerMode = "normal" | "cut" | "cut-once" | "ignore-range";

/** One request the server saw. */
export interface FileServerRequest {
  /** URL path, e.g. `/fake-pkg/-/fake-pkg-1.0.0.tgz`. */
  path: string;
  /** The `Range` header, or null when there was none. */
  range: string | null;
}

/** Options of {@linkcode startFileServer}. */
export interface FileServerOptions {
  /** The files to serve, by URL path (other paths get a 404). */
  files: Record<string, Uint8Array>;
}

/** A running fake download server. */
export interface FileServer {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** How the next request is answered; may be changed at any time. */
  mode: FileServerMode;
  /** Every request so far, in order (404s included). */
  readonly requests: FileServerRequest[];
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts a fake download server on a free port of 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * const server = startFileServer({ files: { "/model.bin": new Uint8Array(10) } });
 * server.mode = "cut-once";
 * await fetch(`${server.url}/model.bin`).then((r) => r.arrayBuffer()).catch(() => {});
 * // server.requests: [{ path: "/model.bin", range: null }]
 * await server.close();
 * ```
 *
 * @param options The files to serve.
 * @returns The server, in mode `"normal"`.
 */
export function startFileServer(options: FileServerOptions): FileServer {
  const requests: FileServerRequest[] = [];
  const state = { mode: "normal" as FileServerMode };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      const range = req.headers.get("range");
      requests.push({ path, range });
      const data = Object.hasOwn(options.files, path)
        ? options.files[path]
        : undefined;
      if (!data) return new Response("not found", { status: 404 });
      const mode = state.mode;
      if (mode === "cut" || mode === "cut-once") {
        if (mode === "cut-once") state.mode = "normal";
        const half = data.slice(0, Math.floor(data.length / 2));
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(half);
          },
          pull(controller) {
            controller.close(); // fewer bytes than content-length promised
          },
        });
        return new Response(body, {
          headers: { "content-length": String(data.length) },
        });
      }
      const m = range ? /bytes=(\d+)-/.exec(range) : null;
      if (m && mode === "normal") {
        const start = Number(m[1]);
        return new Response(data.slice(start), {
          status: 206,
          headers: {
            "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
          },
        });
      }
      return new Response(data.slice());
    },
  );
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get mode(): FileServerMode {
      return state.mode;
    },
    set mode(mode: FileServerMode) {
      state.mode = mode;
    },
    requests,
    close: () => server.shutdown(),
  };
}

/**
 * Runs `fn` with a fresh {@linkcode startFileServer} and an empty temporary
 * folder (e.g. a model cache), then closes the server and removes the folder,
 * whether `fn` succeeds or throws.
 *
 * @example
 * ```ts ignore
 * await withFileServer({ files: { "/a.bin": new Uint8Array(4) } }, async (server, dir) => {
 *   await Deno.writeFile(`${dir}/a.bin`, new Uint8Array(await (await fetch(`${server.url}/a.bin`)).arrayBuffer()));
 * });
 * ```
 *
 * @param options The files to serve.
 * @param fn The test body.
 */
export async function withFileServer(
  options: FileServerOptions,
  fn: (server: FileServer, dir: string) => Promise<void>,
): Promise<void> {
  const server = startFileServer(options);
  const dir = await Deno.makeTempDir();
  try {
    await fn(server, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}
