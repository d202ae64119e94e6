// Starts Miniflare with one D1 database and one KV namespace, its local
// explorer API enabled, on 127.0.0.1 at a free port. Prints one JSON line,
// {"url", "d1", "kv"}, once it is ready, and stops when stdin closes (when the
// Rust test that started it ends).
import { Miniflare } from "miniflare";

const d1 = "00000000-0000-4000-8000-00000000d1d1";
const kv = "0000000000000000000000000000c0de";
const mf = new Miniflare({
  modules: true,
  script: "export default { fetch() { return new Response('ok') } }",
  host: "127.0.0.1",
  port: 0,
  d1Databases: { DB: d1 },
  kvNamespaces: { KV: kv },
  unsafeLocalExplorer: true,
});
const url = await mf.ready;
process.stdout.write(JSON.stringify({ url: url.href, d1, kv }) + "\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await mf.dispose();
  process.exit(0);
});
