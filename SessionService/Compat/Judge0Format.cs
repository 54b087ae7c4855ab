using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;

namespace Executor.Session.Compat;

/// <summary>
/// Judge0 CE 1.13's vocabulary: its fourteen statuses, and a session (or one case of a shared batch's session) written
/// as a Judge0 submission (times in seconds as strings, memory in KB, status by id, base64 when asked).
/// </summary>
public static class Judge0Format
{
    /// <summary>The surface name Judge0's sessions carry (<see cref="RunOptions.Surface"/>): read back and called back as Judge0's.</summary>
    public const string Surface = "judge0";

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

    /// <summary>A submission's status: its run's end, or how far it has got.</summary>
    public static (int Id, string Description) Status(SessionRecord session)
    {
        if (session.Result is not { } run || !SessionStatus.IsTerminal(session.Status))
        {
            return session.Status == SessionStatus.Running ? Statuses[1] : Statuses[0];
        }
        var id = run.Status switch
        {
            RunStatus.CompilationError => 6,
            _ when run.Compile is { Succeeded: false } => 6,
            RunStatus.Completed when Judge0Fields.Of(session.Options)?.ExpectedOutput is { } expected =>
                OutputComparison.Compare(expected, Stdout(session.Options, run)).Same ? 3 : 4,
            RunStatus.Completed => 3,
            RunStatus.TimedOut => 5,
            RunStatus.Failed when run.Signal is { } signal => SignalStatus(signal),
            RunStatus.Failed => 11,
            RunStatus.MemoryExceeded or RunStatus.OutputLimitExceeded => 12,
            _ => 13,
        };
        return Statuses[id - 1];
    }

    /// <summary>
    /// The status of one case of a shared batch (<see cref="Judge0Tokens"/>): its verdict in Judge0's terms. A case the
    /// sandbox could not say anything of (skipped, internal_error, or a run that ended with no results) is Internal Error.
    /// </summary>
    public static (int Id, string Description) CaseStatus(SessionRecord session, int index)
    {
        if (session.Result is not { } run || !SessionStatus.IsTerminal(session.Status))
        {
            return session.Status == SessionStatus.Running ? Statuses[1] : Statuses[0];
        }
        var result = Case(run, index);
        var id = result?.Verdict switch
        {
            Verdicts.Accepted => 3,
            Verdicts.WrongAnswer => 4,
            Verdicts.TimeLimitExceeded => 5,
            Verdicts.CompilationError => 6,
            Verdicts.RuntimeError when result.Signal is { } signal => SignalStatus(signal),
            Verdicts.RuntimeError => 11,
            Verdicts.MemoryLimitExceeded or Verdicts.OutputLimitExceeded => 12,
            _ when run.Status == RunStatus.CompilationError || run.Compile is { Succeeded: false } => 6,
            _ => 13,
        };
        return Statuses[id - 1];
    }

    /// <summary>Judge0's runtime-error statuses by the signal that ended the program.</summary>
    private static int SignalStatus(int signal) => signal switch { 11 => 7, 25 => 8, 8 => 9, 6 => 10, _ => 12 };

    private static TestResult? Case(RunResult run, int index) => run.TestResults?.FirstOrDefault(r => r.Index == index);

    /// <summary>The run's stdout as Judge0 shows it: with redirect_stderr_to_stdout, the combined output in write order.</summary>
    private static string Stdout(RunOptions options, RunResult run) => Judge0Fields.Of(options)?.RedirectStderrToStdout == true ? run.Logs : run.Stdout;

