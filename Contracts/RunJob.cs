namespace Executor.Contracts;

/// <summary>
/// One session to run, as a runner host claims it. The session id is the run id: a host never runs one twice, and a
/// session is claimed once (a claim whose answer never reached the host goes back to the queue, see <see cref="ClaimRequest"/>).
/// </summary>
/// <param name="Files">The working directory; paths are relative and already validated (the runner checks them again).</param>
/// <param name="TraceParent">The W3C trace context of the submission, so that the run continues its trace.</param>
/// <param name="Interactive">stdin_mode=interactive: the script's stdin stays open and takes what its attached client sends (the runner host fetches it from SessionService).</param>
/// <param name="Runtime">The runtime to run it in (GET /runtimes); null for the host's default.</param>
/// <param name="Egress">The network the run may reach, through its host's egress proxy only; null (the default): none at all.</param>
/// <param name="Grading">Test cases: the program is prepared once and run once per case, each from the same clean state; null: one run.</param>
/// <param name="Build">For a compiled language: what the compile stage adds to the runtime's own command.</param>
/// <param name="Sandbox">
/// Set when this is not a run but a command to a stateful sandbox (create it, run code in it, restart it, a file
/// operation). A sandbox's commands other than create are claimed only by the host that holds the sandbox. For a
/// call, <see cref="Stdin"/>, <see cref="Interactive"/> and <see cref="TimeoutSeconds"/> are the call's; for create,
/// <see cref="MemoryMb"/> and <see cref="Runtime"/> the sandbox's; for put_file, <see cref="Files"/> holds the one file.
/// </param>
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
    string? Runtime = null,
    SandboxCommand? Sandbox = null,
    EgressPolicy? Egress = null,
    GradingSpec? Grading = null,
    BuildOptions? Build = null);

/// <summary>A file of the run's working directory.</summary>
public sealed record RunFile(string Path, byte[] Content);
