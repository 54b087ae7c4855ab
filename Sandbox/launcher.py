# Executor's launcher: the one process a sandbox container starts with (PID 1).
#
# It boots the interpreter once and forks, ahead of any job, the process that will become the user's program:
# that child drops to the sandbox's user, sets up its streams and then blocks on a control pipe. The launcher blocks
# reading a single job from stdin: a JSON header line followed by the raw bytes of each file and of the user's stdin,
# and passes it all to the child, which writes the files into the work directory and runs the entry script in the
# already-booted interpreter (no start-up cost, not even a fork). The launcher frames the child's output onto its
# own stdout and ends with an exit record that the child cannot forge. One job per container; the container ends when
# the launcher does.
#
# A runtime's heavy packages (argv[2], comma-separated module names, e.g. numpy and pandas for python-3.11-data) are
# imported before the child is forked: the script finds them in sys.modules, already paid for.
#
# Two users: the launcher runs as root with no capability but SETUID, SETGID and KILL (to become the sandbox user in
# the child, and to kill whatever the script leaves); the script runs as the sandbox user (argv[1], uid:gid) with no
# capability at all. So the script can neither signal its supervisor nor open anything of its in /proc (its stdout,
# where the record goes), whatever the kernel: under runc the PID namespace already shields PID 1 from signals, but
# gVisor (runsc) does not, and lets a process of the same user open /proc/1/fd/1.
#
# Frames on stdout: 1 byte kind, 4 bytes big-endian length, payload.
#   b"r" ready (empty: booted, waiting for a job), b"a" accepted (empty: the job was read; from here on it never runs
#   elsewhere), b"o" stdout bytes, b"e" stderr bytes, b"f" a file the script left in /sandbox/out (2 bytes big-endian
#   path length, the path relative to out/, the content), b"d" a file left out (JSON: path, size, reason), b"x" exit
#   record (JSON).
# Frames on stdin after the job, when it is interactive ("interactive": true): b"i" bytes for the script's stdin, b"c"
# (empty) end of input. The end of the launcher's stdin is the end of input too.
# Between the child and the launcher, sys.stdout/sys.stderr writes travel on one "ordered" pipe (fd 3) as
# small frames (1 byte stream, 2 bytes length, payload) so the combined log keeps the order they were
# written in; raw writes to fds 1 and 2 (os.write, subprocesses) travel on plain pipes. When the script ends normally
# the child adds an empty b"n" frame if /sandbox/out is empty, which spares the launcher collecting files (a script
# that forges it only loses its own files).
import atexit
import ctypes
import io
import json
import os
import re
import runpy
import select
import signal
import stat
import struct
import sys
import threading  # imported here, not at the script's exit: importing it there costs a millisecond
import time
import traceback

