# Executor's launcher: the one process a sandbox container starts with (PID 1).
#
# It boots the interpreter once, then blocks reading a single job from stdin: a JSON header line followed by
# the raw bytes of each file and of the user's stdin. It writes the files into the work directory, forks, and
# the child runs the entry script in the already-booted interpreter (no start-up cost). The launcher frames
# the child's output onto its own stdout and ends with an exit record that the child cannot forge: the
# child never holds the launcher's stdout. One job per container; the container ends when the launcher does.
#
# Frames on stdout: 1 byte kind, 4 bytes big-endian length, payload.
#   b"o" stdout bytes, b"e" stderr bytes, b"x" exit record (JSON).
# Between the child and the launcher, sys.stdout/sys.stderr writes travel on one "ordered" pipe (fd 3) as
# small frames (1 byte stream, 2 bytes length, payload) so the combined log keeps the order they were
# written in; raw writes to fds 1 and 2 (os.write, subprocesses) travel on plain pipes.
import ctypes
import io
import json
import os
import runpy
import select
import signal
import struct
import sys
import time
import traceback

WORK_DIR = "/sandbox"
ORDERED_FD = 3
ORDERED_MAX_PAYLOAD = 4093  # frame of at most PIPE_BUF bytes: atomic, never interleaved between writers
HEADER_LIMIT = 1 << 20
READ_SIZE = 65536


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def emit(kind, payload):
    write_all(1, kind + struct.pack(">I", len(payload)) + payload)


class OrderedWriter(io.RawIOBase):
    """Raw stream for the child's sys.stdout/sys.stderr: frames each write onto the ordered pipe."""

    def __init__(self, stream, fileno):
        super().__init__()
        self._stream = stream
        self._fileno = fileno

    def writable(self):
        return True

    def fileno(self):
        return self._fileno

    def isatty(self):
        return False

    def write(self, data):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), ORDERED_MAX_PAYLOAD):
            chunk = view[start:start + ORDERED_MAX_PAYLOAD]
            write_all(ORDERED_FD, self._stream + struct.pack(">H", len(chunk)) + chunk)
        return len(view)


def text_stream(raw, errors):
    return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, write_through=True)


def run_child(job, stdin_fd, out_w, err_w, ord_w):
    """In the forked child: become the user's program, as `python3 main.py args...` would."""
    os.dup2(stdin_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(ord_w, ORDERED_FD)
    os.closerange(ORDERED_FD + 1, 1 << 16)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # Under memory pressure the kernel should kill the user's process, never the launcher.
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "rb", closefd=False), encoding="utf-8", errors="surrogateescape")
    sys.stdout = sys.__stdout__ = text_stream(OrderedWriter(b"o", 1), "surrogateescape")
    sys.stderr = sys.__stderr__ = text_stream(OrderedWriter(b"e", 2), "backslashreplace")
    entry = os.path.join(WORK_DIR, job["entrypoint"])
    sys.argv = [job["entrypoint"], *job.get("args", [])]
    sys.path[0:0] = [os.path.dirname(entry)]
    os.chdir(WORK_DIR)
    code = 0
    try:
        runpy.run_path(entry, run_name="__main__")
    except SystemExit as e:
        code = exit_code_of(e)
    except BaseException as e:  # what the interpreter would print for an uncaught exception
        print_user_traceback(e, entry)
        code = 1
    try:
        import threading
        threading._shutdown()  # join non-daemon threads, as interpreter shutdown does
        import atexit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and not stream.closed:  # as the interpreter does at exit
                stream.flush()
    except SystemExit as e:
        code = exit_code_of(e)
    except BaseException as e:
        print_user_traceback(e, entry)
        code = code or 1
    os._exit(code)


def exit_code_of(e):
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    try:
        print(e.code, file=sys.stderr)
    except BaseException:
        pass
    return 1


def print_user_traceback(e, entry):
    # Hide the launcher's and runpy's frames: show the traceback from the user's first frame on.
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != entry:
        tb = tb.tb_next
    try:
        traceback.print_exception(type(e), e, tb)
        sys.stderr.flush()
    except BaseException:
        pass


class OrderedReader:
    """Parses the child's ordered frames; anything that is not a frame is passed on as stdout."""

    def __init__(self):
        self._buffer = b""
        self._raw = False

    def feed(self, data):
        if self._raw:
            return [(b"o", data)] if data else []
        self._buffer += data
        chunks = []
        while len(self._buffer) >= 3:
            stream = self._buffer[:1]
            size = struct.unpack(">H", self._buffer[1:3])[0]
            if stream not in (b"o", b"e") or size > ORDERED_MAX_PAYLOAD:
                chunks.append((b"o", self._buffer))
                self._buffer = b""
                self._raw = True
                break
            if len(self._buffer) < 3 + size:
                break
            chunks.append((stream, self._buffer[3:3 + size]))
            self._buffer = self._buffer[3 + size:]
        return chunks


