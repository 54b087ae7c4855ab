namespace Executor.Contracts;

/// <summary>
/// One session to run, as a runner host claims it. The session id is the run id: a host never runs one twice, and a
/// session is claimed once (a claim whose answer never reached the host goes back to the queue, see <see cref="ClaimRequest"/>).
/// </summary>
/// <param name="Files">The working directory; paths are relative and already validated (the runner checks them again).</param>
/// <param name="TraceParent">The W3C trace context of the submission, so that the run continues its trace.</param>
/// <param name="Interactive">stdin_mode=interactive: the script's stdin stays open and takes what its attached client sends (the runner host fetches it from SessionService).</param>
/// <param name="Runtime">The runtime to run it in (GET /runtimes); null for the host's default.</param>
public sealed record RunJob(
    string SessionId,
    IReadOnlyList<RunFile> Files,
    string Entrypoint,
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb,
    string? TraceParent = null,
    bool Interactive = false,
    string? Runtime = null);

/// <summary>A file of the run's working directory.</summary>
public sealed record RunFile(string Path, byte[] Content);