WORK_DIR = "/sandbox"
OUT_DIR = os.path.join(WORK_DIR, "out")
ORDERED_FD = 3
CONTROL_FD = 4
ORDERED_MAX_PAYLOAD = 4093  # frame of at most PIPE_BUF bytes: atomic, never interleaved between writers
HEADER_LIMIT = 1 << 20
READ_SIZE = 65536
FLUSH_BYTES = 65536
FLUSH_AFTER = 0.005  # seconds output may wait to travel with more
LINGER_AFTER_RECORD = 1.0  # seconds
OUT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\Z")  # as uploads' names (SessionService WorkingDirectory)
OUT_PATH_MAX = 255
OUT_DEPTH_MAX = 16
OUT_ENTRIES_MAX = 4096
OUT_DROPPED_MAX = 100
COLLECT_SECONDS = 2.0


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("control pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def emit(kind, payload):
    write_all(1, frame(kind, payload))


def frame(kind, payload):
    return kind + struct.pack(">I", len(payload)) + payload


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


class Child:
    """The user's program-to-be, forked before the job arrives and waiting on the control pipe."""

    def __init__(self, user):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ord_r, ord_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        in_r, in_w = os.pipe()  # the script's stdin when the job is interactive
        self.pid = os.fork()
        if self.pid == 0:
            try:
                child_main(user, out_w, err_w, ord_w, ctl_r, in_r)
            finally:
                os._exit(70)
        for fd in (out_w, err_w, ord_w, ctl_r, in_r):
            os.close(fd)
        self.out, self.err, self.ordered, self.control, self.stdin = out_r, err_r, ord_r, ctl_w, in_w

    def go(self, job, files, stdin):
        """Hands the child its job; from here on it is the user's program. An interactive job's stdin comes later."""
        message = json.dumps({
            "entrypoint": job["entrypoint"],
            "args": job.get("args", []),
            "files": [{"path": f["path"], "size": len(content)} for f, content in zip(job["files"], files)],
            "stdin_size": len(stdin),
            "interactive": bool(job.get("interactive")),
        }).encode()
        write_all(self.control, struct.pack(">I", len(message)) + message)
        for content in files:
            write_all(self.control, content)
        write_all(self.control, stdin)
        os.close(self.control)


def child_main(user, out_w, err_w, ord_w, ctl_r, in_r):
    become(user)
    # Before anything else: never hold the launcher's stdin (the job) or stdout (the frames).
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(ord_w, ORDERED_FD)
    os.dup2(ctl_r, CONTROL_FD)
    os.dup2(in_r, CONTROL_FD + 1)
    os.closerange(CONTROL_FD + 2, 1 << 16)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # Under memory pressure the kernel should kill the user's process, never the launcher.
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    stdout = text_stream(OrderedWriter(b"o", 1), "surrogateescape")
    stderr = text_stream(OrderedWriter(b"e", 2), "backslashreplace")

    # Wait for the job; write its files as the sandbox's user.
    size = struct.unpack(">I", read_exactly(CONTROL_FD, 4))[0]
    job = json.loads(read_exactly(CONTROL_FD, size))
    for f in job["files"]:
        write_file(f["path"], read_exactly(CONTROL_FD, f["size"]))
    try:
        os.mkdir(OUT_DIR, 0o755)  # where the script leaves the files it hands back
    except OSError:
        pass  # uploaded already, or a file of that name: whatever is there comes back
    if job["interactive"]:
        os.dup2(CONTROL_FD + 1, 0)  # a pipe the launcher feeds as input arrives
    else:
        stdin = os.memfd_create("stdin")
        write_all(stdin, read_exactly(CONTROL_FD, job["stdin_size"]))
        os.lseek(stdin, 0, os.SEEK_SET)
        os.dup2(stdin, 0)
        os.close(stdin)
    os.close(CONTROL_FD + 1)
    os.close(CONTROL_FD)
    run_user_program(job, stdout, stderr)


def become(user):
    """Drops from the launcher's root to the sandbox's user: every capability goes with the change of uid."""
    if os.getuid() != 0:
        return  # started as the sandbox's user already (a container that forbids root): nothing to drop
    uid, _, gid = user.partition(":")
    os.setgroups([])
    os.setgid(int(gid or uid))
    os.setuid(int(uid))
    if os.getuid() == 0 or os.geteuid() == 0:
        raise PermissionError("could not leave root")


def write_file(name, content):
    path = safe_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        write_all(fd, content)
    finally:
        os.close(fd)


def run_user_program(job, stdout, stderr):
    """Become the user's program, as `python3 /sandbox/<entrypoint> args...` run from /sandbox would."""
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "rb", closefd=False), encoding="utf-8", errors="surrogateescape")
    sys.stdout = sys.__stdout__ = stdout
    sys.stderr = sys.__stderr__ = stderr
    entry = os.path.join(WORK_DIR, job["entrypoint"])
    sys.argv = [job["entrypoint"], *job["args"]]
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
        threading._shutdown()  # join non-daemon threads, as interpreter shutdown does
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and not stream.closed:  # as the interpreter does at exit
                stream.flush()
    except SystemExit as e:
        code = exit_code_of(e)
    except BaseException as e:
        print_user_traceback(e, entry)
        code = code or 1
    try:
        if out_is_empty():
            write_all(ORDERED_FD, b"n" + struct.pack(">H", 0))
    except BaseException:
        pass
    os._exit(code)


