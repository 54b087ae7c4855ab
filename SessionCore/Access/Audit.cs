using Executor.Contracts;
using Executor.SessionCore.Submissions;

namespace Executor.SessionCore.Access;

/// <summary>
/// The audit trail: one structured line per accepted execution (category "Executor.Audit"): who, when, which session,
/// how much. Never the code, its input or its output, and never a key.
/// </summary>
public static partial class Audit
{
    public const string Category = TelemetryNames.Audit;

    public static void Accepted(ILoggerFactory loggers, Caller caller, string sessionId, Submission upload)
    {
        var logger = loggers.CreateLogger(Category);
        if (logger.IsEnabled(LogLevel.Information))
        {
            var fileBytes = upload.Files.Sum(f => (long)f.Content.Length);
            var stdinBytes = System.Text.Encoding.UTF8.GetByteCount(upload.Options.Stdin ?? "");
            LogAccepted(logger, caller.Id, caller.Name, sessionId, upload.Files.Count, fileBytes, stdinBytes,
                upload.Options.Egress is { } egress ? string.Join(' ', egress.Destinations) : "none");
        }
    }

    public static void SandboxCreated(ILoggerFactory loggers, Caller caller, string sandboxId, string? runtime)
    {
        var logger = loggers.CreateLogger(Category);
        if (logger.IsEnabled(LogLevel.Information))
        {
            LogSandboxCreated(logger, caller.Id, caller.Name, sandboxId, runtime);
        }
    }

    public static void SandboxDeleted(ILoggerFactory loggers, Caller caller, string sandboxId)
    {
        var logger = loggers.CreateLogger(Category);
        if (logger.IsEnabled(LogLevel.Information))
        {
            LogSandboxDeleted(logger, caller.Id, caller.Name, sandboxId);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox created: caller {CallerId} ({CallerName}), sandbox {SandboxId}, runtime {Runtime}")]
    private static partial void LogSandboxCreated(ILogger logger, string callerId, string callerName, string sandboxId, string? runtime);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox deleted: caller {CallerId} ({CallerName}), sandbox {SandboxId}")]
    private static partial void LogSandboxDeleted(ILogger logger, string callerId, string callerName, string sandboxId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Execution accepted: caller {CallerId} ({CallerName}), session {SessionId}, "
        + "{FileCount} files, {FileBytes} bytes, stdin {StdinBytes} bytes, egress {Egress}")]
    private static partial void LogAccepted(ILogger logger, string callerId, string callerName, string sessionId, int fileCount, long fileBytes, int stdinBytes,
        string egress);

    /// <summary>Every connection a run or a sandbox call tried through its host's egress proxy, allowed or refused.</summary>
    public static void Egress(ILoggerFactory loggers, string? owner, string sessionId, IReadOnlyList<EgressConnection>? connections)
    {
        if (connections is not { Count: > 0 })
        {
            return;
        }
        var logger = loggers.CreateLogger(Category);
        if (logger.IsEnabled(LogLevel.Information))
        {
            foreach (var c in connections)
            {
                LogEgress(logger, owner ?? Caller.AnonymousId, sessionId, c.Destination, c.Allowed ? "allowed" : "refused " + c.Refused, c.Address,
                    c.BytesSent, c.BytesReceived, c.At);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Egress: caller {CallerId}, session {SessionId}, {Destination} {Outcome}, "
        + "address {Address}, {BytesSent} bytes sent, {BytesReceived} received, at {At:O}")]
    private static partial void LogEgress(ILogger logger, string callerId, string sessionId, string destination, string outcome, string? address,
        long bytesSent, long bytesReceived, DateTimeOffset at);
}
