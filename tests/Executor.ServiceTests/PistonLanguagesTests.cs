using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>
/// Piston v2's languages besides Python, with a runner host that offers them: Piston's names, aliases and versions, each
/// program's file, the compile stage of C, C++ and Java (and no run stage when it did not compile), the compile limits.
/// The host reports what a real one would; the end-to-end suite runs piston-client for real.
/// </summary>
public sealed class PistonLanguagesTests : IClassFixture<LanguagesServiceFixture>
{
    private const string Hello = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }";
    private const string Broken = "int main(void) { return missing; }";

    private readonly LanguagesServiceFixture _service;

    /// <summary>The jobs the host got, in order.</summary>
    private readonly ConcurrentQueue<RunJob> _jobs = new();

    public PistonLanguagesTests(LanguagesServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job =>
        {
            _jobs.Enqueue(job);
            return Respond(job);
        };
    }

    private static RunResult Respond(RunJob job) => Runs.Script(job) switch
    {
        Hello => Runs.Completed("hello\n") with { Compile = new CompileOutcome("ok", 0, null, "", false, 51, 40) },
        Broken => Runs.Completed("") with
        {
            Status = RunStatus.CompilationError,
            ExitCode = null,
            Compile = new CompileOutcome("failed", 1, null, "main.c:1:25: error: 'missing' undeclared\n", false, 30, 20),
        },
        _ => Runs.Completed($"{job.Entrypoint} in {job.Runtime} read {job.Stdin}\n") with
        {
            Compile = job.Runtime is "java-17" or "cpp-gcc-12" ? new CompileOutcome("ok", 0, null, "", false, 400) : null,
        },
    };

    [Fact]
    public async Task Every_language_is_listed_under_piston_s_name_aliases_and_full_version()
    {
        var runtimes = (await _service.Client.GetFromJsonAsync<JsonElement>("/api/v2/runtimes")).EnumerateArray()
            .ToDictionary(r => r.GetProperty("language").GetString()!, r => (
                Version: r.GetProperty("version").GetString(),
                Aliases: string.Join(' ', r.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()))));

        Assert.Equal(("12.2.0", "gcc c-gcc-12"), (runtimes["c"].Version, runtimes["c"].Aliases));
        Assert.Equal(("12.2.0", "cpp g++ cpp-gcc-12"), (runtimes["c++"].Version, runtimes["c++"].Aliases));
        Assert.Equal(("17.0.13", "java-17"), (runtimes["java"].Version, runtimes["java"].Aliases));
        Assert.Equal(("18.20.4", "node-javascript node-js js node javascript-node-18"),
            (runtimes["javascript"].Version, runtimes["javascript"].Aliases));
        Assert.Equal(("5.2.15", "sh bash-5.2"), (runtimes["bash"].Version, runtimes["bash"].Aliases));
        Assert.Equal("3.11.2", runtimes["python"].Version);
        Assert.Contains("py3", runtimes["python"].Aliases.Split(' '));
        Assert.True(runtimes.ContainsKey("python-3.11-data"));
    }

    [Fact]
    public async Task A_c_program_answers_with_its_compile_stage_and_its_run()
    {
        var response = await ExecuteAsync(new
        {
            language = "gcc", version = "12.x", files = new[] { new { content = Hello } },
            compile_timeout = 5000, compile_memory_limit = 300_000_000, run_memory_limit = 100_000_000,
        });

        Assert.Equal(("c", "12.2.0"), (response.GetProperty("language").GetString(), response.GetProperty("version").GetString()));
        var compile = response.GetProperty("compile");
        Assert.Equal(("", "", "", 0, JsonValueKind.Null, 40L, 51L),
            (compile.GetProperty("stdout").GetString(), compile.GetProperty("stderr").GetString(), compile.GetProperty("output").GetString(),
            compile.GetProperty("code").GetInt32(), compile.GetProperty("signal").ValueKind, compile.GetProperty("cpu_time").GetInt64(),
            compile.GetProperty("wall_time").GetInt64()));
        Assert.Equal(("hello\n", 0), (response.GetProperty("run").GetProperty("stdout").GetString(), response.GetProperty("run").GetProperty("code").GetInt32()));

        var job = _jobs.Last(j => j.Runtime == "c-gcc-12");
        Assert.Equal("main.c", job.Entrypoint);
        // The compile stage has its own timeout; it shares the run's sandbox, which gets the larger memory limit.
        Assert.Equal((5.0, 287), (job.Build!.CompileTimeoutSeconds, job.MemoryMb));
    }

    [Fact]
    public async Task A_program_that_does_not_compile_has_a_compile_stage_and_no_run_stage()
    {
        var response = await ExecuteAsync(new { language = "c", version = "*", files = new[] { new { name = "main.c", content = Broken } } });

        var compile = response.GetProperty("compile");
        Assert.Equal(1, compile.GetProperty("code").GetInt32());
        Assert.Contains("'missing' undeclared", compile.GetProperty("stderr").GetString(), StringComparison.Ordinal);
        Assert.Equal(compile.GetProperty("stderr").GetString(), compile.GetProperty("output").GetString());
        Assert.False(response.TryGetProperty("run", out _));
    }

    [Fact]
    public async Task Each_language_runs_its_first_file_under_a_name_of_its_own()
    {
        foreach (var (language, name, entry, runtime, compiles) in new[]
        {
            ("node", (string?)null, "main.js", "javascript-node-18", false),
            ("js", "solution", "solution.js", "javascript-node-18", false),
            ("java", "Solution.java", "Solution.java", "java-17", true),
            ("java", null, "Main.java", "java-17", true),
            ("sh", null, "main.sh", "bash-5.2", false),
            ("c++", "prog.cc", "prog.cc", "cpp-gcc-12", true),
        })
        {
            var response = await ExecuteAsync(new
            {
                language, version = "*", stdin = "42", compile_timeout = 10000, compile_memory_limit = 400_000_000,
                files = new object[] { name is null ? new { content = "x" } : new { name, content = "x" }, new { name = "data.txt", content = "1 2 3" } },
            });
            Assert.Equal($"{entry} in {runtime} read 42\n", response.GetProperty("run").GetProperty("stdout").GetString());
            Assert.Equal(compiles, response.TryGetProperty("compile", out _));
            // piston-client's compile limits count only where there is a compile stage.
            var job = _jobs.Last();
            Assert.Equal(compiles, job.Build is not null);
            Assert.Equal(compiles ? 382 : null, job.MemoryMb);
        }
    }

    private async Task<JsonElement> ExecuteAsync(object request)
    {
        using var response = await _service.Client.PostAsJsonAsync("/api/v2/execute", request);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        return body;
    }
}
