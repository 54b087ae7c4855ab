using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>A stack with one warm container of each language runtime (C, C++, Java, JavaScript, bash).</summary>
public sealed class LanguagesStackFixture : StackFixture
{
    public override string Deployment => "tests-languages";

    protected override int DataPoolSize => 0;

    protected override int LanguagePoolSize => 1;
}

[CollectionDefinition(Name)]
public sealed class LanguagesCollection : ICollectionFixture<LanguagesStackFixture>
{
    public const string Name = "8 languages";
}

/// <summary>
/// The languages graders' students write and graded submissions, through the real services and real containers: each
/// language from its own warm pool, every verdict of a test set, compile errors as verdicts, Java's main class found
/// whatever the file is called, stdin in JavaScript, a C++ program judged against 20 cases in one call, each case from
/// the same clean state, and hostile C contained as hostile Python is.
/// </summary>
[Collection(LanguagesCollection.Name)]
public sealed class LanguagesTests(LanguagesStackFixture stack)
{
    public static readonly string[] LanguageRuntimes = ["c-gcc-12", "cpp-gcc-12", "java-17", "javascript-node-18", "bash-5.2"];

    internal static async Task<JsonElement> RunProgramAsync(HttpClient gateway, string file, string code, params (string Field, string Value)[] fields)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile(file, code);
        foreach (var (field, value) in fields)
        {
            form.Add(new StringContent(value), field);
        }
        var sessionId = await gateway.SubmitFormAsync(form);
        return await gateway.WaitForResultAsync(sessionId);
    }

    private static string Cases(params object[] cases) => JsonSerializer.Serialize(cases);

    private static string[] Verdicts(JsonElement result) =>
        [.. result.GetProperty("test_results").EnumerateArray().Select(r => r.GetProperty("verdict").GetString()!)];

    private static string Describe(JsonElement result) =>
        $"{result.GetProperty("status")}: {result.GetProperty("detail")} / {result.GetProperty("stderr")} / "
        + (result.TryGetProperty("compile", out var compile) ? compile.ToString() : "no compile");

    [Fact]
    public async Task Each_language_runs_from_its_own_warm_pool_with_its_compiler_ready()
    {
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            var pools = (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("runtimes");
            return LanguageRuntimes.All(r => pools.TryGetProperty(r, out var pool) && pool.GetProperty("ready").GetInt32() >= 1);
        }, "every language's pool holds a warm container", TimeSpan.FromMinutes(3));
        var programs = new (string Runtime, string File, string Code, string Stdout, bool Compiles)[]
        {
            ("c-gcc-12", "main.c", "#include <stdio.h>\nint main(void) { printf(\"C %d\\n\", 6 * 7); return 0; }\n", "C 42\n", true),
            ("cpp-gcc-12", "main.cpp", "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; std::cout << \"C++ \" << v.size() << std::endl; }\n", "C++ 3\n", true),
            ("java-17", "Main.java", "public class Main { public static void main(String[] args) { System.out.println(\"Java \" + Runtime.version().feature()); } }\n", "Java 17\n", true),
            ("javascript-node-18", "main.js", "console.log(`JavaScript ${process.version.split('.')[0]}`);\n", "JavaScript v18\n", false),
            ("bash-5.2", "main.sh", "echo \"bash ${BASH_VERSINFO[0]}\"\n", "bash 5\n", false),
        };
        foreach (var (runtime, file, code, stdout, compiles) in programs)
        {
            await ExecutorApi.WaitUntilAsync(async () =>
                (await stack.Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("runtimes").GetProperty(runtime).GetProperty("ready").GetInt32() >= 1,
                $"{runtime}'s pool is ready", TimeSpan.FromMinutes(2));
            var result = await RunProgramAsync(stack.Gateway, file, code, ("runtime", runtime));

            Assert.True(result.GetProperty("status").GetString() == "completed", $"{runtime}: {Describe(result)}");
            Assert.Equal(stdout, result.GetProperty("stdout").GetString());
            Assert.Equal(runtime, result.GetProperty("runtime").GetString());
            Assert.True(result.GetProperty("warm_start").GetBoolean(), $"{runtime} ran cold");
            Assert.Equal(compiles, result.TryGetProperty("compile", out var compile) && compile.ValueKind == JsonValueKind.Object);
            if (compiles)
            {
                Assert.Equal("ok", compile.GetProperty("status").GetString());
            }
        }
    }

    [Fact]
    public async Task A_program_s_language_follows_its_file_when_no_runtime_is_named()
    {
        var result = await RunProgramAsync(stack.Gateway, "hello.c", "#include <stdio.h>\nint main(void) { puts(\"by extension\"); }\n");

        Assert.Equal(("completed", "c-gcc-12", "by extension\n"),
            (result.GetProperty("status").GetString(), result.GetProperty("runtime").GetString(), result.GetProperty("stdout").GetString()));
    }

    [Fact]
    public async Task A_C_program_reading_input_gets_every_verdict_of_its_test_set()
    {
        const string program = """
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            int main(void) {
                int n;
                if (scanf("%d", &n) != 1) return 2;
                switch (n) {
                case 1: printf("%d\n", n * 2); break;                       /* accepted */
                case 2: printf("%d\n", n * 3); break;                       /* wrong answer */
                case 3: for (;;) { } break;                                 /* time limit */
                case 4: for (;;) { char *p = malloc(1 << 24); if (p) memset(p, 1, 1 << 24); } break; /* memory */
                case 5: return 3;                                           /* runtime error: exit code */
                case 6: raise(SIGSEGV); break;                              /* runtime error: signal */
                case 7: for (;;) fputs("flood flood flood flood\n", stdout); break; /* output limit */
                }
                return 0;
            }
            """;
        var result = await RunProgramAsync(stack.Gateway, "main.c", program, ("runtime", "c-gcc-12"), ("memory_mb", "64"), ("test_cases", Cases(
            new { name = "doubles", stdin = "1\n", expected_output = "2\n" },
            new { name = "wrong", stdin = "2\n", expected_output = "4\n" },
            new { name = "loops", stdin = "3\n", expected_output = "", timeout_seconds = 1 },
            new { name = "hogs", stdin = "4\n", expected_output = "" },
            new { name = "exits 3", stdin = "5\n", expected_output = "" },
            new { name = "segfaults", stdin = "6\n", expected_output = "" },
            new { name = "floods", stdin = "7\n", expected_output = "" },
            new { name = "again", stdin = "1\n", expected_output = "2" })));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Equal(["accepted", "wrong_answer", "time_limit_exceeded", "memory_limit_exceeded", "runtime_error", "runtime_error",
            "output_limit_exceeded", "accepted"], Verdicts(result));
        var cases = result.GetProperty("test_results");
        Assert.Contains("expected \"4\", got \"6\"", cases[1].GetProperty("diff").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, cases[4].GetProperty("exit_code").GetInt32());
        Assert.Equal(11, cases[5].GetProperty("signal").GetInt32());
        Assert.True(cases[2].GetProperty("time_ms").GetDouble() is >= 900 and < 5000, cases[2].ToString());
        // Measured for the program itself, not the launcher that started it: a C program that reads a number is small.
        Assert.True(cases[0].GetProperty("memory_bytes").GetInt64() < 8 << 20, cases[0].ToString());
        var summary = result.GetProperty("test_summary");
        Assert.Equal((2, 8, "wrong_answer", 1, "wrong"), (summary.GetProperty("passed").GetInt32(), summary.GetProperty("total").GetInt32(),
            summary.GetProperty("verdict").GetString(), summary.GetProperty("first_failure").GetInt32(), summary.GetProperty("first_failure_name").GetString()));
    }

    [Fact]
    public async Task A_compile_error_is_a_verdict_once_for_all_cases_not_a_failure_of_the_service()
    {
        var graded = await RunProgramAsync(stack.Gateway, "main.c", "int main(void) { return undefined_name; }\n", ("runtime", "c-gcc-12"),
            ("test_cases", Cases(new { stdin = "", expected_output = "" }, new { stdin = "", expected_output = "" })));
        var single = await RunProgramAsync(stack.Gateway, "Main.java", "public class Main { void broken( }\n", ("runtime", "java-17"));

        Assert.Equal("compilation_error", graded.GetProperty("status").GetString());
        Assert.Equal("failed", graded.GetProperty("compile").GetProperty("status").GetString());
        Assert.Contains("undefined_name", graded.GetProperty("compile").GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.Equal("compilation_error", graded.GetProperty("test_summary").GetProperty("verdict").GetString());
        Assert.Equal(["compilation_error", "compilation_error"], Verdicts(graded));
        Assert.Equal("compilation_error", single.GetProperty("status").GetString());
        Assert.Contains("error", single.GetProperty("compile").GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.Equal("", single.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Java_runs_the_class_that_declares_main_whatever_its_file_is_called()
    {
        var publicClass = await RunProgramAsync(stack.Gateway, "Main.java", """
            import java.util.Scanner;
            public class Solution {
                public static void main(String[] args) {
                    Scanner in = new Scanner(System.in);
                    System.out.println(new Helper().greet(in.nextLine()) + " " + args.length);
                }
            }
            class Helper { String greet(String name) { return "Hello, " + name; } }
            """, ("runtime", "java-17"), ("stdin", "grader\n"), ("args", "[\"a\", \"b\"]"));
        var packagePrivate = await RunProgramAsync(stack.Gateway, "Main.java",
            "class Util { static int twice(int x) { return 2 * x; } }\nclass Program { public static void main(String[] a) { System.out.println(Util.twice(21)); } }\n",
            ("runtime", "java-17"));

        Assert.True(publicClass.GetProperty("status").GetString() == "completed", Describe(publicClass));
        Assert.Equal("Hello, grader 2\n", publicClass.GetProperty("stdout").GetString());
        Assert.True(packagePrivate.GetProperty("status").GetString() == "completed", Describe(packagePrivate));
        Assert.Equal("42\n", packagePrivate.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task JavaScript_reads_its_stdin_in_each_case()
    {
        const string program = """
            const lines = require('fs').readFileSync(0, 'utf8').trim().split('\n');
            console.log(lines.map(Number).reduce((a, b) => a + b, 0));
            """;
        var result = await RunProgramAsync(stack.Gateway, "main.js", program, ("runtime", "javascript-node-18"), ("test_cases", Cases(
            new { stdin = "1\n2\n3\n", expected_output = "6\n" },
            new { stdin = "10\n-10\n", expected_output = "0\n" },
            new { stdin = "0.1\n0.2\n", expected_output = "0.3" })), ("comparison", "tokens"), ("tolerance", "1e-9"));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Equal(["accepted", "accepted", "accepted"], Verdicts(result));
    }

    [Fact]
    public async Task One_Cpp_submission_is_judged_against_20_cases_in_one_call_each_from_the_same_clean_state()
    {
        // Each case finds the work directory and /tmp as the compile left them: what an earlier case wrote, or left
        // running, is gone.
        const string program = """
            #include <dirent.h>
            #include <fstream>
            #include <iostream>
            #include <string>
            #include <unistd.h>
            static bool sleeper_left() {
                DIR *proc = opendir("/proc");
                for (struct dirent *e; proc && (e = readdir(proc));) {
                    std::ifstream cmdline(std::string("/proc/") + e->d_name + "/cmdline");
                    std::string name;
                    if (std::getline(cmdline, name, '\0') && name == "sleep") return true;
                }
                return false;
            }
            int main() {
                long long a, b;
                std::cin >> a >> b;
                bool dirty = std::ifstream("left-behind").good() || std::ifstream("/tmp/left-behind").good() || sleeper_left();
                std::ofstream("left-behind") << a;
                std::ofstream("/tmp/left-behind") << b;
                if (fork() == 0) { execlp("sleep", "sleep", "600", (char *) nullptr); _exit(1); }
                std::cout << (dirty ? "dirty " : "") << a + b << std::endl;
            }
            """;
        var cases = Enumerable.Range(1, 20).Select(i => new { name = $"sum {i}", stdin = $"{i} {i * 1000}\n", expected_output = $"{i + i * 1000}\n" }).ToArray();
        var result = await RunProgramAsync(stack.Gateway, "main.cpp", program, ("runtime", "cpp-gcc-12"), ("test_cases", Cases(cases)));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Equal(Enumerable.Repeat("accepted", 20), Verdicts(result));
        Assert.Equal(20, result.GetProperty("test_summary").GetProperty("passed").GetInt32());
        Assert.Equal("ok", result.GetProperty("compile").GetProperty("status").GetString()); // compiled once, for all 20
    }

    [Fact]
    public async Task Stopping_at_the_first_failure_skips_the_rest()
    {
        var result = await RunProgramAsync(stack.Gateway, "main.sh", "read n; echo $((n * n))\n", ("runtime", "bash-5.2"), ("stop_on_failure", "true"),
            ("test_cases", Cases(new { stdin = "2\n", expected_output = "4" }, new { stdin = "3\n", expected_output = "10" },
                new { stdin = "4\n", expected_output = "16" })));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Equal(["accepted", "wrong_answer", "skipped"], Verdicts(result));
    }

    [Fact]
    public async Task Hostile_C_is_contained_as_hostile_Python_is()
    {
        const string bomb = "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n";
        const string hog = "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 24); if (p) memset(p, 7, 1 << 24); } }\n";
        const string flood = "#include <stdio.h>\nint main(void) { for (;;) fputs(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n\", stdout); }\n";
        // socketcall through the 32-bit entry (int 0x80, i386 nr 102): an architecture the filter does not admit.
        const string int80 = """
            #include <stdio.h>
            int main(void) {
                int args[3] = {40, 1, 0}; /* AF_VSOCK, SOCK_STREAM */
                long ret;
                __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(102), "b"(1), "c"(args) : "memory");
                printf("returned %ld\n", ret);
                return 0;
            }
            """;

        var forked = await RunProgramAsync(stack.Gateway, "main.c", bomb, ("runtime", "c-gcc-12"), ("timeout_seconds", "3"));
        var hogged = await RunProgramAsync(stack.Gateway, "main.c", hog, ("runtime", "c-gcc-12"));
        var flooded = await RunProgramAsync(stack.Gateway, "main.c", flood, ("runtime", "c-gcc-12"));
        var trapped = await RunProgramAsync(stack.Gateway, "main.c", int80, ("runtime", "c-gcc-12"));

        Assert.True(forked.GetProperty("status").GetString() is "timed_out" or "memory_exceeded", Describe(forked));
        Assert.Equal("memory_exceeded", hogged.GetProperty("status").GetString());
        Assert.Equal("output_limit_exceeded", flooded.GetProperty("status").GetString());
        Assert.True(trapped.GetProperty("status").GetString() == "failed" && trapped.GetProperty("signal").GetInt32() == 31, Describe(trapped));
        await stack.AssertHealthyAsync();
        var after = await RunProgramAsync(stack.Gateway, "main.c", "#include <stdio.h>\nint main(void) { puts(\"still fine\"); }\n", ("runtime", "c-gcc-12"));
        Assert.Equal("still fine\n", after.GetProperty("stdout").GetString());
    }
}

/// <summary>Under gVisor (runsc): a compiled language and a graded run work as under runc.</summary>
[Collection(GvisorCollection.Name)]
public sealed class LanguagesUnderGvisorTests(GvisorStackFixture stack)
{
    [Fact]
    public async Task A_C_program_compiles_runs_and_is_judged_under_gvisor()
    {
        var result = await LanguagesTests.RunProgramAsync(stack.Gateway, "main.c",
            "#include <stdio.h>\nint main(void) { int n; if (scanf(\"%d\", &n) != 1) return 1; printf(\"%d\\n\", n * n); }\n",
            ("runtime", "c-gcc-12"), ("test_cases", """[{"stdin": "3", "expected_output": "9"}, {"stdin": "4", "expected_output": "15"}]"""));

        Assert.True(result.GetProperty("status").GetString() == "completed", result.ToString());
        Assert.Equal("runsc", result.GetProperty("isolation").GetString());
        Assert.Equal(["accepted", "wrong_answer"], result.GetProperty("test_results").EnumerateArray().Select(r => r.GetProperty("verdict").GetString()));
    }
}
