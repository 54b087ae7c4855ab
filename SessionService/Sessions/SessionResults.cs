using Executor.Session.Storage;

namespace Executor.Session.Sessions;

public static class SessionResults
{
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
            RunnerHost = run.RunnerHost,
        };
    }
}
