using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Executor.Contracts;
using Executor.Session.Uploads;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Executor.Session.Compat;

/// <summary>
/// Piston's v2 API (engineer-man/piston), as its clients call it: GET /api/v2/runtimes and a synchronous
/// POST /api/v2/execute (also under /api/v2/piston/), with Piston's request, response, status letters and
/// <c>400 {"message"}</c> errors. The body is read as JSON whatever its Content-Type (piston-client sends none). Runs go
/// through the same submission as POST /execute: the same keys, quotas and ownership. Every language a host offers is
/// listed under Piston's name and aliases; C, C++ and Java answer with Piston's compile stage.
/// </summary>
public static class PistonApi
{
    private static readonly string[] PythonAliases = ["py", "py3", "python3", "python3.11"];

    /// <summary>Piston's names and aliases of the languages besides Python (its package set's, by runtime language), and whether they compile.</summary>
    private static readonly Dictionary<string, (string Name, string[] Aliases, bool Compiles)> Names = new(StringComparer.Ordinal)
    {
        [SourceLanguages.C] = ("c", ["gcc"], true),
        [SourceLanguages.Cpp] = ("c++", ["cpp", "g++"], true),
        [SourceLanguages.Java] = ("java", [], true),
        [SourceLanguages.JavaScript] = ("javascript", ["node-javascript", "node-js", "js", "node"], false),
        [SourceLanguages.Bash] = ("bash", ["sh"], false),
    };

    public static IEndpointRouteBuilder MapPistonApi(this IEndpointRouteBuilder app)
    {
        foreach (var prefix in new[] { "/api/v2", "/api/v2/piston" })
        {
            var api = app.MapGroup(prefix).WithTags("Piston v2");
            api.MapGet("/runtimes", RuntimesAsync)
                .WithName(prefix.EndsWith("piston", StringComparison.Ordinal) ? "PistonRuntimesAlias" : "PistonRuntimes")
                .WithSummary("Piston: the languages and versions scripts can run in")
                .AllowAnonymous();
            api.MapPost("/execute", ExecuteAsync)
                .WithName(prefix.EndsWith("piston", StringComparison.Ordinal) ? "PistonExecuteAlias" : "PistonExecute")
                .WithSummary("Piston: runs files and answers with the run's output (synchronous)")
                .WithDescription("Piston v2's request: language, version (exact, *, or a semver range such as 3.x), files [{name, content, "
                    + "encoding: utf8|base64|hex}] (the first runs; unnamed, it is main.py, main.c, main.cpp, Main.java, main.js or main.sh), "
                    + "stdin, args, run_timeout and compile_timeout (ms), run_memory_limit and compile_memory_limit (bytes; -1 the default). "
                    + "C, C++ and Java answer with a compile stage too; a program that did not compile has no run stage. Both stages run in "
                    + "one sandbox, whose memory limit is the larger of the two.")
                .Produces<PistonExecuteResponse>()
                .Produces<PistonError>(StatusCodes.Status400BadRequest)
                .DisableAntiforgery();
        }
        return app;
    }

