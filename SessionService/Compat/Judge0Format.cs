using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.Session.Compat;

/// <summary>
/// Judge0 CE 1.13's vocabulary: its languages (Python 3 as 71 and 92), its fourteen statuses, and a session written as
/// a Judge0 submission (times in seconds as strings, memory in KB, status by id, base64 when asked).
/// </summary>
public static class Judge0Format
{
    /// <summary>The surface name Judge0's sessions carry (<see cref="RunOptions.Surface"/>): read back and called back as Judge0's.</summary>
    public const string Surface = "judge0";

    public const int PythonId = 71;
    public const int Python311Id = 92;

    /// <summary>The data runtime, under an id of Executor's own (Judge0 CE has no such language).</summary>
    public const int PythonDataId = 1001;

    public static readonly IReadOnlyList<(int Id, string Description)> Statuses =
    [
        (1, "In Queue"), (2, "Processing"), (3, "Accepted"), (4, "Wrong Answer"), (5, "Time Limit Exceeded"), (6, "Compilation Error"),
        (7, "Runtime Error (SIGSEGV)"), (8, "Runtime Error (SIGXFSZ)"), (9, "Runtime Error (SIGFPE)"), (10, "Runtime Error (SIGABRT)"),
        (11, "Runtime Error (NZEC)"), (12, "Runtime Error (Other)"), (13, "Internal Error"), (14, "Exec Format Error"),
    ];

    /// <summary>The fields a submission shows when the request names none (Judge0's defaults).</summary>
    public static readonly string[] DefaultFields = ["token", "stdout", "time", "memory", "stderr", "compile_output", "message", "status"];

    public static readonly string[] AllFields =
    [
        "token", "source_code", "language_id", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message", "exit_code",
        "exit_signal", "status", "status_id", "created_at", "finished_at", "time", "wall_time", "memory", "cpu_time_limit",
        "wall_time_limit", "memory_limit", "callback_url", "command_line_arguments", "redirect_stderr_to_stdout",
    ];

    /// <summary>The runtime a Judge0 language id runs in; null for one Executor does not offer.</summary>
    public static string? RuntimeOf(int languageId) => languageId switch
    {
        PythonId or Python311Id => "python-3.11",
        PythonDataId => "python-3.11-data",
        _ => null,
    };

    public static (int Id, string Description) Status(SessionRecord session)
    {
        if (session.Result is not { } run || !SessionStatus.IsTerminal(session.Status))
        {
            return session.Status == SessionStatus.Running ? Statuses[1] : Statuses[0];
        }
        var id = run.Status switch
        {
            RunStatus.Completed when Judge0Fields.Of(session.Options)?.ExpectedOutput is { } expected => Same(Stdout(session.Options, run), expected) ? 3 : 4,
            RunStatus.Completed => 3,
            RunStatus.TimedOut => 5,
            RunStatus.Failed when run.Signal is { } signal => signal switch { 11 => 7, 25 => 8, 8 => 9, 6 => 10, _ => 12 },
            RunStatus.Failed => 11,
            RunStatus.MemoryExceeded or RunStatus.OutputLimitExceeded => 12,
            _ => 13,
        };
        return Statuses[id - 1];
    }

    /// <summary>The run's stdout as Judge0 shows it: with redirect_stderr_to_stdout, the combined output in write order.</summary>
    private static string Stdout(RunOptions options, RunResult run) => Judge0Fields.Of(options)?.RedirectStderrToStdout == true ? run.Logs : run.Stdout;

    /// <summary>Judge0 compares output and expected output without their trailing whitespace.</summary>
    private static bool Same(string stdout, string expected) =>
        string.Equals(stdout.TrimEnd(), expected.TrimEnd(), StringComparison.Ordinal);

