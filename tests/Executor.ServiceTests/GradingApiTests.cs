using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace Executor.ServiceTests;

/// <summary>
/// Graded submissions and programs in other languages on the native API (form and JSON) and through MCP: the test cases,
/// comparison and compile options reach the runner host's job as the client wrote them, the runtime follows the entry
/// point's language, and the result shows the compile stage, each case's verdict and the summary as the host reports them.
/// </summary>
public sealed class GradingApiTests : IClassFixture<LanguagesServiceFixture>
{
    private const string Adder = "#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }\n";

    private static readonly string[] CppOptions = ["-std=c++17", "-O2"];
    private static readonly string[] Optimize = ["-O2"];
    private static readonly string[] Arguments = ["a"];

    private readonly LanguagesServiceFixture _service;

    public GradingApiTests(LanguagesServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => job.Grading is null ? Runs.Echo(job) : Judged(job);
    }

    /// <summary>What a host reports for a graded job: the first case accepted, the second a wrong answer, the rest skipped (stop on failure).</summary>
    private static RunResult Judged(RunJob job)
    {
        TestResult[] results =
        [
            .. job.Grading!.Cases.Select((c, i) => i switch
            {
                0 => new TestResult(0, c.Name, Verdicts.Accepted, TimeMs: 3.5, CpuTimeMs: 1, MemoryBytes: 1_200_000, ExitCode: 0, Stdout: c.ExpectedOutput),
                1 => new TestResult(1, c.Name, Verdicts.WrongAnswer, TimeMs: 4, ExitCode: 0, Diff: "line 1, column 1: expected \"5\", got \"6\"", Stdout: "6\n"),
                _ => new TestResult(i, c.Name, Verdicts.Skipped),
            }),
        ];
        return Runs.Completed("") with
        {
            Compile = new CompileOutcome("ok", 0, null, "main.c: warning: unused variable 'x'\n", false, 180.5, 150),
            TestResults = results,
            TestSummary = TestSummary.Of(results),
        };
    }

    private static readonly string Cases = """
        [{"name": "small", "stdin": "1 2\n", "expected_output": "3\n", "timeout_seconds": 2.5},
         {"name": "carry", "stdin": "2 3\n", "expected_output": "5\n"},
         {"stdin": "0 0"}]
        """;

    [Fact]
    public async Task A_form_s_test_cases_and_compile_options_reach_the_job_and_a_c_file_without_a_runtime_runs_in_c_gcc_12()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("adder.c", Adder);
        form.Add(new StringContent(Cases), "test_cases");
        form.Add(new StringContent("tokens"), "comparison");
        form.Add(new StringContent("0.001"), "tolerance");
        form.Add(new StringContent("true"), "stop_on_failure");
        form.Add(new StringContent("-O2 -DGREETING='hello world' \"-DQUOTE=\\\"x\\\"\" -lm"), "compiler_options");
        form.Add(new StringContent("15"), "compile_timeout_seconds");
        var sessionId = await _service.Client.SubmitFormAsync(form);

