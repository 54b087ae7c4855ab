using System.Security.Cryptography;
using Executor.Contracts;

namespace Executor.Runner.Sandboxes;

/// <summary>
/// A sandbox command's <see cref="RunResult"/> from what the launcher answered: a call's record and output, a restart's
/// record, a file operation's answer, or the sandbox's end. The host's own fields (runner host, container, limits,
/// times) are stamped on afterwards by <see cref="SandboxRegistry"/>.
/// </summary>
public static class SandboxResults
{
    private static readonly HashSet<string> FileErrors =
    [
        SandboxStatus.NotFound, SandboxStatus.IsADirectory, SandboxStatus.NotADirectory, SandboxStatus.BadPath, SandboxStatus.TooLarge,
        SandboxStatus.TooManyFiles, SandboxStatus.NotEmpty, SandboxStatus.Failed,
    ];

    public static RunResult FromCall(KernelCallRecord record, CallOutput output, int timeoutSeconds, long outputLimitBytes, int memoryMb)
    {
        var (status, sandboxStatus, detail) = record.Status switch
        {
            SandboxStatus.Ok or SandboxStatus.Error => (RunStatus.Completed, record.Status, (string?)null),
            SandboxStatus.TimedOut => (RunStatus.TimedOut, record.Status, $"Interrupted after the {timeoutSeconds} s time limit."),
            SandboxStatus.Interrupted => (RunStatus.Cancelled, record.Status, "Interrupted; the namespace is kept."),
            SandboxStatus.MemoryExceeded => (RunStatus.MemoryExceeded, record.Status,
                $"The kernel was killed for using more than the sandbox's {memoryMb} MiB of memory; a fresh one took its place."),
            SandboxStatus.OutputLimitExceeded => (RunStatus.OutputLimitExceeded, record.Status,
                $"Interrupted after writing more than {outputLimitBytes} bytes of output."),
            SandboxStatus.KernelDied => (RunStatus.InternalError, record.Status, "The kernel ended during the call; a fresh one took its place."),
            _ => (RunStatus.InternalError, SandboxStatus.KernelDied, "The sandbox ended the call with a status this host does not know."),
        };
        return WithOutput(output, status, detail) with
        {
            DurationMs = record.WallMs ?? 0,
            CpuTimeMs = record.CpuMs,
            PeakMemoryBytes = record.MaxRssBytes,
            StdoutTruncated = record.StdoutTruncated || output.Streams.StdoutTruncated,
            StderrTruncated = record.StderrTruncated || output.Streams.StderrTruncated || output.MessagesTruncated,
            Sandbox = new SandboxOutcome(sandboxStatus, record.ExecutionCount, output.Outputs(), record.KernelRestarted),
        };
    }

    public static RunResult FromRestart(KernelCallRecord record) => record.Status == SandboxStatus.Restarted
        ? new RunResult
        {
            Status = RunStatus.Completed,
            DurationMs = record.WallMs ?? 0,
            Sandbox = new SandboxOutcome(SandboxStatus.Restarted, record.ExecutionCount ?? 0, KernelRestarted: true),
        }
        : Failure(RunStatus.Failed, SandboxStatus.KernelDied, "The kernel could not be restarted.");

    public static RunResult FromFile(string op, string path, KernelFileAnswer answer, byte[] content)
    {
        if (!answer.Ok)
        {
            var error = answer.Error is { } named && FileErrors.Contains(named) ? named : SandboxStatus.Failed;
            return Failure(RunStatus.Failed, error, $"The file operation {op} of '{path}' failed: {error}.");
        }
        return new RunResult
        {
            Status = RunStatus.Completed,
            Files = op == "get"
                ? [new RunOutputFile(path, content.Length, Convert.ToHexStringLower(SHA256.HashData(content)), OutFileNames.ContentType(path)) { Content = content }]
                : null,
            Sandbox = new SandboxOutcome(SandboxStatus.Ok, Entries: op == "list" ? answer.Entries ?? [] : null,
                Size: op == "get" ? content.Length : answer.Size),
        };
    }

    /// <summary>The sandbox had ended before the command could run: it did nothing.</summary>
    public static RunResult Gone(string reason) =>
        Failure(RunStatus.InternalError, SandboxStatus.SandboxGone, $"The sandbox has ended: {reason}.");

    /// <summary>The sandbox broke (or ended) while the command ran.</summary>
    public static RunResult Broken(string reason, CallOutput? output = null) => output is null
        ? Gone(reason)
        : WithOutput(output, RunStatus.InternalError, $"The sandbox has ended: {reason}.") with
        {
            Sandbox = new SandboxOutcome(SandboxStatus.SandboxGone, Outputs: output.Outputs()),
        };

    public static RunResult Failure(string status, string sandboxStatus, string detail) =>
        new() { Status = status, Detail = detail, Sandbox = new SandboxOutcome(sandboxStatus) };

    private static RunResult WithOutput(CallOutput output, string status, string? detail) => new()
    {
        Status = status,
        Detail = detail,
        Stdout = output.Streams.Stdout,
        Stderr = output.Streams.Stderr,
        Logs = output.Streams.Logs,
        Segments = [.. output.Streams.Segments],
        StdoutTruncated = output.Streams.StdoutTruncated,
        StderrTruncated = output.Streams.StderrTruncated,
    };
}
