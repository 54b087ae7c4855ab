using Executor.Session.Dispatch;
using Executor.Session.Uploads;

namespace Executor.Session.Sessions;

public static class RunRequests
{
    /// <summary>What the runner gets for a session just submitted (the same as what the store loads back after a restart).</summary>
    public static RunRequest For(string sessionId, Upload upload) => new(
        sessionId,
        [.. upload.Files.Select(f => new RunFile(f.Path, f.Content))],
        upload.Entrypoint,
        upload.Options.Args,
        upload.Options.Stdin,
        upload.Options.TimeoutSeconds,
        upload.Options.MemoryMb);
}