    /// <summary>
    /// The submission's fields (those asked for), texts base64-encoded when asked: the session's run, or with
    /// <paramref name="caseIndex"/> one case of a shared batch's session (its token, stdin, expected output, output,
    /// verdict, time and memory; the compile output and the rest are the session's).
    /// </summary>
    public static JsonObject Submission(SessionRecord session, SessionFile? source, IReadOnlyCollection<string> fields, bool base64, int? caseIndex = null)
    {
        var run = SessionStatus.IsTerminal(session.Status) ? session.Result : null;
        var options = session.Options;
        var judge0 = Judge0Fields.Of(options);
        var view = caseIndex is { } index ? CaseView(session, run, index) : RunView(session, run, judge0);
        JsonNode? Text(string? value) => value is null ? null : base64 ? Convert.ToBase64String(Encoding.UTF8.GetBytes(value)) : value;
        string? Seconds(double? ms) => ms is { } v ? (v / 1000).ToString("0.000", CultureInfo.InvariantCulture) : null;
        var all = new Dictionary<string, Func<JsonNode?>>(StringComparer.Ordinal)
        {
            ["token"] = () => view.Token,
            ["source_code"] = () => Text(source is null ? null : Encoding.UTF8.GetString(source.Content)),
            ["language_id"] = () => judge0?.LanguageId,
            ["stdin"] = () => Text(view.Stdin),
            ["expected_output"] = () => Text(view.ExpectedOutput),
            ["stdout"] = () => Text(view.Stdout is { Length: > 0 } stdout ? stdout : null),
            ["stderr"] = () => Text(view.Stderr is { Length: > 0 } stderr ? stderr : null),
            ["compile_output"] = () => Text(run?.Compile?.Output is { Length: > 0 } compiled ? compiled : null),
            ["message"] = () => Text(view.Message),
            ["exit_code"] = () => view.Signal is null ? view.ExitCode : null,
            ["exit_signal"] = () => view.Signal,
            ["status"] = () => new JsonObject { ["id"] = view.Status.Id, ["description"] = view.Status.Description },
            ["status_id"] = () => view.Status.Id,
            ["created_at"] = () => session.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            ["finished_at"] = () => session.FinishedAt?.ToString("O", CultureInfo.InvariantCulture),
            ["time"] = () => Seconds(view.CpuTimeMs),
            ["wall_time"] = () => Seconds(view.WallTimeMs),
            ["memory"] = () => view.MemoryBytes is { } bytes ? (JsonNode)(bytes / 1024) : null,
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

    /// <summary>What a submission shows of its run (or of its case): the fields that differ between the two.</summary>
    private sealed record View(
        string Token, (int Id, string Description) Status, string? Stdin, string? ExpectedOutput, string? Stdout, string? Stderr, string? Message,
        int? ExitCode, int? Signal, double? CpuTimeMs, double? WallTimeMs, long? MemoryBytes);

    private static View RunView(SessionRecord session, RunResult? run, Judge0Fields? judge0) => new(
        session.Id,
        Status(session),
        session.Options.Stdin,
        judge0?.ExpectedOutput,
        run is null ? null : Stdout(session.Options, run),
        run is null || judge0?.RedirectStderrToStdout == true ? null : run.Stderr,
        run is null ? null : Message(run),
        run?.ExitCode,
        run?.Signal,
        run?.CpuTimeMs,
        run?.DurationMs,
        run?.PeakMemoryBytes);

    private static View CaseView(SessionRecord session, RunResult? run, int index)
    {
        var test = session.Options.Grading?.Cases.ElementAtOrDefault(index);
        var result = run is null ? null : Case(run, index);
        return new View(
            Judge0Tokens.Of(session.Id, index),
            CaseStatus(session, index),
            test?.Stdin,
            test?.ExpectedOutput,
            result?.Stdout,
            result?.Stderr,
            run is null ? null : CaseMessage(run, result),
            result?.ExitCode,
            result?.Signal,
            result?.CpuTimeMs,
            result?.TimeMs,
            result?.MemoryBytes);
    }

    private static string? Message(RunResult run) => run.Status switch
    {
        RunStatus.Completed or RunStatus.CompilationError => null,
        RunStatus.Failed when run.Signal is { } signal => $"Killed by signal {signal}",
        RunStatus.Failed => $"Exited with error status {run.ExitCode}",
        _ => run.Detail,
    };

    private static string? CaseMessage(RunResult run, TestResult? result) => result?.Verdict switch
    {
        Verdicts.Accepted or Verdicts.WrongAnswer or Verdicts.CompilationError => null,
        Verdicts.RuntimeError when result.Signal is { } signal => $"Killed by signal {signal}",
        Verdicts.RuntimeError => $"Exited with error status {result.ExitCode}",
        Verdicts.TimeLimitExceeded => "Time limit exceeded",
        Verdicts.MemoryLimitExceeded => "Memory limit exceeded",
        Verdicts.OutputLimitExceeded => "Output limit exceeded",
        _ when run.Status == RunStatus.CompilationError => null,
        _ => run.Detail ?? "The sandbox did not say how this case ended",
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
/// A Judge0 language: its id and name as Judge0 CE gives them, the source file a submission's source_code becomes, and
/// the commands GET /languages/{id} shows (those of the built-in runtime; %s is where compiler_options go). The Python
/// ids run in their fixed runtimes; the others in the runtime of that language some host offers (the first by id), and
/// are listed only while one does.
/// </summary>
public sealed record Judge0Language(int Id, string Language, string Name, string? CompileCmd, string RunCmd, string? Runtime = null)
{
    public const int PythonId = 71;
    public const int Python311Id = 92;

    /// <summary>The data runtime, under an id of Executor's own (Judge0 CE has no such language).</summary>
    public const int PythonDataId = 1001;

    /// <summary>Judge0 CE's ids for the languages graders' students write. {0} in a name is the version the host probed.</summary>
    public static IReadOnlyList<Judge0Language> All { get; } =
    [
        new(PythonId, SourceLanguages.Python, "Python (3.11.2)", null, "python3 main.py", "python-3.11"),
        new(Python311Id, SourceLanguages.Python, "Python (3.11.2)", null, "python3 main.py", "python-3.11"),
        new(PythonDataId, SourceLanguages.Python, "Python (3.11.2) with numpy, pandas, scipy, matplotlib, pytest", null, "python3 main.py", "python-3.11-data"),
        new(50, SourceLanguages.C, "C (GCC {0})", "gcc -O2 -pipe -std=gnu17 -o main %s main.c -lm", "./main"),
        new(54, SourceLanguages.Cpp, "C++ (GCC {0})", "g++ -O2 -pipe -std=gnu++17 -o main %s main.cpp", "./main"),
        new(62, SourceLanguages.Java, "Java (OpenJDK {0})", "javac -encoding UTF-8 -d . %s Main.java", "java -cp . Main"),
        new(63, SourceLanguages.JavaScript, "JavaScript (Node.js {0})", null, "node main.js"),
        new(46, SourceLanguages.Bash, "Bash ({0})", null, "bash main.sh"),
    ];

    /// <summary>The file source_code is written to: main.py, main.c, main.cpp, Main.java, main.js or main.sh.</summary>
    public string SourceFile => SourceLanguages.DefaultFile(Language);

    /// <summary>The runtime it runs in among those some host offers, with its name; null when none is offered.</summary>
    public (string Runtime, string Name)? Offered(IReadOnlyList<RuntimeListing> runtimes)
    {
        if (Runtime is not null)
        {
            return (Runtime, Name); // Judge0's own Python ids: always listed, as before there were other languages
        }
        return runtimes.Where(r => r.Available && r.Language == Language).OrderBy(r => r.Id, StringComparer.Ordinal).FirstOrDefault() is { } runtime
            ? (runtime.Id, string.Format(CultureInfo.InvariantCulture, Name, runtime.LanguageVersion ?? runtime.Version))
            : null;
    }

    public static Judge0Language? Of(int id) => All.FirstOrDefault(l => l.Id == id);
}

/// <summary>
/// The tokens of a batch that shared one preparation: one session judging every submission as a test case, each
/// submission's token that session's id and its case's index ("{session}-{index}"). A session id alone is never such a
/// token, and no session id holds a dash, so the two kinds cannot be mistaken.
/// </summary>
public static class Judge0Tokens
{
    public static string Of(string sessionId, int index) => string.Create(CultureInfo.InvariantCulture, $"{sessionId}-{index}");

    /// <summary>The session a token names, and its case for a token of a shared batch.</summary>
    public static (string SessionId, int? Case) Parse(string token)
    {
        var dash = token.LastIndexOf('-');
        return dash > 0 && int.TryParse(token.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? (token[..dash], index)
            : (token, null);
    }
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
