/**
 * The transport baseline of the streaming section: BYTES over loopback
 * TLS 1.3 with no HTTP/2 and no gRPC, sent in 64 KiB writes.
 *
 * ```sh
 * _tls_pump.ts serve-node|serve-deno PORT BYTES CERT KEY   # prints "ready", serves one reader
 * _tls_pump.ts read-node|read-deno PORT BYTES CA           # prints {"ms": .., "rssMiB": ..}
 * ```
 *
 * `node` is node:tls (what grpc-js uses in Deno), `deno` is Deno's own
 * TLS. The development server certificate names both localhost and
 * 127.0.0.1.
 *
 * @module
 */
import tls from "node:tls";

const [mode, portText, bytesText, ...files] = Deno.args;
const port = Number(portText);
const total = Number(bytesText);
const block = new Uint8Array(64 * 1024);
const read = (path: string | undefined) => Deno.readTextFileSync(path!);

function report(t0: number, received: number): void {
  if (received !== total) throw new Error(`received ${received} bytes of ${total}`);
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms, rssMiB: Deno.memoryUsage().rss / 2 ** 20 }));
}

if (mode === "serve-node") {
  const server = tls.createServer({ cert: read(files[0]), key: read(files[1]) }, (socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(block.length, total - sent);
        sent += n;
        if (!socket.write(block.subarray(0, n))) return void socket.once("drain", pump);
      }
      socket.end(() => server.close());
    };
    pump();
  });
  server.listen(port, "127.0.0.1", () => console.log("ready"));
} else if (mode === "serve-deno") {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    cert: read(files[0]),
    key: read(files[1]),
  });
  console.log("ready");
  const conn = await listener.accept();
  for (let sent = 0; sent < total;) {
    const n = Math.min(block.length, total - sent);
    let off = 0;
    while (off < n) off += await conn.write(block.subarray(off, n));
    sent += n;
  }
  conn.close();
  listener.close();
} else if (mode === "read-node") {
  const t0 = performance.now();
  let received = 0;
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: read(files[0]),
    servername: "localhost",
  });
  socket.on("data", (data: Uint8Array) => received += data.length);
  socket.on("end", () => report(t0, received));
} else if (mode === "read-deno") {
  const t0 = performance.now();
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [read(files[0])] });
  const buffer = new Uint8Array(1024 * 1024);
  let received = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) received += n;
  conn.close();
  report(t0, received);
} else {
  throw new Error(`unknown mode ${mode}; see the module doc`);
}
