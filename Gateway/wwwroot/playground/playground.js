// Executor's playground: edit a script, run it in a sandbox, watch its output live, answer its input(), see its files.
// It uses the public API only: POST /execute, GET /result/{id}/events (output as it happens), GET /result/{id}/attach
// (a WebSocket: output, and the console's input for stdin_mode=interactive), POST /cleanup/{id}, GET /runtimes.
// The notebook mode (notebook.js, loaded after this file) shares its key, headers(), readEvents() and runtimes.
"use strict";

const EXAMPLES = {
  hello: { code: 'print("Hello from Python")\n' },
  input: {
    code: 'name = input("What is your name? ")\nprint(f"Hello, {name}!")\nfor i in range(3):\n    print(i, "squared is", i * i)\n',
  },
  pandas: {
    runtime: "python-3.11-data",
    code: 'import pandas as pd\n\nscores = pd.DataFrame({\n    "team": ["red", "blue", "red", "blue", "green"],\n    "points": [10, 7, 5, 12, 3],\n})\nprint(scores.groupby("team").points.agg(["sum", "mean", "count"]))\n',
  },
  plot: {
    runtime: "python-3.11-data",
    code: 'import numpy as np\nimport matplotlib.pyplot as plt\n\nx = np.linspace(0, 2 * np.pi, 200)\nfig, ax = plt.subplots(figsize=(5, 3))\nax.plot(x, np.sin(x), label="sin")\nax.plot(x, np.cos(x), label="cos")\nax.legend()\nfig.savefig("out/waves.png", dpi=100)\nprint("saved out/waves.png")\n',
  },
  loop: { code: 'import time\nprint("counting forever...", flush=True)\ni = 0\nwhile True:\n    i += 1\n    if i % 10_000_000 == 0:\n        print(i, flush=True)\n', timeout: 3 },
};

const $ = (id) => document.getElementById(id);
const consoleView = $("console");
let current = null; // { id, socket, controller }

const editor = window.ExecutorEditor.create($("editor"), EXAMPLES.hello.code, () => run());

function key() { return $("key").value.trim(); }

function headers() {
  return key() ? { Authorization: `Bearer ${key()}` } : {};
}

function write(text, kind) {
  const span = document.createElement("span");
  if (kind) span.className = kind;
  span.textContent = text;
  consoleView.append(span);
  consoleView.scrollTop = consoleView.scrollHeight;
}

/** Label-value pairs (empty values left out) as the rows of a description list: the run's status, the sandbox's. */
function showStatus(pairs, list = $("status")) {
  list.replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([label, value]) => {
    const row = document.createElement("div");
    row.dataset.label = label;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    row.append(dt, dd);
    return row;
  }));
}

async function loadRuntimes() {
  const response = await fetch("/runtimes", { headers: headers() });
  if (response.status === 401) {
    $("key-label").hidden = false;
    return;
  }
  if (!response.ok) return;
  const runtimes = await response.json();
  // The script's picker and the notebook's: the same runtimes, each its own choice.
  for (const select of document.querySelectorAll("select.runtime")) {
    select.replaceChildren();
    for (const runtime of runtimes) {
      const option = document.createElement("option");
      option.value = runtime.id;
      const packages = Object.keys(runtime.packages || {}).filter((p) => p !== "pytest");
      option.textContent = `${runtime.id}${packages.length ? ` (${packages.join(", ")})` : ""}`;
      option.selected = runtime.default;
      option.dataset.default = String(runtime.default);
      option.disabled = !runtime.available;
      select.append(option);
    }
  }
}

function setRunning(running) {
  $("run").disabled = running;
  $("stop").disabled = !running;
}

function setInput(enabled) {
  for (const id of ["input", "send", "eof"]) $(id).disabled = !enabled;
  if (enabled) $("input").focus();
}

async function run() {
  if (current) return;
  consoleView.replaceChildren();
  $("files").replaceChildren();
  showStatus([["status", "submitting"]]);
  const form = new FormData();
  form.append("file", new Blob([editor.value], { type: "text/x-python" }), "main.py");
  if ($("runtime").value) form.append("runtime", $("runtime").value);
  form.append("timeout_seconds", $("timeout").value || "10");
  const stdin = $("stdin").value;
  const interactive = stdin === "";
  if (interactive) form.append("stdin_mode", "interactive");
  else form.append("stdin", stdin);

  setRunning(true);
  let response;
  try {
    response = await fetch("/execute", { method: "POST", body: form, headers: headers() });
  } catch (e) {
    write(`Could not reach Executor: ${e.message}\n`, "stderr");
    setRunning(false);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) $("key-label").hidden = false;
    write(`${body.title || response.statusText}: ${body.detail || ""}\n`, "stderr");
    showStatus([["status", `refused (${response.status})`]]);
    setRunning(false);
    return;
  }
  current = { id: body.session_id };
  showStatus([["status", "queued"], ["session", body.session_id]]);
  if (interactive) attach(current);
  else follow(current);
}

