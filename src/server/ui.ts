/**
 * The built-in page served at `/`.
 *
 * @module
 */

/** Options of {@linkcode renderIndexPage}. */
export interface IndexPageOptions {
  /** Page title (default "Parley"). */
  title?: string;
  /** Line under the title. */
  subtitle?: string;
  /** Whether WebRTC is offered. */
  webrtc?: boolean;
}

/**
 * Renders the built-in page.
 *
 * @example
 * ```ts
 * import { renderIndexPage } from "@parley/parley";
 * const html = renderIndexPage({ title: "Echo bot" });
 * ```
 *
 * @param options Title and subtitle.
 * @returns HTML.
 */
export function renderIndexPage(options: IndexPageOptions = {}): string {
  const title = escapeHtml(options.title ?? "Parley");
  const subtitle = escapeHtml(options.subtitle ?? "Talk to the bot");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title></head>
<body><main><h1>${title}</h1><p>${subtitle}</p>
<p>Endpoints: <code>WS /websocket/offer</code>, <code>POST /telephone/incoming</code>,
<code>WS /telephone/handler</code>${
    options.webrtc ? ", <code>POST /webrtc/offer</code>" : ""
  }.</p></main></body></html>`;
}

/**
 * Escapes text for HTML.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "@parley/parley";
 * escapeHtml("<b>"); // "&lt;b&gt;"
 * ```
 *
 * @param text Any text.
 * @returns Escaped text.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!
  );
}
