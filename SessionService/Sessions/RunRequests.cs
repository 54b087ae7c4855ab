using Executor.Contracts;
using Executor.Session.Uploads;

namespace Executor.Session.Sessions;

public static class RunRequests
{
    /// <summary>What a runner host gets for a session just submitted (the same as the store loads back for a claim).</summary>
    public static RunJob For(string sessionId, Upload upload, string? traceParent) => new(
        sessionId,
        [.. upload.Files.Select(f => new RunFile(f.Path, f.Content))],
        upload.Entrypoint,
        upload.Options.Args,
        upload.Options.Stdin,
        upload.Options.TimeoutSeconds,
        upload.Options.MemoryMb,
        traceParent,
        upload.Options.Interactive,
        upload.Options.Runtime);
}