function onEvent(session, type, data) {
  switch (type) {
    case "state":
      showStatus([["status", data.state], ["session", session.id]]);
      break;
    case "stdout":
    case "stderr":
      write(data.text, type === "stderr" ? "stderr" : "");
      break;
    case "error":
      write(`${data.detail}\n`, "note");
      break;
    case "result":
      finish(session, data);
      break;
  }
}

/** Interactive: output and input over the WebSocket (the key, if any, rides in a subprotocol: browsers send no headers). */
function attach(session) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/result/${session.id}/attach`;
  const protocols = ["executor", ...(key() ? [`executor.key.${key()}`] : [])];
  const socket = new WebSocket(url, protocols);
  session.socket = socket;
  socket.onopen = () => setInput(true);
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    onEvent(session, data.type, data.type === "result" ? data.result : data);
  };
  socket.onclose = () => setInput(false);
}

/** Batch: output as it happens from the event stream (read with fetch, so that it can carry the key). */
async function follow(session) {
  session.controller = new AbortController();
  try {
    const response = await fetch(`/result/${session.id}/events`, { headers: { ...headers(), Accept: "text/event-stream" }, signal: session.controller.signal });
    await readEvents(response, (type, data) => onEvent(session, type, data));
  } catch (e) {
    if (e.name !== "AbortError") write(`The event stream broke: ${e.message}\n`, "note");
  }
}

/** Reads a response's Server-Sent Events to their end, calling onEvent(type, data) with each event's JSON data. */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")));
    }
  }
}

function finish(session, result) {
  if (current !== session) return;
  current = null;
  setRunning(false);
  setInput(false);
  session.socket?.close();
  session.controller?.abort();
  const limits = result.limits ? `${result.limits.timeout_seconds} s, ${result.limits.memory_mb} MiB, ${result.limits.cpus} CPU` : "";
  showStatus([
    ["status", result.status],
    ["exit code", result.exit_code ?? (result.signal ? `signal ${result.signal}` : "")],
    ["duration", result.duration_ms !== undefined ? `${Math.round(result.duration_ms)} ms` : ""],
    ["memory", result.peak_memory_bytes ? `${(result.peak_memory_bytes / 1048576).toFixed(1)} MiB` : ""],
    ["runtime", result.runtime],
    ["limits", limits],
  ]);
  if (result.detail) write(`${result.detail}\n`, "note");
  showFiles(result.files || []);
}

// Raster images cannot carry script: only these are shown inline. Anything else a script wrote (an SVG, an HTML page)
// would run as this origin, with the page's key in reach, if opened from a blob: URL of its own type; it is offered as a
// download of untyped bytes instead, which a browser saves rather than renders.
const INLINE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

async function showFiles(files) {
  const container = $("files");
  for (const file of files) {
    const response = await fetch(file.url, { headers: headers() });
    if (!response.ok) continue;
    const type = (file.content_type || "").split(";")[0].trim().toLowerCase();
    const inline = INLINE_TYPES.includes(type);
    const blob = new Blob([await response.arrayBuffer()], { type: inline ? type : "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    if (inline) {
      const image = document.createElement("img");
      image.src = url;
      image.alt = `${file.path}, written by the script`;
      figure.append(image);
      caption.textContent = `${file.path} (${file.size} bytes)`;
    } else {
      const link = document.createElement("a");
      link.href = url;
      link.download = file.path.split("/").pop();
      link.textContent = `${file.path} (${file.size} bytes)`;
      caption.append(link);
    }
    figure.append(caption);
    container.append(figure);
  }
}

async function stop() {
  if (!current) return;
  $("stop").disabled = true;
  write("stopping...\n", "note");
  await fetch(`/cleanup/${current.id}`, { method: "POST", headers: headers() });
}

function send(text) {
  if (!current?.socket || current.socket.readyState !== WebSocket.OPEN) return;
  current.socket.send(text);
}

$("run").addEventListener("click", run);
$("stop").addEventListener("click", stop);
$("input-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const line = $("input").value;
  $("input").value = "";
  write(`${line}\n`, "stdin-echo");
  send(`${line}\n`);
});
$("eof").addEventListener("click", () => send("\u0004"));
$("example").addEventListener("change", () => {
  const example = EXAMPLES[$("example").value];
  editor.value = example.code;
  const options = [...$("runtime").options];
  const wanted = options.find((o) => o.value === example.runtime) || options.find((o) => o.dataset.default === "true") || options[0];
  if (wanted) $("runtime").value = wanted.value;
  $("timeout").value = example.timeout || 10;
  $("stdin").value = "";
});
$("key").addEventListener("change", () => {
  sessionStorage.setItem("executor-key", key());
  loadRuntimes();
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && !$("script").hidden) {
    event.preventDefault();
    run();
  }
});

/** The script and the notebook are two tabs of one page; #notebook in the address opens the notebook. */
function showMode(mode) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.getAttribute("aria-controls") === mode;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  history.replaceState(null, "", mode === "notebook" ? "#notebook" : location.pathname + location.search);
}
$("mode-script").addEventListener("click", () => showMode("script"));
$("mode-notebook").addEventListener("click", () => showMode("notebook"));
if (location.hash === "#notebook") showMode("notebook");
$("key").value = sessionStorage.getItem("executor-key") || "";
loadRuntimes();
