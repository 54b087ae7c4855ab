namespace Executor.Contracts;

/// <summary>
/// A runner host asks for work (POST /hosts/{host}/claims, a long poll): at most <see cref="Capacity"/> sessions, for
/// the process <see cref="Instance"/>. <see cref="ReceivedSeq"/> is the sequence number of the last claim answer the
/// host received: a claim made after it never reached the host, so its sessions go back to the queue. A host claims
/// one request at a time, so this is exact: nothing it received is ever handed to anyone else.
/// </summary>
/// <param name="Runtimes">The runtimes the host can run now (probed); null from a host that does not say: any.</param>
public sealed record ClaimRequest(string Instance, int Capacity, int WarmReady, long ReceivedSeq, IReadOnlyList<string>? Runtimes = null);

/// <summary>The sessions claimed for the host (empty when the wait ended with nothing to do), and the claim's number.</summary>
public sealed record ClaimResponse(long Seq, IReadOnlyList<RunJob> Jobs);

/// <summary>
/// A runner host says it is alive (POST /hosts/{host}/heartbeat, every couple of seconds, held open until there is a
/// command or the interval is over): its process, its runs in progress, its pool and its engine.
/// </summary>
public sealed record Heartbeat(
    string Instance,
    IReadOnlyList<string> Running,
    int Capacity,
    PoolStatus? Pool,
    string? EngineProblem,
    long PrewarmGeneration,
    IReadOnlyList<RuntimeInfo>? Runtimes = null,
    IReadOnlyList<string>? Sandboxes = null,
    IReadOnlyList<SandboxEnd>? SandboxesEnded = null);

/// <summary>
/// A runtime a host offers (GET /runtimes lists them): its defaults, and what the host found in its image when it
/// probed it at start (<see cref="Packages"/>: distribution name to version). <see cref="Available"/> is false while the
/// probe has not succeeded (the image is missing, or the engine is down), and <see cref="Problem"/> says why.
/// </summary>
public sealed record RuntimeInfo(
    string Id,
    string Language,
    string Version,
    bool Default,
    int MemoryMb,
    IReadOnlyDictionary<string, string> Packages,
    string? LanguageVersion,
    bool Available,
    string? Problem);

/// <summary>A host's warm pool as its PrewarmService reports it.</summary>
public sealed record PoolStatus(int Ready, int Target, int Starting, int MaxSize);

/// <summary>
/// What the host must do: kill these runs (a sandbox call among them is interrupted); apply this prewarm request (once
/// per generation); end these sandboxes and remove their containers (deleted, idle or past their lifetime, or unknown).
/// </summary>
public sealed record HeartbeatResponse(IReadOnlyList<string> Cancel, PrewarmCommand? Prewarm, IReadOnlyList<SandboxEnd>? EndSandboxes = null);

/// <summary>POST /prewarm as every host must apply it: refill, or keep <see cref="Count"/> ready from now on.</summary>
public sealed record PrewarmCommand(long Generation, int? Count);

/// <summary>The routes of the protocol, served by SessionService (never by the gateway).</summary>
public static class HostRoutes
{
    public const string Claims = "/hosts/{host}/claims";
    public const string Heartbeat = "/hosts/{host}/heartbeat";
    public const string Result = "/hosts/{host}/runs/{sessionId}/result";
    public const string Output = "/hosts/{host}/runs/{sessionId}/output";
    public const string Stdin = "/hosts/{host}/runs/{sessionId}/stdin";

    /// <summary>
    /// The sandbox lane's claims (a long poll, <see cref="ClaimRequest"/> and <see cref="ClaimResponse"/>): sandbox
    /// commands only, never limited by the host's run slots: creates of the runtimes the host offers, and every command
    /// to a sandbox it holds. Their results, output and input go by the routes of runs (a command's id is a session id).
    /// </summary>
    public const string SandboxClaims = "/hosts/{host}/sandbox-claims";

    /// <summary>The largest result a host may report: it carries the files the run handed back, base64 in JSON.</summary>
    public const long MaxResultBytes = 512L * 1024 * 1024;

    public static string ClaimsOf(string host) => $"/hosts/{Uri.EscapeDataString(host)}/claims";

    public static string SandboxClaimsOf(string host) => $"/hosts/{Uri.EscapeDataString(host)}/sandbox-claims";

    public static string HeartbeatOf(string host) => $"/hosts/{Uri.EscapeDataString(host)}/heartbeat";

    public static string ResultOf(string host, string sessionId) =>
        $"/hosts/{Uri.EscapeDataString(host)}/runs/{Uri.EscapeDataString(sessionId)}/result";

    public static string OutputOf(string host, string sessionId) =>
        $"/hosts/{Uri.EscapeDataString(host)}/runs/{Uri.EscapeDataString(sessionId)}/output";

    /// <summary>An interactive run's input from byte <paramref name="from"/> on (a long poll).</summary>
    public static string StdinOf(string host, string sessionId, long from) =>
        $"/hosts/{Uri.EscapeDataString(host)}/runs/{Uri.EscapeDataString(sessionId)}/stdin?from={from}";

    /// <summary>How long a read of an interactive run's input waits for some before it answers with none.</summary>
    public static readonly TimeSpan StdinWait = TimeSpan.FromSeconds(20);

    /// <summary>How long a claim waits for work before it answers with nothing (the host asks again at once).</summary>
    public static readonly TimeSpan ClaimWait = TimeSpan.FromSeconds(20);

    /// <summary>How long a heartbeat is held open when there is nothing to say: the heartbeat interval.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    /// <summary>A host silent this long is dead: its runs end as internal_error, and it is given no work.</summary>
    public static readonly TimeSpan HostTimeout = TimeSpan.FromSeconds(15);
}

/// <summary>
/// What an interactive run's client has sent since byte <c>from</c>: the bytes, the offset after them, and whether the
/// input has ended (the client closed it or went away, no client came within the grace period, or the session ended).
/// </summary>
public sealed record StdinBatch(byte[] Data, long Next, bool End);
