// The playground's notebook mode: cells that run one after another in one stateful sandbox, sharing its variables and
// files, each cell's outputs under it. It uses the public API only: POST /sandboxes, GET and DELETE /sandboxes/{id},
// POST /sandboxes/{id}/run (as an event stream: output as it happens, then the result), /interrupt and /restart.
// Loaded after playground.js, whose $, headers(), showStatus() and readEvents() it uses.
"use strict";

const notebook = {
  sandbox: null, // the sandbox's view (as GET /sandboxes/{id} answers) once created, until closed or replaced
  starting: null, // the creation under way, so that cells queued meanwhile share one sandbox
  pending: [], // cells waiting for their turn, in order
  running: null, // the cell whose call runs
  cells: [],
};

function alive() {
  return notebook.sandbox?.state === "running";
}

// What is shown of a result, best first (Jupyter's order). Images are <img> from data: URLs (an image runs no script,
// an SVG in <img> neither); HTML is rendered only in a sandboxed frame (below); anything else as text.
const RICH = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "application/json", "text/plain"];

function addCell(code = "", after = null) {
  const cell = { element: document.createElement("section") };
  cell.element.className = "cell";
  cell.element.setAttribute("aria-label", "Cell");
  const input = document.createElement("div");
  input.className = "cell-input";
  cell.prompt = document.createElement("span");
  cell.prompt.className = "prompt";
  cell.prompt.textContent = "[ ]:";
  const editorHost = document.createElement("div");
  editorHost.className = "cell-editor";
  const actions = document.createElement("div");
  actions.className = "cell-actions";
  const run = button("▶", "Run this cell (Shift+Enter runs it and moves to the next)", () => enqueue([cell]));
  run.classList.add("cell-run");
  const remove = button("✕", "Delete this cell", () => deleteCell(cell));
  remove.classList.add("cell-delete");
  actions.append(run, remove);
  input.append(cell.prompt, editorHost, actions);
  cell.outputs = document.createElement("div");
  cell.outputs.className = "outputs";
  cell.outputs.setAttribute("role", "log");
  cell.outputs.setAttribute("aria-label", "Output");
  cell.element.append(input, cell.outputs);

  const index = after ? notebook.cells.indexOf(after) + 1 : notebook.cells.length;
  const next = notebook.cells[index];
  $("cells").insertBefore(cell.element, next ? next.element : null);
  notebook.cells.splice(index, 0, cell);
  cell.editor = window.ExecutorEditor.create(editorHost, code, () => enqueue([cell]), {
    label: "Cell code",
    keys: { "Shift-Enter": () => runAndAdvance(cell) },
  });
  return cell;
}

function button(text, title, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.title = title;
  element.setAttribute("aria-label", title);
  element.addEventListener("click", onClick);
  return element;
}

/** Shift+Enter, as in Jupyter: run the cell and go to the next one, adding it at the end. */
function runAndAdvance(cell) {
  enqueue([cell]);
  const next = notebook.cells[notebook.cells.indexOf(cell) + 1] || addCell("", cell);
  next.editor.focus();
}

function deleteCell(cell) {
  if (notebook.running === cell) return;
  notebook.pending = notebook.pending.filter((c) => c !== cell);
  notebook.cells.splice(notebook.cells.indexOf(cell), 1);
  cell.element.remove();
  if (notebook.cells.length === 0) addCell();
}

/** Queues cells to run in order; an empty cell is skipped, as Jupyter skips it. */
function enqueue(cells) {
  for (const cell of cells) {
    if (cell === notebook.running || notebook.pending.includes(cell) || !cell.editor.value.trim()) continue;
    cell.prompt.textContent = "[*]:";
    cell.element.dataset.state = "queued";
    notebook.pending.push(cell);
  }
  pump();
}

/** Runs the queued cells one at a time; a cell that does not end ok drops the rest of the queue, as Jupyter does. */
async function pump() {
  if (notebook.running) return;
  while (notebook.pending.length) {
    const cell = notebook.pending.shift();
    notebook.running = cell;
    cell.element.dataset.state = "running";
    showControls();
    let ok = false;
    try {
      ok = await execute(cell);
    } catch (e) {
      note(cell, `The call broke: ${e.message}`);
    }
    delete cell.element.dataset.state;
    notebook.running = null;
    if (!ok) dropQueue();
    showControls();
  }
}

function dropQueue() {
  for (const cell of notebook.pending) {
    cell.prompt.textContent = cell.count ? `[${cell.count}]:` : "[ ]:";
    delete cell.element.dataset.state;
  }
  notebook.pending = [];
}

