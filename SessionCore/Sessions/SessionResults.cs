using System.Text.Json;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Sessions;

public static class SessionResults
{
    /// <summary>The native API's JSON (snake_case), for what the core writes itself: callbacks, live events.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static SessionResult From(SessionRecord session)
    {
        var run = session.Result!;
        return new SessionResult
        {
            SessionId = session.Id,
            Status = session.Status,
            Logs = run.Logs,
            Stdout = run.Stdout,
            Stderr = run.Stderr,
            ExitCode = run.ExitCode,
            Signal = run.Signal,
            StdoutTruncated = run.StdoutTruncated,
            StderrTruncated = run.StderrTruncated,
            DurationMs = run.DurationMs,
            CpuTimeMs = run.CpuTimeMs,
            PeakMemoryBytes = run.PeakMemoryBytes,
            WarmStart = run.WarmStart,
            CreatedAt = session.CreatedAt,
            StartedAt = session.StartedAt,
            FinishedAt = session.FinishedAt,
            Detail = run.Detail,
            Limits = run.Limits,
            Runtime = run.Runtime,
            Isolation = run.Isolation,
            RunnerHost = run.RunnerHost,
            Files = [.. (run.Files ?? []).Select(f => new ResultFile(f.Path, f.Size, f.Sha256, f.ContentType, FileUrl(session.Id, f.Path)))],
            DroppedFiles = run.DroppedFiles ?? [],
            Egress = run.Egress,
            Compile = run.Compile,
            TestResults = run.TestResults,
            TestSummary = run.TestSummary,
        };
    }

    /// <summary>Where a file the run handed back is downloaded (its path's parts escaped, its slashes kept).</summary>
    public static string FileUrl(string sessionId, string path) =>
        $"/result/{sessionId}/files/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}";
}