def out_is_empty():
    try:
        with os.scandir(OUT_DIR) as entries:
            return next(entries, None) is None
    except FileNotFoundError:
        return True
    except OSError:
        return False


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
    """Parses the child's ordered frames; anything that is not a frame is passed on as stdout.

    Linear in what it reads (a read of one-byte writes holds thousands of frames: slicing the rest off after each
    would copy the buffer once per frame), and neighbouring frames of one stream leave as one chunk."""

    def __init__(self):
        self._buffer = b""
        self._raw = False

    def feed(self, data):
        if self._raw:
            return [(b"o", data)] if data else []
        buffer = self._buffer + data if self._buffer else data
        chunks = []
        run_stream, run = None, []
        at, end = 0, len(buffer)
        while end - at >= 3:
            stream = buffer[at:at + 1]
            size = (buffer[at + 1] << 8) | buffer[at + 2]
            if stream not in (b"o", b"e", b"n") or size > ORDERED_MAX_PAYLOAD:
                if run:
                    chunks.append((run_stream, b"".join(run)))
                    run_stream, run = None, []
                chunks.append((b"o", buffer[at:]))
                at = end
                self._raw = True
                break
            if end - at < 3 + size:
                break
            if stream != run_stream or stream == b"n":
                if run:
                    chunks.append((run_stream, b"".join(run)))
                run_stream, run = stream, []
            run.append(buffer[at + 3:at + 3 + size])
            at += 3 + size
        if run:
            chunks.append((run_stream, b"".join(run)))
        self._buffer = buffer[at:]
        return chunks


class Supervisor:
    def __init__(self, job, child, user, source):
        self.job = job
        self.child = child
        self.user = user
        self.source = source
        self.limit = int(job.get("output_limit_bytes", 1 << 20))
        self.emitted = 0
        self.over_limit = False
        self.truncated = set()
        self.out_empty = False
        # Output is sent in batches: each write costs a trip through the engine, and a short script's output
        # then travels with its exit record in one.
        self.pending = bytearray()
        self.pending_since = None

    def forward(self, kind, data):
        if kind == b"n":
            self.out_empty = True
            return
        room = self.limit - self.emitted
        if len(data) > room:
            data = data[:max(room, 0)]
            self.over_limit = True
            self.truncated.add(kind)
        if data:
            self.emitted += len(data)
            self.pending += frame(kind, data)
            if self.pending_since is None:
                self.pending_since = time.monotonic()
            if len(self.pending) >= FLUSH_BYTES:
                self.flush()

    def flush(self):
        if self.pending:
            write_all(1, self.pending)
            self.pending = bytearray()
        self.pending_since = None

    def poll_timeout(self, deadline):
        """Until the deadline, or until buffered output is due, whichever is sooner (ms)."""
        until = deadline if self.pending_since is None else min(deadline, self.pending_since + FLUSH_AFTER)
        return max(0, (until - time.monotonic()) * 1000)

    def run(self, files, stdin):
        child = self.child
        exited, acknowledge = exit_watch(child.pid)
        ordered = OrderedReader()
        sources = {child.out: b"o", child.err: b"e", child.ordered: None}
        poller = select.poll()
        for fd in sources:
            poller.register(fd, select.POLLIN)
        poller.register(exited, select.POLLIN)
        feed = StdinFeed(child.stdin, poller, self.source, stdin) if self.job.get("interactive") else None
        started = time.monotonic()
        child.go(self.job, files, b"" if feed else stdin)
        if feed is None:
            os.close(child.stdin)
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
            if deadline - time.monotonic() <= 0:
                outcome = "timed_out"
                break
            for fd, events in poller.poll(self.poll_timeout(deadline)):
                if fd == exited:
                    acknowledge()
                    pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
                    if pid == 0:  # another process's SIGCHLD (an orphan of the script's): still running
                        status = None
                elif fd in sources:
                    pump(fd)
                elif feed is not None:
                    feed.ready(fd, events)
            if self.over_limit:
                outcome = "output_limit_exceeded"
                break
            if self.pending_since is not None and time.monotonic() - self.pending_since >= FLUSH_AFTER:
                self.flush()
        # The run is over when the entry script's process ends: whatever it left behind dies with it.
        kill_everything_else()
        if status is None:
            _, status, rusage = os.wait4(child.pid, 0)
        reap_orphans()
        if feed is not None:
            feed.close()
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
        # A short script's output, its files and its exit record leave in one write (one trip through the engine).
        if not self.out_empty:
            self.pending += collect_files(self.user, self.job.get("out_files") or {})
        self.pending += frame(b"x", json.dumps(record).encode())
        self.flush()


