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


def wheel(name, version, source):
    """A pure-Python wheel of one module (name/__init__.py holding source), as pip installs it."""
    import base64
    import hashlib
    import io
    import zipfile
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": source.encode(),
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b'=').decode()},{len(content)}\n"
                     for path, content in files.items()) + f"{info}/RECORD,,\n"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        for path, content in files.items():
            z.writestr(path, content)
        z.writestr(f"{info}/RECORD", record)
    return data.getvalue()


class FakeProxy:
    """The runner host's egress proxy as the launcher sees it: a Unix socket (proxy.sock in a directory of its own, as the
    runner makes one per run). A connection that starts with ECHO gets every byte back, then the end of its sending; any
    other is an HTTP request in absolute form, answered (Connection: close) with the package index of one wheel (hsdemo,
    under /simple/ and /files/) or with its own request line. The request lines it was sent are in .requests."""

    WHEEL = wheel("hsdemo", "1.0", "VALUE = 42\n")
    WHEEL_NAME = "hsdemo-1.0-py3-none-any.whl"

    def __init__(self):
        import socket
        import tempfile
        import threading
        self.directory = tempfile.mkdtemp()
        self.path = os.path.join(self.directory, "proxy.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(64)
        self.requests = []
        self.threading = threading
        threading.Thread(target=self.serve, daemon=True).start()

    def header(self, port=3128, authority=None):
        """The job header's "egress" for this proxy."""
        return {"socket": self.path, "port": port, "authority": authority}

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return  # closed
            self.threading.Thread(target=self.answer, args=(connection,), daemon=True).start()

    def answer(self, connection):
        import hashlib
        import socket
        with connection:
            data = b""
            while len(data) < 4 or (not data.startswith(b"ECHO") and b"\r\n\r\n" not in data):
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            if data.startswith(b"ECHO"):
                while data:
                    connection.sendall(data)
                    data = connection.recv(65536)
                connection.shutdown(socket.SHUT_WR)
                return
            line = data.split(b"\r\n", 1)[0].decode()
            self.requests.append(line)
            target = line.split(" ")[1]
            path = "/" + target.split("/", 3)[3] if target.startswith("http://") else target
            if path.rstrip("/") == "/simple/hsdemo":
                digest = hashlib.sha256(self.WHEEL).hexdigest()
                body = f'<html><body><a href="/files/{self.WHEEL_NAME}#sha256={digest}">{self.WHEEL_NAME}</a></body></html>'.encode()
                kind = "text/html"
            elif path == f"/files/{self.WHEEL_NAME}":
                body, kind = self.WHEEL, "application/octet-stream"
            else:
                body, kind = line.encode(), "text/plain"
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                               + body)

    def close(self):
        self.server.close()
        import shutil
        shutil.rmtree(self.directory, ignore_errors=True)
