"""Jobs with a command and test cases (Contracts/frames.md, section 8): compiled and interpreted languages, a compile
stage, and cases each run from the same clean state. The whole-launcher tests need the languages image's tool chains
(gcc, javac, node, bash) and PID 1 of a container of its own, as root (see test_launcher.py): LauncherTests.cs runs them
in executor-languages:1, with /tmp a small tmpfs as in a sandbox."""
import json
import os
import shutil
import signal
import struct
import unittest

from sources import FakeProxy, launcher
from test_launcher import WHOLE, WHY, LauncherRun

C_SUM = "#include <stdio.h>\nint main(void) { long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 3; printf(\"%ld\\n\", a + b); return 0; }\n"
GCC = {"compile": ["gcc", "-O2", "-o", "main", "{source}", "-lm"], "run": ["./main"]}
JAVA = {"compile": ["javac", "-encoding", "UTF-8", "{source}"], "run": ["java", "-cp", ".", "{main_class}"], "compile_timeout_ms": 60000}
# What a case sees of what an earlier one left: files of the work directory (one it changed, one it added, a directory it
# closed), its files in /tmp and /dev/shm, a process still running, and room in the file systems it filled.
LEAVE_SOMETHING = r"""
echo "data: $(cat data.txt)"
echo "work: $(ls -A /sandbox | tr '\n' ' ')"
echo "left: $(find /tmp /dev/shm -user "$(id -u)" 2>/dev/null | sort | tr '\n' ' ')"
for p in /proc/[0-9]*; do
  case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in "sleep 1000"*) echo "running: $p";; esac
done
for d in /tmp /dev/shm; do head -c 1000000 /dev/zero > "$d/room" && echo "room in $d"; rm -f "$d/room"; done
echo changed >> data.txt
touch /sandbox/left /tmp/left /dev/shm/left
mkdir -p closed/inner && chmod 000 closed
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
head -c 200000000 /dev/zero > /dev/shm/fill 2>/dev/null
[ "$(stat -f -c %T /tmp)" = tmpfs ] && head -c 200000000 /dev/zero > /tmp/fill 2>/dev/null
exit 0
"""
CLEAN_STATE = ("data: original\nwork: data.txt main.sh out \nleft: \nroom in /tmp\nroom in /dev/shm\n")


def tools_present():
    return all(shutil.which(tool) for tool in ("gcc", "g++", "javac", "java", "node", "bash"))


class JavaClassTests(unittest.TestCase):
    """The class that declares main and the public class of a Java source, as javac and java need them."""

    def test_the_class_with_main_whatever_its_name(self):
        self.assertEqual(("Solution", "Solution"), launcher.java_classes(
            "import java.util.*;\npublic class Solution {\n  public static void main(String[] args) {}\n}\n"))

    def test_a_nested_class_before_main_is_not_its_class(self):
        source = "class Main {\n  static class Helper { int x; }\n  public static void main(String[] a) {}\n}\n"
        self.assertEqual((None, "Main"), launcher.java_classes(source))

    def test_main_in_a_nested_class_is_named_as_the_jvm_names_it(self):
        source = "public class Outer {\n  static class Inner {\n    static public void main(String[] a) {}\n  }\n}\n"
        self.assertEqual(("Outer", "Outer$Inner"), launcher.java_classes(source))

    def test_classes_in_comments_and_strings_do_not_count(self):
        source = ("// public class Fake { public static void main(String[] a) {} }\n"
                  "/* class Other {} */\nclass Real {\n  static String s = \"class Nope {\";\n"
                  "  public static void main(String[] a) { System.out.println('{'); }\n}\n")
        self.assertEqual((None, "Real"), launcher.java_classes(source))

    def test_without_main_there_is_no_main_class(self):
        self.assertEqual(("Lib", None), launcher.java_classes("public final class Lib { void f() {} }\n"))

    def test_tokens_are_replaced_inside_argv_items(self):
        self.assertEqual(["java", "-cp", ".", "Main", "--src=a/Main.java"],
                         launcher.substitute(["java", "-cp", ".", "{main_class}", "--src={source}"],
                                             {"{source}": "a/Main.java", "{main_class}": "Main"}))


