using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static Executor.EndToEndTests.Judge0Api;

namespace Executor.ServiceTests;

/// <summary>
/// Judge0 CE's languages besides Python, with a runner host that offers them: Judge0's ids, the file each language's
/// source becomes and its runtime, compiler options and arguments as a shell splits them, Compilation Error with the
/// compiler's output, and a batch of one source judged in one session whose cases answer under their own tokens. The
/// host reports what a real one would; the end-to-end suite compiles for real.
/// </summary>
public sealed class Judge0LanguagesTests : IClassFixture<LanguagesServiceFixture>
{
    private const string Doubler = "#include <stdio.h>\nint main(void) { int n; scanf(\"%d\", &n); printf(\"%d\\n\", n * 2); return 0; }";
    private const string Broken = "int main(void) { return missing; }";

    private readonly LanguagesServiceFixture _service;

    public Judge0LanguagesTests(LanguagesServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => Runs.Script(job) switch
        {
            Broken => Runs.Completed("") with
            {
                Status = RunStatus.CompilationError,
                ExitCode = null,
                Compile = new CompileOutcome("failed", 1, null, "main.c:1:32: error: 'missing' undeclared", false, 40),
            },
            Doubler when job.Grading is { } grading => Graded(grading),
            Doubler => Runs.Completed("42\n") with { Compile = new CompileOutcome("ok", 0, null, "", false, 40) },
            _ => Runs.Echo(job),
        };
    }

    /// <summary>A graded run of the doubler as a host judges it: the first case doubled right, the second wrong, the third killed by SIGSEGV.</summary>
    private static RunResult Graded(GradingSpec grading)
    {
        TestResult[] results =
        [
            new(0, null, Verdicts.Accepted, TimeMs: 3, CpuTimeMs: 1, MemoryBytes: 1024 * 1024, ExitCode: 0, Stdout: "2\n"),
            new(1, null, Verdicts.WrongAnswer, TimeMs: 4, CpuTimeMs: 2, MemoryBytes: 2 * 1024 * 1024, ExitCode: 0, Diff: "line 1", Stdout: "4\n"),
            new(2, null, Verdicts.RuntimeError, TimeMs: 5, CpuTimeMs: 3, MemoryBytes: 3 * 1024 * 1024, Signal: 11, Stderr: "segfault\n"),
        ];
        var cases = results.Take(grading.Cases.Count).ToList();
        return Runs.Completed("") with
        {
            Compile = new CompileOutcome("ok", 0, null, "main.c: warning: unused\n", false, 40),
            TestResults = cases,
            TestSummary = TestSummary.Of(cases),
        };
    }

