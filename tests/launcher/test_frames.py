"""launcher.py's side of Contracts/frames.golden.json: each case is encoded or decoded with launcher.py's own functions
and must give its exact bytes or values (tests/Executor.UnitTests/FrameGoldenTests.cs checks the C# side)."""
import json
import os
import select
import types
import unittest

from sources import golden, kernel_writes, launcher, pipe_with, read_all


def cases(framing):
    return [(case["name"], case, bytes.fromhex(case["hex"])) for case in golden[framing]]


def read_job(data):
    source = launcher.Source(pipe_with(data))
    try:
        return launcher.receive_job(source)
    finally:
        os.close(source.fd)


class JobTests(unittest.TestCase):
    def test_the_golden_job_is_read_into_its_header_files_and_stdin(self):
        for name, case, data in cases("job"):
            with self.subTest(name):
                job, files, stdin = read_job(data)
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
    truncated = {k for k, field in ((b"o", "stdout_truncated"), (b"e", "stderr_truncated")) if record[field]}
    return launcher.exit_record(record["outcome"], *wait_of(record), record["wall_ms"] / 1000, record["oom_kills"], truncated)


def wait_of(record):
    """The wait status and rusage that give a record's exit_code, signal, cpu_ms and max_rss_bytes."""
    status = record["exit_code"] << 8 if record["exit_code"] is not None else record["signal"]
    return status, types.SimpleNamespace(ru_utime=record["cpu_ms"] / 1000, ru_stime=0.0, ru_maxrss=record["max_rss_bytes"] // 1024)


class CommandJobTests(unittest.TestCase):
    def test_the_golden_command_job_is_read_with_each_cases_input(self):
        for name, case, data in cases("command_job"):
            with self.subTest(name):
                job, files, stdin = read_job(data)
                inputs = [c.pop("stdin") for c in job.get("cases", [])]
                self.assertEqual(case["header"], job)
                self.assertEqual([bytes.fromhex(f["content_hex"]) for f in case["files"]], files)
                self.assertEqual(bytes.fromhex(case.get("stdin_hex", "")), stdin)
                self.assertEqual([bytes.fromhex(i) for i in case["case_inputs_hex"]], inputs)


class CommandFrameTests(unittest.TestCase):
    def test_the_launcher_writes_each_golden_command_frame(self):
        for name, case, data in cases("command_frames"):
            with self.subTest(name):
                if case["kind"] == "b":
                    record = case["record"]
                    output = bytes.fromhex(case["output_hex"]) if "output_hex" in case else record["output"].encode()
                    encoded = launcher.frame(b"b", launcher.compile_record(captured(record, output, b"", record["output_truncated"])))
                elif case["kind"] == "t":
                    header = case["header"]
                    result = captured(header, bytes.fromhex(case["stdout_hex"]), bytes.fromhex(case["stderr_hex"]),
                                      header["stdout_truncated"], header["stderr_truncated"])
                    encoded = launcher.frame(b"t", launcher.case_result(header["index"], result))
                else:
                    record = case["record"]
                    encoded = launcher.frame(b"x", launcher.command_record(record["outcome"], end_of(record), record["oom_kills"]))
                self.assertEqual(data.hex(), encoded.hex())


def end_of(record):
    """launcher.process_end of what gives these fields: a wait status, a rusage, the wall time."""
    return launcher.process_end(*wait_of(record), record["wall_ms"] / 1000)


def captured(record, stdout, stderr, stdout_truncated=False, stderr_truncated=False):
    truncated = {stream for stream, cut in (("o", stdout_truncated), ("e", stderr_truncated)) if cut}
    return launcher.Captured(record["outcome"], end_of(record), record.get("oom_kills", 0), stdout, stderr, truncated)


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


class KernelJobTests(unittest.TestCase):
    def test_the_golden_kernel_job_is_read_as_a_header_alone_and_gives_the_file_bounds(self):
        for name, case, data in cases("kernel_job"):
            with self.subTest(name):
                job, files, stdin = read_job(data)
                self.assertEqual((case["header"], [], b""), (job, files, stdin))
                supervisor = launcher.KernelSupervisor(job, None, "65534:65534", None)
                bounds = case["header"]["files"]
                self.assertEqual((bounds["max_file_bytes"], bounds["max_total_bytes"], bounds["max_count"]),
                                 (supervisor.max_file_bytes, supervisor.max_total_bytes, supervisor.max_count))


class KernelRequestTests(unittest.TestCase):
    """Each golden request, parsed by the kernel supervisor, reaches what handles it with its values."""

    def supervisor(self):
        supervisor = launcher.KernelSupervisor({"mode": "kernel"}, None, "65534:65534", None)
        supervisor.handled = []
        supervisor.interrupt = lambda status: supervisor.handled.append(("interrupt", status))
        supervisor.restart = lambda request_id: supervisor.handled.append(("restart", request_id))
        supervisor.file_operation = lambda payload: supervisor.handled.append(("file", launcher.file_request(payload)))
        return supervisor

    def test_each_golden_kernel_request_is_read(self):
        for name, case, data in cases("kernel_requests"):
            with self.subTest(name):
                supervisor = self.supervisor()
                waiting = launcher.KernelCall({"id": "w", "code": "", "interactive": True})
                supervisor.calls.append(waiting)
                supervisor.call = types.SimpleNamespace(interactive=False)  # a call runs: an interrupt reaches it
                supervisor.requests += data
                supervisor.handle_requests()
                self.assertEqual(b"", bytes(supervisor.requests))
                request = case.get("json")
                if case["kind"] == "q":
                    call = supervisor.calls[-1]
                    self.assertEqual((request["id"], request["code"], request["timeout_ms"] / 1000, request["output_limit_bytes"],
                                      request["interactive"], request["stdin"].encode()),
                                     (call.id, call.code, call.timeout, call.limit, call.interactive, call.stdin))
                elif case["kind"] == "i":
                    self.assertEqual((bytes.fromhex(case["payload_hex"]), False), (bytes(waiting.input), waiting.input_ended))
                elif case["kind"] == "c":
                    self.assertTrue(waiting.input_ended)
                elif case["kind"] == "!":
                    self.assertEqual([("interrupt", "interrupted")], supervisor.handled)
                elif case["kind"] == "R":
                    self.assertEqual([("restart", request["id"])], supervisor.handled)
                else:
                    parts = request["path"].split("/") if request["path"] else []
                    self.assertEqual([("file", (request["id"], request["op"], parts, bytes.fromhex(case["content_hex"]), None))],
                                     supervisor.handled)

    def test_a_request_of_another_kind_breaks_the_protocol(self):
        supervisor = self.supervisor()
        supervisor.requests += launcher.frame(b"z", b"")
        self.assertRaises(ValueError, supervisor.handle_requests)

    def test_a_file_request_with_a_path_that_could_leave_the_work_directory_is_a_bad_path(self):
        for path in ("/etc/passwd", "../x", "a//b", "./a", "a/..", "a\0b", "", 3):
            with self.subTest(path=path):
                payload = json.dumps({"id": "f", "op": "get", "path": path}).encode() + b"\n"
                self.assertEqual(("f", "bad_path"), (lambda r: (r[0], r[4]))(launcher.file_request(payload)))
        self.assertEqual("bad_path", launcher.file_request(b'{"id": "f", "op": "chmod", "path": "a"}\n')[4])
        self.assertEqual((None, "failed"), (lambda r: (r[0], r[4]))(launcher.file_request(b"not json\n")))


class KernelFrameTests(unittest.TestCase):
    def test_the_launcher_writes_each_golden_kernel_frame(self):
        for name, case, data in cases("kernel_frames"):
            with self.subTest(name):
                kind = case["kind"]
                if kind == "m":
                    encoded = launcher.frame(b"m", message_through_the_ordered_pipe(case["message"]))
                elif kind == "y":
                    record = case["record"]
                    truncated = {k for k, field in ((b"o", "stdout_truncated"), (b"e", "stderr_truncated")) if record[field]}
                    encoded = launcher.frame(b"y", launcher.call_record(
                        record["id"], record["status"], record["execution_count"], record["wall_ms"] / 1000,
                        record["cpu_ms"] / 1000, record["max_rss_bytes"], truncated, record["kernel_restarted"]))
                elif kind == "g":
                    encoded = launcher.frame(b"g", launcher.file_answer(case["answer"]["id"], case["answer"],
                                                                        bytes.fromhex(case["content_hex"])))
                else:
                    encoded = launcher.frame(kind.encode(), b"")
                self.assertEqual(data.hex(), encoded.hex())


def message_through_the_ordered_pipe(message):
    """What the launcher forwards of a message the kernel wrote: its b"m"/b"M" ordered frames, read and joined."""
    chunks = launcher.OrderedReader(launcher.KERNEL_STREAMS).feed(kernel_writes(message))
    assert chunks and chunks[-1][0] == b"M" and all(kind == b"m" for kind, _ in chunks[:-1]), chunks
    return b"".join(chunk for _, chunk in chunks)


if __name__ == "__main__":
    unittest.main()