class StdinFeed:
    """An interactive job's input: b"i"/b"c" frames from the launcher's stdin, written to the script's stdin pipe as it
    can take them (never blocking the supervisor); the end of input closes the pipe."""

    def __init__(self, pipe, poller, source, initial):
        self.pipe = pipe
        self.poller = poller
        self.source = source
        self.pending = bytearray(initial)
        self.buffer = bytearray(source.take_buffered())
        self.ended = False
        os.set_blocking(pipe, False)
        os.set_blocking(source.fd, False)
        poller.register(source.fd, select.POLLIN)
        self.parse()
        self.update()

    def ready(self, fd, events):
        if fd == self.source.fd:
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                self.end()
            else:
                self.buffer += data
                self.parse()
        elif fd == self.pipe:
            try:
                del self.pending[:os.write(self.pipe, self.pending)]
            except BlockingIOError:
                pass
            except OSError:  # the script closed its stdin: what it did not read is dropped
                self.pending.clear()
                self.ended = True
        self.update()

    def parse(self):
        while len(self.buffer) >= 5 and not self.ended:
            kind = bytes(self.buffer[:1])
            size = struct.unpack(">I", self.buffer[1:5])[0]
            if kind not in (b"i", b"c") or size > (1 << 24):
                self.buffer.clear()
                self.end()  # not a frame: the runner broke the protocol, so the input ends
                return
            if len(self.buffer) < 5 + size:
                return
            if kind == b"i":
                self.pending += self.buffer[5:5 + size]
            else:
                self.end()
            del self.buffer[:5 + size]

    def end(self):
        self.ended = True
        try:
            self.poller.unregister(self.source.fd)
        except KeyError:
            pass

    def update(self):
        """Wait for room in the pipe while input is pending; close it once the input has ended and all of it is written."""
        if self.pipe is None:
            return
        if self.pending:
            self.poller.register(self.pipe, select.POLLOUT)
            return
        try:
            self.poller.unregister(self.pipe)
        except KeyError:
            pass
        if self.ended:
            os.close(self.pipe)
            self.pipe = None

    def close(self):
        self.end()
        if self.pipe is not None:
            try:
                self.poller.unregister(self.pipe)
            except KeyError:
                pass
            os.close(self.pipe)
            self.pipe = None


def collect_files(user, limits):
    """The files the script left in /sandbox/out, as b"f"/b"d" frames, read by a process of the sandbox's user (the
    work directory is closed to this root without capabilities). Everything of the script's is dead by now; the
    collector gets COLLECT_SECONDS, and only the frames it finished count."""
    max_count = int(limits.get("max_count", 32))
    max_bytes = int(limits.get("max_bytes", 8 << 20))
    read_r, read_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_r)
            become(user)
            Collector(read_w, max_count, max_bytes).run()
        finally:
            os._exit(0)
    os.close(read_w)
    cap = max_bytes + (max_count + OUT_DROPPED_MAX + 1) * 4096
    data = bytearray()
    until = time.monotonic() + COLLECT_SECONDS
    poller = select.poll()
    poller.register(read_r, select.POLLIN)
    while len(data) <= cap and time.monotonic() < until:
        if not poller.poll(max(0, (until - time.monotonic()) * 1000)):
            break
        chunk = os.read(read_r, READ_SIZE)
        if not chunk:
            break
        data += chunk
    os.close(read_r)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    # Only whole frames, of the kinds a collector writes, within the cap.
    whole = 0
    while whole + 5 <= min(len(data), cap):
        size = struct.unpack(">I", data[whole + 1:whole + 5])[0]
        if data[whole:whole + 1] not in (b"f", b"d") or whole + 5 + size > min(len(data), cap):
            break
        whole += 5 + size
    return bytes(data[:whole])


def open_same(name, expected, flags, dir_fd=None):
    """Opens what lstat saw, never through a link: O_NOFOLLOW, and the opened file must be the one lstat described (some
    kernels, gVisor's among them, follow a final link with O_DIRECTORY despite O_NOFOLLOW)."""
    if stat.S_ISLNK(expected.st_mode):
        raise OSError("a link")
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | flags, dir_fd=dir_fd)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (expected.st_dev, expected.st_ino) or stat.S_IFMT(opened.st_mode) != stat.S_IFMT(expected.st_mode):
        os.close(fd)
        raise OSError("not the file that was listed")
    return fd