/** Runs one cell in the sandbox (creating one if there is none); true when it ended ok. */
async function execute(cell) {
  const sandbox = await ensureSandbox().catch((e) => { note(cell, e.message); return null; });
  if (!sandbox) {
    cell.prompt.textContent = "[ ]:";
    return false;
  }
  cell.outputs.replaceChildren();
  const response = await fetch(`/sandboxes/${sandbox.sandbox_id}/run`, {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ code: cell.editor.value, timeout_seconds: Number($("nb-timeout").value) || 30 }),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    note(cell, `${problem.title || response.statusText}: ${problem.detail || ""}`);
    cell.prompt.textContent = "[ ]:";
    await refreshSandbox();
    return false;
  }
  let result = null;
  if ((response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    // Output as it happens; the result that ends the stream then shows everything in its order.
    await readEvents(response, (type, data) => {
      if (type === "stdout" || type === "stderr") appendStream(cell.outputs, type, data.text);
      else if (type === "result") result = data;
    });
  } else {
    result = await response.json();
  }
  if (!result) {
    note(cell, "The call's stream ended without its result.");
    return false;
  }
  showResult(cell, result);
  refreshSandbox();
  return result.status === "ok";
}

function showResult(cell, result) {
  cell.outputs.replaceChildren();
  for (const output of result.outputs || []) renderOutput(cell.outputs, output);
  cell.count = result.execution_count;
  cell.prompt.textContent = cell.count ? `[${cell.count}]:` : "[ ]:";
  cell.element.dataset.status = result.status;
  const why = {
    timed_out: "The cell ran past its timeout and was interrupted.",
    interrupted: "Interrupted.",
    memory_exceeded: "The cell ran out of memory: Python was restarted, its variables are gone (files are kept).",
    output_limit_exceeded: "The cell wrote more output than allowed: it was interrupted and its output cut.",
    kernel_died: "Python ended unexpectedly: its variables are gone (files are kept).",
  }[result.status];
  if (why) note(cell, why);
  else if (result.kernel_restarted) note(cell, "Python was restarted: its variables are gone (files are kept).");
}

function renderOutput(container, output) {
  switch (output.output_type) {
    case "stream":
      appendStream(container, output.name, output.text);
      break;
    case "execute_result":
    case "display_data":
      container.append(renderBundle(output.data || {}));
      break;
    case "error": {
      const pre = document.createElement("pre");
      pre.className = "error";
      const lines = (output.traceback || []).map(plain);
      pre.textContent = lines.length ? lines.join("\n") : `${output.ename}: ${output.evalue}`;
      container.append(pre);
      break;
    }
  }
}

/** Consecutive chunks of one stream read as one block, as in a terminal. */
function appendStream(container, name, text) {
  const last = container.lastElementChild;
  if (last?.dataset.stream === name) {
    last.textContent += text;
    return;
  }
  const pre = document.createElement("pre");
  pre.className = `stream ${name}`;
  pre.dataset.stream = name;
  pre.textContent = text;
  container.append(pre);
}

function renderBundle(data) {
  const mime = RICH.find((m) => data[m] !== undefined && data[m] !== null);
  const value = data[mime];
  if (mime === "text/html") return htmlFrame(value);
  if (mime?.startsWith("image/")) {
    const image = document.createElement("img");
    image.className = "rich";
    // data: URLs, not blob: ones: an image opened in a tab of its own from a data: URL gets no origin (an SVG's script
    // in a blob: URL of this page would run as the page).
    image.src = mime === "image/svg+xml"
      ? `data:image/svg+xml;charset=utf-8,${encodeURIComponent(value)}`
      : `data:${mime};base64,${String(value).replace(/\s/g, "")}`;
    image.alt = data["text/plain"] ? plain(data["text/plain"]) : mime;
    return image;
  }
  const pre = document.createElement("pre");
  pre.className = "result";
  pre.textContent = mime === "application/json" ? JSON.stringify(value, null, 2) : plain(value ?? "");
  return pre;
}

/**
 * HTML a cell produced (a DataFrame's table, anything a _repr_html_ returns) is the code's, so it may carry script. It is
 * shown in a frame whose sandbox withholds scripts, forms, pop-ups and navigation of the page: nothing in it runs, so
 * nothing in it reaches this page or its key. allow-same-origin without allow-scripts only lets this page read the
 * frame's height to fit it; the page's content security policy, which the frame inherits, still holds.
 */
function htmlFrame(html) {
  const frame = document.createElement("iframe");
  frame.className = "html-output";
  frame.setAttribute("sandbox", "allow-same-origin");
  frame.setAttribute("referrerpolicy", "no-referrer");
  frame.title = "HTML output";
  frame.srcdoc = `<!doctype html><meta charset="utf-8"><style>body{margin:0;padding:4px;font:13px system-ui,sans-serif;color:#1d2330;background:#fff}`
    + `table{border-collapse:collapse}th,td{padding:.2rem .5rem;border-bottom:1px solid #d6dbe4;text-align:right}</style>${html}`;
  frame.addEventListener("load", () => {
    const body = frame.contentDocument?.body;
    if (body) frame.style.height = `${Math.min(Math.max(body.scrollHeight, 20) + 8, 600)}px`;
  });
  return frame;
}

/** Tracebacks come coloured for a terminal: the colours' escape codes are dropped. */
function plain(text) {
  return String(text).replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");
}