    public static async Task<IResult> RuntimesAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken) =>
        TypedResults.Json((await runtimes.ListAsync(cancellationToken)).Where(r => r.Available).Select(Describe).ToList(), Json);

    /// <summary>
    /// A runtime under Piston's name: the default one (Python) under its language with Python's aliases, the other
    /// languages under Piston's names and aliases (c, c++, java, javascript, bash), any other runtime under its id. The
    /// runtime's id is an alias too.
    /// </summary>
    private static PistonRuntime Describe(RuntimeListing runtime) => runtime.Default
        ? new PistonRuntime(runtime.Language, FullVersion(runtime), [.. PythonAliases, runtime.Id], runtime.Id)
        : Names.TryGetValue(runtime.Language, out var named)
            ? new PistonRuntime(named.Name, FullVersion(runtime), [.. named.Aliases, runtime.Id], runtime.Id)
            : new PistonRuntime(runtime.Id, FullVersion(runtime), [], runtime.Id);

    private static string FullVersion(RuntimeListing runtime) => runtime.LanguageVersion ?? runtime.Version + ".0";

    public static async Task<IResult> ExecuteAsync(
        HttpContext context, SessionSubmitter submitter, RuntimeDirectory runtimes, IOptions<SessionServiceOptions> options,
        CancellationToken cancellationToken)
    {
        JsonElement body;
        try
        {
            // Whatever the Content-Type says: piston-client posts its JSON as text/plain.
            using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: cancellationToken);
            body = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return Error($"Request body is not valid JSON: {e.Message}");
        }
        if (body.ValueKind != JsonValueKind.Object)
        {
            return Error("Request body must be a JSON object");
        }
        var language = Text(body, "language");
        var version = Text(body, "version") ?? "*";
        if (string.IsNullOrEmpty(language))
        {
            return Error("language is required as a string");
        }
        var runtime = Match((await runtimes.ListAsync(cancellationToken)).Where(r => r.Available).ToList(), language, version);
        if (runtime is null)
        {
            return Error($"{language}-{version} runtime is unknown");
        }
        if (!body.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array || files.GetArrayLength() == 0)
        {
            return Error("files is required as an array");
        }

        var limits = options.Value;
        var timeout = Limit(body, "run_timeout", 1000.0, limits.MaxTimeoutSeconds, "run_timeout");
        var memory = Limit(body, "run_memory_limit", 1024.0 * 1024, limits.MaxMemoryMb, "run_memory_limit");
        var compileTimeout = Limit(body, "compile_timeout", 1000.0, limits.MaxTimeoutSeconds, "compile_timeout");
        var compileMemory = Limit(body, "compile_memory_limit", 1024.0 * 1024, limits.MaxMemoryMb, "compile_memory_limit");
        if ((timeout.Error ?? memory.Error ?? compileTimeout.Error ?? compileMemory.Error) is { } limitError)
        {
            return Error(limitError);
        }
        // piston-client sends its compile limits for every language: they count only where there is a compile stage (a
        // key's timeout ceiling holds for it). That stage runs in the run's sandbox, which gets the larger memory limit.
        var compiles = Names.TryGetValue(runtime.Language, out var named) && named.Compiles;
        var sandboxMemory = compiles && compileMemory.Value is { } forCompile ? Math.Max(forCompile, memory.Value ?? runtime.MemoryMb) : memory.Value;
        Submission upload;
        try
        {
            var directory = await JsonUploadReader.DirectoryAsync(JsonUploadReader.Files(null, Files(files, runtime.Language)), limits, cancellationToken);
            var args = body.TryGetProperty("args", out var given) && given.ValueKind == JsonValueKind.Array
                ? [.. given.EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString()! : a.GetRawText())]
                : Array.Empty<string>();
            upload = SubmissionRules.Complete(directory, EntryName(files[0], 0, runtime.Language),
                new RunOptions(args, Text(body, "stdin") ?? "", timeout.Value, sandboxMemory, Runtime: runtime.Id,
                    Build: compiles && compileTimeout.Value is { } seconds ? new BuildOptions(CompileTimeoutSeconds: seconds) : null), limits);
        }
        catch (UploadRejectedException e)
        {
            return Error(e.Problem.Detail ?? e.Problem.Title ?? "Invalid request");
        }

        var wait = submitter.RunWait(upload);
        var submission = await submitter.SubmitAsync(context, upload, wait, cancellationToken);
        if (submission.Problem is { } refused)
        {
            return TypedResults.Json(new PistonError(refused.Detail ?? refused.Title ?? "Refused"), Json, statusCode: refused.Status ?? 400);
        }
        if (submission.Ended is not { Result: { } run })
        {
            return TypedResults.Json(new PistonError($"The run did not finish within {wait.TotalSeconds:0} s; its result will be at "
                + $"/result/{submission.SessionId}"), Json, statusCode: StatusCodes.Status504GatewayTimeout);
        }
        // As Piston: a program that did not compile has a compile stage and no run stage.
        var compiled = run.Status != RunStatus.CompilationError && run.Compile?.Succeeded != false;
        return TypedResults.Json(new PistonExecuteResponse(Describe(runtime).Language, FullVersion(runtime), compiled ? Stage(run) : null,
            run.Compile is { } compile ? CompileStage(compile) : null), Json);
    }

    /// <summary>A compiled language's compile stage as Piston's: the compiler's output (on stderr, where compilers write) and its end.</summary>
    internal static PistonStage CompileStage(CompileOutcome compile)
    {
        var (status, message) = compile.Status switch
        {
            "ok" => ((string?)null, (string?)null),
            "failed" when compile.Signal is not null => ("SG", $"Killed by signal {SignalName(compile.Signal)}"),
            "failed" => ("RE", $"Exited with code {compile.ExitCode}"),
            "timed_out" => ("TO", "Timeout"),
            "output_limit_exceeded" => ("OL", "stdout length exceeded"),
            var other => ("XX", other),
        };
        return new PistonStage("", compile.Output, compile.Output, compile.Signal is null ? compile.ExitCode : null, SignalName(compile.Signal), message, status,
            (long)Math.Round(compile.CpuTimeMs ?? 0), (long)Math.Round(compile.DurationMs), 0);
    }

    /// <summary>A finished run as Piston's run stage.</summary>
    internal static PistonStage Stage(RunResult run)
    {
        var (status, message) = run.Status switch
        {
            RunStatus.Completed => ((string?)null, (string?)null),
            RunStatus.TimedOut => ("TO", "Timeout"),
            RunStatus.OutputLimitExceeded when run.StderrTruncated && !run.StdoutTruncated => ("EL", "stderr length exceeded"),
            RunStatus.OutputLimitExceeded => ("OL", "stdout length exceeded"),
            RunStatus.MemoryExceeded => ("SG", "Memory limit exceeded"),
            RunStatus.Failed when run.Signal is not null => ("SG", $"Killed by signal {SignalName(run.Signal)}"),
            RunStatus.Failed => ("RE", $"Exited with code {run.ExitCode}"),
            _ => ("XX", run.Detail ?? "Internal error"),
        };
        return new PistonStage(run.Stdout, run.Stderr, run.Logs, run.Signal is null ? run.ExitCode : null, SignalName(run.Signal), message, status,
            (long)Math.Round(run.CpuTimeMs ?? 0), (long)Math.Round(run.DurationMs), run.PeakMemoryBytes ?? 0);
    }

    private static string? SignalName(int? signal) => signal switch
    {
        null => null,
        9 => "SIGKILL",
        15 => "SIGTERM",
        11 => "SIGSEGV",
        6 => "SIGABRT",
        2 => "SIGINT",
        _ => $"SIG{signal}",
    };

    /// <summary>A runtime by Piston's rules: the language or one of its aliases, the newest version the range allows.</summary>
    internal static RuntimeListing? Match(IReadOnlyList<RuntimeListing> runtimes, string language, string version) =>
        runtimes.Where(r => Describe(r) is var d && (d.Language == language || d.Aliases.Contains(language, StringComparer.Ordinal)))
            .Where(r => Satisfies(FullVersion(r), version))
            .OrderByDescending(r => Version.TryParse(FullVersion(r), out var v) ? v : new Version(0, 0))
            .FirstOrDefault();

    /// <summary>
    /// The semver ranges Piston's clients send: "*" or "x", an exact version, a partial one meaning every version it
    /// prefixes ("3", "3.11", "3.x", "3.11.*"), and ^, ~, &gt;= and &lt; on a full or partial version.
    /// </summary>
    public static bool Satisfies(string version, string range)
    {
        range = range.Trim();
        if (range is "" or "*" or "x" or "X" or "latest")
        {
            return true;
        }
        if (!TryParts(version, out var have))
        {
            return false;
        }
        if (range.StartsWith(">=", StringComparison.Ordinal))
        {
            return TryParts(range[2..], out var min) && Compare(have, min) >= 0;
        }
        if (range.StartsWith('<'))
        {
            return TryParts(range[1..], out var max) && Compare(have, max) < 0;
        }
        if (range.StartsWith('^') || range.StartsWith('~'))
        {
            if (!TryParts(range[1..], out var low) || Compare(have, low) < 0)
            {
                return false;
            }
            // ^3.10 allows 3.x from 3.10 (same major); ~3.11 allows 3.11.x (same minor).
            var same = range[0] == '^' ? 1 : Math.Min(2, range[1..].Split('.').Length);
            return have.Take(same).SequenceEqual(low.Take(same));
        }
        var wanted = range.Split('.');
        return wanted.Length <= 3 && wanted.Select((part, i) => part is "x" or "X" or "*"
            || (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n == have[i])).All(ok => ok);
    }

    private static bool TryParts(string version, out int[] parts)
    {
        var pieces = version.Trim().Split('.');
        parts = new int[3];
        if (pieces.Length is 0 or > 3)
        {
            return false;
        }
        for (var i = 0; i < pieces.Length; i++)
        {
            if (!int.TryParse(pieces[i], NumberStyles.None, CultureInfo.InvariantCulture, out parts[i]))
            {
                return false;
            }
        }
        return true;
    }

    private static int Compare(int[] a, int[] b)
    {
        for (var i = 0; i < 3; i++)
        {
            if (a[i] != b[i])
            {
                return a[i].CompareTo(b[i]);
            }
        }
        return 0;
    }

    /// <summary>Piston's files as the native JSON's: names given (the first runs, so it must be a file of the language), encodings kept.</summary>
    private static List<(string? Name, string Content, string Encoding)> Files(JsonElement files, string language) =>
    [
        .. files.EnumerateArray().Select((file, i) => (
            (string?)EntryName(file, i, language),
            file.ValueKind == JsonValueKind.Object && file.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String
                ? c.GetString()!
                : throw JsonUploadReader.BadJson("each of 'files' is an object with a string 'content' (and a 'name')"),
            Text(file, "encoding") ?? "utf8")),
    ];

    /// <summary>
    /// A file's name: as given, except that the first (the program) gets the language's extension when it lacks one (as
    /// Piston's compile scripts rename it), and an unnamed one the language's default name (main.c, Main.java...; for
    /// the others, file1.c...). Java runs the class that declares main whatever its file is called.
    /// </summary>
    private static string EntryName(JsonElement file, int index, string language)
    {
        var name = file.ValueKind == JsonValueKind.Object ? Text(file, "name") : null;
        var standard = SourceLanguages.DefaultFile(language);
        var extension = Path.GetExtension(standard);
        if (string.IsNullOrWhiteSpace(name))
        {
            return index == 0 ? standard : $"file{index}{extension}";
        }
        return index == 0 && !SourceLanguages.Fits(language, name) ? name + extension : name;
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A Piston limit (ms or bytes; absent or -1: the default) in our unit, or Piston's message when it is too high.</summary>
    private static (int? Value, string? Error) Limit(JsonElement body, string name, double unit, int max, string field)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var raw))
        {
            return (null, $"{field} must be a number");
        }
        if (raw < 0)
        {
            return (null, null);
        }
        var converted = (int)Math.Max(1, Math.Ceiling(raw / unit));
        return converted > max ? (null, $"{field} cannot exceed the configured limit of {max * unit:0}") : (converted, null);
    }

    private static JsonHttpResult<PistonError> Error(string message) => TypedResults.Json(new PistonError(message), Json, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>Piston's own field names (snake_case), whatever the service's defaults.</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}

