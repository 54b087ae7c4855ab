# Executor's launcher: the one process a sandbox container starts with (PID 1).
#
# It boots the interpreter once and forks, ahead of any job, the process that will become the user's program:
# that child drops to the sandbox's user, sets up its streams and then blocks on a control socket. The launcher blocks
# reading a single job from stdin: a JSON header line followed by the raw bytes of each file and of the user's stdin,
# and passes it all to the child, which writes the files into the work directory and runs the entry script in the
# already-booted interpreter (no start-up cost, not even a fork). The launcher frames the child's output onto its
# own stdout and ends with an exit record that the child cannot forge. One job per container; the container ends when
# the launcher does.
#
# Or, given a kernel job instead (a stateful sandbox, frames.md section 7), the child becomes a kernel that keeps one
# namespace across calls, and the launcher its supervisor for the container's life: it relays calls, interrupts and
# file operations, frames each call's output and ends it with a record the kernel cannot forge, and replaces the kernel
# (forked afresh from this booted process) when it is killed or dies.
#
# Or, given a job with a "command" (C, C++, Java, JavaScript, bash: frames.md, section 8), a process of the sandbox user's
# becomes that program (exec'd, no interpreter of ours left in it), after an optional compile stage; given "cases", it
# runs once per test case, each from the same clean state (the work directory as the compile stage left it, nothing of
# an earlier case's anywhere), its output captured and sent back in one b"t" frame per case. Every program is measured by
# a small helper (Sandbox/measure.c) so that its peak memory is its own, not this interpreter's.
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
# Every framing below is written down byte by byte in Contracts/frames.md and pinned by Contracts/frames.golden.json,
# which tests/launcher (this file's own tests, run inside the runtime image) and the C# side are both checked against.
#
# Frames on stdout: 1 byte kind, 4 bytes big-endian length, payload.
#   b"r" ready (empty: booted, waiting for a job), b"a" accepted (empty: the job was read; from here on it never runs
#   elsewhere), b"o" stdout bytes, b"e" stderr bytes, b"f" a file the script left in /sandbox/out (2 bytes big-endian
#   path length, the path relative to out/, the content), b"d" a file left out (JSON: path, size, reason), b"x" exit
#   record (JSON). A job with a command adds b"b" (its compile stage's record) and b"t" (a test case's record and output).
# Frames on stdin after the job, when it is interactive ("interactive": true): b"i" bytes for the script's stdin, b"c"
# (empty) end of input. The end of the launcher's stdin is the end of input too.
# Between the child and the launcher, sys.stdout/sys.stderr writes travel on one "ordered" pipe (fd 3) as
# small frames (1 byte stream, 2 bytes length, payload) so the combined log keeps the order they were
# written in; raw writes to fds 1 and 2 (os.write, subprocesses) travel on plain pipes. When the script ends normally
# the child adds an empty b"n" frame if /sandbox/out is empty, which spares the launcher collecting files (a script
# that forges it only loses its own files).
#
# A job (or kernel job) with "egress" in its header may reach the network through its runner host's proxy, and only
# so: the container has no interface but its own loopback. The launcher listens on that loopback (127.0.0.1, the
# header's port) and relays every connection, byte for byte, to the proxy's Unix socket (a directory the runner
# bind-mounts read-only), from a thread of its own: PID 1 is root's, so the script can neither signal it nor take its
# port (it is bound before the script runs). The script's process gets the usual proxy variables, the deployment's
# certificate authority when the proxy intercepts TLS, and pip's settings for installing into /sandbox/.local (the
# user site, put on its sys.path by the launcher: python3 -I has none). Without "egress" none of this happens.
import _socket  # the kernel's control channel (a Unix socket, to pass each call's stdin): the C module, free to import
import ast  # the kernel's (stateful sandboxes'): imported before the fork, so a kernel starts without paying for them
import atexit
import base64
import builtins
import collections
import ctypes
import io
import json
import linecache
import marshal
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
import types
import warnings

WORK_DIR = "/sandbox"
OUT_DIR = os.path.join(WORK_DIR, "out")
ORDERED_FD = 3
CONTROL_FD = 4
USAGE_FD = CONTROL_FD + 2  # the measuring helper's line (a command's own resource usage), CONTROL_FD + 1 being stdin's
ORDERED_MAX_PAYLOAD = 4093  # frame of at most PIPE_BUF bytes: atomic, never interleaved between writers
HEADER_LIMIT = 1 << 20
READ_SIZE = 65536
FLUSH_BYTES = 65536
FLUSH_AFTER = 0.005  # seconds output may wait to travel with more
# seconds a kernel call's line that is not yet whole may wait for its end (print writes a line and its newline apart; a
# busy machine can run the supervisor between the two): a call's live output comes in whole lines, as a Jupyter
# kernel's stream messages do (it waits 0.2 s). A run's stays a byte stream, its prompts shown at once.
LINE_AFTER = 0.05
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
            raise EOFError("control socket closed")
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
    """The user's program-to-be, forked before the job arrives and waiting on the control socket."""

    def __init__(self, user):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ord_r, ord_w = os.pipe()
        # A Unix socket rather than a pipe: a kernel is handed each call's stdin as a file descriptor on it.
        ctl_w, ctl_r = (end.detach() for end in _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM))
        in_r, in_w = os.pipe()  # the script's stdin when the job is interactive
        use_r, use_w = os.pipe()  # what the measuring helper says of a command (frames.md, section 8)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                child_main(user, out_w, err_w, ord_w, ctl_r, in_r, use_w)
            finally:
                os._exit(70)
        for fd in (out_w, err_w, ord_w, ctl_r, in_r, use_w):
            os.close(fd)
        self.out, self.err, self.ordered, self.control, self.stdin, self.usage = out_r, err_r, ord_r, ctl_w, in_w, use_r

    def go(self, job, files, stdin, egress=None, command=None):
        """Hands the child its job; from here on it is the user's program (or, given a command, becomes it). An
        interactive job's stdin comes later."""
        message = {
            "entrypoint": job["entrypoint"],
            "args": job.get("args", []),
            "files": [{"path": f["path"], "size": len(content)} for f, content in zip(job["files"], files)],
            "stdin_size": len(stdin),
            "interactive": bool(job.get("interactive")),
        }
        if command is not None:
            message["exec"] = {"argv": command, "env": egress["env"] if egress else {}}
        elif egress is not None:
            message["egress"] = egress
        message = json.dumps(message).encode()
        write_all(self.control, struct.pack(">I", len(message)) + message)
        for content in files:
            write_all(self.control, content)
        write_all(self.control, stdin)
        os.close(self.control)

    def go_kernel(self, egress=None):
        """Makes the child a kernel (frames.md, section 7): its calls follow on the control socket, one at a time."""
        message = json.dumps({"mode": "kernel", **({"egress": egress} if egress is not None else {})}).encode()
        write_all(self.control, struct.pack(">I", len(message)) + message)
        os.set_blocking(self.control, False)


def child_main(user, out_w, err_w, ord_w, ctl_r, in_r, use_w):
    leave_supervisor_signals()  # a kernel forked afresh inherits the kernel supervisor's
    become(user)
    # Before anything else: never hold the launcher's stdin (the job) or stdout (the frames).
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(ord_w, ORDERED_FD)
    os.dup2(ctl_r, CONTROL_FD)
    os.dup2(in_r, CONTROL_FD + 1)
    os.dup2(use_w, USAGE_FD)
    os.closerange(USAGE_FD + 1, 1 << 16)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    first_to_die()
    stdout = text_stream(OrderedWriter(b"o", 1), "surrogateescape")
    stderr = text_stream(OrderedWriter(b"e", 2), "backslashreplace")

    # Wait for the job; write its files as the sandbox's user.
    size = struct.unpack(">I", read_exactly(CONTROL_FD, 4))[0]
    job = json.loads(read_exactly(CONTROL_FD, size))
    if "egress" in job:
        enter_egress(job["egress"])
    if job.get("mode") == "kernel":
        os.close(CONTROL_FD + 1)
        os.close(USAGE_FD)
        Kernel(stdout, stderr).serve()
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
    if "exec" in job:
        exec_command(job["exec"]["argv"], job["exec"]["env"])
    os.close(USAGE_FD)
    run_user_program(job, stdout, stderr)


