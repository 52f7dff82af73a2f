/**
 * A loopback HTTP server that stands in for a carrier's REST API: it records
 * every request (method, path, query, auth header, content type, raw body,
 * parsed form or JSON) and answers with whatever the test's route returns.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  contentType: string | null;
  userAgent: string | null;
  text: string;
  /** Form fields (`application/x-www-form-urlencoded` bodies). */
  form?: Record<string, string>;
  /** Parsed JSON bodies. */
  json?: unknown;
}

export interface FakeReply {
  status?: number;
  json?: unknown;
  text?: string;
}

export interface FakeRest {
  /** `http://127.0.0.1:PORT` */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export function serveFakeRest(
  route: (request: RecordedRequest) => FakeReply | Promise<FakeReply>,
): FakeRest {
  const requests: RecordedRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const text = await request.text();
      const contentType = request.headers.get("content-type");
      const recorded: RecordedRequest = {
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: request.headers.get("authorization"),
        contentType,
        userAgent: request.headers.get("user-agent"),
        text,
      };
      if (contentType?.includes("application/x-www-form-urlencoded")) {
        recorded.form = Object.fromEntries(new URLSearchParams(text));
      } else if (contentType?.includes("json") && text) {
        recorded.json = JSON.parse(text);
      }
      requests.push(recorded);
      const reply = await route(recorded);
      const status = reply.status ?? 200;
      if (reply.json !== undefined) {
        return Response.json(reply.json, { status });
      }
      return new Response(
        status === 204 ? null : reply.text ?? "",
        { status },
      );
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** Basic-auth header value the tests expect. */
export function basic(user: string, password: string): string {
  return `Basic ${btoa(`${user}:${password}`)}`;
}