    /// <summary>The submission's fields (those asked for), texts base64-encoded when asked.</summary>
    public static JsonObject Submission(SessionRecord session, SessionFile? source, IReadOnlyCollection<string> fields, bool base64)
    {
        var run = SessionStatus.IsTerminal(session.Status) ? session.Result : null;
        var (statusId, description) = Status(session);
        var options = session.Options;
        var judge0 = Judge0Fields.Of(options);
        JsonNode? Text(string? value) => value is null ? null : base64 ? Convert.ToBase64String(Encoding.UTF8.GetBytes(value)) : value;
        string? Seconds(double? ms) => ms is { } v ? (v / 1000).ToString("0.000", CultureInfo.InvariantCulture) : null;
        var all = new Dictionary<string, Func<JsonNode?>>(StringComparer.Ordinal)
        {
            ["token"] = () => session.Id,
            ["source_code"] = () => Text(source is null ? null : Encoding.UTF8.GetString(source.Content)),
            ["language_id"] = () => judge0?.LanguageId,
            ["stdin"] = () => Text(options.Stdin),
            ["expected_output"] = () => Text(judge0?.ExpectedOutput),
            ["stdout"] = () => Text(run is null || Stdout(options, run) is not { Length: > 0 } stdout ? null : stdout),
            ["stderr"] = () => Text(run is null || judge0?.RedirectStderrToStdout == true || run.Stderr.Length == 0 ? null : run.Stderr),
            ["compile_output"] = () => null,
            ["message"] = () => Text(run is null ? null : Message(run)),
            ["exit_code"] = () => run?.Signal is null ? run?.ExitCode : null,
            ["exit_signal"] = () => run?.Signal,
            ["status"] = () => new JsonObject { ["id"] = statusId, ["description"] = description },
            ["status_id"] = () => statusId,
            ["created_at"] = () => session.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            ["finished_at"] = () => session.FinishedAt?.ToString("O", CultureInfo.InvariantCulture),
            ["time"] = () => Seconds(run?.CpuTimeMs),
            ["wall_time"] = () => Seconds(run?.DurationMs),
            ["memory"] = () => run?.PeakMemoryBytes is { } bytes ? (JsonNode)(bytes / 1024) : null,
            ["cpu_time_limit"] = () => options.TimeoutSeconds,
            ["wall_time_limit"] = () => options.TimeoutSeconds,
            ["memory_limit"] = () => options.MemoryMb is { } mb ? (JsonNode)(mb * 1024) : null,
            ["callback_url"] = () => options.CallbackUrl,
            ["command_line_arguments"] = () => options.Args.Count == 0 ? null : string.Join(' ', options.Args),
            ["redirect_stderr_to_stdout"] = () => judge0?.RedirectStderrToStdout ?? false,
        };
        var submission = new JsonObject();
        foreach (var field in fields)
        {
            if (all.TryGetValue(field, out var value))
            {
                submission[field] = value();
            }
        }
        return submission;
    }

    private static string? Message(RunResult run) => run.Status switch
    {
        RunStatus.Completed => null,
        RunStatus.Failed when run.Signal is { } signal => $"Killed by signal {signal}",
        RunStatus.Failed => $"Exited with error status {run.ExitCode}",
        _ => run.Detail,
    };

    /// <summary>The fields a request asks for: "*" for all, a comma-separated list, or Judge0's defaults.</summary>
    public static IReadOnlyCollection<string> Fields(string? requested) => requested?.Trim() switch
    {
        null or "" => DefaultFields,
        "*" => AllFields,
        var list => [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(AllFields.Contains).Distinct()],
    };
}

/// <summary>
/// What a Judge0 submission keeps beyond the core's options (<see cref="RunOptions.SurfaceData"/>): its language, the
/// output it expects (Accepted or Wrong Answer by it) and whether its stdout is the combined output.
/// </summary>
public sealed record Judge0Fields(int LanguageId, string? ExpectedOutput, bool RedirectStderrToStdout)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The options of a session submitted through Judge0's API, carrying these fields.</summary>
    public RunOptions On(RunOptions options) =>
        options with { Surface = Judge0Format.Surface, SurfaceData = JsonSerializer.SerializeToElement(this, Json) };

    /// <summary>The fields of a session submitted through Judge0's API; null for a session submitted otherwise.</summary>
    public static Judge0Fields? Of(RunOptions options) =>
        options.Surface == Judge0Format.Surface && options.SurfaceData is { } data ? data.Deserialize<Judge0Fields>(Json) : null;
}

/// <summary>Judge0's callback: a PUT of the submission as Judge0 writes it, with its default fields.</summary>
public sealed class Judge0CallbackFormat : ICallbackFormat
{
    public string Surface => Judge0Format.Surface;

    public HttpMethod Method => HttpMethod.Put;

    public byte[] Body(SessionRecord session) =>
        JsonSerializer.SerializeToUtf8Bytes(Judge0Format.Submission(session, null, Judge0Format.DefaultFields, base64: false));
}