function note(cell, text) {
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = text;
  cell.outputs.append(p);
}

async function ensureSandbox() {
  if (alive()) return notebook.sandbox;
  notebook.starting ??= createSandbox().finally(() => { notebook.starting = null; });
  return notebook.starting;
}

async function createSandbox() {
  message("starting a sandbox ...", "info");
  const runtime = $("nb-runtime").value;
  const response = await fetch("/sandboxes", {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify(runtime ? { runtime } : {}),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) $("key-label").hidden = false;
    const why = `No sandbox (${response.status}): ${body.title || response.statusText}. ${body.detail || ""}`;
    message(why);
    throw new Error(why);
  }
  message("");
  showSandbox(body);
  return body;
}

async function refreshSandbox() {
  if (!notebook.sandbox || notebook.sandbox.state !== "running") return;
  const response = await fetch(`/sandboxes/${notebook.sandbox.sandbox_id}`, { headers: headers() }).catch(() => null);
  if (response?.ok) showSandbox(await response.json());
  else if (response?.status === 404) showSandbox({ ...notebook.sandbox, state: "ended", ended_reason: "gone" });
}

function showSandbox(view) {
  notebook.sandbox = view;
  showControls();
  showSandboxStatus();
}

function showSandboxStatus() {
  const view = notebook.sandbox;
  const status = $("nb-status");
  status.dataset.sandboxId = view?.sandbox_id || "";
  status.dataset.state = view?.state || "";
  if (!view) {
    status.replaceChildren();
    return;
  }
  showStatus([
    ["sandbox", view.state],
    ["runtime", view.runtime],
    ["cells run", view.executions],
    ["expires", view.state === "running" ? expiry(view) : ""],
    ["ended", view.state === "running" ? "" : (view.ended_reason || "yes")],
    ["id", view.sandbox_id],
  ], status);
  const expires = status.querySelector("[data-label=expires] dd");
  if (expires) expires.title = `after ${Math.round(view.idle_timeout_seconds / 60)} min without a call, or at ${new Date(view.expires_at).toLocaleTimeString()} at the latest`;
}

/** How long the sandbox has left: the sooner of its idle timeout (from its last call) and the end of its lifetime. */
function expiry(view) {
  const until = Math.min(Date.parse(view.idle_expires_at || view.expires_at), Date.parse(view.expires_at));
  const seconds = Math.max(0, Math.round((until - Date.now()) / 1000));
  return `in ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function showControls() {
  const live = alive();
  $("nb-start").disabled = live || notebook.starting !== null;
  $("nb-runtime").disabled = live;
  $("nb-interrupt").disabled = !live || !notebook.running;
  $("nb-restart").disabled = !live;
  $("nb-close").disabled = !live;
}

function message(text, kind = "problem") {
  $("nb-message").textContent = text;
  $("nb-message").dataset.kind = kind;
}

async function interrupt() {
  if (!alive()) return;
  dropQueue();
  await fetch(`/sandboxes/${notebook.sandbox.sandbox_id}/interrupt`, { method: "POST", headers: headers() });
}

async function restart() {
  if (!alive()) return;
  dropQueue();
  const response = await fetch(`/sandboxes/${notebook.sandbox.sandbox_id}/restart`, { method: "POST", headers: headers() });
  if (response.ok) {
    showSandbox(await response.json());
    message("Restarted: a fresh Python, variables gone, files kept.", "info");
  }
}

async function close() {
  if (!alive()) return;
  dropQueue();
  const id = notebook.sandbox.sandbox_id;
  const response = await fetch(`/sandboxes/${id}`, { method: "DELETE", headers: headers() });
  if (response.ok) showSandbox({ ...notebook.sandbox, state: "ended", ended_reason: "closed" });
}

$("nb-add").addEventListener("click", () => addCell("", notebook.cells.at(-1)).editor.focus());
$("nb-start").addEventListener("click", () => ensureSandbox().then(showControls, () => showControls()));
$("nb-run-all").addEventListener("click", () => enqueue(notebook.cells));
$("nb-interrupt").addEventListener("click", interrupt);
$("nb-restart").addEventListener("click", restart);
$("nb-close").addEventListener("click", close);
$("nb-runtime").addEventListener("change", showControls);

// The countdown ticks every second; the sandbox's own view (last call, state) is read again every 15 s, so that an idle
// expiry or a sandbox ended elsewhere shows.
setInterval(() => { if (alive()) showSandboxStatus(); }, 1000);
setInterval(() => { if (alive() && !notebook.running) refreshSandbox(); }, 15000);

// Leaving the page ends its sandbox (best effort: a request that outlives the page); one that is not ended here ends by
// itself after its idle timeout.
addEventListener("pagehide", () => {
  if (alive()) fetch(`/sandboxes/${notebook.sandbox.sandbox_id}`, { method: "DELETE", headers: headers(), keepalive: true });
});

addCell();
showControls();
