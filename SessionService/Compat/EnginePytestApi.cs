using System.ComponentModel;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Executor.Session.Uploads;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Executor.Session.Compat;

/// <summary>
/// POST /execute_pytest, the Engine's route for grading: the code under test and its pytest files, run in a sandbox,
/// answered (synchronously) with pytest's verdict. Multipart <c>files</c> (several: test_*.py and *_test.py are the
/// tests, the rest the code under test), or <c>code</c> (text, saved as solution.py or <c>code_filename</c>) plus
/// <c>tests</c> (files), as the learning platform's handler sends them. The counts come from a pytest plugin inside the
/// sandbox: the code under test runs in the same process and could fake them, as it could fake any output of pytest;
/// a grader that must not be fooled keeps its decisive tests hidden.
/// </summary>
public static partial class EnginePytestApi
{
    public const string FilesField = "files";
    public const string CodeField = "code";
    public const string CodeFileField = "code_filename";
    public const string TestsField = "tests";
    public const string DefaultCodeFile = "solution.py";
    private const string Runner = "_executor_pytest.py";
    private const string SummaryFile = "_pytest_summary.json";

    public static IEndpointRouteBuilder MapEnginePytestApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/execute_pytest", ExecuteAsync)
            .WithName("ExecutePytest")
            .WithTags("Engine compatibility")
            .WithSummary("Runs pytest on uploaded code and tests, and answers with the verdict")
            .WithDescription("multipart/form-data: 'files' (several; test_*.py and *_test.py are the tests), or 'code' (text, saved as "
                + "solution.py or 'code_filename') with 'tests' (files). Optional: 'runtime', 'timeout_seconds', 'memory_mb'. 200 when every "
                + "test passed, 206 when some failed, 400 with 'error' for no test files, collection errors or a run that did not finish.")
            .Produces<PytestResponse>(StatusCodes.Status200OK)
            .Produces<PytestResponse>(StatusCodes.Status206PartialContent)
            .Produces<PytestResponse>(StatusCodes.Status400BadRequest)
            .DisableAntiforgery();
        return app;
    }

    public static async Task<IResult> ExecuteAsync(
        HttpContext context, SessionSubmitter submitter, IResultFiles results, IOptions<SessionServiceOptions> options, CancellationToken cancellationToken)
    {
        Submission upload;
        IReadOnlyList<string> tests;
        try
        {
            (upload, tests) = await ReadAsync(context.Request, options.Value, cancellationToken);
        }
        catch (UploadRejectedException e)
        {
            return TypedResults.Problem(e.Problem);
        }
        var submission = await submitter.SubmitAsync(context, upload, submitter.RunWait(upload), cancellationToken);
        if (submission.Problem is { } refused)
        {
            return TypedResults.Problem(refused);
        }
        if (submission.Ended is not { Result: { } run } session)
        {
            return TypedResults.Accepted($"/result/{submission.SessionId}",
                new { status = SessionStatus.StillRunning, session_id = submission.SessionId });
        }
        var counts = await SummaryAsync(session.Id, run.Files, results, cancellationToken);
        var answer = Verdict(session.Id, run, counts, tests.Count);
        return TypedResults.Json(answer.Body, statusCode: answer.StatusCode);
    }

    /// <summary>The Engine's answer for a finished run: the verdict, pytest's counts and everything it printed.</summary>
    internal static (int StatusCode, PytestResponse Body) Verdict(string sessionId, Contracts.RunResult run, PytestCounts? counts, int testFiles)
    {
        var summary = new PytestSummary(counts?.Passed ?? 0, (counts?.Failed ?? 0) + (counts?.Errors ?? 0),
            (counts?.Passed ?? 0) + (counts?.Failed ?? 0) + (counts?.Errors ?? 0) + (counts?.Skipped ?? 0), Math.Round(counts?.Duration ?? 0, 3));
        PytestResponse Body(string status, string? error = null) =>
            new(status, run.ExitCode, summary, run.Logs, sessionId) { Error = error };
        return (run.Status, run.ExitCode) switch
        {
            (Contracts.RunStatus.Completed, 0) => (StatusCodes.Status200OK, Body("success")),
            // pytest's exit code 1: tests ran and some failed.
            (Contracts.RunStatus.Failed, 1) when counts is not null && counts.CollectionErrors == 0 =>
                (StatusCodes.Status206PartialContent, Body(summary.Passed > 0 ? "partial_success" : "failure")),
            (Contracts.RunStatus.Failed, 5) => (StatusCodes.Status400BadRequest, Body("failure", $"No tests were collected from the {testFiles} test files")),
            (Contracts.RunStatus.Failed, 1 or 2 or 4) => (StatusCodes.Status400BadRequest, Body("failure", "Test collection failed: see raw_output")),
            (Contracts.RunStatus.InternalError, _) => (StatusCodes.Status500InternalServerError, Body("failure", run.Detail ?? "The run failed")),
            _ => (StatusCodes.Status400BadRequest, Body("failure", run.Detail ?? $"The tests did not finish ({run.Status})")),
        };
    }

    private static async Task<(Submission Submission, IReadOnlyList<string> Tests)> ReadAsync(
        HttpRequest request, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
        {
            throw UploadRejectedException.NotAForm("POST /execute_pytest takes multipart/form-data: 'files', or 'code' and 'tests'.");
        }
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
        {
            throw UploadRejectedException.MalformedForm(e);
        }
        var directory = new WorkingDirectory(options);
        var tests = new List<string>();
        var files = form.Files.GetFiles(FilesField);
        var code = form[CodeField].FirstOrDefault();
        if (files.Count > 0)
        {
            foreach (var file in files)
            {
                await directory.AddAsync(file, onlyFile: false, cancellationToken);
            }
            tests.AddRange(directory.Files.Select(f => f.Path).Where(IsTestFile));
        }
        else if (!string.IsNullOrEmpty(code))
        {
            var codeFile = WorkingDirectory.CheckedPath(form[CodeFileField].FirstOrDefault() is { Length: > 0 } named ? named : DefaultCodeFile);
            await directory.AddAsync(codeFile, Encoding.UTF8.GetBytes(code), onlyFile: false, cancellationToken);
            foreach (var file in form.Files.GetFiles(TestsField))
            {
                await directory.AddAsync(file, onlyFile: false, cancellationToken);
                tests.Add(WorkingDirectory.CheckedPath(file.FileName));
            }
        }
        else
        {
            throw WithError(UploadRejectedException.MissingFile(
                $"Send the code and its tests as '{FilesField}' fields, or '{CodeField}' (text) with '{TestsField}' files."), "No files provided");
        }
        tests.RemoveAll(t => !t.EndsWith(".py", StringComparison.Ordinal));
        if (tests.Count == 0)
        {
            throw WithError(UploadRejectedException.BadRequest("no-tests", "No test files",
                "None of the files is a test: name them test_*.py or *_test.py (or send them in 'tests')."), "No test files provided");
        }
        await directory.AddAsync(Runner, Encoding.UTF8.GetBytes(RunnerScript(tests)), onlyFile: false, cancellationToken);
        var fields = new Dictionary<string, StringValues>(form, StringComparer.OrdinalIgnoreCase);
        return (SubmissionRules.Complete(directory, Runner, RunOptionsReader.Read(fields, options) with { Stdin = null }, options), tests);
    }

    private static UploadRejectedException WithError(UploadRejectedException e, string error)
    {
        e.Problem.Extensions["error"] = error;
        return e;
    }

    private static bool IsTestFile(string path)
    {
        var name = path[(path.LastIndexOf('/') + 1)..];
        return TestFileName().IsMatch(name);
    }

    [GeneratedRegex(@"^(test_.*|.*_test)\.py$")]
    private static partial Regex TestFileName();

    /// <summary>
    /// Runs pytest on the test files with a plugin that counts the outcomes into out/ (handed back with the result), and
    /// exits with pytest's exit code.
    /// </summary>
    private static string RunnerScript(IReadOnlyList<string> tests) => $$"""
        import json, sys, time
        import pytest

        class Counts:
            passed = failed = errors = skipped = collection_errors = 0

            def pytest_runtest_logreport(self, report):
                if report.when == "call":
                    if report.passed: self.passed += 1
                    elif report.failed: self.failed += 1
                    else: self.skipped += 1
                elif report.failed: self.errors += 1
                elif report.skipped: self.skipped += 1

            def pytest_collectreport(self, report):
                if report.failed: self.collection_errors += 1

        counts = Counts()
        started = time.monotonic()
        code = int(pytest.main(["-p", "no:cacheprovider", "-q", "-rfE", *{{JsonSerializer.Serialize(tests)}}], plugins=[counts]))
        try:
            with open("/sandbox/out/{{SummaryFile}}", "w") as f:
                json.dump({"passed": counts.passed, "failed": counts.failed, "errors": counts.errors, "skipped": counts.skipped,
                           "collection_errors": counts.collection_errors, "duration": time.monotonic() - started}, f)
        except OSError:
            pass
        sys.exit(code)
        """;

    private static async Task<PytestCounts?> SummaryAsync(
        string sessionId, IReadOnlyList<Contracts.RunOutputFile>? files, IResultFiles results, CancellationToken cancellationToken)
    {
        if (files?.Any(f => f.Path == SummaryFile) != true || await results.ReadResultFileAsync(sessionId, SummaryFile, cancellationToken) is not { } content)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<PytestCounts>(content, CountsJson);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions CountsJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

/// <summary>What the pytest plugin counted inside the sandbox.</summary>
public sealed record PytestCounts(int Passed, int Failed, int Errors, int Skipped, int CollectionErrors, double Duration);

/// <summary>The Engine's answer to POST /execute_pytest.</summary>
public sealed record PytestResponse(
    [property: Description("success (every test passed), partial_success (some failed), failure (none passed, or the tests did not run).")]
    string Status,
    [property: Description("pytest's exit code: 0 all passed, 1 some failed, 2 interrupted, 4 usage error, 5 no tests collected.")]
    int? ExitCode,
    PytestSummary Summary,
    [property: Description("Everything pytest printed.")] string RawOutput,
    string SessionId)
{
    [Description("Why the tests did not run, when they did not.")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }
}

/// <param name="Failed">Failed tests, with those whose setup or teardown failed.</param>
/// <param name="Duration">Seconds pytest took.</param>
public sealed record PytestSummary(int Passed, int Failed, int Total, double Duration);
