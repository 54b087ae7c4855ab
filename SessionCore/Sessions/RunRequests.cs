using Executor.Contracts;
using Executor.SessionCore.Submissions;

namespace Executor.SessionCore.Sessions;

public static class RunRequests
{
    /// <summary>What a runner host gets for a session just submitted (the same as the store loads back for a claim).</summary>
    public static RunJob For(string sessionId, Submission upload, string? traceParent) => new(
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
