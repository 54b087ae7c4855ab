"""launcher.py's own tests: its functions imported, and the whole launcher run as a child process the way a sandbox
starts it (python3 -I -c <launcher.py> uid:gid), without the rest of the sandbox (no seccomp, no limits, no gVisor: the
end-to-end tests cover those). Run inside the runtime image by tests/Executor.EndToEndTests/LauncherTests.cs:

    docker run --rm --network none -v "$PWD":/src:ro executor-python:3.11 python3 /src/tests/launcher/report.py

The whole-launcher tests need to be PID 1 of a container of their own, as root: the launcher kills every other process
it can reach (kill(-1)) when a run ends, which anywhere else would reach the test runner and more."""
import json
import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

from sources import LAUNCHER_PATH, FakeProxy, launcher, parse_frames, pipe_with, read_all

SANDBOX_USER = "65534:65534"


class SafePathTests(unittest.TestCase):
    def test_relative_paths_land_in_the_work_directory(self):
        self.assertEqual("/sandbox/lib/util.py", launcher.safe_path("lib/util.py"))

    def test_paths_that_could_leave_the_work_directory_are_refused(self):
        for name in ("", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\0b", "a/"):
            with self.subTest(name=name):
                self.assertRaises(ValueError, launcher.safe_path, name)


class ReceiveJobTests(unittest.TestCase):
    def job(self, header, rest=b""):
        source = launcher.Source(pipe_with(json.dumps(header).encode() + b"\n" + rest))
        try:
            return launcher.receive_job(source)
        finally:
            os.close(source.fd)

    def test_a_job_without_stdin_has_empty_stdin(self):
        job, files, stdin = self.job({"entrypoint": "a.py", "files": [{"path": "a.py", "size": 2}]}, b"ab")
        self.assertEqual((["ab"], b""), ([f.decode() for f in files], stdin))

    def test_an_unsafe_file_name_is_refused(self):
        self.assertRaises(ValueError, self.job, {"entrypoint": "a.py", "files": [{"path": "../a.py", "size": 0}]})

    def test_an_unsafe_entrypoint_is_refused(self):
        self.assertRaises(ValueError, self.job, {"entrypoint": "/etc/a.py", "files": []})

    def test_a_job_cut_short_is_an_error(self):
        self.assertRaises(EOFError, self.job, {"entrypoint": "a.py", "files": [{"path": "a.py", "size": 10}]}, b"abc")

    def test_a_header_line_longer_than_the_limit_is_refused(self):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a writer that never ends the line: the launcher must give up, not read forever
            try:
                os.close(r)
                launcher.write_all(w, b"{" + b" " * (launcher.HEADER_LIMIT + launcher.READ_SIZE))
            finally:
                os._exit(0)
        os.close(w)
        try:
            self.assertRaises(EOFError, launcher.Source(r).readline, launcher.HEADER_LIMIT)
        finally:
            os.close(r)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


class OrderedTests(unittest.TestCase):
    def test_a_long_write_becomes_frames_of_at_most_pipe_buf_bytes(self):
        r, w = os.pipe()
        saved, launcher.ORDERED_FD = launcher.ORDERED_FD, w
        data = bytes(range(256)) * 40  # 10,240 bytes
        try:
            self.assertEqual(len(data), launcher.OrderedWriter(b"e", 2).write(data))
        finally:
            launcher.ORDERED_FD = saved
            os.close(w)
        written = read_all(r)
        os.close(r)
        sizes, at = [], 0
        while at < len(written):
            self.assertEqual(b"e", written[at:at + 1])
            size = struct.unpack(">H", written[at + 1:at + 3])[0]
            sizes.append(size)
            at += 3 + size
        self.assertEqual([4093, 4093, 2054], sizes)
        self.assertEqual([(b"e", data)], launcher.OrderedReader().feed(written))

    def test_frames_split_at_every_byte_read_the_same_and_neighbours_of_one_stream_merge(self):
        frames = b"o\x00\x02ab" + b"o\x00\x01c" + b"e\x00\x01d" + b"n\x00\x00" + b"o\x00\x01e"
        reader, chunks = launcher.OrderedReader(), []
        for i in range(len(frames)):
            chunks += reader.feed(frames[i:i + 1])
        merged = []
        for stream, data in chunks:  # one-byte reads cannot merge what arrives apart; the order must hold
            if merged and merged[-1][0] == stream and stream != b"n":
                merged[-1] = (stream, merged[-1][1] + data)
            else:
                merged.append((stream, data))
        self.assertEqual([(b"o", b"abc"), (b"e", b"d"), (b"n", b""), (b"o", b"e")], merged)
        self.assertEqual([(b"o", b"abc"), (b"e", b"d"), (b"n", b""), (b"o", b"e")], launcher.OrderedReader().feed(frames))

    def test_what_is_not_a_frame_passes_on_as_stdout_from_there(self):
        reader = launcher.OrderedReader()
        self.assertEqual([(b"o", b"ok"), (b"o", b"zzz-not-a-frame")], reader.feed(b"o\x00\x02okzzz-not-a-frame"))
        self.assertEqual([(b"o", b"o\x00\x01x")], reader.feed(b"o\x00\x01x"))

    def test_a_frame_longer_than_pipe_buf_is_not_a_frame(self):
        self.assertEqual([(b"o", b"o\x10\x00")], launcher.OrderedReader().feed(b"o\x10\x00"))


class StdinFeedTests(unittest.TestCase):
    def feed(self, data):
        source_fd = pipe_with(b"")
        self.addCleanup(os.close, source_fd)
        pipe_r, pipe_w = os.pipe()
        self.addCleanup(os.close, pipe_r)
        source = launcher.Source(source_fd)
        source.buffer += data
        feed = launcher.StdinFeed(pipe_w, select.poll(), source, b"")
        self.addCleanup(feed.close)
        return feed

    def test_input_split_across_frames_is_joined_and_a_partial_frame_waits(self):
        feed = self.feed(b"i\x00\x00\x00\x02ab" + b"i\x00\x00\x00\x01c" + b"i\x00\x00\x00\x05de")
        self.assertEqual((b"abc", False), (bytes(feed.pending), feed.ended))
        feed.buffer += b"fgh"
        feed.parse()
        self.assertEqual(b"abcdefgh", bytes(feed.pending))

    def test_an_unknown_kind_ends_the_input(self):
        feed = self.feed(b"i\x00\x00\x00\x01a" + b"z\x00\x00\x00\x01b" + b"i\x00\x00\x00\x01c")
        self.assertEqual((b"a", True), (bytes(feed.pending), feed.ended))

    def test_a_frame_over_16_mib_ends_the_input(self):
        feed = self.feed(b"i" + struct.pack(">I", (1 << 24) + 1))
        self.assertEqual((b"", True), (bytes(feed.pending), feed.ended))


class SupervisorOutputTests(unittest.TestCase):
    def supervisor(self, limit):
        return launcher.Supervisor({"output_limit_bytes": limit}, None, SANDBOX_USER, None)

    def test_output_past_the_limit_is_cut_and_its_stream_flagged(self):
        supervisor = self.supervisor(5)
        supervisor.forward(b"o", b"abc")
        supervisor.forward(b"e", b"defg")
        supervisor.forward(b"o", b"h")
        self.assertEqual(launcher.frame(b"o", b"abc") + launcher.frame(b"e", b"de"), bytes(supervisor.pending))
        self.assertTrue(supervisor.over_limit)
        self.assertEqual({b"e", b"o"}, supervisor.truncated)

    def test_a_kernel_call_s_line_not_yet_whole_waits_for_its_end_and_a_whole_one_leaves_soon(self):
        supervisor = launcher.KernelSupervisor({}, None, SANDBOX_USER, None)
        supervisor.limit = 100
        supervisor.forward(b"o", b"one")  # print writes the line, then its newline: a busy machine runs us between them
        self.assertEqual(supervisor.pending_since + launcher.LINE_AFTER, supervisor.flush_due())
        supervisor.forward(b"o", b"\n")
        self.assertEqual(supervisor.pending_since + launcher.FLUSH_AFTER, supervisor.flush_due())
        supervisor.forward(b"e", b"progress 50%\r")
        self.assertEqual(supervisor.pending_since + launcher.LINE_AFTER, supervisor.flush_due())
        supervisor.pending_since -= launcher.LINE_AFTER  # however long a line takes, the batch leaves in time
        written = []
        with mock.patch.object(launcher, "write_all", lambda fd, data: written.append(bytes(data))):
            supervisor.flush_if_due()
        # The line and its newline leave as one frame: whatever relays it on shows them as one piece.
        self.assertEqual([launcher.frame(b"o", b"one\n") + launcher.frame(b"e", b"progress 50%\r")], written)
        self.assertIsNone(supervisor.flush_due())

    def test_output_of_one_stream_joins_its_frame_until_another_frame_or_a_flush_comes_between(self):
        supervisor = self.supervisor(100)
        supervisor.forward(b"o", b"a")
        supervisor.forward(b"o", b"b")
        supervisor.forward(b"e", b"c")
        supervisor.hold(launcher.frame(b"m", b"{}"))
        supervisor.forward(b"e", b"d")
        supervisor.forward(b"e", b"e")
        self.assertEqual(launcher.frame(b"o", b"ab") + launcher.frame(b"e", b"c") + launcher.frame(b"m", b"{}")
                         + launcher.frame(b"e", b"de"), bytes(supervisor.pending))
        with mock.patch.object(launcher, "write_all", lambda fd, data: None):
            supervisor.flush()
        supervisor.forward(b"e", b"f")
        self.assertEqual(launcher.frame(b"e", b"f"), bytes(supervisor.pending))

    def test_a_run_s_output_is_a_byte_stream_a_prompt_leaves_at_once(self):
        supervisor = self.supervisor(100)
        supervisor.forward(b"o", b"Your name? ")
        self.assertEqual(supervisor.pending_since + launcher.FLUSH_AFTER, supervisor.flush_due())

    def test_the_empty_out_marker_is_not_output(self):
        supervisor = self.supervisor(5)
        supervisor.forward(b"n", b"")
        self.assertTrue(supervisor.out_empty)
        self.assertEqual(b"", bytes(supervisor.pending))


class ExitCodeTests(unittest.TestCase):
    def test_sys_exit_codes_as_the_interpreter_gives_them(self):
        self.assertEqual(0, launcher.exit_code_of(SystemExit()))
        self.assertEqual(3, launcher.exit_code_of(SystemExit(3)))
        self.assertEqual(1, launcher.exit_code_of(SystemExit(257)))
        saved, sys.stderr = sys.stderr, open(os.devnull, "w")
        try:
            self.assertEqual(1, launcher.exit_code_of(SystemExit("a message")))
        finally:
            sys.stderr.close()
            sys.stderr = saved


class CollectorTests(unittest.TestCase):
    """What comes back from /sandbox/out, and what is left out and why."""

    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        self.out = os.path.join(self.root, "out")
        os.mkdir(self.out)
        saved, launcher.OUT_DIR = launcher.OUT_DIR, self.out
        self.addCleanup(setattr, launcher, "OUT_DIR", saved)

    def write(self, path, content):
        full = os.path.join(self.out, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content)

    def collect(self, max_count=32, max_bytes=1 << 20):
        with tempfile.TemporaryFile() as sink:
            launcher.Collector(sink.fileno(), max_count, max_bytes).run()
            sink.seek(0)
            return parse_frames(sink.read())

    def test_files_come_back_in_name_order_with_their_paths(self):
        self.write("b.txt", b"2")
        self.write("a.txt", b"1")
        self.write("sub/c.csv", b"3")
        self.assertEqual([("f", "a.txt", b"1"), ("f", "b.txt", b"2"), ("f", "sub/c.csv", b"3")], files_of(self.collect()))

    def test_files_past_the_count_or_size_limit_are_dropped_with_the_reason(self):
        self.write("a.txt", b"12345")
        self.write("b.txt", b"123456")
        self.write("c.txt", b"1")
        self.write("d.txt", b"2")
        self.assertEqual(
            [("f", "a.txt", b"12345"), ("d", "b.txt", 6, "size_limit"), ("f", "c.txt", b"1"), ("d", "d.txt", 1, "count_limit")],
            files_of(self.collect(max_count=2, max_bytes=8)))

    def test_links_fifos_bad_names_and_deep_trees_are_dropped(self):
        os.symlink("/etc/passwd", os.path.join(self.out, "link"))
        os.mkfifo(os.path.join(self.out, "fifo"))
        self.write("bad name.txt", b"x")
        self.write("/".join(["d"] * launcher.OUT_DEPTH_MAX) + "/deep.txt", b"x")
        self.assertEqual(
            [("d", "bad name.txt", 1, "bad_name"), ("d", "/".join(["d"] * launcher.OUT_DEPTH_MAX) + "/", 0, "too_deep"),
             ("d", "fifo", 0, "not_a_regular_file"), ("d", "link", 0, "not_a_regular_file")],
            files_of(self.collect()))

    def test_a_link_in_place_of_the_out_directory_gives_nothing(self):
        target = os.path.join(self.root, "elsewhere")
        os.mkdir(target)
        with open(os.path.join(target, "secret"), "w") as f:
            f.write("x")
        os.rmdir(self.out)
        os.symlink(target, self.out)
        self.assertEqual([], self.collect())

    def test_collect_files_reads_as_the_sandbox_user_and_returns_whole_frames(self):
        os.chmod(self.root, 0o755)
        os.chmod(self.out, 0o755)
        self.write("a.txt", b"hello")
        os.chmod(os.path.join(self.out, "a.txt"), 0o644)
        user = SANDBOX_USER if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        data = launcher.collect_files(user, {"max_count": 1, "max_bytes": 100})
        self.assertEqual([("f", "a.txt", b"hello")], files_of(parse_frames(data)))


class BecomeTests(unittest.TestCase):
    @unittest.skipUnless(os.getuid() == 0, "needs root, as the launcher runs")
    def test_the_script_process_leaves_root_for_the_sandbox_user_and_its_groups(self):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                launcher.become(SANDBOX_USER)
                os.write(w, json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]).encode())
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        self.assertEqual([65534, 65534, 65534, []], json.loads(read_all(r)))
        os.close(r)