def first_to_die():
    """Under memory pressure the kernel should kill the user's process, never the launcher."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


MEASURE = "/usr/local/libexec/executor-measure"  # Sandbox/measure.c, in the languages image
# Sandbox/measure.c in Python, for an image without it (the Python runtimes, an operator's own): a fresh interpreter
# (-S: no site, ~6 MB) rather than this one, which may hold pandas (~90 MB) that a program exec'd from its fork would count.
MEASURE_PY = """import ctypes, os, resource, signal, sys
fd = int(sys.argv[1])
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
pid = os.fork()
if pid == 0:
    os.close(fd)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        os.write(2, f"{sys.argv[2]}: {e.strerror}\\n".encode(errors="replace"))
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)
_, status, usage = os.wait4(pid, 0)
os.write(fd, b"%d %d %d\\n" % (usage.ru_maxrss, usage.ru_utime * 1e6, usage.ru_stime * 1e6))
if os.WIFSIGNALED(status):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(128 + os.WTERMSIG(status))
os._exit(os.WEXITSTATUS(status))
"""


def exec_command(argv, env):
    """Becomes a command of the job's (frames.md, section 8), in the work directory: this process is the sandbox user's
    already, its streams set and USAGE_FD open. Through a measuring helper (MEASURE, or MEASURE_PY where the image has
    none): a process exec'd from this one would report this interpreter's memory as its own (ru_maxrss keeps the pre-exec
    high-water mark)."""
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # ignored or handled by Python: defaults for a program
        signal.signal(signum, signal.SIG_DFL)
    os.closerange(3, USAGE_FD)
    environment = {**os.environ, **env}
    measure = [MEASURE] if os.path.exists(MEASURE) else [sys.executable, "-I", "-S", "-c", MEASURE_PY]
    try:
        os.chdir(WORK_DIR)
        os.set_inheritable(USAGE_FD, True)
        os.execve(measure[0], [*measure, str(USAGE_FD), *argv], environment)
    except OSError as e:
        os.write(2, f"{argv[0]}: {e.strerror}\n".encode(errors="replace"))
        os._exit(127 if isinstance(e, FileNotFoundError) else 126)  # as a shell says "not found" and "cannot execute"


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

    def __init__(self, streams=(b"o", b"e", b"n")):
        self._buffer = b""
        self._raw = False
        self._streams = streams  # a kernel's add b"m"/b"M", the parts of its messages

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
            if stream not in self._streams or size > ORDERED_MAX_PAYLOAD:
                if run:
                    chunks.append((run_stream, b"".join(run)))
                    run_stream, run = None, []
                chunks.append((b"o", buffer[at:]))
                at = end
                self._raw = True
                break
            if end - at < 3 + size:
                break
            if stream != run_stream or stream in (b"n", b"M"):  # a message's last part never merges with the next's
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
    line_wait = FLUSH_AFTER  # how long a batch that ends within a line may wait (KernelSupervisor: LINE_AFTER)

    def __init__(self, job, child, user, source, egress=None):
        self.job = job
        self.child = child
        self.user = user
        self.source = source
        self.egress = egress  # what the script's process sets for the run's egress (start_egress), or None
        self.limit = int(job.get("output_limit_bytes", 1 << 20))
        self.emitted = 0
        self.over_limit = False
        self.truncated = set()
        self.out_empty = False
        # Output is sent in batches: each write costs a trip through the engine, and a short script's output
        # then travels with its exit record in one.
        self.pending = bytearray()
        self.pending_since = None
        self.mid_line = False  # the last output held ends within a line: the batch waits a little longer for the rest
        self.open_frame = None  # where the header of the output frame that ends the batch starts, if one does

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
            self.hold_output(kind, data)

    def hold_output(self, kind, data):
        """Adds output to the batch. Written right after output of the same stream, it joins that frame: a line and its
        newline, which print writes apart, travel and are shown as one piece (an E2B client's onStdout gets the line)."""
        at = self.open_frame
        if at is not None and self.pending[at:at + 1] == kind:
            struct.pack_into(">I", self.pending, at + 1, struct.unpack_from(">I", self.pending, at + 1)[0] + len(data))
            framed = data
        else:
            at, framed = len(self.pending), frame(kind, data)
        self.hold(framed, mid_line=not data.endswith(b"\n"))
        if self.pending:  # not sent already (a full batch)
            self.open_frame = at

    def hold(self, framed, mid_line=False):
        """Adds a frame to the batch, which leaves when it is full or due (flush_due)."""
        self.pending += framed
        self.mid_line = mid_line
        self.open_frame = None
        if self.pending_since is None:
            self.pending_since = time.monotonic()
        if len(self.pending) >= FLUSH_BYTES:
            self.flush()

    def flush_due(self):
        """When the batch held must leave, or None when nothing is held."""
        if self.pending_since is None:
            return None
        return self.pending_since + (self.line_wait if self.mid_line else FLUSH_AFTER)

    def flush_if_due(self):
        due = self.flush_due()
        if due is not None and time.monotonic() >= due:
            self.flush()

    def flush(self):
        if self.pending:
            write_all(1, self.pending)
            self.pending = bytearray()
        self.pending_since = None
        self.mid_line = False
        self.open_frame = None

    def poll_timeout(self, deadline):
        """Until the deadline, or until buffered output is due, whichever is sooner (ms)."""
        due = self.flush_due()
        until = deadline if due is None else min(deadline, due)
        return max(0, (until - time.monotonic()) * 1000)

    def run(self, files, stdin, command=None):
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
        child.go(self.job, files, b"" if feed else stdin, self.egress, command)
        if feed is None:
            os.close(child.stdin)
        deadline = started + self.job.get("timeout_ms", 10000) / 1000
        outcome = None
        status = rusage = None

        def pump(fd):
            kind = sources[fd]
            data = read_stream(poller, sources, fd)
            for k, chunk in ([(kind, data)] if kind else ordered.feed(data)) if data else ():
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
            self.flush_if_due()
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
        record = exit_record(outcome or "exited", status, rusage, time.monotonic() - started, oom_kills(), self.truncated,
                             read_usage(child.usage))
        # A short script's output, its files and its exit record leave in one write (one trip through the engine).
        if not self.out_empty:
            self.pending += collect_files(self.user, self.job.get("out_files") or {})
        self.pending += frame(b"x", record)
        self.flush()


def read_stream(poller, streams, fd):
    """What a child's pipe holds now; at its end (b""), the pipe leaves the poller and streams."""
    data = os.read(fd, READ_SIZE)
    if not data:
        poller.unregister(fd)
        del streams[fd]
    return data


def exit_record(outcome, status, rusage, wall, oom_kill_count, truncated, measured_kb=None):
    """The b"x" frame's payload: how the entry script's process (wait status, rusage) ended, as JSON."""
    return json.dumps({"outcome": outcome, **process_end(status, rusage, wall, measured_kb), "oom_kills": oom_kill_count,
                       "stdout_truncated": b"o" in truncated, "stderr_truncated": b"e" in truncated}).encode()


def process_end(status, rusage, wall, measured_kb=None):
    """How a process ended and what it used. Its peak memory is the measuring helper's figure when there is one (never
    more than wait4's, which counts the interpreter it was forked from: a forged line can only lower it)."""
    max_rss_kb = rusage.ru_maxrss if measured_kb is None else min(measured_kb, rusage.ru_maxrss)
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_ms": round((rusage.ru_utime + rusage.ru_stime) * 1000, 3),
        "max_rss_bytes": max_rss_kb * 1024,
        "wall_ms": round(wall * 1000, 3),
    }


def read_usage(fd):
    """The measuring helper's peak memory (kB) of the process it ran, from its line on fd (written before it ended), or
    None: a Python script (the child closes the pipe), no helper in the image, or a helper killed before it wrote."""
    try:
        os.set_blocking(fd, False)
        line = os.read(fd, 256)
    except OSError:
        line = b""
    finally:
        os.close(fd)
    fields = line.split()
    return int(fields[0]) if len(fields) == 3 and fields[0].isdigit() else None


class StdinFeed:
    """An interactive job's input: b"i"/b"c" frames from the launcher's stdin, written to the script's stdin pipe as it
    can take them (never blocking the supervisor); the end of input closes the pipe. Without a source (a kernel's
    interactive call), the kernel supervisor reads the frames among its other requests and hands them over with give
    and finish."""

    def __init__(self, pipe, poller, source, initial):
        self.pipe = pipe
        self.poller = poller
        self.source = source
        self.pending = bytearray(initial)
        self.buffer = bytearray(source.take_buffered() if source else b"")
        self.ended = False
        os.set_blocking(pipe, False)
        if source is not None:
            os.set_blocking(source.fd, False)
            poller.register(source.fd, select.POLLIN)
        self.parse()
        self.update()

    def give(self, data):
        if not self.ended:
            self.pending += data
            self.update()

    def finish(self):
        self.end()
        self.update()

    def ready(self, fd, events):
        if self.source is not None and fd == self.source.fd:
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
        if self.source is None:
            return
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
        write_all(self.fd, file_frame(path, b"".join(chunks)))

    def drop(self, path, size, reason):
        self.dropped += 1
        if self.dropped <= OUT_DROPPED_MAX or reason == "too_many_entries":  # the scan's end is always told
            write_all(self.fd, dropped_frame(path, size, reason))


def file_frame(path, content):
    """A file handed back: 2 bytes big-endian length of the path (relative to out/, UTF-8), the path, the content."""
    encoded = path.encode()
    return frame(b"f", struct.pack(">H", len(encoded)) + encoded + content)


def dropped_frame(path, size, reason):
    """A file left out, as JSON; a name that is not UTF-8 is escaped, a long one cut."""
    safe = path.encode("utf-8", "backslashreplace").decode()[:OUT_PATH_MAX + 1]
    return frame(b"d", json.dumps({"path": safe, "size": size, "reason": reason}).encode())


def exit_watch(pid):
    """A file descriptor that becomes readable when the process may have exited, and what to call once it was: its
    pidfd, or where the kernel has none (gVisor), a pipe the SIGCHLD handler writes to. Readable means "ask wait4"."""
    try:
        return os.pidfd_open(pid), lambda: None
    except OSError:
        wake_r = sigchld_wakeup()
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # cannot happen: the child waits for its job
            raise ChildProcessError("the script's process ended before its job")
        return wake_r, lambda: drain(wake_r)


SIGCHLD_WAKEUP = []


def sigchld_wakeup():
    """A pipe the SIGCHLD handler writes to, one for the launcher's life: where there is no pidfd, readable means "a
    child may have ended"."""
    if not SIGCHLD_WAKEUP:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        SIGCHLD_WAKEUP.append(wake_r)
    return SIGCHLD_WAKEUP[0]