    [Fact]
    public async Task The_languages_some_host_offers_are_listed_with_judge0_s_ids_and_commands()
    {
        var languages = (await _service.Client.GetFromJsonAsync<JsonElement>("/languages")).EnumerateArray()
            .ToDictionary(l => l.GetProperty("id").GetInt32(), l => l.GetProperty("name").GetString());
        Assert.Equal("C (GCC 12.2.0)", languages[50]);
        Assert.Equal("C++ (GCC 12.2.0)", languages[54]);
        Assert.Equal("Java (OpenJDK 17.0.13)", languages[62]);
        Assert.Equal("JavaScript (Node.js 18.20.4)", languages[63]);
        Assert.Equal("Bash (5.2.15)", languages[46]);
        Assert.Equal("Python (3.11.2)", languages[71]);

        foreach (var (id, file, compiles) in new[] { (50, "main.c", true), (54, "main.cpp", true), (62, "Main.java", true), (63, "main.js", false), (46, "main.sh", false) })
        {
            var language = await _service.Client.GetFromJsonAsync<JsonElement>($"/languages/{id}");
            Assert.Equal(file, language.GetProperty("source_file").GetString());
            Assert.Equal(compiles, language.GetProperty("compile_cmd").ValueKind == JsonValueKind.String);
            Assert.Contains(file.Split('.')[0], language.GetProperty(compiles ? "compile_cmd" : "run_cmd").GetString(), StringComparison.Ordinal);
        }
        var config = await _service.Client.GetFromJsonAsync<JsonElement>("/config_info");
        Assert.True(config.GetProperty("enable_compiler_options").GetBoolean());
        Assert.Equal(["C (GCC 12.2.0)", "C++ (GCC 12.2.0)", "Java (OpenJDK 17.0.13)"],
            config.GetProperty("allowed_languages_for_compile_options").EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public async Task Each_language_s_source_runs_in_its_file_and_runtime_with_options_split_as_a_shell_splits_them()
    {
        var c = await SubmitAsync(new
        {
            source_code = Doubler, language_id = 50, stdin = "21",
            compiler_options = "-O0 -DGREETING='\"hi there\"'  -Wall", command_line_arguments = "one \"two words\" three\\ more",
        });
        var job = await _service.Host.JobAsync(c);
        Assert.Equal(("main.c", "c-gcc-12"), (job.Entrypoint, job.Runtime));
        Assert.Equal(["-O0", "-DGREETING=\"hi there\"", "-Wall"], job.Build!.CompilerOptions!);
        Assert.Equal(["one", "two words", "three more"], job.Args);
        Assert.Equal("21", job.Stdin);

        foreach (var (id, file, runtime) in new[] { (54, "main.cpp", "cpp-gcc-12"), (62, "Main.java", "java-17"), (63, "main.js", "javascript-node-18"), (46, "main.sh", "bash-5.2") })
        {
            var other = await _service.Host.JobAsync(await SubmitAsync(new { source_code = "print('x')", language_id = id }));
            Assert.Equal((file, runtime, (BuildOptions?)null), (other.Entrypoint, other.Runtime, other.Build));
        }

        var waited = await _service.Client.SubmitJudge0Async(new { source_code = Doubler, language_id = 50, stdin = "21", expected_output = "42" },
            "base64_encoded=false&wait=true&fields=stdout,status,compile_output,language_id");
        Assert.Equal((3, "42\n", 50), (Status(waited), waited.GetProperty("stdout").GetString(), waited.GetProperty("language_id").GetInt32()));
        Assert.Equal(JsonValueKind.Null, waited.GetProperty("compile_output").ValueKind);
    }

    [Fact]
    public async Task A_program_that_does_not_compile_is_compilation_error_with_the_compiler_s_output()
    {
        var failed = await _service.Client.SubmitJudge0Async(new { source_code = Broken, language_id = 50 }, "base64_encoded=false&wait=true&fields=*");

        Assert.Equal((6, "Compilation Error"), (Status(failed), failed.GetProperty("status").GetProperty("description").GetString()));
        Assert.Contains("'missing' undeclared", failed.GetProperty("compile_output").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("stdout").ValueKind);
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("message").ValueKind);
    }

    [Fact]
    public async Task Compiler_options_are_refused_where_they_cannot_apply()
    {
        async Task<JsonElement> UnprocessableAsync(object submission)
        {
            using var response = await _service.Client.PostAsJsonAsync("/submissions?base64_encoded=false", submission);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
            return body;
        }

        var interpreted = await UnprocessableAsync(new { source_code = "console.log(1)", language_id = 63, compiler_options = "--strict" });
        Assert.Contains("compiled languages", interpreted.GetProperty("compiler_options")[0].GetString(), StringComparison.Ordinal);
        var unclosed = await UnprocessableAsync(new { source_code = Doubler, language_id = 50, compiler_options = "-DX='open" });
        Assert.Contains("quote", unclosed.GetProperty("compiler_options")[0].GetString(), StringComparison.Ordinal);
        var arguments = await UnprocessableAsync(new { source_code = Doubler, language_id = 50, command_line_arguments = "\"open" });
        Assert.True(arguments.TryGetProperty("command_line_arguments", out _));
    }

    [Fact]
    public async Task A_batch_of_one_source_shares_one_preparation_and_each_token_answers_its_own_case()
    {
        using var created = await _service.Client.PostAsJsonAsync("/submissions/batch?base64_encoded=false", new
        {
            submissions = new object[]
            {
                new { source_code = Doubler, language_id = 50, stdin = "1", expected_output = "2" },
                new { source_code = "print('alone')", language_id = 71 },
                new { source_code = Doubler, language_id = 50, stdin = "2", expected_output = "5" },
                new { language_id = 50, stdin = "3", source_code = Doubler, expected_output = "6" },
                new { source_code = Doubler, language_id = 50, stdin = "4", wall_time_limit = 2 },
            },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var tokens = (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(a => a.GetProperty("token").GetString()!).ToList();

        // The three that differ only in stdin and expected_output are one session's cases 0, 1 and 2, in their order.
        var shared = tokens[0][..tokens[0].LastIndexOf('-')];
        Assert.Equal([$"{shared}-0", $"{shared}-1", $"{shared}-2"], new[] { tokens[0], tokens[2], tokens[3] });
        var job = await _service.Host.JobAsync(shared);
        Assert.Equal(("main.c", "c-gcc-12", (string?)null), (job.Entrypoint, job.Runtime, job.Stdin));
        Assert.Equal([("1", "2"), ("2", "5"), ("3", "6")], job.Grading!.Cases.Select(c => (c.Stdin, c.ExpectedOutput)));
        Assert.Equal(Comparisons.TrailingWhitespace, job.Grading.Comparison);
        // Another source, or other limits: a session of its own, as before.
        Assert.DoesNotContain('-', tokens[1]);
        Assert.Null((await _service.Host.JobAsync(tokens[4])).Grading);

        var submissions = await _service.Client.EndedBatchAsync(tokens, "token,stdin,expected_output,stdout,stderr,status,compile_output,memory,time,message");
        Assert.Equal(tokens, submissions.Select(s => s.GetProperty("token").GetString()));
        var (accepted, wrong, crashed) = (submissions[0], submissions[2], submissions[3]);
        Assert.Equal((3, "1", "2\n", "1024", "0.001"), (Status(accepted), accepted.GetProperty("stdin").GetString(), accepted.GetProperty("stdout").GetString(),
            accepted.GetProperty("memory").GetRawText(), accepted.GetProperty("time").GetString()));
        Assert.Equal((4, "5", "4\n"), (Status(wrong), wrong.GetProperty("expected_output").GetString(), wrong.GetProperty("stdout").GetString()));
        Assert.Equal((7, "segfault\n", "Killed by signal 11"), (Status(crashed), crashed.GetProperty("stderr").GetString(), crashed.GetProperty("message").GetString()));
        Assert.All(new[] { accepted, wrong, crashed }, s => Assert.Equal("main.c: warning: unused\n", s.GetProperty("compile_output").GetString()));
        Assert.Equal((3, "alone\n"), (Status(submissions[1]), submissions[1].GetProperty("stdout").GetString()));

        var one = await _service.Client.GetFromJsonAsync<JsonElement>($"/submissions/{tokens[3]}?base64_encoded=false&fields=token,stdin,status,source_code");
        Assert.Equal((tokens[3], "3", 7, Doubler), (one.GetProperty("token").GetString(), one.GetProperty("stdin").GetString(), Status(one),
            one.GetProperty("source_code").GetString()));
        // The session's id alone, or a case it does not have, is no token.
        foreach (var unknown in new[] { shared, $"{shared}-3", $"{tokens[1]}-0" })
        {
            using var missing = await _service.Client.GetAsync($"/submissions/{unknown}");
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
    }

    [Fact]
    public async Task A_shared_batch_that_does_not_compile_is_compilation_error_for_each_token()
    {
        using var created = await _service.Client.PostAsJsonAsync("/submissions/batch?base64_encoded=false", new
        {
            submissions = new object[] { new { source_code = Broken, language_id = 50, stdin = "1" }, new { source_code = Broken, language_id = 50, stdin = "2" } },
        });
        var tokens = (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(a => a.GetProperty("token").GetString()!).ToList();
        Assert.Single(tokens.Select(t => t[..t.LastIndexOf('-')]).Distinct());

        var submissions = await _service.Client.EndedBatchAsync(tokens, "status,compile_output");
        Assert.All(submissions, s => Assert.Equal((6, true), (Status(s), s.GetProperty("compile_output").GetString()!.Contains("undeclared", StringComparison.Ordinal))));
    }

    private async Task<string> SubmitAsync(object submission)
    {
        using var response = await _service.Client.PostAsJsonAsync("/submissions?base64_encoded=false", submission);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {body}");
        return body.GetProperty("token").GetString()!;
    }
}
