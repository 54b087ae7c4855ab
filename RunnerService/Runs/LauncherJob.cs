using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Executor.Contracts;
using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// The job the launcher reads from stdin: one JSON header line, then the raw bytes of each file in order,
/// then the user's stdin. Sizes in the header frame the bytes, so no content is ever escaped or parsed.
/// </summary>
public static class LauncherJob
{
    /// <param name="egress">For a run with egress: the launcher relays its loopback port to the run's proxy (frames.md).</param>
    /// <param name="language">
    /// The runtime: one that runs a command (C, Java...) gets it in the header, compile stage and all (frames.md, section
    /// 8); Python's job is the same bytes as ever.
    /// </param>
    public static byte[] Encode(RunJob request, SandboxLimits limits, LauncherEgress? egress = null, LanguageRuntime? language = null,
        Stages? stages = null)
    {
        // A graded job's input is its cases', each after the files in order; the job's own stdin is empty then.
        var cases = request.Grading?.Cases;
        var stdin = cases is null ? Encoding.UTF8.GetBytes(request.Stdin ?? "") : [];
        var caseInputs = cases?.Select(c => Encoding.UTF8.GetBytes(c.Stdin)).ToList();
        stages ??= Stages.For(request, limits, language, null);
        var header = new Header(
            request.Entrypoint,
            request.Args,
            [.. request.Files.Select(f => new HeaderFile(f.Path, f.Content.Length))],
            stdin.Length,
            (long)limits.Timeout.TotalMilliseconds,
            limits.OutputLimitBytes,
            request.Interactive,
            new OutFiles(limits.OutFilesMaxCount, limits.OutFilesMaxBytes))
        {
            Egress = egress,
            Command = language is { RunsCommand: true }
                ? new CommandHeader(language.CompileCommand(request.Build?.CompilerOptions), language.RunCommand(request.Args),
                    stages.CompileTimeoutMs, stages.CompileOutputLimitBytes)
                : null,
            Cases = caseInputs is null ? null : [.. caseInputs.Select((input, i) => new CaseHeader(input.Length, stages.CaseTimeoutsMs[i]))],
            CaseOutputLimitBytes = caseInputs is null ? null : stages.CaseOutputLimitBytes,
        };

        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(writer, header, LauncherJsonContext.Default.Header);
        }
        buffer.WriteByte((byte)'\n');
        foreach (var file in request.Files)
        {
            buffer.Write(file.Content);
        }
        foreach (var input in caseInputs ?? [])
        {
            buffer.Write(input);
        }
        buffer.Write(stdin);
        return buffer.ToArray();
    }

    /// <summary>
    /// The time a job's stages have: the compile stage (a compiled language's; zero otherwise), then one run, or each
    /// test case (its own limit, or the run's). <see cref="Total"/> bounds the whole job from outside.
    /// </summary>
    /// <param name="CaseOutputLimitBytes">Each case's own output limit (stdout and stderr each): the run's.</param>
    public sealed record Stages(long CompileTimeoutMs, long CompileOutputLimitBytes, IReadOnlyList<long> CaseTimeoutsMs, TimeSpan Total, long CaseOutputLimitBytes)
    {
        public static Stages For(RunJob request, SandboxLimits limits, LanguageRuntime? language, SandboxOptions? options)
        {
            var compiles = language?.Compile is not null;
            var compileSeconds = compiles ? request.Build?.CompileTimeoutSeconds ?? options?.CompileTimeoutSeconds ?? LimitDefaults.CompileTimeoutSeconds : 0;
            var compileMs = (long)(compileSeconds * 1000);
            List<long> cases = request.Grading is { } grading
                ? [.. grading.Cases.Select(c => (long)((c.TimeoutSeconds ?? limits.TimeoutSeconds) * 1000))]
                : [];
            var runMs = request.Grading is null ? (long)limits.Timeout.TotalMilliseconds : cases.Sum();
            return new Stages(compileMs, options?.CompileOutputLimitBytes ?? 64 * 1024, cases, TimeSpan.FromMilliseconds(compileMs + runMs), limits.OutputLimitBytes);
        }
    }

    internal sealed record Header(
        string Entrypoint,
        IReadOnlyList<string> Args,
        IReadOnlyList<HeaderFile> Files,
        long StdinSize,
        long TimeoutMs,
        long OutputLimitBytes,
        bool Interactive,
        OutFiles OutFiles)
    {
        /// <summary>Absent for a run without egress: its header's bytes are those of before egress existed.</summary>
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public LauncherEgress? Egress { get; init; }

        /// <summary>A language that runs a command (frames.md, section 8); absent for Python, run in the booted launcher.</summary>
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public CommandHeader? Command { get; init; }

        /// <summary>Test cases: each one's stdin size and time limit; absent for one run.</summary>
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public IReadOnlyList<CaseHeader>? Cases { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public long? CaseOutputLimitBytes { get; init; }
    }

    internal sealed record CommandHeader(
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Compile,
        IReadOnlyList<string> Run,
        long CompileTimeoutMs,
        long CompileOutputLimitBytes);

    internal sealed record CaseHeader(long StdinSize, long TimeoutMs);

    internal sealed record HeaderFile(string Path, long Size);

    internal sealed record OutFiles(int MaxCount, long MaxBytes);
}

/// <summary>The launcher's record of a compile stage (a <see cref="LauncherFrames.Build"/> frame).</summary>
public sealed record LauncherBuild(
    string Outcome,
    int? ExitCode,
    int? Signal,
    double? WallMs,
    double? CpuMs,
    long? MaxRssBytes,
    string? Output,
    bool OutputTruncated);

/// <summary>The launcher's record of one test case (a <see cref="LauncherFrames.Case"/> frame's header).</summary>
public sealed record LauncherCase(
    int Index,
    string Outcome,
    int? ExitCode,
    int? Signal,
    double? WallMs,
    double? CpuMs,
    long? MaxRssBytes,
    int OomKills,
    long StdoutSize,
    long StderrSize,
    bool StdoutTruncated,
    bool StderrTruncated);

/// <summary>The launcher's closing record: how the entry script's process ended, measured inside the sandbox.</summary>
public sealed record LauncherExit(
    string Outcome,
    int? ExitCode,
    int? Signal,
    double? CpuMs,
    long? MaxRssBytes,
    double? WallMs,
    int OomKills,
    bool StdoutTruncated,
    bool StderrTruncated,
    string? Detail);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LauncherJob.Header))]
[JsonSerializable(typeof(LauncherExit))]
[JsonSerializable(typeof(LauncherBuild))]
[JsonSerializable(typeof(LauncherCase))]
[JsonSerializable(typeof(DroppedFile))]
internal sealed partial class LauncherJsonContext : JsonSerializerContext;
