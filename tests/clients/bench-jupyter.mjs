// The Jupyter surface's cost, as a notebook client sees it: @jupyterlab/services' KernelManager.startNew() (a sandbox),
// then requestExecute('1+1') until done (the WebSocket, kernel_info, the call), N times; the kernel is shut down after
// each (not timed). Prints the medians as one line of JSON.
// Usage: node bench-jupyter.mjs URL KEY [N]   e.g. node bench-jupyter.mjs http://localhost:5000/ "$EXECUTOR_KEY" 20
import { KernelManager, ServerConnection } from "@jupyterlab/services";

// A fourth argument pauses that many ms between samples; every sample is printed too (start_samples, total_samples).
const [baseUrl, token, count, pause] = process.argv.slice(2);
const n = Number(count ?? 10);
console.debug = () => {}; // the client logs each WebSocket it opens: keep stdout to the result
const kernels = new KernelManager({ serverSettings: ServerConnection.makeSettings({ baseUrl, token: token ?? "" }) });
const median = values => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = ms => Math.round(ms * 10) / 10;

const start = [], cell = [], total = [];
for (let i = 0; i < n; i++) {
  if (i > 0 && Number(pause ?? 0) > 0) await new Promise(resolve => setTimeout(resolve, Number(pause)));
  const began = performance.now();
  const kernel = await kernels.startNew({ name: "python3" });
  const started = performance.now();
  const reply = await kernel.requestExecute({ code: "1+1" }).done;
  const done = performance.now();
  if (reply.content.status !== "ok") {
    throw new Error(`1+1 ended ${reply.content.status}: ${JSON.stringify(reply.content)}`);
  }
  start.push(started - began);
  cell.push(done - started);
  total.push(done - began);
  await kernel.shutdown();
}
kernels.dispose();
console.log(JSON.stringify({ surface: "jupyter", n, start_ms: round(median(start)), first_cell_ms: round(median(cell)), total_ms: round(median(total)),
  start_samples: start.map(round), total_samples: total.map(round) }));
