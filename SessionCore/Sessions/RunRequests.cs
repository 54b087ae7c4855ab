using Executor.Contracts;

namespace Executor.SessionCore.Sessions;

/// <summary>
/// The one place a run job is built: from a session's stored entry point, files and options, whether the job goes to a
/// host straight from its submission or is read back from the store by a claim on another replica, after a restart or
/// past <see cref="Dispatch.SubmittedJobs"/>' bound. The options are stored whole, so what they carry reaches the job
/// either way.
/// </summary>
public static class RunRequests
{
    public static RunJob For(string sessionId, string entrypoint, IReadOnlyList<RunFile> files, RunOptions options, string? traceParent) => new(
        sessionId,
        files,
        entrypoint,
        options.Args,
        options.Stdin,
        options.TimeoutSeconds,
        options.MemoryMb,
        traceParent,
        options.Interactive,
        options.Runtime,
        options.Sandbox,
        options.Egress,
        options.Grading,
        options.Build);
}
