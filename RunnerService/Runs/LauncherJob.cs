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
    public static byte[] Encode(RunJob request, SandboxLimits limits, LauncherEgress? egress = null)
    {
        var stdin = Encoding.UTF8.GetBytes(request.Stdin ?? "");
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
        buffer.Write(stdin);
        return buffer.ToArray();
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
    }

    internal sealed record HeaderFile(string Path, long Size);

    internal sealed record OutFiles(int MaxCount, long MaxBytes);
}

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
[JsonSerializable(typeof(DroppedFile))]
internal sealed partial class LauncherJsonContext : JsonSerializerContext;
