import assert from "node:assert/strict";

Deno.test("a call's context does not leak into unrelated code (lazy imports run in the root context)", async () => {
  // A fresh process, so the VAD's onnxruntime import really is the first.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      new URL("../support/context_leak_probe.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const seen = JSON.parse(stdout.split("\n").at(-1)!);
  assert.equal(seen.replies, 1, "the call was answered");
  assert.equal(seen.during, "no context", "another server's handler, mid-call");
  assert.equal(
    seen.after,
    "no context",
    "another server's handler, after the call",
  );
});