@unittest.skipUnless(WHOLE and tools_present(), WHY + ", in the languages image")
class LanguageTests(LauncherRun, unittest.TestCase):
    """One-shot runs of programs: compiled (a b"b" record first) or interpreted, framed live as a Python script is."""

    def tearDown(self):
        launcher.reap_orphans()  # what the programs orphaned ends as children of this PID 1

    def run_program(self, name, source, command, **job):
        run = self.run_launcher(source, name=name, command=command, seconds=60, **job)
        compiled = [json.loads(payload) for kind, payload in run.frames if kind == "b"]
        return run, compiled

    def test_c_hello_world_is_compiled_then_run_with_stdin_and_its_own_small_memory(self):
        run, compiled = self.run_program("main.c", C_SUM, GCC, stdin=b"40 2\n")
        self.assertEqual(["r", "a", "b"], run.kinds[:3])
        self.assertEqual(("exited", 0, None, "", False), tuple(compiled[0][k] for k in ("outcome", "exit_code", "signal", "output", "output_truncated")))
        self.assertGreater(compiled[0]["wall_ms"], 0)
        self.assertEqual(("42\n", "exited", 0), (run.stdout, run.exit["outcome"], run.exit["exit_code"]))
        self.assertLess(run.exit["max_rss_bytes"], 5 << 20, "the program's own memory, not the launcher's")
        self.assertGreater(run.exit["max_rss_bytes"], 0)

    def test_a_compile_error_gives_the_compilers_record_then_compile_error_and_nothing_runs(self):
        run, compiled = self.run_program("main.c", "int main(void) { return x; }\n", GCC)
        self.assertEqual(["r", "a", "b", "x"], run.kinds)
        self.assertEqual(("exited", 1), (compiled[0]["outcome"], compiled[0]["exit_code"]))
        self.assertIn("main.c:1", compiled[0]["output"])
        self.assertIn("error", compiled[0]["output"])
        self.assertEqual(("compile_error", 1), (run.exit["outcome"], run.exit["exit_code"]))

    def test_compiler_output_past_its_limit_is_cut(self):
        source = "int main(void) {\n" + "".join(f"  v{i} = 1;\n" for i in range(100)) + "}\n"
        run, compiled = self.run_program("main.c", source, {**GCC, "compile_output_limit_bytes": 300})
        self.assertEqual(("output_limit_exceeded", True, 300), (compiled[0]["outcome"], compiled[0]["output_truncated"],
                                                                 len(compiled[0]["output"].encode())))
        self.assertEqual("compile_error", run.exit["outcome"])

    def test_cpp_reads_stdin(self):
        source = "#include <iostream>\nint main() { int a, b; std::cin >> a >> b; std::cout << a * b << std::endl; }\n"
        run, _ = self.run_program("main.cpp", source, {"compile": ["g++", "-O2", "-o", "main", "{source}"], "run": ["./main"]},
                                  stdin=b"6 7")
        self.assertEqual(("42\n", 0), (run.stdout, run.exit["exit_code"]))

    def test_java_with_class_solution_in_main_java_runs(self):
        source = ("import java.util.Scanner;\npublic class Solution {\n  public static void main(String[] args) {\n"
                  "    Scanner in = new Scanner(System.in);\n    System.out.println(in.nextInt() + in.nextInt());\n"
                  "    System.out.println(new java.io.File(\"Solution.java\").exists());\n  }\n}\n")
        run, compiled = self.run_program("Main.java", source, JAVA, stdin=b"40 2\n", timeout_ms=30000)
        self.assertEqual(0, compiled[0]["exit_code"], compiled[0]["output"])
        self.assertEqual(("42\ntrue\n", 0), (run.stdout, run.exit["exit_code"]), run.stderr)

    def test_node_reads_stdin(self):
        source = "let s = ''; process.stdin.on('data', d => s += d).on('end', () => console.log(s.trim().toUpperCase()));\n"
        run, compiled = self.run_program("main.js", source, {"run": ["node", "{source}"]}, stdin=b"hello\n")
        self.assertEqual(([], "HELLO\n", 0), (compiled, run.stdout, run.exit["exit_code"]))

    def test_bash_with_arguments_as_the_sandbox_user_in_the_work_directory(self):
        run, _ = self.run_program("main.sh", "echo \"$(id -u) $PWD $1\"; echo oops >&2; exit 3\n", {"run": ["bash", "{source}", "a b"]})
        self.assertEqual(("65534 /sandbox a b\n", "oops\n", 3), (run.stdout, run.stderr, run.exit["exit_code"]))

    def test_an_exit_by_signal_is_the_signal(self):
        run, _ = self.run_program("main.c", "#include <signal.h>\nint main(void) { raise(SIGSEGV); return 0; }\n", GCC)
        self.assertEqual(("exited", None, signal.SIGSEGV), (run.exit["outcome"], run.exit["exit_code"], run.exit["signal"]))

    def test_a_missing_program_exits_127(self):
        run, _ = self.run_program("main.sh", "", {"run": ["no-such-program"]})
        self.assertEqual((127, "no-such-program: No such file or directory\n"), (run.exit["exit_code"], run.stderr))

    def test_a_program_past_its_timeout_is_killed(self):
        run, _ = self.run_program("main.sh", "echo started\nsleep 60\n", {"run": ["bash", "{source}"]}, timeout_ms=300)
        self.assertEqual(("timed_out", signal.SIGKILL, "started\n"), (run.exit["outcome"], run.exit["signal"], run.stdout))

    def test_an_interactive_program_reads_its_input_frames_until_their_end(self):
        frames = launcher.frame(b"i", b"a\nb") + launcher.frame(b"i", b"\n") + launcher.frame(b"c", b"")
        run, _ = self.run_program("main.sh", "while read -r line; do echo \"got $line\"; done; echo end\n", {"run": ["bash", "{source}"]},
                                  input_frames=frames, interactive=True)
        self.assertEqual(("got a\ngot b\nend\n", 0), (run.stdout, run.exit["exit_code"]))

    def test_a_program_with_egress_gets_the_proxy_variables(self):
        proxy = FakeProxy()
        self.addCleanup(proxy.close)
        run, _ = self.run_program("main.sh", "echo \"$HTTPS_PROXY $no_proxy.\"\n", {"run": ["bash", "{source}"]}, egress=proxy.header())
        self.assertEqual("http://127.0.0.1:3128 .\n", run.stdout)

    def test_files_left_in_out_come_back(self):
        run, _ = self.run_program("main.sh", "echo hi > out/a.txt\n", {"run": ["bash", "{source}"]})
        self.assertIn(("f", b"\x00\x05a.txthi\n"), run.frames)