def leave_supervisor_signals():
    """In a process forked from the launcher: the SIGCHLD handler and wakeup pipe are the supervisor's, not its own."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


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
    if job.get("mode") == "kernel":
        return job, [], b""  # a kernel job is its header alone (frames.md, section 7)
    files = []
    for f in job["files"]:
        safe_path(f["path"])
        files.append(source.read_exact(f["size"]))
    safe_path(job["entrypoint"])
    stdin = source.read_exact(job.get("stdin_size", 0))
    for case in job.get("cases", []):  # each case's input follows, in case order (frames.md, section 8)
        case["stdin"] = source.read_exact(case.get("stdin_size", 0))
    return job, files, stdin


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


# Kernel mode (frames.md, section 7): the script's process becomes a kernel that keeps one namespace across calls, with
# Jupyter's semantics (the last expression's value, display(), matplotlib figures, errors) and without IPython, which
# the images do not have. The launcher stays its supervisor: it frames each call's output, ends each call with a record
# the kernel cannot forge, and interrupts, kills and replaces the kernel.
KERNEL_STREAMS = (b"o", b"e", b"m", b"M")
KILL_AFTER_INTERRUPT = 2.0  # seconds a call may take to end after its interrupt before its kernel is killed
REQUEST_MAX = 1 << 26  # the largest kernel request (a call's code and stdin, a file put)
FILE_OPERATION_SECONDS = 10.0
FILE_ERRORS = frozenset({"not_found", "is_a_directory", "not_a_directory", "bad_path", "too_large", "too_many_files",
                         "not_empty", "failed"})
CELL_FILE = re.compile(r'File "<cell-(\d+)>", line (\d+)')
REPR_METHODS = (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"), ("image/svg+xml", "_repr_svg_"),
                ("image/png", "_repr_png_"), ("image/jpeg", "_repr_jpeg_"), ("text/latex", "_repr_latex_"),
                ("application/json", "_repr_json_"))
BINARY_MIMES = frozenset({"image/png", "image/jpeg"})


class Kernel:
    """The kernel's side, in the sandbox user's process: reads calls on the control socket (fd 4) and writes its
    outputs, as messages, and the end of each call on the ordered pipe (fd 3)."""

    def __init__(self, stdout, stderr):
        self.ast, self.base64, self.linecache = ast, base64, linecache
        os.environ["MPLBACKEND"] = "Agg"  # figures render to PNG, without a display
        matplotlib = sys.modules.get("matplotlib")
        if matplotlib is not None and str(dict.__getitem__(matplotlib.rcParams, "backend")).lower() != "agg":
            matplotlib.use("Agg")  # pre-imported with another backend (or none chosen yet): read without resolving it
        # plt.show() shows the open figures (show_figures); Agg's warning that it cannot show them is noise here.
        warnings.filterwarnings("ignore", message=".*(non-interactive, and thus cannot be shown|non-GUI backend, so cannot show)")
        sys.stdout = sys.__stdout__ = stdout
        sys.stderr = sys.__stderr__ = stderr
        sys.argv = [""]
        sys.path[0:0] = [WORK_DIR]  # the work directory's modules are importable, as a notebook's folder's are
        try:
            os.chdir(WORK_DIR)
        except OSError:
            pass  # the code made it unusable (chmod 0): the kernel still starts, its calls see why
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main  # pickle and friends find the code's classes there
        self.namespace = self.main = main.__dict__
        self.fill(self.main)
        self.contexts = {}  # a context's id -> its namespace, made when a call first names it (E2B's code contexts)
        self.count = 0
        self.running = False
        self.shown_by = None
        self.lock = threading.Lock()  # one message at a time, whichever thread displays
        self.control = _socket.socket(fileno=CONTROL_FD)
        signal.signal(signal.SIGINT, self.on_interrupt)

        # pyplot.show becomes a plain function, not a bound method: pyplot's switch_backend sets attributes
        # (__signature__) on it, which a bound method cannot take.
        def show(*args, **kwargs):
            return self.show_figures(*args, **kwargs)

        self.show = show
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].show = show

    def on_interrupt(self, signum, frame):
        if self.running:  # an interrupt that comes late (the call ended) must not hit the next one
            raise KeyboardInterrupt

    def serve(self):
        self.message({"output_type": "_ready"})
        while True:
            try:
                call, stdin = self.receive()
            except KeyboardInterrupt:
                continue
            except (EOFError, OSError, ValueError, KeyError):
                os._exit(0)  # the launcher is gone
            self.namespace = self.context(call.get("context"), call.get("reset"))
            env = call.get("env")
            saved = self.set_env(env) if env else None
            try:
                self.execute(call["code"], call["call"], stdin)
            finally:
                if saved is not None:
                    self.set_env(saved)

    def fill(self, namespace):
        namespace.update(__builtins__=builtins, display=self.display, In=[""], Out={})
        namespace.setdefault("__name__", "__main__")
        return namespace

    def context(self, name, reset):
        """The namespace a call runs in: the main one (None), or a context's, empty when first named or reset."""
        if name is None:
            if reset:
                self.main.clear()
                self.fill(self.main)
            return self.main
        if reset or name not in self.contexts:
            self.contexts[name] = self.fill({})
        return self.contexts[name]

    @staticmethod
    def set_env(env):
        """Sets the variables (None unsets one); returns what undoes it."""
        saved = {}
        for name, value in env.items():
            saved[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        return saved

    def receive(self):
        data, ancillary, _, _ = self.control.recvmsg(4, _socket.CMSG_SPACE(4))
        if not data:
            raise EOFError("the launcher closed the control socket")
        stdin = None
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS and len(payload) >= 4:
                stdin = struct.unpack("i", payload[:4])[0]
        data += read_exactly(CONTROL_FD, 4 - len(data))
        message = json.loads(read_exactly(CONTROL_FD, struct.unpack(">I", data)[0]))
        if stdin is None:
            raise ValueError("a call without its stdin")
        return message, stdin

    def execute(self, code, number, stdin):
        if not code:  # a context's reset alone: nothing runs, nothing is counted
            os.close(stdin)
            self.message({"output_type": "_done", "call": number, "status": "ok", "execution_count": self.count})
            return
        self.count += 1
        count = self.count
        os.dup2(stdin, 0)
        os.close(stdin)
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "rb", closefd=False), encoding="utf-8", errors="surrogateescape")
        filename = f"<cell-{count}>"
        self.linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # for tracebacks' lines
        try:
            self.namespace["In"].append(code)
        except Exception:
            pass  # the code replaced In: its own business
        status = "ok"
        # An interrupt raises KeyboardInterrupt while the code runs, its values' reprs and figures included.
        self.running = True
        try:
            try:
                value = self.run_cell(code, filename)
                if value is not None and not code.rstrip().endswith(";"):  # a trailing ';' hides it, as in IPython
                    self.result(value, count)
            except BaseException as e:  # the code's error, its KeyboardInterrupt, its SystemExit: the kernel goes on
                status = "error"
                self.error(e)
            try:
                self.show_figures()
            except BaseException as e:
                status = "error"
                self.error(e)
        except BaseException as e:  # an interrupt while an error was being told
            status = "error"
            self.error(e)
        finally:
            self.running = False
        self.message({"output_type": "_done", "call": number, "status": status, "execution_count": count})

    def run_cell(self, code, filename):
        ast = self.ast
        tree = ast.parse(code, filename)
        last = ast.Expression(tree.body.pop().value) if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, filename, "exec"), self.namespace)
        return eval(compile(last, filename, "eval"), self.namespace) if last is not None else None

    def result(self, value, count):
        ns = self.namespace
        ns["___"], ns["__"], ns["_"] = ns.get("__"), ns.get("_"), value
        ns[f"_{count}"] = value
        try:
            ns["Out"][count] = value
        except Exception:
            pass  # the code replaced Out
        data, metadata = self.bundle(value)
        self.message({"output_type": "execute_result", "execution_count": count, "data": data, "metadata": metadata})

    def display(self, *objs, raw=False, **_):
        """The namespace's display(): each object as a display_data output (raw: objs are MIME bundles already)."""
        for obj in objs:
            data, metadata = (dict(obj), {}) if raw else self.bundle(obj)
            self.message({"output_type": "display_data", "data": data, "metadata": metadata})

    def bundle(self, obj):
        """The object's MIME bundle, as IPython's formatters give it: its _repr_*_ methods (a failing one is left out)
        and text/plain, its repr."""
        data, metadata = {}, {}
        figure = sys.modules.get("matplotlib.figure")
        if figure is not None and isinstance(obj, figure.Figure):  # IPython's own formatter for figures
            data["image/png"] = self.png_of(obj)
        # A class is not shown by its instances' methods; an object that answers every attribute shows only its repr.
        elif not isinstance(obj, type) and not self.answers_anything(obj):
            method = self.repr_method(obj, "_repr_mimebundle_")
            if method is not None:
                try:
                    bundle = method(include=None, exclude=None)
                    if isinstance(bundle, tuple):
                        bundle, extra = bundle
                        metadata.update(extra if isinstance(extra, dict) else {})
                    for mime, value in (bundle or {}).items():
                        data[mime] = self.mime_value(mime, value)
                except Exception:
                    pass
            for mime, name in REPR_METHODS:
                method = self.repr_method(obj, name) if mime not in data else None
                if method is None:
                    continue
                try:
                    value = method()
                    if isinstance(value, tuple) and len(value) == 2:
                        value, metadata[mime] = value
                    if value is not None:
                        data[mime] = self.mime_value(mime, value)
                except Exception:
                    pass
        if "text/plain" not in data:
            data["text/plain"] = repr(obj)
        try:
            json.dumps(data)
        except (TypeError, ValueError):  # a _repr_json_ that is not JSON, and the like
            data, metadata = {"text/plain": data["text/plain"]}, {}
        return data, metadata

    @staticmethod
    def answers_anything(obj):
        try:
            return hasattr(obj, "_ipython_canary_method_should_not_exist_")
        except Exception:
            return True

    @staticmethod
    def repr_method(obj, name):
        try:
            method = getattr(obj, name, None)
        except Exception:
            return None
        return method if callable(method) else None

    def mime_value(self, mime, value):
        if isinstance(value, (bytes, bytearray)):
            return self.base64.b64encode(value).decode() if mime in BINARY_MIMES else bytes(value).decode("utf-8", "replace")
        return value

    def error(self, e):
        # The code's frames only: the kernel's own (above the cell) are left out; a syntax error has none.
        tb = e.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
            tb = tb.tb_next
        try:
            text = "".join(traceback.format_exception(type(e), e, tb))
            evalue = str(e)
        except BaseException:
            text, evalue = f"{type(e).__name__}\n", ""
        lines = CELL_FILE.sub(lambda m: f"Cell In[{m[1]}], line {m[2]}", text).rstrip("\n").split("\n")
        self.message({"output_type": "error", "ename": type(e).__name__, "evalue": evalue, "traceback": lines})

    def show_figures(self, *_, **__):
        """matplotlib's open figures as PNG display_data, closed afterwards, as IPython's inline backend does after a
        cell and at plt.show()."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        if pyplot.show is not self.show:
            pyplot.show = self.show
        managers = sys.modules["matplotlib._pylab_helpers"].Gcf.get_all_fig_managers()
        try:
            for manager in managers:
                figure = manager.canvas.figure
                self.message({"output_type": "display_data", "metadata": {},
                              "data": {"image/png": self.png_of(figure), "text/plain": repr(figure)}})
        finally:
            if managers:
                pyplot.close("all")

    def png_of(self, figure):
        png = io.BytesIO()
        figure.canvas.print_figure(png, format="png", bbox_inches="tight")
        return self.base64.b64encode(png.getvalue()).decode()

    def message(self, message):
        """One message on the ordered pipe: b"m" frames of its parts, the last one b"M"."""
        data = json.dumps(message).encode()
        with self.lock:
            for start in range(0, len(data), ORDERED_MAX_PAYLOAD):
                chunk = data[start:start + ORDERED_MAX_PAYLOAD]
                kind = b"M" if start + ORDERED_MAX_PAYLOAD >= len(data) else b"m"
                write_all(ORDERED_FD, kind + struct.pack(">H", len(chunk)) + chunk)


class KernelCall:
    """A call as the kernel supervisor tracks it, from its request to its record."""

    def __init__(self, request):
        self.id = request.get("id")
        self.code = str(request.get("code", ""))
        self.timeout = int(request.get("timeout_ms", 30000)) / 1000
        self.limit = int(request.get("output_limit_bytes", 1 << 20))
        self.interactive = bool(request.get("interactive"))
        self.stdin = str(request.get("stdin") or "").encode("utf-8", "surrogateescape")
        context, env = request.get("context"), request.get("env")
        self.context = str(context) if context is not None else None
        self.reset = bool(request.get("reset_context"))
        self.env = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else None
        self.input = bytearray()  # an interactive call's input that came before it started
        self.input_ended = False
        self.feed = None
        self.status = None  # the launcher's own verdict (timed_out, interrupted, ...), which the kernel cannot change
        self.started = self.deadline = self.kill_at = self.number = None
        self.cpu = 0.0
        self.oom_kills = 0

    def give(self, data):
        if self.feed is not None:
            self.feed.give(data)
        elif not self.input_ended:
            self.input += data

    def end_input(self):
        self.input_ended = True
        if self.feed is not None:
            self.feed.finish()


class KernelProcess:
    """The launcher's side of one kernel: its process and pipes, the parser of its ordered frames, and the calls' bytes
    that wait for room on its control socket (the kernel reads them only between calls)."""

    def __init__(self, child, egress=None):
        self.child = child
        self.pid = child.pid
        self.reader = OrderedReader(KERNEL_STREAMS)
        self.parts = bytearray()
        self.outgoing = collections.deque()  # [bytearray, fd or None]
        self.status = self.rusage = None
        self.ready = False
        self.peak = 0
        self.control = _socket.socket(fileno=child.control)
        for fd in (child.out, child.err, child.ordered):
            os.set_blocking(fd, False)
        os.close(child.stdin)
        os.close(child.usage)  # a kernel runs no command
        child.go_kernel(egress)

    @property
    def fds(self):
        return (self.child.out, self.child.err, self.child.ordered)

    def send(self, data, fd):
        self.outgoing.append([bytearray(data), fd])
        return self.push()

    def push(self):
        """Writes what it can without blocking; True while bytes wait for room."""
        while self.outgoing:
            data, fd = self.outgoing[0]
            rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))] if fd is not None else []
            try:
                sent = self.control.sendmsg([data], rights)
            except BlockingIOError:
                return True
            if fd is not None:
                os.close(fd)
                self.outgoing[0][1] = None
            del data[:sent]
            if not data:
                self.outgoing.popleft()
        return False

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def peak_rss(self):
        """VmHWM; where the kernel has none (gVisor), the largest VmRSS seen at a call's start or end."""
        sizes = {}
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith((b"VmHWM:", b"VmRSS:")):
                        sizes[line[:5]] = int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        self.peak = max(self.peak, sizes.get(b"VmHWM", sizes.get(b"VmRSS", 0)))
        return self.peak

    def close(self):
        for fd in self.fds:
            os.close(fd)
        for _, fd in self.outgoing:
            if fd is not None:
                os.close(fd)
        self.control.close()


