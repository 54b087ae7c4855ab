using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.Session.Uploads;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Executor.Session.Mcp;

/// <summary>
/// Executor's tools for AI agents over the Model Context Protocol (POST /mcp, Streamable HTTP): run_python, run_code (any
/// language), grade (test cases) and list_runtimes. A call goes through the same submission as POST /execute, with the
/// caller's key: the same quotas, ceilings, limits and ownership. The descriptions are written for a model: what the sandbox allows and what comes back.
/// </summary>
[McpServerToolType]
public sealed class ExecutorMcpTools
{
    /// <summary>Images a model can look at come back as image content; other files as embedded resources.</summary>
    private static readonly HashSet<string> ImageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

    private const long MaxInlineBytes = 4 * 1024 * 1024;

    [McpServerTool(Name = "run_python", Title = "Run Python in a sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Runs a Python 3.11 script in a fresh, isolated, single-use sandbox and returns its outcome: status (completed,
        failed, timed_out, memory_exceeded, output_limit_exceeded, internal_error), exit code, stdout, stderr, duration and
        peak memory. The sandbox has NO network access, a read-only system, half a CPU, 128 MiB of memory by default
        (384 MiB in the data runtime), 64 processes, 1 MiB of output and a wall-clock timeout (10 s by default, at most
        60). The script runs in /sandbox with the files you give; files it writes under out/ (e.g.
        plt.savefig("out/plot.png")) come back: PNG, JPEG, GIF and WebP images as images, other files as resources.
        Runtimes: "python-3.11" (default: the standard library and pytest) and "python-3.11-data" (numpy, pandas, scipy,
        matplotlib with the Agg backend, pytest; already imported, so they load instantly). Nothing persists between
        calls: every call starts from an empty sandbox.
        """)]
    public static async Task<CallToolResult> RunPython(
        IHttpContextAccessor http,
        SessionSubmitter submitter,
        IResultFiles results,
        IOptions<SessionServiceOptions> options,
        [Description("The script to run (saved as main.py). Give either this or files.")] string? code = null,
        [Description("The working directory's files, instead of code: each {name, content}; main.py runs, or the only .py file, or entrypoint.")]
        IReadOnlyList<McpFile>? files = null,
        [Description("Which file to run when several are given.")] string? entrypoint = null,
        [Description("Text the script reads on stdin (input(), sys.stdin).")] string? stdin = null,
        [Description("Command-line arguments (sys.argv[1:]).")] IReadOnlyList<string>? args = null,
        [Description("The runtime: python-3.11 (default) or python-3.11-data (numpy, pandas, scipy, matplotlib).")] string? runtime = null,
        [Description("Wall-clock limit in seconds (default 10, at most 60).")] int? timeoutSeconds = null,
        [Description("Network destinations the script may reach through the egress proxy (host, host:port, or '*' for all the key is allowed); default none.")]
        IReadOnlyList<string>? egress = null,
        CancellationToken cancellationToken = default)
    {
        var run = new RunOptions(args ?? [], stdin, timeoutSeconds, null, Runtime: Id(runtime), Egress: EgressGate.Request(egress));
        var (session, failure) = await RunAsync(http, submitter, options.Value, code, files, entrypoint, WorkingDirectory.DefaultEntrypoint, run, cancellationToken);
        return failure ?? await AnswerAsync(session!, results, cancellationToken);
    }

    [McpServerTool(Name = "run_code", Title = "Run a program in any language in a sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Runs a program in C (gcc 12), C++ (g++ 12), Java (OpenJDK 17), JavaScript (Node.js 18), bash or Python in a fresh,
        isolated, single-use sandbox, compiling it first where the language compiles, and returns its outcome: status
        (completed, failed, timed_out, memory_exceeded, output_limit_exceeded, internal_error), exit code, stdout, stderr,
        duration, peak memory and, for a compiled language, the compile stage (status ok or failed, and the compiler's
        output). Name the language (c, cpp, java, javascript, bash, python) or a runtime (list_runtimes). The code is saved
        as main.c, main.cpp, Main.java (the public class may have another name), main.js, main.sh or main.py. Same sandbox as
        run_python: NO network, a read-only system, half a CPU, a memory limit, 1 MiB of output and a wall-clock timeout
        (10 s by default, at most 60). To judge a program against test cases, use grade.
        """)]
    public static async Task<CallToolResult> RunCode(
        IHttpContextAccessor http,
        SessionSubmitter submitter,
        RuntimeDirectory runtimes,
        IResultFiles results,
        IOptions<SessionServiceOptions> options,
        [Description("The program's source. Give either this or files.")] string? code = null,
        [Description("The language: c, cpp, java, javascript, bash or python (or its file extension: cc, js, sh, py). Or give runtime.")]
        string? language = null,
        [Description("The runtime instead of the language, e.g. c-gcc-12, cpp-gcc-12, java-17, javascript-node-18, bash-5.2 (list_runtimes).")]
        string? runtime = null,
        [Description("Text the program reads on stdin.")] string? stdin = null,
        [Description("Command-line arguments.")] IReadOnlyList<string>? args = null,
        [Description("Options added to the compiler's command, each one item, e.g. [\"-O2\", \"-lm\"].")] IReadOnlyList<string>? compilerOptions = null,
        [Description("Wall-clock limit of the run in seconds (default 10, at most 60); the compile stage has its own.")] int? timeoutSeconds = null,
        [Description("The working directory's files, instead of code: each {name, content}; the only program runs, or main.*, or entrypoint.")]
        IReadOnlyList<McpFile>? files = null,
        [Description("Which file to run when several are given.")] string? entrypoint = null,
        CancellationToken cancellationToken = default)
    {
        var (unnamed, unknown) = await UnnamedAsync(runtimes, language, runtime, cancellationToken);
        if (unknown is not null)
        {
            return unknown;
        }
        var run = new RunOptions(args ?? [], stdin, timeoutSeconds, null, Runtime: Id(runtime), Build: Build(compilerOptions));
        var (session, failure) = await RunAsync(http, submitter, options.Value, code, files, entrypoint, unnamed!, run, cancellationToken);
        return failure ?? await AnswerAsync(session!, results, cancellationToken);
    }

    [McpServerTool(Name = "grade", Title = "Judge a program against test cases", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Judges a program (C, C++, Java, JavaScript, bash or Python) against test cases, as an online judge does: it is
        prepared once (compiled where the language compiles), then run once per case with the case's stdin, each run from a
        clean sandbox, and its stdout compared with the case's expected_output. Answers with the summary (passed/total, the
        overall verdict, the first failing case) and each case's verdict: accepted, wrong_answer (with where the output first
        differs), time_limit_exceeded, memory_limit_exceeded, runtime_error (with exit code or signal),
        output_limit_exceeded, skipped (after a failure, with stop_on_failure); or compilation_error once for all, with the
        compiler's output. Comparison: trailing_whitespace (default: trailing blanks and final newlines do not count), exact,
        or tokens (numbers within tolerance). At most 100 cases; their time limits together at most 300 s.
        """)]
    public static async Task<CallToolResult> Grade(
        IHttpContextAccessor http,
        SessionSubmitter submitter,
        RuntimeDirectory runtimes,
        IOptions<SessionServiceOptions> options,
        [Description("The test cases: each {\"name\", \"stdin\", \"expected_output\", \"timeout_seconds\"} (only stdin and expected_output are usual).")]
        IReadOnlyList<McpTestCase> testCases,
        [Description("The program's source. Give either this or files.")] string? code = null,
        [Description("The language: c, cpp, java, javascript, bash or python (or its file extension). Or give runtime.")] string? language = null,
        [Description("The runtime instead of the language, e.g. c-gcc-12 (list_runtimes).")] string? runtime = null,
        [Description("trailing_whitespace (default), exact or tokens.")] string? comparison = null,
        [Description("For tokens: numbers match within this, absolutely or relatively (default 1e-6).")] double? tolerance = null,
        [Description("Run no further case after the first failure (the rest are skipped). Default false.")] bool stopOnFailure = false,
        [Description("Options added to the compiler's command, each one item, e.g. [\"-O2\", \"-lm\"].")] IReadOnlyList<string>? compilerOptions = null,
        [Description("Each case's wall-clock limit in seconds when the case names none (default 10).")] int? timeoutSeconds = null,
        [Description("The working directory's files, instead of code: each {name, content}.")] IReadOnlyList<McpFile>? files = null,
        [Description("Which file to run when several are given.")] string? entrypoint = null,
        CancellationToken cancellationToken = default)
    {
        var (unnamed, unknown) = await UnnamedAsync(runtimes, language, runtime, cancellationToken);
        if (unknown is not null)
        {
            return unknown;
        }
        var grading = new GradingSpec([.. (testCases ?? []).Select(c => new TestCase(c.Name, c.Stdin ?? "", c.ExpectedOutput, c.TimeoutSeconds))],
            string.IsNullOrWhiteSpace(comparison) ? Comparisons.TrailingWhitespace : comparison.Trim().ToLowerInvariant(), tolerance, stopOnFailure);
        var run = new RunOptions([], null, timeoutSeconds, null, Runtime: Id(runtime), Grading: grading, Build: Build(compilerOptions));
        var (session, failure) = await RunAsync(http, submitter, options.Value, code, files, entrypoint, unnamed!, run, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }
        var result = SessionResults.From(session!);
        var structured = new JsonObject
        {
            ["status"] = result.Status,
            ["runtime"] = result.Runtime,
            ["session_id"] = result.SessionId,
            ["detail"] = result.Detail,
            ["test_summary"] = JsonSerializer.SerializeToNode(result.TestSummary, SessionResults.Json),
            ["compile"] = JsonSerializer.SerializeToNode(result.Compile, SessionResults.Json),
            ["test_results"] = JsonSerializer.SerializeToNode(result.TestResults, SessionResults.Json),
        };
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = GradeText(result) }],
            StructuredContent = JsonSerializer.SerializeToElement(structured),
            IsError = false,
        };
    }

    /// <summary>A graded run for a model to read: the summary line, the compiler's complaint if any, then one line per case.</summary>
    private static string GradeText(SessionResult result)
    {
        var text = new StringBuilder();
        if (result.TestSummary is not { } summary)
        {
            // The run ended before any case could be judged (the service failed, or it was cancelled).
            return $"{result.Status}: no case was judged. {result.Detail}".TrimEnd();
        }
        text.Append(CultureInfo.InvariantCulture, $"{summary.Verdict}: {summary.Passed}/{summary.Total} passed ({result.Runtime}, session {result.SessionId})\n");
        if (result.Compile is { Succeeded: false } compile)
        {
            text.Append(CultureInfo.InvariantCulture, $"compile {compile.Status}:\n{compile.Output}\n");
        }
        foreach (var test in result.TestResults ?? [])
        {
            text.Append(CultureInfo.InvariantCulture, $"#{test.Index}{(test.Name is { } name ? $" {name}" : "")}: {test.Verdict}");
            if (test.TimeMs is { } ms)
            {
                text.Append(CultureInfo.InvariantCulture, $" ({ms:0.#} ms)");
            }
            if (test.Verdict == Verdicts.RuntimeError)
            {
                text.Append(test.Signal is { } signal ? $" signal {signal}" : $" exit code {test.ExitCode}");
            }
            if (test.Diff is { } diff)
            {
                text.Append(CultureInfo.InvariantCulture, $" {diff}");
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// Submits a tool call's program through <see cref="SessionSubmitter"/>, as POST /execute does, and waits for its end:
    /// the ended session, or the refusal (or the wait's end) as the tool's error.
    /// </summary>
    private static async Task<(SessionRecord? Session, CallToolResult? Failure)> RunAsync(
        IHttpContextAccessor http, SessionSubmitter submitter, SessionServiceOptions options, string? code, IReadOnlyList<McpFile>? files,
        string? entrypoint, string unnamed, RunOptions run, CancellationToken cancellationToken)
    {
        var context = http.HttpContext ?? throw new InvalidOperationException("Executor's tools are served over HTTP only");
        Submission upload;
        try
        {
            var directory = await JsonUploadReader.DirectoryAsync(
                JsonUploadReader.Files(code, files?.Select(f => ((string?)f.Name, f.Content, "utf8")).ToList(), unnamed), options, cancellationToken);
            upload = SubmissionRules.Complete(directory, entrypoint, run, options);
        }
        catch (UploadRejectedException e)
        {
            return (null, Failure(e.Problem.Detail ?? e.Problem.Title ?? "The request was refused."));
        }
        var wait = submitter.RunWait(upload);
        var submission = await submitter.SubmitAsync(context, upload, wait, cancellationToken);
        if (submission.Problem is { } refused)
        {
            return (null, Failure(refused.Detail ?? refused.Title ?? "The request was refused."));
        }
        return submission.Ended is { Result: not null } session
            ? (session, null)
            : (null, Failure($"The run did not finish within {wait.TotalSeconds:0} s; its result will be at GET /result/{submission.SessionId}."));
    }

    /// <summary>The name code without one is saved under: the language's (main.c), the runtime's language's, else main.py; or the error of an unknown language.</summary>
    private static async Task<(string? Unnamed, CallToolResult? Unknown)> UnnamedAsync(
        RuntimeDirectory runtimes, string? language, string? runtime, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(language))
        {
            return SourceLanguages.Named(language) is { } named
                ? (SourceLanguages.DefaultFile(named), null)
                : (null, Failure($"Unknown language '{language}': one of {string.Join(", ", SourceLanguages.All)} (or name a runtime; list_runtimes lists them)."));
        }
        return (SourceLanguages.DefaultFile(await runtimes.LanguageOfAsync(Id(runtime), cancellationToken) ?? SourceLanguages.Python), null);
    }

    private static string? Id(string? runtime) => string.IsNullOrWhiteSpace(runtime) ? null : runtime.Trim();

    private static BuildOptions? Build(IReadOnlyList<string>? compilerOptions) => compilerOptions is { Count: > 0 } ? new BuildOptions(compilerOptions) : null;

    /// <summary>A run's outcome for a model: its summary as JSON text, then the files it left (images as images).</summary>
    private static async Task<CallToolResult> AnswerAsync(SessionRecord session, IResultFiles results, CancellationToken cancellationToken)
    {
        var run = session.Result!;
        var summary = new JsonObject
        {
            ["status"] = session.Status,
            ["exit_code"] = run.ExitCode,
            ["signal"] = run.Signal,
            ["stdout"] = run.Stdout,
            ["stderr"] = run.Stderr,
            ["duration_ms"] = run.DurationMs,
            ["peak_memory_bytes"] = run.PeakMemoryBytes,
            ["runtime"] = run.Runtime,
            ["detail"] = run.Detail,
            ["session_id"] = session.Id,
            ["files"] = new JsonArray([.. (run.Files ?? []).Select(f => (JsonNode?)new JsonObject
            {
                ["path"] = f.Path, ["size"] = f.Size, ["content_type"] = f.ContentType, ["url"] = SessionResults.FileUrl(session.Id, f.Path),
            })]),
        };
        if (run.Compile is { } compile)
        {
            summary["compile"] = JsonSerializer.SerializeToNode(compile, SessionResults.Json);
        }
        var content = new List<ContentBlock> { new TextContentBlock { Text = summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) } };
        foreach (var file in (run.Files ?? []).Where(f => f.Size <= MaxInlineBytes))
        {
            if (await results.ReadResultFileAsync(session.Id, file.Path, cancellationToken) is not { } bytes)
            {
                continue;
            }
            var uri = $"executor://sessions/{session.Id}/files/{file.Path}";
            content.Add(ImageTypes.Contains(file.ContentType)
                ? ImageContentBlock.FromBytes(bytes, file.ContentType)
                : new EmbeddedResourceBlock
                {
                    Resource = file.ContentType.StartsWith("text/", StringComparison.Ordinal) || file.ContentType is "application/json"
                        ? new TextResourceContents { Uri = uri, MimeType = file.ContentType, Text = System.Text.Encoding.UTF8.GetString(bytes) }
                        : BlobResourceContents.FromBytes(bytes, uri, file.ContentType),
                });
        }
        return new CallToolResult { Content = content, IsError = false };
    }

    [McpServerTool(Name = "list_runtimes", Title = "List the runtimes", Destructive = false, OpenWorld = false, ReadOnly = true, Idempotent = true)]
    [Description("Lists the runtimes run_python, run_code and grade can use: id, language and its version, installed packages with versions, "
        + "default memory limit, and which is the default.")]
    public static async Task<string> ListRuntimes(RuntimeDirectory runtimes, CancellationToken cancellationToken = default) =>
        JsonSerializer.Serialize(await runtimes.ListAsync(cancellationToken), ListJson);

    private static readonly JsonSerializerOptions ListJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static CallToolResult Failure(string message) =>
        new() { Content = [new TextContentBlock { Text = message }], IsError = true };
}

/// <summary>A test case, as grade takes it: the same members as the native API's test_cases.</summary>
public sealed record McpTestCase(
    [property: JsonPropertyName("stdin"), Description("The program's stdin for this case (default empty).")] string? Stdin = null,
    [property: JsonPropertyName("expected_output"), Description("What stdout must be; without it any output passes and only the exit counts.")]
    string? ExpectedOutput = null,
    [property: JsonPropertyName("name"), Description("The case's name, given back with its verdict.")] string? Name = null,
    [property: JsonPropertyName("timeout_seconds"), Description("This case's wall-clock limit in seconds.")] double? TimeoutSeconds = null);

/// <summary>A file of the working directory, as run_python takes it.</summary>
/// <param name="Name">Its path, e.g. main.py or data/input.csv.</param>
/// <param name="Content">Its text.</param>
public sealed record McpFile([property: Description("The file's path, e.g. main.py or data/input.csv.")] string Name,
    [property: Description("The file's text.")] string Content);
