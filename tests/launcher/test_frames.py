"""launcher.py's side of Contracts/frames.golden.json: each case is encoded or decoded with launcher.py's own functions
and must give its exact bytes or values (tests/Executor.UnitTests/FrameGoldenTests.cs checks the C# side)."""
import os
import select
import types
import unittest

from sources import golden, launcher, pipe_with, read_all


def cases(framing):
    return [(case["name"], case, bytes.fromhex(case["hex"])) for case in golden[framing]]


class JobTests(unittest.TestCase):
    def test_the_golden_job_is_read_into_its_header_files_and_stdin(self):
        for name, case, data in cases("job"):
            with self.subTest(name):
                source = launcher.Source(pipe_with(data))
                try:
                    job, files, stdin = launcher.receive_job(source)
                finally:
                    os.close(source.fd)
                self.assertEqual(case["header"], job)
                self.assertEqual([bytes.fromhex(f["content_hex"]) for f in case["run_job"]["files"]], files)
                self.assertEqual(case["run_job"]["stdin"].encode(), stdin)


class LauncherOutputTests(unittest.TestCase):
    def test_the_launcher_writes_each_golden_frame(self):
        for name, case, data in cases("launcher_output"):
            with self.subTest(name):
                kind = case["kind"].encode()
                if kind == b"f":
                    encoded = launcher.file_frame(case["path"], bytes.fromhex(case["content_hex"]))
                elif kind == b"d":
                    encoded = launcher.dropped_frame(case["path"], case["size"], case["reason"])
                elif kind == b"x":
                    encoded = launcher.frame(b"x", exit_record_of(case["exit"]))
                else:
                    encoded = launcher.frame(kind, bytes.fromhex(case.get("payload_hex", "")))
                self.assertEqual(data.hex(), encoded.hex())


def exit_record_of(record):
    """launcher.exit_record of what gives this record: a wait status, a rusage, the wall time, the truncated streams."""
    status = record["exit_code"] << 8 if record["exit_code"] is not None else record["signal"]
    rusage = types.SimpleNamespace(ru_utime=record["cpu_ms"] / 1000, ru_stime=0.0, ru_maxrss=record["max_rss_bytes"] // 1024)
    truncated = {k for k, field in ((b"o", "stdout_truncated"), (b"e", "stderr_truncated")) if record[field]}
    return launcher.exit_record(record["outcome"], status, rusage, record["wall_ms"] / 1000, record["oom_kills"], truncated)


class LauncherInputTests(unittest.TestCase):
    def test_each_golden_input_frame_is_read(self):
        for name, case, data in cases("launcher_input"):
            with self.subTest(name):
                source_fd = pipe_with(b"")
                pipe_r, pipe_w = os.pipe()
                source = launcher.Source(source_fd)
                source.buffer += data
                try:
                    feed = launcher.StdinFeed(pipe_w, select.poll(), source, b"")
                    if case["kind"] == "i":
                        self.assertEqual(bytes.fromhex(case["payload_hex"]), bytes(feed.pending))
                        self.assertFalse(feed.ended)
                        feed.close()
                    else:
                        self.assertTrue(feed.ended)
                        self.assertIsNone(feed.pipe)  # nothing pending: the script's stdin is closed at once
                    self.assertEqual(b"", source.buffer)
                finally:
                    os.close(source_fd)
                    os.close(pipe_r)


class ChildControlTests(unittest.TestCase):
    def test_the_child_is_handed_the_golden_control_message(self):
        for name, case, data in cases("child_control"):
            with self.subTest(name):
                child = launcher.Child.__new__(launcher.Child)  # its pipe only: no process forked
                r, child.control = os.pipe()
                try:
                    job = {"entrypoint": case["entrypoint"], "args": case["args"],
                           "files": [{"path": f["path"]} for f in case["files"]], "interactive": case["interactive"]}
                    child.go(job, [bytes.fromhex(f["content_hex"]) for f in case["files"]], bytes.fromhex(case["stdin_hex"]))
                    self.assertEqual(data.hex(), read_all(r).hex())
                finally:
                    os.close(r)


class OrderedTests(unittest.TestCase):
    def test_the_script_writes_the_golden_ordered_frames(self):
        for name, case, data in cases("child_ordered"):
            if case["stream"] == "n":
                continue  # written as a constant by run_user_program; read below
            with self.subTest(name):
                r, w = os.pipe()
                saved, launcher.ORDERED_FD = launcher.ORDERED_FD, w
                try:
                    writer = launcher.OrderedWriter(case["stream"].encode(), 1)
                    writer.write(bytes.fromhex(case["payload_hex"]))
                finally:
                    launcher.ORDERED_FD = saved
                    os.close(w)
                self.assertEqual(data.hex(), read_all(r).hex())
                os.close(r)

    def test_the_launcher_reads_each_golden_ordered_frame(self):
        for name, case, data in cases("child_ordered"):
            with self.subTest(name):
                chunks = launcher.OrderedReader().feed(data)
                self.assertEqual([(case["stream"].encode(), bytes.fromhex(case["payload_hex"]))], chunks)


if __name__ == "__main__":
    unittest.main()