        var job = await _service.Host.JobAsync(sessionId);
        Assert.Equal(("adder.c", "c-gcc-12"), (job.Entrypoint, job.Runtime));
        var grading = job.Grading!;
        Assert.Equal((Comparisons.Tokens, 0.001, true), (grading.Comparison, grading.Tolerance, grading.StopOnFailure));
        Assert.Equal(
        [
            new TestCase("small", "1 2\n", "3\n", 2.5), new TestCase("carry", "2 3\n", "5\n"), new TestCase(null, "0 0", null),
        ], grading.Cases);
        Assert.Equal(["-O2", "-DGREETING=hello world", "-DQUOTE=\"x\"", "-lm"], job.Build!.CompilerOptions!);
        Assert.Equal(15, job.Build.CompileTimeoutSeconds);
    }

    [Fact]
    public async Task Json_test_cases_as_an_array_or_a_string_and_code_named_for_the_runtime_s_language_reach_the_job()
    {
        using var array = await _service.Client.PostAsJsonAsync("/execute", new
        {
            code = "int main() { return 0; }",
            runtime = "cpp-gcc-12",
            test_cases = JsonDocument.Parse(Cases).RootElement,
            stop_on_failure = false,
            compiler_options = CppOptions,
            compile_timeout_seconds = 12.5,
        });
        Assert.Equal(HttpStatusCode.OK, array.StatusCode);
        var job = await _service.Host.JobAsync((await array.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
        Assert.Equal(("main.cpp", "cpp-gcc-12"), (job.Entrypoint, job.Runtime));
        Assert.Equal("int main() { return 0; }", Encoding.UTF8.GetString(Assert.Single(job.Files).Content));
        Assert.Equal((3, Comparisons.TrailingWhitespace, false), (job.Grading!.Cases.Count, job.Grading.Comparison, job.Grading.StopOnFailure));
        Assert.Equal(["-std=c++17", "-O2"], job.Build!.CompilerOptions!);
        Assert.Equal(12.5, job.Build.CompileTimeoutSeconds);

        using var text = await _service.Client.PostAsJsonAsync("/execute", new
        {
            files = new[] { new { name = "Solution.java", content = "public class Solution {}" } },
            test_cases = Cases,
            compiler_options = "-Xlint:all",
        });
        Assert.Equal(HttpStatusCode.OK, text.StatusCode);
        job = await _service.Host.JobAsync((await text.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
        Assert.Equal(("Solution.java", "java-17", 3), (job.Entrypoint, job.Runtime, job.Grading!.Cases.Count));
        Assert.Equal(["-Xlint:all"], job.Build!.CompilerOptions!);
    }

    [Fact]
    public async Task Compiler_options_may_also_be_one_form_field_each()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.cpp", "int main() {}\n");
        form.Add(new StringContent("-O2"), "compiler_options");
        form.Add(new StringContent("-DNAME=a b"), "compiler_options");
        var job = await _service.Host.JobAsync(await _service.Client.SubmitFormAsync(form));
        Assert.Equal(("cpp-gcc-12", null), (job.Runtime, job.Grading));
        Assert.Equal(["-O2", "-DNAME=a b"], job.Build!.CompilerOptions!);
        Assert.Null(job.Build.CompileTimeoutSeconds);
    }

    [Theory]
    [InlineData("my solution.c", "main.c", "c-gcc-12")]
    [InlineData("run.sh", "run.sh", "bash-5.2")]
    [InlineData("Solution.java", "Solution.java", "java-17")]
    [InlineData("prog.mjs", "prog.mjs", "javascript-node-18")]
    public async Task A_lone_program_runs_in_its_language_s_runtime_and_keeps_its_language_when_its_name_is_unsafe(string name, string entrypoint, string runtime)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile(name, "program text\n");
        var job = await _service.Host.JobAsync(await _service.Client.SubmitFormAsync(form));
        Assert.Equal((entrypoint, runtime, null), (job.Entrypoint, job.Runtime, job.Grading));
    }

    [Fact]
    public async Task Python_keeps_its_default_runtime_and_a_run_without_cases_carries_no_grading()
    {
        using var response = await _service.Client.PostAsJsonAsync("/execute", new { code = "print('plain')" });
        var job = await _service.Host.JobAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
        Assert.Equal(("main.py", "python-3.11", null, null), (job.Entrypoint, job.Runtime, job.Grading, job.Build));

        var result = await _service.Client.RunAsync("print('plain')\n");
        Assert.Equal(("completed", "plain\n"), (result.GetProperty("status").GetString(), result.GetProperty("stdout").GetString()));
        Assert.False(result.TryGetProperty("test_results", out _));
        Assert.False(result.TryGetProperty("compile", out _));
    }

    [Fact]
    public async Task The_result_shows_the_compile_stage_each_case_s_verdict_and_the_summary_as_the_host_reports_them()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.c", Adder);
        form.Add(new StringContent(Cases), "test_cases");
        using var response = await _service.Client.PostAsync("/execute?wait=true", form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(("completed", "c-gcc-12"), (result.GetProperty("status").GetString(), result.GetProperty("runtime").GetString()));
        var compile = result.GetProperty("compile");
        Assert.Equal(("ok", 0, "main.c: warning: unused variable 'x'\n"),
            (compile.GetProperty("status").GetString(), compile.GetProperty("exit_code").GetInt32(), compile.GetProperty("output").GetString()));
        var cases = result.GetProperty("test_results").EnumerateArray().ToList();
        Assert.Equal(["accepted", "wrong_answer", "skipped"], cases.Select(c => c.GetProperty("verdict").GetString()));
        Assert.Equal(("small", 3.5, 1_200_000), (cases[0].GetProperty("name").GetString(), cases[0].GetProperty("time_ms").GetDouble(),
            cases[0].GetProperty("memory_bytes").GetInt64()));
        Assert.Equal("line 1, column 1: expected \"5\", got \"6\"", cases[1].GetProperty("diff").GetString());
        var summary = result.GetProperty("test_summary");
        Assert.Equal((1, 3, "wrong_answer", 1, "carry"), (summary.GetProperty("passed").GetInt32(), summary.GetProperty("total").GetInt32(),
            summary.GetProperty("verdict").GetString(), summary.GetProperty("first_failure").GetInt32(), summary.GetProperty("first_failure_name").GetString()));

        // The same, read back later.
        var read = await _service.Client.WaitForResultAsync(result.GetProperty("session_id").GetString()!);
        Assert.Equal(summary.GetRawText(), read.GetProperty("test_summary").GetRawText());
    }

    [Fact]
    public async Task The_mcp_grade_tool_judges_through_the_same_submission_and_run_code_runs_another_language()
    {
        await using var client = await _service.McpClientAsync();

        var graded = await client.CallToolAsync("grade", new Dictionary<string, object?>
        {
            ["code"] = Adder,
            ["language"] = "c",
            ["testCases"] = JsonDocument.Parse(Cases).RootElement,
            ["comparison"] = "exact",
            ["stopOnFailure"] = true,
            ["compilerOptions"] = Optimize,
        });
        var text = Assert.Single(graded.Content.OfType<TextContentBlock>()).Text;
        Assert.True(graded.IsError != true, text);
        Assert.StartsWith("wrong_answer: 1/3 passed (c-gcc-12", text, StringComparison.Ordinal);
        Assert.Contains("#0 small: accepted (3.5 ms)", text, StringComparison.Ordinal);
        Assert.Contains("#1 carry: wrong_answer (4 ms) line 1, column 1: expected \"5\", got \"6\"", text, StringComparison.Ordinal);
        Assert.Contains("#2: skipped", text, StringComparison.Ordinal);
        var structured = graded.StructuredContent!.Value;
        Assert.Equal((1, 3), (structured.GetProperty("test_summary").GetProperty("passed").GetInt32(), structured.GetProperty("test_summary").GetProperty("total").GetInt32()));
        Assert.Equal("wrong_answer", structured.GetProperty("test_results")[1].GetProperty("verdict").GetString());
        Assert.Equal("ok", structured.GetProperty("compile").GetProperty("status").GetString());

        var sessionId = structured.GetProperty("session_id").GetString()!;
        var job = await _service.Host.JobAsync(sessionId);
        Assert.Equal(("main.c", "c-gcc-12", Comparisons.Exact, true), (job.Entrypoint, job.Runtime, job.Grading!.Comparison, job.Grading.StopOnFailure));
        Assert.Equal(new TestCase("small", "1 2\n", "3\n", 2.5), job.Grading.Cases[0]);
        Assert.Equal(["-O2"], job.Build!.CompilerOptions!);

        var ran = await client.CallToolAsync("run_code", new Dictionary<string, object?>
        {
            ["code"] = "console.log('hi')", ["runtime"] = "javascript-node-18", ["stdin"] = "x", ["args"] = Arguments,
        });
        var answer = JsonDocument.Parse(ran.Content.OfType<TextContentBlock>().First().Text).RootElement;
        Assert.Equal(("completed", "javascript-node-18"), (answer.GetProperty("status").GetString(), answer.GetProperty("runtime").GetString()));
        job = await _service.Host.JobAsync(answer.GetProperty("session_id").GetString()!);
        Assert.Equal(("main.js", "x", "a"), (job.Entrypoint, job.Stdin, Assert.Single(job.Args)));

        var unknown = await client.CallToolAsync("run_code", new Dictionary<string, object?> { ["code"] = "x", ["language"] = "cobol" });
        Assert.True(unknown.IsError);
        Assert.Contains("cobol", unknown.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);
        var mismatch = await client.CallToolAsync("grade", new Dictionary<string, object?>
        {
            ["code"] = Adder, ["language"] = "c", ["runtime"] = "python-3.11", ["testCases"] = JsonDocument.Parse(Cases).RootElement,
        });
        Assert.True(mismatch.IsError);
        Assert.Contains("c-gcc-12", mismatch.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);
    }
}