class Supervisor:
    def __init__(self, job):
        self.job = job
        self.limit = int(job.get("output_limit_bytes", 1 << 20))
        self.emitted = 0
        self.over_limit = False
        self.truncated = set()

    def forward(self, kind, data):
        room = self.limit - self.emitted
        if len(data) > room:
            data = data[:max(room, 0)]
            self.over_limit = True
            self.truncated.add(kind)
        if data:
            self.emitted += len(data)
            emit(kind, data)

    def run(self, stdin_fd):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ord_r, ord_w = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                run_child(self.job, stdin_fd, out_w, err_w, ord_w)
            finally:
                os._exit(70)
        for fd in (stdin_fd, out_w, err_w, ord_w):
            os.close(fd)
        child = os.pidfd_open(pid)
        ordered = OrderedReader()
        sources = {out_r: b"o", err_r: b"e", ord_r: None}
        poller = select.poll()
        for fd in sources:
            poller.register(fd, select.POLLIN)
        poller.register(child, select.POLLIN)
        deadline = started + self.job.get("timeout_ms", 10000) / 1000
        outcome = None
        status = rusage = None

        def pump(fd):
            data = os.read(fd, READ_SIZE)
            if not data:
                poller.unregister(fd)
                del sources[fd]
                return
            kind = sources[fd]
            for k, chunk in ([(kind, data)] if kind else ordered.feed(data)):
                self.forward(k, chunk)

        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome = "timed_out"
                break
            for fd, _ in poller.poll(remaining * 1000):
                if fd == child:
                    _, status, rusage = os.wait4(pid, 0)
                elif fd in sources:
                    pump(fd)
            if self.over_limit:
                outcome = "output_limit_exceeded"
                break
        # The run is over when the entry script's process ends: whatever it left behind dies with it.
        kill_everything_else()
        if status is None:
            _, status, rusage = os.wait4(pid, 0)
        reap_orphans()
        drain_until = time.monotonic() + 1
        while sources and not self.over_limit and time.monotonic() < drain_until:
            for fd, _ in poller.poll(100):
                if fd in sources:
                    pump(fd)
        if self.over_limit:
            outcome = "output_limit_exceeded"
        wall = time.monotonic() - started
        record = {
            "outcome": outcome or "exited",
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_ms": round((rusage.ru_utime + rusage.ru_stime) * 1000, 3),
            "max_rss_bytes": rusage.ru_maxrss * 1024,
            "wall_ms": round(wall * 1000, 3),
            "oom_kills": oom_kills(),
            "stdout_truncated": b"o" in self.truncated,
            "stderr_truncated": b"e" in self.truncated,
        }
        emit(b"x", json.dumps(record).encode())


def oom_kills():
    """How many processes the kernel's OOM killer ended in this sandbox's memory cgroup (v1 or v2)."""
    for path, key in (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"), ("/sys/fs/cgroup/memory.events", "oom_kill")):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def kill_everything_else():
    # As PID 1 of the sandbox's PID namespace, kill(-1) reaches every other process in it and never us.
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reap_orphans():
    # Orphans are re-parented to PID 1: collect them once the entry script's own status is known.
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


def read_exact(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"job ended after {len(data)} of {size} bytes")
    return data


def safe_path(name):
    parts = name.split("/")
    if not name or name.startswith("/") or "\0" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe file name {name!r}")
    return os.path.join(WORK_DIR, *parts)


def receive_job():
    source = sys.stdin.buffer
    header = source.readline(HEADER_LIMIT)
    if not header.endswith(b"\n"):
        raise EOFError("no job header")
    job = json.loads(header)
    for f in job["files"]:
        path = safe_path(f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            write_all(fd, read_exact(source, f["size"]))
        finally:
            os.close(fd)
    safe_path(job["entrypoint"])
    stdin_fd = os.memfd_create("stdin")
    write_all(stdin_fd, read_exact(source, job.get("stdin_size", 0)))
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    return job, stdin_fd


def prepare():
    # Nobody in the sandbox may read our memory or our file descriptors through /proc: the child runs as the
    # same user, so make this process non-dumpable (its /proc entries become root's).
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The first run_path in a process pays for imports and caches; pay it here, before the job arrives.
    warm = os.path.join(WORK_DIR, ".warm.py")
    with open(warm, "w"):
        pass
    runpy.run_path(warm, run_name="__warm__")
    os.unlink(warm)


def main():
    prepare()
    try:
        job, stdin_fd = receive_job()
        Supervisor(job).run(stdin_fd)
    except Exception as e:  # the launcher's own failure: say so rather than end without a record
        kill_everything_else()
        emit(b"x", json.dumps({"outcome": "launcher_error", "detail": f"{type(e).__name__}: {e}"}).encode())


main()
