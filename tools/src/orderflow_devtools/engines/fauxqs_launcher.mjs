// Starts fauxqs on 127.0.0.1 only. fauxqs hard-codes `listen({host: "0.0.0.0"})`, so every
// net.Server.listen in this process is forced onto loopback before fauxqs is loaded.
// Usage: node fauxqs_launcher.mjs PORT   (FAUXQS_ROOT or the cwd holds node_modules/fauxqs)
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";

const LOOPBACK = "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    args[0] = { ...first, host: LOOPBACK };
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, cb]): put the host in second place.
    if (typeof args[1] === "string") args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  }
  return listen.apply(this, args);
};

const port = Number.parseInt(process.argv[2] ?? process.env.FAUXQS_PORT ?? "4566", 10);
const root = process.env.FAUXQS_ROOT ?? process.cwd();
const entry = path.join(root, "node_modules", "fauxqs", "dist", "app.js");
const { startFauxqs } = await import(pathToFileURL(entry).href);
const server = await startFauxqs({ port, logger: process.env.FAUXQS_LOGGER === "true" });
console.log(`fauxqs listening on http://${LOOPBACK}:${server.port}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