def files_of(frames):
    result = []
    for kind, payload in frames:
        if kind == "f":
            size = struct.unpack(">H", payload[:2])[0]
            result.append(("f", payload[2:2 + size].decode(), payload[2 + size:]))
        elif kind == "d":
            dropped = json.loads(payload)
            result.append(("d", dropped["path"], dropped["size"], dropped["reason"]))
    return result


class LauncherRun:
    """Runs the launcher as a sandbox starts it, given a job on stdin; its frames read from stdout up to the exit record."""

    def run_launcher(self, script, stdin=b"", input_frames=None, files=(), name="main.py", case_inputs=(), seconds=20, **job):
        # A fresh work directory, the sandbox user's, as each sandbox container has.
        shutil.rmtree(launcher.WORK_DIR, ignore_errors=True)
        os.mkdir(launcher.WORK_DIR)
        os.chown(launcher.WORK_DIR, 65534, 65534)
        files = [(name, script.encode()), *files]
        header = {"entrypoint": name, "args": [], "files": [{"path": p, "size": len(c)} for p, c in files],
                  "stdin_size": len(stdin), "timeout_ms": 10000, "output_limit_bytes": 1 << 20, "interactive": False,
                  "out_files": {"max_count": 32, "max_bytes": 1 << 20}}
        header.update(job)
        with open(LAUNCHER_PATH) as f:
            source = f.read()
        with subprocess.Popen([sys.executable, "-I", "-c", source, SANDBOX_USER, ""],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
            try:
                process.stdin.write(json.dumps(header).encode() + b"\n" + b"".join(c for _, c in files) + stdin + b"".join(case_inputs))
                if input_frames is not None:
                    process.stdin.write(input_frames)
                process.stdin.close()
                frames = self.read_until_exit(process, seconds)
            finally:
                process.kill()  # it lingers a second after its record, for the engine's sake
            errors = process.stderr.read()
        self.assertEqual(b"", errors)
        return Run(frames)

    def read_until_exit(self, process, seconds=20):
        data, until = b"", time.monotonic() + seconds
        while time.monotonic() < until:
            frames = parse_frames(data)
            if frames and frames[-1][0] == "x" and len(frames[-1][1]) == struct.unpack(">I", data[-len(frames[-1][1]) - 4:][:4])[0]:
                return frames
            ready, _, _ = select.select([process.stdout], [], [], max(0, until - time.monotonic()))
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                break
            data += chunk
        self.fail(f"no exit record: {data[:2000]!r}")


WHOLE = os.getpid() == 1 and os.getuid() == 0
WHY = "the whole launcher runs only as a child of PID 1 of a container of its own, as root (see the module's doc)"


@unittest.skipUnless(WHOLE, WHY)
class WholeLauncherTests(LauncherRun, unittest.TestCase):
    """The launcher as a sandbox starts it, given a job on stdin; its frames read from stdout up to the exit record."""

    def test_ready_then_accepted_then_output_in_write_order_then_the_exit_record(self):
        run = self.run_launcher("import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n")
        self.assertEqual(["r", "a"], run.kinds[:2])
        self.assertEqual("x", run.kinds[-1])
        self.assertEqual([("o", b"a\n"), ("e", b"b\n"), ("o", b"c\n")], run.output)
        self.assertEqual(("exited", 0, None), (run.exit["outcome"], run.exit["exit_code"], run.exit["signal"]))

    def test_the_script_runs_as_the_sandbox_user_in_the_work_directory_with_its_arguments(self):
        run = self.run_launcher("import os, sys\nprint(os.getuid(), os.getgid(), os.getcwd(), sys.argv)\n", args=["a b", ";ls"])
        self.assertEqual("65534 65534 /sandbox ['/sandbox/main.py', 'a b', ';ls']\n", run.stdout)  # argv[0] as runpy sets it

    def test_the_other_files_are_written_and_importable(self):
        run = self.run_launcher("from lib.util import x\nprint(x, open('data.bin', 'rb').read())\n",
                                files=[("lib/util.py", b"x = 42\n"), ("data.bin", b"\x00\xff")])
        self.assertEqual("42 b'\\x00\\xff'\n", run.stdout)

    def test_sys_exit_code_and_message(self):
        self.assertEqual(3, self.run_launcher("import sys\nsys.exit(3)\n").exit["exit_code"])
        run = self.run_launcher("raise SystemExit('bye')\n")
        self.assertEqual((1, "bye\n"), (run.exit["exit_code"], run.stderr))

    def test_an_uncaught_exception_prints_the_scripts_traceback_only_and_exits_1(self):
        run = self.run_launcher("def f():\n    raise ValueError('no')\nf()\n")
        self.assertEqual(1, run.exit["exit_code"])
        self.assertTrue(run.stderr.startswith("Traceback (most recent call last):\n  File \"/sandbox/main.py\", line 3"), run.stderr)
        self.assertTrue(run.stderr.endswith("ValueError: no\n"), run.stderr)
        self.assertNotIn("runpy", run.stderr)
        self.assertNotIn("<string>", run.stderr)

    def test_a_signal_is_reported_as_the_signal(self):
        run = self.run_launcher("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
        self.assertEqual(("exited", None, signal.SIGTERM), (run.exit["outcome"], run.exit["exit_code"], run.exit["signal"]))

    def test_a_script_past_its_timeout_is_killed(self):
        started = time.monotonic()
        run = self.run_launcher("import time\nprint('started', flush=True)\ntime.sleep(60)\n", timeout_ms=300)
        self.assertEqual(("timed_out", signal.SIGKILL, "started\n"), (run.exit["outcome"], run.exit["signal"], run.stdout))
        self.assertGreaterEqual(run.exit["wall_ms"], 300)
        self.assertLess(time.monotonic() - started, 10)

    def test_output_past_the_limit_ends_the_run(self):
        run = self.run_launcher("import sys\nwhile True:\n    sys.stdout.write('x' * 1000)\n", output_limit_bytes=5000)
        self.assertEqual(("output_limit_exceeded", True), (run.exit["outcome"], run.exit["stdout_truncated"]))
        self.assertEqual("x" * 5000, run.stdout)

    def test_raw_writes_to_the_file_descriptors_are_output_too(self):
        run = self.run_launcher("import os\nos.write(1, b'raw out\\n')\nos.write(2, b'raw err\\n')\n")
        self.assertEqual(("raw out\n", "raw err\n"), (run.stdout, run.stderr))

    def test_stdin_of_a_job_is_the_scripts_stdin(self):
        run = self.run_launcher("import sys\nprint(sys.stdin.read().upper())\n", stdin=b"hello\nworld")
        self.assertEqual("HELLO\nWORLD\n", run.stdout)

    def test_an_interactive_jobs_input_frames_are_the_scripts_stdin_until_their_end(self):
        frames = launcher.frame(b"i", b"1\n2") + launcher.frame(b"i", b"\n39\n") + launcher.frame(b"c", b"")
        run = self.run_launcher("import sys\nprint(sum(int(line) for line in sys.stdin))\n", input_frames=frames, interactive=True)
        self.assertEqual(("42\n", 0), (run.stdout, run.exit["exit_code"]))

    def test_files_left_in_out_come_back_within_their_limits(self):
        script = ("import os\nos.makedirs('out/sub')\n"
                  "for name, data in (('a.txt', 'A'), ('sub/b.txt', 'B'), ('c.txt', 'C')):\n"
                  "    open('out/' + name, 'w').write(data)\n")
        run = self.run_launcher(script, out_files={"max_count": 2, "max_bytes": 100})
        self.assertEqual([("f", "a.txt", b"A"), ("f", "c.txt", b"C"), ("d", "sub/b.txt", 1, "count_limit")], files_of(run.frames))
        self.assertEqual(0, run.exit["exit_code"])

    def test_a_script_that_leaves_no_files_gets_no_file_frames(self):
        run = self.run_launcher("print('hi')\n")
        self.assertEqual(["r", "a", "x"], [kind for kind in run.kinds if kind not in ("o", "e")])

    def test_what_the_script_leaves_running_dies_with_it(self):
        started = time.monotonic()
        run = self.run_launcher("import subprocess\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\nprint('left')\n")
        self.assertEqual(("left\n", 0), (run.stdout, run.exit["exit_code"]))
        self.assertLess(time.monotonic() - started, 10)
        self.assertNotIn(b"sleep", [command_of(pid) for pid in os.listdir("/proc") if pid.isdigit()])

    def test_an_unsafe_job_ends_with_a_launcher_error_and_is_never_accepted(self):
        run = self.run_launcher("print(1)\n", entrypoint="../main.py")
        self.assertEqual(["r", "x"], run.kinds)
        self.assertEqual("launcher_error", run.exit["outcome"])
        self.assertIn("ValueError", run.exit["detail"])


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy")
BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE")
AUTHORITY = "-----BEGIN CERTIFICATE-----\nMIIBtestauthority\n-----END CERTIFICATE-----\n"  # read, never parsed, by the launcher


@unittest.skipUnless(WHOLE, WHY)
class EgressTests(LauncherRun, unittest.TestCase):
    """A job with "egress": the script reaches the run's proxy (a Unix socket) through the launcher's relay on
    127.0.0.1:3128, the only way out of a container whose network is none."""

    def setUp(self):
        self.proxy = FakeProxy()
        self.addCleanup(self.proxy.close)

    def test_a_scripts_http_request_reaches_the_proxy_through_the_loopback_port(self):
        run = self.run_launcher("import urllib.request\nprint(urllib.request.urlopen('http://example.test/hello', timeout=10).read().decode())\n",
                                egress=self.proxy.header())
        self.assertEqual(("GET http://example.test/hello HTTP/1.1\n", 0), (run.stdout, run.exit["exit_code"]))
        self.assertEqual(["GET http://example.test/hello HTTP/1.1"], self.proxy.requests)

    def test_bytes_travel_unchanged_both_ways_and_each_directions_end_too(self):
        script = ("import hashlib, os, socket, threading\n"
                  "data = b'ECHO' + os.urandom(4 << 20)\n"
                  "s = socket.create_connection(('127.0.0.1', 3128))\n"
                  "def send():\n    s.sendall(data)\n    s.shutdown(socket.SHUT_WR)\n"
                  "threading.Thread(target=send).start()\n"
                  "got = bytearray()\n"
                  "while chunk := s.recv(1 << 20):\n    got += chunk\n"
                  "print(got == data, len(got))\n")
        run = self.run_launcher(script, egress=self.proxy.header())
        self.assertEqual(f"True {4 + (4 << 20)}\n", run.stdout)

    def test_the_script_sees_the_proxy_and_pip_settings_and_its_user_site_on_sys_path(self):
        script = ("import json, os, sys\n"
                  "site = '/sandbox/.local/lib/python%d.%d/site-packages' % sys.version_info[:2]\n"
                  "packages = [i for i, p in enumerate(sys.path) if p.endswith(('site-packages', 'dist-packages'))]\n"
                  "print(json.dumps({'env': dict(os.environ), 'site': os.path.isdir(site) and packages[0] == sys.path.index(site),\n"
                  "                  'bundle': open(os.environ['SSL_CERT_FILE']).read()}))\n")
        run = self.run_launcher(script, egress=self.proxy.header(authority=AUTHORITY))
        seen = json.loads(run.stdout)
        env = seen["env"]
        self.assertEqual(["http://127.0.0.1:3128"] * 4 + [""] * 2, [env.get(name) for name in PROXY_VARIABLES])
        self.assertEqual([launcher.EGRESS_CA_BUNDLE] * 4, [env.get(name) for name in BUNDLE_VARIABLES])
        self.assertEqual(("/sandbox/.local", "1", "1", "1"), (env.get("PYTHONUSERBASE"), env.get("PIP_BREAK_SYSTEM_PACKAGES"),
                                                             env.get("PIP_DISABLE_PIP_VERSION_CHECK"), env.get("PIP_NO_CACHE_DIR")))
        self.assertTrue(env["PATH"].endswith(":/sandbox/.local/bin"), env["PATH"])
        self.assertTrue(seen["site"], "the user site exists and comes before the system's packages")
        self.assertTrue(seen["bundle"].endswith(AUTHORITY), seen["bundle"][-200:])
        if os.path.isfile(launcher.SYSTEM_CA_BUNDLE):  # the image's own authorities stay trusted
            with open(launcher.SYSTEM_CA_BUNDLE) as f:
                self.assertTrue(seen["bundle"].startswith(f.read()))

    def test_without_an_authority_no_bundle_is_set(self):
        run = self.run_launcher("import os\nprint([n for n in %r if n in os.environ])\n" % (BUNDLE_VARIABLES,),
                                egress=self.proxy.header())
        self.assertEqual("[]\n", run.stdout)

    def test_without_egress_there_is_no_listener_no_variable_and_no_user_site(self):
        script = ("import os, socket, sys\n"
                  "try:\n    socket.create_connection(('127.0.0.1', 3128), timeout=5)\n    print('connected')\n"
                  "except ConnectionRefusedError:\n    print('refused')\n"
                  "print(sorted(n for n in os.environ if 'PROXY' in n.upper() or n.startswith('PIP_') or n in %r))\n"
                  "print(any('.local' in p for p in sys.path), os.path.exists('/sandbox/.local'))\n" % (BUNDLE_VARIABLES,))
        run = self.run_launcher(script)
        self.assertEqual("refused\n[]\nFalse False\n", run.stdout)

    def test_the_script_cannot_kill_the_relay(self):
        script = ("import os, signal, urllib.request\n"
                  "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
                  "    try:\n        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
                  "    except (PermissionError, ProcessLookupError):\n        pass\n"
                  "try:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept PermissionError:\n    print('not the launcher')\n"
                  "print(urllib.request.urlopen('http://example.test/after', timeout=10).read().decode())\n")
        run = self.run_launcher(script, egress=self.proxy.header())
        self.assertEqual("not the launcher\nGET http://example.test/after HTTP/1.1\n", run.stdout)

    def test_pip_installs_from_an_index_through_the_proxy_and_the_script_imports_it_at_once(self):
        # Plain HTTP, so the fake proxy can read it (pip wants --trusted-host for that); HTTPS would be CONNECTed alike.
        script = ("import subprocess, sys\n"
                  "r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--index-url', 'http://index.test/simple',\n"
                  "                    '--trusted-host', 'index.test', 'hsdemo'], capture_output=True, text=True)\n"
                  "print(r.returncode, r.stderr[-2000:] if r.returncode else '')\n"
                  "import hsdemo\nprint(hsdemo.VALUE, hsdemo.__file__)\n")
        run = self.run_launcher(script, egress=self.proxy.header(), timeout_ms=60000)
        self.assertEqual("0 \n42 /sandbox/.local/lib/python%d.%d/site-packages/hsdemo/__init__.py\n" % sys.version_info[:2], run.stdout)
        self.assertIn("GET http://index.test/files/hsdemo-1.0-py3-none-any.whl HTTP/1.1", self.proxy.requests)


def command_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0]
    except OSError:
        return None  # gone


class Run:
    def __init__(self, frames):
        self.frames = frames
        self.kinds = [kind for kind, _ in frames]
        self.output = []  # neighbouring writes of one stream joined: how they are split into frames does not matter
        for kind, payload in frames:
            if kind in ("o", "e"):
                if self.output and self.output[-1][0] == kind:
                    self.output[-1] = (kind, self.output[-1][1] + payload)
                else:
                    self.output.append((kind, payload))
        self.stdout = b"".join(p for k, p in self.output if k == "o").decode()
        self.stderr = b"".join(p for k, p in self.output if k == "e").decode()
        self.exit = json.loads(frames[-1][1])


if __name__ == "__main__":
    unittest.main()