class FileOperation:
    """A file operation's process (the sandbox user's, forked for it) as the kernel supervisor waits for its answer."""

    def __init__(self, request_id, pid, pipe, cap):
        self.id = request_id
        self.pid = pid
        self.pipe = pipe
        self.cap = cap
        self.data = bytearray()
        self.deadline = time.monotonic() + FILE_OPERATION_SECONDS


class KernelSupervisor(Supervisor):
    """Kernel mode's supervisor: reads kernel requests from stdin, runs calls one at a time in the kernel, answers file
    operations at once, and writes kernel frames, each call ending with its record (frames.md, section 7)."""
    line_wait = LINE_AFTER

    def __init__(self, job, child, user, source, egress=None):
        super().__init__({}, child, user, source, egress)
        bounds = job.get("files") or {}
        self.max_file_bytes = int(bounds.get("max_file_bytes", 16 << 20))
        self.max_total_bytes = int(bounds.get("max_total_bytes", 64 << 20))
        self.max_count = int(bounds.get("max_count", 1000))
        self.poller = select.poll()
        self.requests = bytearray()
        self.calls = collections.deque()
        self.call = None
        self.operations = {}  # answer pipe -> FileOperation
        self.operation_pids = set()
        self.kernel = None
        self.numbered = 0  # calls sent to kernels: an end that names an earlier call (a forged end's late real one) is stale
        self.generation = 0  # kernels started: a poll's events after a replacement may name closed (or reused) fds
        self.ready = False
        self.ended = False

    def run(self):
        # PID 1 reaps every orphan already; elsewhere (the launcher's tests) become the orphans' reaper too, so that what
        # a call leaves behind is killed and collected here.
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        self.wake, acknowledge = self.child_watch()
        self.poller.register(self.wake, select.POLLIN)
        os.set_blocking(self.source.fd, False)
        self.poller.register(self.source.fd, select.POLLIN)
        self.requests += self.source.take_buffered()
        self.start_kernel(self.child)
        self.handle_requests()
        while not self.ended:
            generation = self.generation
            for fd, events in self.poller.poll(self.kernel_poll_timeout()):
                if fd == self.wake:
                    acknowledge()
                    self.reap()
                elif fd == self.source.fd:
                    self.read_requests()
                elif fd in self.kernel.fds:
                    self.pump_kernel(fd)
                elif fd == self.kernel.control.fileno():
                    self.push_control()
                elif fd in self.operations:
                    self.read_answer(self.operations[fd])
                elif self.call is not None and self.call.feed is not None and fd == self.call.feed.pipe:
                    self.call.feed.ready(fd, events)
                if self.ended or self.generation != generation:
                    break
            self.check_deadlines()
            self.start_next_call()
            self.flush_if_due()
        self.flush()
        kill_everything_else()
        wait_for_children(self.operation_pids)  # all of them: none is left a zombie to whoever reaps after this process

    @staticmethod
    def child_watch():
        """A pipe the SIGCHLD handler writes to: the kernel's death, a file operation's end and orphans all wake the
        supervisor, which then asks wait4 about each."""
        wake_r = sigchld_wakeup()
        return wake_r, lambda: drain(wake_r)

    def kernel_poll_timeout(self):
        now = time.monotonic()
        until = now + 1
        due = self.flush_due()
        if due is not None:
            until = min(until, due)
        if self.call is not None:
            until = min(until, self.call.kill_at if self.call.kill_at is not None else self.call.deadline)
        for operation in self.operations.values():
            until = min(until, operation.deadline)
        return max(0, (until - now) * 1000)

    # Requests (the launcher's stdin)

    def read_requests(self):
        try:
            data = os.read(self.source.fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:  # the runner is done with this sandbox
            self.ended = True
            return
        self.requests += data
        self.handle_requests()

    def handle_requests(self):
        while len(self.requests) >= 5:
            kind = bytes(self.requests[:1])
            size = struct.unpack(">I", self.requests[1:5])[0]
            if kind not in (b"q", b"i", b"c", b"!", b"R", b"F") or size > max(REQUEST_MAX, self.max_file_bytes + HEADER_LIMIT):
                raise ValueError(f"not a kernel request: kind {kind!r}, {size} bytes")
            if len(self.requests) < 5 + size:
                return
            payload = bytes(self.requests[5:5 + size])
            del self.requests[:5 + size]
            if kind == b"q":
                self.calls.append(KernelCall(json.loads(payload)))
            elif kind in (b"i", b"c"):
                target = self.input_target()
                if target is not None and kind == b"i":
                    target.give(payload)
                elif target is not None:
                    target.end_input()
            elif kind == b"!":
                if self.call is not None:
                    self.interrupt("interrupted")
            elif kind == b"R":
                self.restart(json.loads(payload).get("id"))
            else:
                self.file_operation(payload)

    def input_target(self):
        """The interactive call whose input is still open: the running one, else the first that waits."""
        for call in ([self.call] if self.call is not None else []) + list(self.calls):
            if call.interactive and not call.input_ended:
                return call
        return None

    # Calls

    def start_next_call(self):
        if self.call is not None or not self.calls:
            return
        call = self.call = self.calls.popleft()
        self.limit, self.emitted, self.over_limit, self.truncated = call.limit, 0, False, set()
        if call.interactive:
            stdin, pipe = os.pipe()
            call.feed = StdinFeed(pipe, self.poller, None, call.input)
            if call.input_ended:
                call.feed.finish()
        else:
            stdin = os.memfd_create("stdin")
            write_all(stdin, call.stdin)
            os.lseek(stdin, 0, os.SEEK_SET)
        call.started = time.monotonic()
        call.deadline = call.started + call.timeout
        call.cpu = self.kernel.cpu_seconds()
        if self.kernel.peak == 0:
            self.kernel.peak_rss()  # gVisor's peak is sampled: its first sample, before any call
        call.oom_kills = oom_kills()
        self.numbered += 1
        call.number = self.numbered
        message = json.dumps({"call": call.number, "code": call.code, "context": call.context, "reset": call.reset,
                              "env": call.env}).encode()
        try:
            waiting = self.kernel.send(struct.pack(">I", len(message)) + message, stdin)
        except OSError:  # the kernel closed its control socket: it is as good as dead
            self.kill_kernel()
            return
        if waiting:
            self.poller.register(self.kernel.control.fileno(), select.POLLOUT)

    def push_control(self):
        try:
            if not self.kernel.push():
                unregister(self.poller, self.kernel.control.fileno())
        except OSError:
            self.kill_kernel()

    def interrupt(self, status):
        call = self.call
        if call.status is None:
            call.status = status
        if call.kill_at is None and self.kernel.status is None:  # a dead kernel's pid may be another process's now
            call.kill_at = time.monotonic() + KILL_AFTER_INTERRUPT
            try:
                os.kill(self.kernel.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def check_deadlines(self):
        now = time.monotonic()
        call = self.call
        if call is not None:
            if call.kill_at is not None and now >= call.kill_at:
                self.kill_kernel()
            elif call.kill_at is None and now >= call.deadline:
                self.interrupt("timed_out")
        for operation in list(self.operations.values()):
            if now >= operation.deadline:
                try:
                    os.kill(operation.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.answer(operation, None)

    def finish(self, status, execution_count, restarted):
        call, kernel = self.call, self.kernel
        alive = kernel.status is None
        cpu = kernel.cpu_seconds() if alive else kernel.rusage.ru_utime + kernel.rusage.ru_stime
        record = call_record(call.id, call.status or status, execution_count, time.monotonic() - call.started,
                             max(0.0, cpu - call.cpu), kernel.peak_rss() if alive else kernel.rusage.ru_maxrss * 1024,
                             self.truncated, restarted)
        if call.feed is not None:
            call.feed.close()
        self.call = None
        self.pending += frame(b"y", record)
        self.flush()

    # The kernel's output

    def pump_kernel(self, fd):
        kernel = self.kernel
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            unregister(self.poller, fd)
            return
        if fd == kernel.child.ordered:
            for kind, chunk in kernel.reader.feed(data):
                if kind == b"m":
                    kernel.parts += chunk
                    if len(kernel.parts) > REQUEST_MAX:  # a message no limit lets through: stop collecting it
                        kernel.parts.clear()
                elif kind == b"M":
                    kernel.parts += chunk
                    message, kernel.parts = bytes(kernel.parts), bytearray()
                    self.on_message(message)
                else:
                    self.output(kind, chunk)
        else:
            self.output(b"o" if fd == kernel.child.out else b"e", data)

    def output(self, kind, data):
        if self.call is None:
            return  # what a call's leftovers write between calls belongs to no call
        self.forward(kind, data)
        if self.over_limit:
            self.interrupt("output_limit_exceeded")

    def on_message(self, data):
        try:
            message = json.loads(data)
            kind = message.get("output_type")
        except (ValueError, AttributeError):
            return  # not a message: the code wrote it (fd 3 is within its reach)
        if kind == "_ready":
            self.kernel.ready = True
            if not self.ready:
                self.ready = True
                emit(b"k", b"")
        elif kind == "_done":
            if self.call is not None and message.get("call") == self.call.number:
                self.drain_kernel()  # what it wrote to fds 1 and 2 before it ended is in their pipes: it belongs here
                if self.call is None:
                    return
                status = message.get("status")
                count = message.get("execution_count")
                self.finish(status if status in ("ok", "error") else "error", count if isinstance(count, int) else None, False)
        elif kind in ("execute_result", "display_data", "error") and self.call is not None and not self.over_limit:
            if len(data) > self.limit - self.emitted:
                self.over_limit = True
                self.interrupt("output_limit_exceeded")
                return
            self.emitted += len(data)
            self.hold(frame(b"m", data))

    def drain_kernel(self):
        for fd in self.kernel.fds[:2]:
            while self.call is not None:
                try:
                    data = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    break
                if not data:
                    break
                self.output(b"o" if fd == self.kernel.child.out else b"e", data)

    # The kernel's life

    def start_kernel(self, child):
        self.generation += 1
        self.kernel = KernelProcess(child, self.egress)
        for fd in self.kernel.fds:
            self.poller.register(fd, select.POLLIN)

    def reap(self):
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.operation_pids.discard(pid)
            if self.kernel is not None and pid == self.kernel.pid:
                self.kernel.status, self.kernel.rusage = status, rusage
                self.replace_kernel()
                return

    def kill_kernel(self):
        """Kills the kernel with every process of the sandbox user, and forks a fresh one."""
        kill_everything_else()
        if self.kernel.status is None:
            _, self.kernel.status, self.kernel.rusage = os.wait4(self.kernel.pid, 0)
        self.replace_kernel()

    def replace_kernel(self):
        """After the kernel's death: ends its call (kernel_restarted), kills whatever of the sandbox user is left, and
        forks a fresh kernel from this booted process (the pre-imported packages come free again)."""
        kill_everything_else()
        wait_for_children(self.operation_pids)
        old = self.kernel
        for fd in old.fds:  # everything that wrote to them is dead: read them to their end
            os.set_blocking(fd, True)
            while True:
                data = os.read(fd, READ_SIZE)
                if not data:
                    break
                if fd == old.child.ordered:
                    for kind, chunk in old.reader.feed(data):
                        if kind in (b"o", b"e"):
                            self.output(kind, chunk)
                else:
                    self.output(b"o" if fd == old.child.out else b"e", data)
            unregister(self.poller, fd)
        unregister(self.poller, old.control.fileno())
        for operation in list(self.operations.values()):  # killed with the rest: whatever answer each finished counts
            os.set_blocking(operation.pipe, True)
            while len(operation.data) <= operation.cap and (data := os.read(operation.pipe, READ_SIZE)):
                operation.data += data
            self.answer(operation, bytes(operation.data) if len(operation.data) <= operation.cap else None)
        if self.call is not None:
            if oom_kills() > self.call.oom_kills:  # the OOM killer's verdict stands over an interrupt that came first
                self.call.status = "memory_exceeded"
            self.finish("kernel_died", None, True)
        old.close()
        self.kernel = None
        if not old.ready:
            time.sleep(1)  # a kernel that died before it could start: do not fork its successors in a busy loop
        self.start_kernel(fork_child(self.user))

    def restart(self, request_id):
        started = time.monotonic()
        if self.call is not None:
            self.call.status = self.call.status or "interrupted"
        self.kill_kernel()
        self.pending += frame(b"y", call_record(request_id, "restarted", 0, time.monotonic() - started, 0.0,
                                                self.kernel.peak_rss(), set(), True))
        self.flush()

    # File operations

    def file_operation(self, payload):
        request_id, op, parts, content, error = file_request(payload)
        if error is None and op == "put" and len(content) > self.max_file_bytes:
            error = "too_large"
        if error is not None:
            self.emit_answer(request_id, {"ok": False, "error": error})
            return
        bounds = (self.max_file_bytes, self.max_total_bytes, self.max_count)
        try:
            answer_r, answer_w = os.pipe()
        except OSError:
            self.emit_answer(request_id, {"ok": False, "error": "failed"})
            return
        try:
            pid = os.fork()
        except OSError:  # the sandbox's pids are used up (a fork bomb): the kernel's kill frees them
            os.close(answer_r)
            os.close(answer_w)
            self.emit_answer(request_id, {"ok": False, "error": "failed"})
            return
        if pid == 0:
            try:
                file_worker(answer_w, self.user, op, parts, content, bounds)
            finally:
                os._exit(0)
        os.close(answer_w)
        os.set_blocking(answer_r, False)
        self.operation_pids.add(pid)
        self.operations[answer_r] = FileOperation(request_id, pid, answer_r, self.max_file_bytes + HEADER_LIMIT * 8)
        self.poller.register(answer_r, select.POLLIN)

    def read_answer(self, operation):
        try:
            data = os.read(operation.pipe, READ_SIZE)
        except BlockingIOError:
            return
        operation.data += data
        if len(operation.data) > operation.cap:
            os.kill(operation.pid, signal.SIGKILL)
            self.answer(operation, None)
        elif not data:
            self.answer(operation, bytes(operation.data))

    def answer(self, operation, data):
        """The worker's answer, checked (it ran as the sandbox user): a JSON line, then a got file's content."""
        del self.operations[operation.pipe]
        self.poller.unregister(operation.pipe)
        os.close(operation.pipe)
        answer, content = {"ok": False, "error": "failed"}, b""
        if data is not None and b"\n" in data:
            line, _, content = data.partition(b"\n")
            try:
                answer = json.loads(line)
            except ValueError:
                pass
            if not isinstance(answer, dict) or (not answer.get("ok") and answer.get("error") not in FILE_ERRORS):
                answer, content = {"ok": False, "error": "failed"}, b""
        self.emit_answer(operation.id, answer, content if answer.get("ok") else b"")

    def emit_answer(self, request_id, answer, content=b""):
        self.pending += frame(b"g", file_answer(request_id, answer, content))
        self.flush()


def call_record(call_id, status, execution_count, wall, cpu, max_rss, truncated, restarted):
    """The b"y" frame's payload: how a call (or a restart) ended, as JSON."""
    return json.dumps({
        "id": call_id,
        "status": status,
        "execution_count": execution_count,
        "wall_ms": round(wall * 1000, 3),
        "cpu_ms": round(cpu * 1000, 3),
        "max_rss_bytes": max_rss,
        "stdout_truncated": b"o" in truncated,
        "stderr_truncated": b"e" in truncated,
        "kernel_restarted": restarted,
    }).encode()


def file_request(payload):
    """A b"F" request's JSON line and content: (id, op, path's parts, content, error), error "bad_path" for a path that
    could leave the work directory or an unknown op, "failed" for a request that is not one."""
    line, _, content = payload.partition(b"\n")
    try:
        request = json.loads(line)
        request_id, op, path = request.get("id"), request["op"], request["path"]
    except (ValueError, KeyError, AttributeError, TypeError):
        return None, None, [], b"", "failed"
    if not isinstance(path, str):
        return request_id, op, [], b"", "bad_path"
    parts = path.split("/") if path else []
    if op not in ("put", "get", "list", "delete") or (not parts and op != "list") or "\0" in path \
            or any(p in ("", ".", "..") for p in parts):
        return request_id, op, parts, b"", "bad_path"
    return request_id, op, parts, content, None


def file_answer(request_id, answer, content=b""):
    """The b"g" frame's payload: a JSON line (error null when ok; size and entries only when ok), then the content."""
    ok = bool(answer.get("ok"))
    line = {"id": request_id, "ok": ok, "error": None if ok else answer.get("error", "failed"),
            "size": answer.get("size") if ok else None, "entries": answer.get("entries") if ok else None}
    return json.dumps(line).encode() + b"\n" + content


def unregister(poller, fd):
    try:
        poller.unregister(fd)
    except KeyError:
        pass


def fork_child(user):
    """A fresh kernel's process; a fork the pids limit refuses is tried again while the killed processes are reaped."""
    for attempt in range(50):
        try:
            return Child(user)
        except BlockingIOError:
            reap_orphans()
            time.sleep(0.05)
    return Child(user)


def wait_for_children(pids):
    """Collects every child after kill_everything_else: the sandbox user's processes are all dead or dying."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        pids.discard(pid)


def file_worker(answer, user, op, parts, content, bounds):
    """A file operation, as the sandbox user (the work directory is closed to this root without capabilities), in a
    process forked for it: it holds nothing of the launcher's but its answer pipe, and never follows a link."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, answer)
    os.closerange(answer + 1, 1 << 16)
    leave_supervisor_signals()
    become(user)
    try:
        result, data = FileWorker(*bounds).run(op, parts, content)
    except BadPath:
        result, data = {"ok": False, "error": "bad_path"}, b""
    except OSError as e:
        result, data = {"ok": False, "error": FILE_ERRNOS.get(e.errno, "failed")}, b""
    write_all(answer, json.dumps(result).encode() + b"\n" + data)


FILE_ERRNOS = {2: "not_found", 20: "not_a_directory", 21: "is_a_directory", 39: "not_empty", 40: "bad_path",
               36: "bad_path"}  # ENOENT, ENOTDIR, EISDIR, ENOTEMPTY, ELOOP, ENAMETOOLONG


class BadPath(Exception):
    pass


class FileWorker:
    def __init__(self, max_file_bytes, max_total_bytes, max_count):
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.max_count = max_count

    def run(self, op, parts, content):
        top = open_directory(WORK_DIR, None)
        directory = top
        try:
            for part in parts if op == "list" else parts[:-1]:
                if op == "put":
                    try:
                        os.mkdir(part, 0o755, dir_fd=directory)
                    except FileExistsError:
                        pass
                inner = open_directory(part, directory)
                if directory != top:
                    os.close(directory)
                directory = inner
            if op == "list":
                return self.list(directory, parts)
            return getattr(self, op)(top, directory, parts[-1], parts, content)
        finally:
            if directory != top:
                os.close(directory)
            os.close(top)

    def get(self, top, directory, name, parts, content):
        st = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            return {"ok": False, "error": "is_a_directory"}, b""
        if not stat.S_ISREG(st.st_mode):
            raise BadPath()  # a link, a fifo...: never opened
        if st.st_size > self.max_file_bytes:
            return {"ok": False, "error": "too_large"}, b""
        fd = open_same(name, st, os.O_NONBLOCK, directory)
        try:
            chunks, total = [], 0
            while total <= self.max_file_bytes:
                chunk = os.read(fd, min(READ_SIZE, self.max_file_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        finally:
            os.close(fd)
        if total > self.max_file_bytes:
            return {"ok": False, "error": "too_large"}, b""
        return {"ok": True, "size": total}, b"".join(chunks)

    def put(self, top, directory, name, parts, content):
        try:
            st = os.stat(name, dir_fd=directory, follow_symlinks=False)
            replaced = st.st_size if stat.S_ISREG(st.st_mode) else 0
            if stat.S_ISDIR(st.st_mode):
                return {"ok": False, "error": "is_a_directory"}, b""
        except FileNotFoundError:
            st, replaced = None, 0
        limit = self.max_count + OUT_ENTRIES_MAX
        entries = self.scan(top, "", 0, [], limit)
        if len(entries) > limit:
            return {"ok": False, "error": "too_many_files"}, b""
        files = [e for e in entries if e["type"] == "file"]
        count = len(files) - (1 if st is not None and stat.S_ISREG(st.st_mode) else 0) + 1
        if count > self.max_count:
            return {"ok": False, "error": "too_many_files"}, b""
        if sum(e["size"] for e in files) - replaced + len(content) > self.max_total_bytes:
            return {"ok": False, "error": "too_large"}, b""
        # Written aside, then renamed over the name: a link in its place is replaced, never written through.
        temporary = f".executor-put-{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
        try:
            write_all(fd, content)
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        return {"ok": True, "size": len(content)}, b""

    def delete(self, top, directory, name, parts, content):
        st = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(name, dir_fd=directory)
        else:
            os.unlink(name, dir_fd=directory)  # a link goes itself, not what it points to
        return {"ok": True}, b""

    def list(self, directory, parts):
        entries = self.scan(directory, "".join(p + "/" for p in parts), 0, [], OUT_ENTRIES_MAX)
        if len(entries) > OUT_ENTRIES_MAX:
            return {"ok": False, "error": "too_many_files"}, b""
        return {"ok": True, "entries": entries}, b""

    def scan(self, directory, prefix, depth, entries, limit):
        """The tree's files and directories (never through a link), paths relative to the work directory, up to limit
        entries (one more says there are more)."""
        for name in sorted(os.listdir(directory)):
            if len(entries) > limit:
                return entries
            try:
                st = os.stat(name, dir_fd=directory, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                entries.append({"path": prefix + name, "size": st.st_size, "type": "file"})
            elif stat.S_ISDIR(st.st_mode):
                entries.append({"path": prefix + name, "size": 0, "type": "directory"})
                if depth + 1 < OUT_DEPTH_MAX:
                    try:
                        inner = open_same(name, st, os.O_DIRECTORY, directory)
                    except OSError:
                        continue
                    try:
                        self.scan(inner, prefix + name + "/", depth + 1, entries, limit)
                    finally:
                        os.close(inner)
        return entries


def open_directory(name, directory):
    """A directory on the way, opened where lstat saw it; a link (or anything else) there is a bad path."""
    st = os.stat(name, dir_fd=directory, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise BadPath()
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(20, "not a directory")
    return open_same(name, st, os.O_DIRECTORY, directory)


# Egress (frames.md, the job header's "egress"): the loopback relay to the run's proxy, and what the script's process sets.
# Commands and test cases (frames.md, section 8): a job with a "command" runs programs rather than a Python script in
# this interpreter: an optional compile stage (its b"b" record), then the run command, once as a one-shot run (framed live, as a script
# is) or once per test case, each case from the same clean state: the work directory as the compile stage left it (a
# snapshot this process keeps), nothing of an earlier case's in /tmp, /dev/shm or System V IPC, no process of its left.
# A Python job with "cases" runs its entry script as such a command. Every command is the sandbox user's.
SNAPSHOT_MAX = 64 << 20  # the prepared work directory, as this process keeps it for the cases (the sandbox's memory)
CLEANED = ("/tmp", "/dev/shm", "/dev/mqueue")  # where a case may leave files besides the work directory
IPC_RMID = 0
JAVA_NOISE = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
JAVA_TYPE = re.compile(r"\b(class|interface|enum|record)\s+([A-Za-z_$][\w$]*)")
JAVA_MAIN = re.compile(r"\bstatic\b[\w\s]*?\bvoid\s+main\s*\(")
JAVA_PUBLIC = re.compile(r"\bpublic\s+(?:(?:abstract|final|strictfp|sealed|non-sealed)\s+)*$")


class CommandJob:
    """A job with a "command" (or a Python job with "cases"): files written, the compile stage, then the run command once
    (one-shot, the Supervisor's run) or once per case."""

    def __init__(self, job, child, user, source, egress=None):
        self.job = job
        self.child = child
        self.user = user
        self.source = source
        self.egress = egress
        self.env = {**os.environ, **(egress["env"] if egress else {})}
        self.command = job.get("command") or {"run": [sys.executable, os.path.join(WORK_DIR, "{source}"), *job.get("args", [])]}

    def run(self, files, stdin):
        tokens = self.prepare_entry(files)
        run = substitute(self.command["run"], tokens)
        compile_command = self.command.get("compile")
        if not compile_command and "cases" not in self.job:
            # The one-shot run of a program that needs no preparing: the forked child writes the files and becomes it.
            Supervisor(self.job, self.child, self.user, self.source, self.egress).run(files, stdin, run)
            return
        as_user(self.user, lambda _: write_files(self.job["files"], files))
        if compile_command and not self.compile(substitute(compile_command, tokens)):
            return
        # Nothing of the preparation's runs on; the forked child (which would hold the one-shot's files) neither.
        end_user_processes()
        for fd in (self.child.out, self.child.err, self.child.ordered, self.child.control, self.child.stdin, self.child.usage):
            os.close(fd)
        if "cases" not in self.job:
            Supervisor(self.job, fork_child(self.user), self.user, self.source, self.egress).run([], stdin, run)
            return
        self.run_cases(run)

    def prepare_entry(self, files):
        """The tokens' values: {source}, the entry's path (a Java entry first renamed after its public class, as javac
        wants), and {main_class}, the class that declares main."""
        entry = self.job["entrypoint"]
        tokens = {"{source}": entry, "{main_class}": "Main"}
        if not entry.endswith(".java"):
            return tokens
        index = next((i for i, f in enumerate(self.job["files"]) if f["path"] == entry), None)
        if index is None:
            return tokens
        public, main = java_classes(files[index].decode("utf-8", "replace"))
        tokens["{main_class}"] = main or public or "Main"
        if public:
            renamed = posix_join(os.path.dirname(entry), public + ".java")
            if renamed != entry and all(f["path"] != renamed for f in self.job["files"]):
                self.job["files"][index] = {**self.job["files"][index], "path": renamed}
                self.job["entrypoint"] = tokens["{source}"] = renamed
        return tokens

    def compile(self, argv):
        """The compile stage: its b"b" record; False (after a b"x" compile_error) when it did not exit 0."""
        command = self.command
        stdin = os.open(os.devnull, os.O_RDONLY)
        try:
            result = run_captured(self.user, argv, self.env, stdin, command.get("compile_timeout_ms", 15000),
                                  command.get("compile_output_limit_bytes", 65536), merged=True)
        finally:
            os.close(stdin)
        emit(b"b", compile_record(result))
        if result.outcome == "exited" and result.end["exit_code"] == 0:
            return True
        end_user_processes()
        emit(b"x", command_record("compile_error", result.end, result.oom_kills))
        return False

    def run_cases(self, argv):
        """Each case from the clean state (a b"t" frame each, in order), then a b"x" record of them all."""
        snapshot = as_user(self.user, take_snapshot, SNAPSHOT_MAX)
        limit = self.job.get("case_output_limit_bytes", 65536)
        started = time.monotonic()
        cpu_ms = max_rss = oom_total = 0
        for index, case in enumerate(self.job["cases"]):
            end_user_processes()
            as_user(self.user, lambda _: restore_snapshot(snapshot))
            stdin = os.memfd_create("stdin")
            try:
                write_all(stdin, case["stdin"])
                os.lseek(stdin, 0, os.SEEK_SET)
                result = run_captured(self.user, argv, self.env, stdin, case.get("timeout_ms", 10000), limit, merged=False)
            finally:
                os.close(stdin)
            emit(b"t", case_result(index, result))
            cpu_ms += result.end["cpu_ms"]
            max_rss = max(max_rss, result.end["max_rss_bytes"])
            oom_total += result.oom_kills
        end_user_processes()
        end = {"exit_code": 0, "signal": None, "cpu_ms": round(cpu_ms, 3), "max_rss_bytes": max_rss,
               "wall_ms": round((time.monotonic() - started) * 1000, 3)}
        emit(b"x", command_record("exited", end, oom_total))


def end_user_processes():
    """Kills every process but this one and reaps them all, again until none is left: a process that forked while kill(-1)
    went through the list could leave a child it missed."""
    while True:
        kill_everything_else()
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            return
        time.sleep(0.001)


def compile_record(result):
    """The b"b" frame's payload: how the compile stage ended, and the compiler's messages (stdout and stderr as one)."""
    return json.dumps({"outcome": result.outcome, **result.end, "output": result.stdout.decode("utf-8", "replace"),
                       "output_truncated": result.stdout_truncated}).encode()


def command_record(outcome, end, oom_kill_count):
    """The b"x" record that ends a job with a compile error (end: the compiler's) or its cases (end: the cases' total CPU,
    their peak memory, the wall time since the first started): an exit record's fields, no output of its own."""
    return json.dumps({"outcome": outcome, **end, "oom_kills": oom_kill_count, "stdout_truncated": False,
                       "stderr_truncated": False}).encode()


def case_result(index, result):
    """The b"t" frame's payload: the length of its JSON header, the header, then the case's stdout and stderr bytes."""
    header = json.dumps({"index": index, "outcome": result.outcome, **result.end, "oom_kills": result.oom_kills,
                         "stdout_size": len(result.stdout), "stderr_size": len(result.stderr),
                         "stdout_truncated": result.stdout_truncated, "stderr_truncated": result.stderr_truncated}).encode()
    return struct.pack(">I", len(header)) + header + result.stdout + result.stderr


def substitute(argv, tokens):
    """The command with its tokens replaced inside each item."""
    result = []
    for item in argv:
        for token, value in tokens.items():
            item = item.replace(token, value)
        result.append(item)
    return result


def posix_join(directory, name):
    return f"{directory}/{name}" if directory else name


def java_classes(source):
    """(the public top-level class, the class that declares static main) of a Java source, either None; a class nested in
    another is named as the JVM names it (Outer$Inner). Comments and literals are blanked first, so that no "class" in
    them counts."""
    code = JAVA_NOISE.sub(lambda m: " " * len(m.group()), source)
    spans = []  # (name, start of the body, end of the body)
    for match in JAVA_TYPE.finditer(code):
        opening = code.find("{", match.end())
        if opening < 0:
            continue
        depth, at = 0, opening
        while at < len(code):
            depth += {"{": 1, "}": -1}.get(code[at], 0)
            if depth == 0:
                break
            at += 1
        spans.append((match.group(2), opening, at, match.start()))
    public = next((name for name, _, _, start in spans
                   if not any(o < start < c for _, o, c, _ in spans) and JAVA_PUBLIC.search(code[:start])), None)
    main = JAVA_MAIN.search(code)
    if main is None:
        return public, None
    enclosing = [name for name, opening, closing, _ in spans if opening < main.start() < closing]
    return public, "$".join(enclosing) or None


class Captured:
    """A command run to its end with its output captured (run_captured)."""

    def __init__(self, outcome, end, oom_kills, stdout, stderr, truncated):
        self.outcome = outcome
        self.end = end  # process_end's fields
        self.oom_kills = oom_kills
        self.stdout, self.stderr = stdout, stderr
        self.stdout_truncated, self.stderr_truncated = "o" in truncated, "e" in truncated


def run_captured(user, argv, env, stdin, timeout_ms, limit, merged):
    """Runs a command of the sandbox user's with stdin (a file descriptor), its stdout and stderr each kept up to limit
    bytes (merged: one buffer for both, as a compiler's messages are read); past limit or timeout_ms it is killed.
    Whatever it leaves running is killed when it ends."""
    out_r, out_w = os.pipe()
    err_r, err_w = (out_r, out_w) if merged else os.pipe()
    use_r, use_w = os.pipe()
    oom_before = oom_kills()
    wake = sigchld_wakeup()  # before the fork: a child that ends at once still wakes the loop
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            leave_supervisor_signals()
            become(user)
            for fd, target in ((stdin, 0), (out_w, 1), (err_w, 2), (use_w, USAGE_FD)):
                os.dup2(fd, target)
            first_to_die()
            exec_command(argv, env)
        finally:
            os._exit(127)
    for fd in {out_w, err_w, use_w}:
        os.close(fd)
    try:
        watch = os.pidfd_open(pid)
    except OSError:  # gVisor has no pidfd: the SIGCHLD wakeup pipe
        watch = None
    streams = {out_r: "o"} if merged else {out_r: "o", err_r: "e"}
    kept = {"o": bytearray(), "e": bytearray()}
    truncated = set()
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    poller.register(watch if watch is not None else wake, select.POLLIN)
    deadline = started + timeout_ms / 1000

    def pump(fd):
        stream = streams[fd]
        data = read_stream(poller, streams, fd)
        room = limit - len(kept[stream])
        if len(data) > room:
            truncated.add(stream)
        kept[stream] += data[:max(room, 0)]

    outcome = status = rusage = None
    found, status, rusage = os.wait4(pid, os.WNOHANG)
    if found == 0:
        status = None
    while status is None:
        if deadline - time.monotonic() <= 0:
            outcome = "timed_out"
            break
        for fd, _ in poller.poll(max(0, (deadline - time.monotonic()) * 1000)):
            if fd in streams:
                pump(fd)
            elif fd in (watch, wake):
                if fd == wake:
                    drain(wake)
                found, status, rusage = os.wait4(pid, os.WNOHANG)
                if found == 0:
                    status = None
        if truncated:
            outcome = "output_limit_exceeded"
            break
    if status is None:
        status, rusage = end_measured(pid)
    kill_everything_else()
    if status is None:
        _, status, rusage = os.wait4(pid, 0)
    reap_orphans()
    drain_until = time.monotonic() + 1  # what is still in the pipes (the writers are dead)
    while streams and not truncated and time.monotonic() < drain_until:
        for fd, _ in poller.poll(100):
            if fd in streams:
                pump(fd)
    if truncated:
        outcome = "output_limit_exceeded"
    for fd in [*{out_r, err_r}, *([watch] if watch is not None else [])]:
        os.close(fd)
    end = process_end(status, rusage, time.monotonic() - started, read_usage(use_r))
    return Captured(outcome or "exited", end, oom_kills() - oom_before, bytes(kept["o"]), bytes(kept["e"]), truncated)


MEASURED_END_SECONDS = 1.0


def end_measured(pid):
    """Kills the program a measuring helper (pid) runs, before the helper, which then still writes what the program used
    (a case past its time says its memory too): its (wait status, rusage) once it has ended, or (None, None)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parent = int(f.read().rsplit(b")", 1)[1].split()[1])
            if parent == pid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
    until = time.monotonic() + MEASURED_END_SECONDS
    while time.monotonic() < until:
        found, status, rusage = os.wait4(pid, os.WNOHANG)
        if found:
            return status, rusage
        time.sleep(0.002)
    return None, None


def as_user(user, work, limit=0):
    """work(fd) in a process of the sandbox user's forked for it (the work directory is closed to this root without
    capabilities); returns what it wrote on fd, at most limit bytes. Its failure is the launcher's: a case never starts
    from a state that could not be made clean."""
    read_r, read_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_r)
            leave_supervisor_signals()
            become(user)
            work(read_w)
            code = 0
        except BaseException as e:
            os.write(2, f"executor launcher: {type(e).__name__}: {e}\n".encode(errors="replace"))
        finally:
            os._exit(code)
    os.close(read_w)
    data = bytearray()
    while len(data) <= limit and (chunk := os.read(read_r, READ_SIZE)):
        data += chunk
    os.close(read_r)
    if len(data) > limit:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if len(data) > limit:
        raise OSError(f"the work directory is larger than {limit} bytes, the most a snapshot holds")
    if status != 0:
        raise OSError(f"preparing the work directory failed ({work.__name__}: wait status {status})")
    return bytes(data)


def write_files(entries, contents):
    for f, content in zip(entries, contents):
        write_file(f["path"], content)
    try:
        os.mkdir(OUT_DIR, 0o755)
    except OSError:
        pass


def take_snapshot(fd):
    """The work directory (directories, files with their modes, links), marshalled onto fd for the launcher to keep. Only
    a process of the sandbox user's reads it back (restore_snapshot): the launcher never parses it."""
    entries = []

    def walk(directory, prefix):
        with os.scandir(directory) as listing:
            for entry in sorted(listing, key=lambda e: e.name):
                st = entry.stat(follow_symlinks=False)
                path = prefix + entry.name
                mode = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode):
                    entries.append((path, "d", mode, b""))
                    os.chmod(entry.path, mode | 0o700)  # the user's own, closed by the build: opened to be read
                    walk(entry.path, path + "/")
                elif stat.S_ISREG(st.st_mode):
                    os.chmod(entry.path, mode | 0o400)
                    with open(entry.path, "rb") as f:
                        entries.append((path, "f", mode, f.read()))
                elif stat.S_ISLNK(st.st_mode):
                    entries.append((path, "l", 0, os.fsencode(os.readlink(entry.path))))

    walk(WORK_DIR, "")
    write_all(fd, marshal.dumps(entries))


def restore_snapshot(snapshot):
    """The clean state of a case: the work directory as the snapshot has it, and nothing of the sandbox user's left in
    /tmp, /dev/shm, /dev/mqueue or System V IPC."""
    remove_owned(WORK_DIR, every=True)
    for directory in CLEANED:
        remove_owned(directory, every=False)
    remove_ipc()
    directories = []
    for path, kind, mode, data in marshal.loads(snapshot):
        full = os.path.join(WORK_DIR, path)
        if kind == "d":
            os.mkdir(full, 0o700)
            directories.append((full, mode))
        elif kind == "f":
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                write_all(fd, data)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        else:
            os.symlink(os.fsdecode(data), full)
    for full, mode in reversed(directories):  # deepest first: a directory the snapshot closed is filled before
        os.chmod(full, mode)


def remove_owned(directory, every):
    """Empties directory of what the sandbox user owns (every: of everything, the work directory being the user's)."""
    try:
        listing = list(os.scandir(directory))
    except FileNotFoundError:
        return  # no /dev/mqueue here
    uid = os.getuid()
    for entry in listing:
        st = entry.stat(follow_symlinks=False)
        if not every and st.st_uid != uid:
            continue  # root's (the egress authority in /tmp): not the cases'
        if stat.S_ISDIR(st.st_mode):
            os.chmod(entry.path, 0o700)  # a case may have closed it
            remove_owned(entry.path, every=True)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def remove_ipc():
    """Removes the sandbox user's System V shared memory, message queues and semaphores (the container's IPC namespace
    outlives a case)."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid = os.getuid()
    for kind, remove in (("shm", lambda i: libc.shmctl(i, IPC_RMID, None)), ("msg", lambda i: libc.msgctl(i, IPC_RMID, None)),
                         ("sem", lambda i: libc.semctl(i, 0, IPC_RMID))):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()
        except OSError:
            continue  # a kernel without it (gVisor)
        if not lines:
            continue
        columns = lines[0].split()
        for line in lines[1:]:
            fields = dict(zip(columns, line.split()))
            if int(fields.get("uid", -1)) == uid:
                remove(int(fields[columns[1]]))


EGRESS_HOST = "127.0.0.1"
EGRESS_RELAYS_MAX = 100  # connections relayed at once (two descriptors each, within the sandbox's open files limit)
EGRESS_CONNECT_SECONDS = 5.0
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
EGRESS_CA_BUNDLE = "/tmp/.executor-egress-ca.pem"  # root's, readable by the script (the work directory is closed to root)
USER_BASE = os.path.join(WORK_DIR, ".local")  # pip's user scheme: $PYTHONUSERBASE/lib/pythonX.Y/site-packages, bin


def start_egress(egress):
    """Starts relaying the sandbox's loopback port to the run's proxy socket and returns what the script's process must
    set (the control message's "egress": its environment and the user site), or None for a job without egress."""
    if not egress:
        return None
    port = int(egress.get("port") or 3128)
    relay = EgressRelay(port, egress["socket"])
    threading.Thread(target=relay.serve, name="egress", daemon=True).start()
    proxy = f"http://{EGRESS_HOST}:{port}"
    env = {
        "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
        "NO_PROXY": "", "no_proxy": "",
        # pip installs into the user site under /sandbox (the root file system is read-only): Debian marks its Python
        # externally managed (PEP 668), which refuses even a user install without this; the system is untouched.
        "PYTHONUSERBASE": USER_BASE, "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin") + ":" + os.path.join(USER_BASE, "bin"),
    }
    if egress.get("authority"):
        env.update(dict.fromkeys(("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE"),
                                 write_ca_bundle(egress["authority"])))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return {"env": env, "user_site": os.path.join(USER_BASE, "lib", version, "site-packages")}


def write_ca_bundle(authority):
    """The system's CA bundle (if the image has one) and the deployment's egress authority, in one file the script reads."""
    bundle = ""
    if os.path.isfile(SYSTEM_CA_BUNDLE):
        with open(SYSTEM_CA_BUNDLE) as f:
            bundle = f.read()
    if bundle and not bundle.endswith("\n"):
        bundle += "\n"
    with open(EGRESS_CA_BUNDLE, "w") as f:
        f.write(bundle + authority.strip() + "\n")
    os.chmod(EGRESS_CA_BUNDLE, 0o644)
    return EGRESS_CA_BUNDLE


def enter_egress(egress):
    """In the script's process (the sandbox user): the run's environment, and its user site on sys.path where site.py would
    put it (before the system's packages; made now, so that the import system finds what pip installs there later)."""
    os.environ.update(egress["env"])
    user_site = egress["user_site"]
    os.makedirs(user_site, exist_ok=True)
    import site
    before = list(sys.path)
    site.addsitedir(user_site)  # appends it, and what its .pth files name (packages installed by an earlier call)
    added = sys.path[len(before):]
    at = next((i for i, path in enumerate(before) if path.endswith(("site-packages", "dist-packages"))), len(before))
    sys.path[:] = before[:at] + added + before[at:]


class EgressRelay:
    """Relays each connection to 127.0.0.1:port, byte for byte and each direction's end too, to the proxy's Unix socket.
    One thread serves every connection (the sandbox's pids limit counts threads), in this process (root's: the script
    cannot signal it)."""

    def __init__(self, port, socket_path):
        import selectors
        import socket
        self.selectors, self.socket = selectors, socket
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((EGRESS_HOST, port))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.relays = set()

    def serve(self):
        while True:
            for key, events in self.selector.select():
                if key.fileobj is self.listener:
                    self.accept()
                    continue
                connection = key.data
                if connection.closed:
                    continue  # closed by an earlier event of this round
                try:
                    if events & self.selectors.EVENT_READ:
                        connection.read(key.fileobj)
                    if events & self.selectors.EVENT_WRITE:
                        connection.write(key.fileobj)
                    if not connection.finished:
                        self.watch(connection)
                        continue
                except (OSError, ValueError):  # reset, or gone: this connection ends, the relay goes on
                    pass
                self.close(connection)

    def accept(self):
        socket = self.socket
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        except OSError:  # out of descriptors: let the connections that hold them end first
            time.sleep(0.05)
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.setblocking(False)
        try:
            self.connect(upstream)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as a direct connection: small writes go at once
        except OSError:  # no proxy for this run (any more), or the script gave up: the script sees its connection closed
            client.close()
            upstream.close()
            return
        connection = EgressConnection(client, upstream, socket.SHUT_WR)
        self.relays.add(connection)
        self.watch(connection)
        if len(self.relays) >= EGRESS_RELAYS_MAX:
            self.selector.unregister(self.listener)  # the rest wait in the backlog

    def connect(self, upstream):
        """A Unix socket's connect fails at once (EAGAIN), rather than waiting, while the proxy's backlog is full: a burst
        of connections. Try again until the proxy has accepted enough of them."""
        deadline = time.monotonic() + EGRESS_CONNECT_SECONDS
        while True:
            try:
                return upstream.connect(self.socket_path)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def watch(self, connection):
        for end in connection.ends:
            events = connection.interest(end, self.selectors.EVENT_READ, self.selectors.EVENT_WRITE)
            if events == connection.watched[end]:
                continue
            if not events:
                self.selector.unregister(end)
            elif connection.watched[end]:
                self.selector.modify(end, events, connection)
            else:
                self.selector.register(end, events, connection)
            connection.watched[end] = events

    def close(self, connection):
        for end in connection.ends:
            try:
                self.selector.unregister(end)
            except (KeyError, ValueError):
                pass  # not watched
            end.close()
        connection.closed = True
        self.relays.discard(connection)
        if len(self.relays) == EGRESS_RELAYS_MAX - 1:
            self.selector.register(self.listener, self.selectors.EVENT_READ)


class EgressConnection:
    """One relayed connection: the script's socket, the proxy's, and what each sent that the other has not taken yet.
    A side that ends its sending has its peer's sending shut once everything before that end is delivered."""

    def __init__(self, client, upstream, shut_write):
        for end in (client, upstream):
            end.setblocking(False)
        self.ends = (client, upstream)
        self.shut_write = shut_write
        self.pending = {client: bytearray(), upstream: bytearray()}  # read from this end, for its peer
        self.ended = set()  # ends that sent their end
        self.shut = set()  # ends whose sending is shut (their peer's end passed on)
        self.watched = {client: 0, upstream: 0}
        self.closed = False

    def peer(self, end):
        return self.ends[1] if end is self.ends[0] else self.ends[0]

    def interest(self, end, read, write):
        return (read if end not in self.ended and not self.pending[end] else 0) | (write if self.pending[self.peer(end)] else 0)

    @property
    def finished(self):
        return len(self.ended) == 2 and not any(self.pending.values())

    def read(self, end):
        data = end.recv(READ_SIZE)
        if not data:
            self.ended.add(end)
        self.pending[end] += data
        self.write(self.peer(end))  # at once: most writes fit

    def write(self, end):
        source = self.peer(end)
        data = self.pending[source]
        if data:
            try:
                del data[:end.send(data)]
            except BlockingIOError:
                return
        if not data and source in self.ended and end not in self.shut:
            self.shut.add(end)
            end.shutdown(self.shut_write)


def main():
    user = sys.argv[1] if len(sys.argv) > 1 else "65534:65534"
    prepare([name for name in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if name])
    child = Child(user)
    emit(b"r", b"")  # whoever watches the start (the warm pool) now knows a job will run at once
    try:
        source = Source()
        job, files, stdin = receive_job(source)
        emit(b"a", b"")  # the job is here: whatever happens now, it must not run anywhere else
        egress = start_egress(job.get("egress"))
        if job.get("mode") == "kernel":
            KernelSupervisor(job, child, user, source, egress).run()
        elif "command" in job or "cases" in job:
            CommandJob(job, child, user, source, egress).run(files, stdin)
        else:
            Supervisor(job, child, user, source, egress).run(files, stdin)
    except Exception as e:  # the launcher's own failure: say so rather than end without a record
        kill_everything_else()
        emit(b"x", json.dumps({"outcome": "launcher_error", "detail": f"{type(e).__name__}: {e}"}).encode())
    # Exit a little later: a container's teardown costs the engine tens of milliseconds of CPU, which must not compete
    # with this record on its way out (measured: attach-to-record median ~5.8 -> ~4.5 ms) nor with the other runs of a
    # burst (40 runs: ~1.3 s -> ~0.3-0.5 s). Everything else in the sandbox is dead already; the runner removes the
    # container after this (RunnerService ContainerJanitor).
    time.sleep(LINGER_AFTER_RECORD)


if __name__ == "__main__":  # as the sandbox runs it (python3 -I -c <this file>); tests/launcher imports it
    main()
