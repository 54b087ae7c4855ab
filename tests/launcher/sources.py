"""What the launcher's tests are about: Sandbox/launcher.py, imported as a module (its main() runs only as a script),
and the frames' golden file, both found from this folder's place in the repository (mounted read-only at /src when the
tests run inside the runtime image)."""
import importlib.util
import json
import os
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAUNCHER_PATH = os.path.join(ROOT, "Sandbox", "launcher.py")
GOLDEN_PATH = os.path.join(ROOT, "Contracts", "frames.golden.json")


def _load_launcher():
    spec = importlib.util.spec_from_file_location("launcher", LAUNCHER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launcher = _load_launcher()

with open(GOLDEN_PATH, encoding="utf-8") as f:
    golden = json.load(f)


def pipe_with(data):
    """A pipe's read end that yields data and then its end (data must fit in the pipe's buffer)."""
    r, w = os.pipe()
    launcher.write_all(w, data)
    os.close(w)
    return r


def kernel_writes(*messages):
    """The bytes a kernel writes on its ordered pipe for these messages (launcher.Kernel's writer alone, no process)."""
    kernel = launcher.Kernel.__new__(launcher.Kernel)
    kernel.lock = launcher.threading.Lock()
    r, w = os.pipe()
    saved, launcher.ORDERED_FD = launcher.ORDERED_FD, w
    try:
        for message in messages:
            kernel.message(message)
    finally:
        launcher.ORDERED_FD = saved
        os.close(w)
    try:
        return read_all(r)
    finally:
        os.close(r)


def parse_frames(data):
    """Launcher frames (kind, payload), the kind as a str."""
    frames, at = [], 0
    while at < len(data):
        kind, size = data[at:at + 1].decode(), struct.unpack(">I", data[at + 1:at + 5])[0]
        frames.append((kind, data[at + 5:at + 5 + size]))
        at += 5 + size
    return frames


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