public sealed record PistonRuntime(string Language, string Version, IReadOnlyList<string> Aliases, string Runtime);

public sealed record PistonError(string Message);

/// <param name="Version">"3.11.2", or "*" or a semver range such as "3.x".</param>
/// <param name="RunTimeout">Milliseconds; -1 for the default.</param>
/// <param name="RunMemoryLimit">Bytes; -1 for the default.</param>
/// <param name="CompileTimeout">Milliseconds; -1 for the default (C, C++ and Java).</param>
/// <param name="CompileMemoryLimit">Bytes; -1 for the default. Both stages share one sandbox: it gets the larger limit.</param>
public sealed record PistonExecuteRequest(
    string Language,
    string Version,
    IReadOnlyList<PistonFile> Files,
    string? Stdin,
    IReadOnlyList<string>? Args,
    int? RunTimeout,
    long? RunMemoryLimit,
    int? CompileTimeout = null,
    long? CompileMemoryLimit = null);

public sealed record PistonFile(string? Name, string Content, string? Encoding);

/// <param name="Run">The run stage; absent when the program did not compile.</param>
/// <param name="Compile">The compile stage of a compiled language (C, C++, Java); absent for the others.</param>
public sealed record PistonExecuteResponse(
    string Language,
    string Version,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PistonStage? Run,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PistonStage? Compile = null);

/// <param name="Output">stdout and stderr together, in the order written.</param>
/// <param name="Code">The exit code; null when a signal ended it.</param>
/// <param name="Signal">e.g. SIGKILL; null when it exited.</param>
/// <param name="Status">null when it exited 0; RE (runtime error), SG (signal), TO (timeout), OL/EL (stdout/stderr too long), XX (internal).</param>
/// <param name="CpuTime">Milliseconds.</param>
/// <param name="WallTime">Milliseconds.</param>
/// <param name="Memory">Peak bytes.</param>
public sealed record PistonStage(
    string Stdout, string Stderr, string Output, int? Code, string? Signal, string? Message, string? Status, long CpuTime, long WallTime, long Memory);