@unittest.skipUnless(WHOLE and tools_present(), WHY + ", in the languages image")
class CaseTests(LauncherRun, unittest.TestCase):
    """Test cases: the program prepared once, then run once per case from the same clean state, a b"t" frame each."""

    def tearDown(self):
        # What the last case left (a sandbox's container ends with its job; this one runs the next test): its files, and
        # the killed processes it had orphaned, which end as children of this PID 1.
        launcher.reap_orphans()
        for directory in ("/tmp", "/dev/shm"):
            for entry in os.scandir(directory):
                if entry.stat(follow_symlinks=False).st_uid == 65534:
                    if entry.is_dir(follow_symlinks=False):
                        os.chmod(entry.path, 0o700)
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)

    def run_cases(self, name, source, command, inputs, timeout_ms=5000, **job):
        cases = [{"stdin_size": len(data), "timeout_ms": timeout_ms} for data in inputs]
        run = self.run_launcher(source, name=name, command=command, cases=cases, case_inputs=inputs, seconds=60, **job)
        return run, [case_of(payload) for kind, payload in run.frames if kind == "t"]

    def test_three_cases_with_different_stdin_in_order(self):
        run, results = self.run_cases("main.c", C_SUM, GCC, [b"1 2", b"40 2\n", b"x"])
        self.assertEqual(["r", "a", "b", "t", "t", "t", "x"], run.kinds)
        self.assertEqual([(0, "exited", 0, b"3\n"), (1, "exited", 0, b"42\n"), (2, "exited", 3, b"")],
                         [(h["index"], h["outcome"], h["exit_code"], out) for h, out, _ in results])
        self.assertTrue(all(h["max_rss_bytes"] < 5 << 20 for h, _, _ in results), [h["max_rss_bytes"] for h, _, _ in results])
        self.assertEqual(("exited", 0), (run.exit["outcome"], run.exit["exit_code"]))

    def test_a_case_sees_nothing_an_earlier_case_left(self):
        run, results = self.run_cases("main.sh", LEAVE_SOMETHING, {"run": ["bash", "{source}"]}, [b"", b"", b""],
                                      files=[("data.txt", b"original")])
        self.assertEqual([CLEAN_STATE] * 3, [out.decode() for _, out, _ in results], [err for _, _, err in results])

    def test_a_case_past_its_timeout_is_killed_and_the_next_runs(self):
        source = "read n\nsleep \"$n\"\necho \"slept $n\"\n"
        run, results = self.run_cases("main.sh", source, {"run": ["bash", "{source}"]}, [b"30\n", b"0\n"], timeout_ms=300)
        self.assertEqual([("timed_out", signal.SIGKILL), ("exited", None)], [(h["outcome"], h["signal"]) for h, _, _ in results])
        self.assertGreaterEqual(results[0][0]["wall_ms"], 300)
        self.assertEqual(b"slept 0\n", results[1][1])

    def test_a_case_past_its_timeout_still_says_its_memory(self):
        source = ("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                  "int main(void) { size_t n = 32u << 20; char *p = malloc(n); memset(p, 1, n); puts(\"filled\"); fflush(stdout);\n"
                  "  for (;;) p[rand() % n]++; }\n")
        _, results = self.run_cases("main.c", source, GCC, [b""], timeout_ms=300)
        header, out, _ = results[0]
        self.assertEqual(("timed_out", b"filled\n"), (header["outcome"], out))
        self.assertTrue(32 << 20 < header["max_rss_bytes"] < 40 << 20, header["max_rss_bytes"])

    def test_output_past_the_case_limit_ends_the_case(self):
        run, results = self.run_cases("main.sh", "yes | head -c 100000\necho done >&2\n", {"run": ["bash", "{source}"]}, [b""],
                                      case_output_limit_bytes=1000)
        header, out, _ = results[0]
        self.assertEqual(("output_limit_exceeded", True, False, 1000), (header["outcome"], header["stdout_truncated"],
                                                                         header["stderr_truncated"], header["stdout_size"]))
        self.assertEqual(b"y\n" * 500, out)

    def test_a_case_killed_by_a_signal(self):
        source = "#include <stdlib.h>\nint main(void) { abort(); }\n"
        _, results = self.run_cases("main.c", source, GCC, [b""])
        self.assertEqual(("exited", None, signal.SIGABRT), tuple(results[0][0][k] for k in ("outcome", "exit_code", "signal")))

    def test_a_case_that_changes_its_program_does_not_change_the_next(self):
        source = "#include <stdio.h>\nint main(void) { puts(\"same\"); FILE *f = fopen(\"main\", \"w\"); return f == NULL; }\n"
        run, results = self.run_cases("main.c", source, GCC, [b"", b""])
        self.assertEqual([b"same\n", b"same\n"], [out for _, out, _ in results], run.frames)

    def test_files_the_build_closed_are_restored_closed(self):
        build = {"compile": ["bash", "-c", "mkdir -p shut/in && echo x > shut/in/f && echo y > secret && chmod 000 secret shut/in/f shut"],
                 "run": ["bash", "-c", "ls -ld secret shut | cut -c1-10; chmod -R u+rwx shut; chmod u+r secret; cat secret shut/in/f"]}
        _, results = self.run_cases("main.sh", "", build, [b"", b""])
        self.assertEqual([b"----------\nd---------\ny\nx\n"] * 2, [out for _, out, _ in results], [err for _, _, err in results])

    def test_a_compile_error_runs_no_case(self):
        run, results = self.run_cases("main.c", "int main(void) { return x; }\n", GCC, [b"", b""])
        self.assertEqual((["r", "a", "b", "x"], "compile_error"), (run.kinds, run.exit["outcome"]))

    def test_a_java_program_judged_against_cases(self):
        source = ("public class Main {\n  public static void main(String[] a) throws Exception {\n"
                  "    System.out.println(new String(System.in.readAllBytes()).trim().length());\n  }\n}\n")
        _, results = self.run_cases("Main.java", source, JAVA, [b"abc", b"hello"], timeout_ms=20000)
        self.assertEqual([b"3\n", b"5\n"], [out for _, out, _ in results], [err for _, _, err in results])



@unittest.skipUnless(WHOLE, WHY)
class PythonCaseTests(LauncherRun, unittest.TestCase):
    """A Python job with cases, in every image: its script run per case by a fresh interpreter, measured (by the image's
    helper, or by its Python twin where the image has none), never by the launcher's own memory."""

    def test_a_python_job_with_cases_runs_its_script_per_case(self):
        run = self.run_launcher("import sys\nprint(sys.stdin.read()[::-1], sys.argv[1:])\nopen('left', 'w')\n", args=["x"],
                                cases=[{"stdin_size": 2, "timeout_ms": 5000}, {"stdin_size": 3, "timeout_ms": 5000}],
                                case_inputs=[b"ab", b"cde"], seconds=60)
        results = [case_of(payload) for kind, payload in run.frames if kind == "t"]
        self.assertEqual([b"ba ['x']\n", b"edc ['x']\n"], [out for _, out, _ in results], [err for _, _, err in results])
        self.assertEqual(["r", "a", "t", "t", "x"], run.kinds)
        self.assertTrue(all(0 < h["max_rss_bytes"] < 30 << 20 for h, _, _ in results), [h["max_rss_bytes"] for h, _, _ in results])

    def test_a_case_killed_by_a_signal_and_one_that_is_not_found(self):
        run = self.run_launcher("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", command={"run": ["python3", "{source}"]},
                                cases=[{"stdin_size": 0, "timeout_ms": 5000}], case_inputs=[b""], seconds=60)
        self.assertEqual([("exited", None, signal.SIGTERM)], [(h["outcome"], h["exit_code"], h["signal"])
                                                             for h, _, _ in (case_of(p) for k, p in run.frames if k == "t")])
        run = self.run_launcher("", command={"run": ["no-such-program"]}, cases=[{"stdin_size": 0, "timeout_ms": 5000}],
                                case_inputs=[b""], seconds=60)
        self.assertEqual([(127, b"no-such-program: No such file or directory\n")],
                         [(h["exit_code"], err) for h, _, err in (case_of(p) for k, p in run.frames if k == "t")])


def case_of(payload):
    """A b"t" frame's (header, stdout, stderr)."""
    size = struct.unpack(">I", payload[:4])[0]
    header = json.loads(payload[4:4 + size])
    out_end = 4 + size + header["stdout_size"]
    return header, payload[4 + size:out_end], payload[out_end:out_end + header["stderr_size"]]


if __name__ == "__main__":
    unittest.main()