class Collector:
    def __init__(self, fd, max_count, max_bytes):
        self.fd = fd
        self.max_count = max_count
        self.room = max_bytes
        self.count = 0
        self.scanned = 0
        self.dropped = 0

    def run(self):
        try:
            top = open_same(OUT_DIR, os.lstat(OUT_DIR), os.O_DIRECTORY)
        except OSError:
            return  # no out directory (or a link in its place): nothing comes back
        try:
            self.walk(top, "", 0)
        except StopIteration:
            pass
        finally:
            os.close(top)

    def walk(self, dir_fd, prefix, depth):
        try:
            names = sorted(os.listdir(dir_fd))
        except OSError:
            self.drop(prefix or ".", 0, "unreadable")
            return
        for name in names:
            self.scanned += 1
            path = prefix + name
            if self.scanned > OUT_ENTRIES_MAX:
                self.drop(path, 0, "too_many_entries")
                raise StopIteration
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue  # gone
            if stat.S_ISDIR(st.st_mode):
                if not OUT_NAME.match(name) or len(path) >= OUT_PATH_MAX:
                    self.drop(path + "/", 0, "bad_name")
                elif depth + 1 >= OUT_DEPTH_MAX:
                    self.drop(path + "/", 0, "too_deep")
                else:
                    try:
                        sub = open_same(name, st, os.O_DIRECTORY, dir_fd)
                    except OSError:
                        self.drop(path + "/", 0, "unreadable")
                        continue
                    try:
                        self.walk(sub, path + "/", depth + 1)
                    finally:
                        os.close(sub)
            elif not stat.S_ISREG(st.st_mode):
                self.drop(path, 0, "not_a_regular_file")
            elif not OUT_NAME.match(name) or len(path) > OUT_PATH_MAX:
                self.drop(path, st.st_size, "bad_name")
            elif self.count >= self.max_count:
                self.drop(path, st.st_size, "count_limit")
            elif st.st_size > self.room:
                self.drop(path, st.st_size, "size_limit")
            else:
                self.send(dir_fd, name, path, st)

    def send(self, dir_fd, name, path, st):
        size = st.st_size
        try:
            fd = open_same(name, st, os.O_NONBLOCK, dir_fd)
        except OSError:
            self.drop(path, size, "unreadable")
            return
        try:
            chunks, total = [], 0
            while total <= self.room:
                chunk = os.read(fd, min(READ_SIZE, self.room + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError:
            self.drop(path, size, "unreadable")
            return
        finally:
            os.close(fd)
        if total > self.room:  # grew while it was read
            self.drop(path, total, "size_limit")
            return
        self.count += 1
        self.room -= total
        encoded = path.encode()
        write_all(self.fd, frame(b"f", struct.pack(">H", len(encoded)) + encoded + b"".join(chunks)))

    def drop(self, path, size, reason):
        self.dropped += 1
        if self.dropped <= OUT_DROPPED_MAX or reason == "too_many_entries":  # the scan's end is always told
            safe = path.encode("utf-8", "backslashreplace").decode()[:OUT_PATH_MAX + 1]
            write_all(self.fd, frame(b"d", json.dumps({"path": safe, "size": size, "reason": reason}).encode()))


def exit_watch(pid):
    """A file descriptor that becomes readable when the process may have exited, and what to call once it was: its
    pidfd, or where the kernel has none (gVisor), a pipe the SIGCHLD handler writes to. Readable means "ask wait4"."""
    try:
        return os.pidfd_open(pid), lambda: None
    except OSError:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # cannot happen: the child waits for its job
            raise ChildProcessError("the script's process ended before its job")
        return wake_r, lambda: drain(wake_r)


def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


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
    # As PID 1 of the sandbox's PID namespace, kill(-1) reaches every other process in it and never us (CAP_KILL: they
    # are another user's).
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


class Source:
    """The launcher's stdin, read unbuffered by Python (an interactive job's input frames follow the job on it)."""

    def __init__(self, fd=0):
        self.fd = fd
        self.buffer = bytearray()

    def fill(self):
        chunk = os.read(self.fd, READ_SIZE)
        if not chunk:
            raise EOFError("the job ended early")
        self.buffer += chunk

    def readline(self, limit):
        while b"\n" not in self.buffer:
            if len(self.buffer) >= limit:
                raise EOFError("no job header")
            self.fill()
        line, _, rest = self.buffer.partition(b"\n")
        self.buffer = bytearray(rest)
        return bytes(line)

    def read_exact(self, size):
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def take_buffered(self):
        data, self.buffer = bytes(self.buffer), bytearray()
        return data


def safe_path(name):
    parts = name.split("/")
    if not name or name.startswith("/") or "\0" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe file name {name!r}")
    return os.path.join(WORK_DIR, *parts)


def receive_job(source):
    """Reads the job: its header, the files' contents and the user's stdin (written into the sandbox by the child)."""
    job = json.loads(source.readline(HEADER_LIMIT))
    files = []
    for f in job["files"]:
        safe_path(f["path"])
        files.append(source.read_exact(f["size"]))
    safe_path(job["entrypoint"])
    return job, files, source.read_exact(job.get("stdin_size", 0))


def prepare(preimport):
    # Nobody in the sandbox may read our memory or our file descriptors through /proc: the child runs as the
    # same user, so make this process non-dumpable (its /proc entries become root's). That is enough under runc;
    # gVisor's /proc shows every process's fd/ and environ to anyone, and there SandboxSpec covers /proc/1 instead.
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    if os.getuid() == 0 and os.getpid() == 1:  # the container's own /dev: never a host's, were this run outside one
        remove_devices("/dev")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The first run_path in a process pays for imports and caches; pay it here, before the child is forked. (In /tmp:
    # the work directory is the sandbox user's, closed to this root without capabilities.)
    warm = os.path.join("/tmp", ".executor-warm.py")
    with open(warm, "w"):
        pass
    runpy.run_path(warm, run_name="__warm__")
    os.unlink(warm)
    preimport_modules(preimport)


KEPT_DEVICES = frozenset({"null", "zero", "full", "random", "urandom", "tty"})


def remove_devices(directory):
    """Removes every device node in /dev the script has no use for, before its process is forked: gVisor's /dev offers
    /dev/fuse and /dev/net/tun, each a driver of gVisor's kernel to attack (runc's offers only the kept ones). The
    mounts inside /dev (pts, shm, mqueue) are left alone. A node that cannot be removed fails the start: a sandbox
    never runs with more than this."""
    for entry in os.scandir(directory):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode) and not os.path.ismount(entry.path):
            remove_devices(entry.path)
            if not os.listdir(entry.path):
                os.rmdir(entry.path)
        elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and not (directory == "/dev" and entry.name in KEPT_DEVICES):
            os.unlink(entry.path)


def preimport_modules(names):
    """The runtime's heavy packages (numpy, pandas...), imported once here so that the child inherits them in
    sys.modules: importing pandas costs about a second in a fresh interpreter. The child is a fork, so nothing it does
    to them reaches this process; and the container runs one job. A package that fails to import is left to the
    script, which gets the same error when it imports it."""
    if not names:
        return
    seed_matplotlib_cache()
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # the image lacks it or it is broken: say so on the container's stderr, go on
            os.write(2, f"executor launcher: pre-import of {name} failed: {type(e).__name__}: {e}\n".encode())


MATPLOTLIB_SEED = "/usr/share/executor/matplotlib"


def seed_matplotlib_cache():
    """matplotlib rebuilds its font list (about a second) when its cache directory holds none and writes it there; the
    root file system is read-only, so the image's prebuilt cache is copied to MPLCONFIGDIR (under /tmp) first."""
    target = os.environ.get("MPLCONFIGDIR")
    if not target or not os.path.isdir(MATPLOTLIB_SEED):
        return
    os.makedirs(target, 0o755, exist_ok=True)
    for name in os.listdir(MATPLOTLIB_SEED):
        source = os.path.join(MATPLOTLIB_SEED, name)
        if os.path.isfile(source):
            with open(source, "rb") as f, open(os.path.join(target, name), "wb") as g:
                g.write(f.read())


def main():
    user = sys.argv[1] if len(sys.argv) > 1 else "65534:65534"
    prepare([name for name in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if name])
    child = Child(user)
    emit(b"r", b"")  # whoever watches the start (the warm pool) now knows a job will run at once
    try:
        source = Source()
        job, files, stdin = receive_job(source)
        emit(b"a", b"")  # the job is here: whatever happens now, it must not run anywhere else
        Supervisor(job, child, user, source).run(files, stdin)
    except Exception as e:  # the launcher's own failure: say so rather than end without a record
        kill_everything_else()
        emit(b"x", json.dumps({"outcome": "launcher_error", "detail": f"{type(e).__name__}: {e}"}).encode())
    # Exit a little later: a container's teardown costs the engine tens of milliseconds of CPU, which must not compete
    # with this record on its way out (measured: attach-to-record median ~5.8 -> ~4.5 ms) nor with the other runs of a
    # burst (40 runs: ~1.3 s -> ~0.3-0.5 s). Everything else in the sandbox is dead already; the runner removes the
    # container after this (RunnerService ContainerJanitor).
    time.sleep(LINGER_AFTER_RECORD)


main()
