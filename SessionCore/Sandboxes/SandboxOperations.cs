using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Telemetry;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Sandboxes;

/// <summary>What POST /sandboxes asks for (each null: the default, within the caller's ceilings).</summary>
public sealed record SandboxRequest(string? Runtime, int? IdleTimeoutSeconds, int? LifetimeSeconds, int? MemoryMb)
{
    /// <summary>What the surface keeps about it for its clients (a JSON object; see <see cref="SandboxRecord.Attributes"/>).</summary>
    public string? Attributes { get; init; }

    /// <summary>
    /// The sandbox gets its own token (<see cref="SandboxRecord.AccessToken"/>), which
    /// <see cref="SandboxOperations.FindByAccessTokenAsync"/> accepts in place of its owner's key (E2B's data plane).
    /// </summary>
    public bool WithAccessToken { get; init; }

    /// <summary>
    /// The idle timeout may change later (<see cref="SandboxOperations.SetIdleTimeoutAsync"/>, E2B's setTimeout): the
    /// host's own backstop then watches only the lifetime, since it cannot learn a new idle timeout.
    /// </summary>
    public bool IdleTimeoutAdjustable { get; init; }

    /// <summary>The network the sandbox may reach for its life, as asked (<see cref="EgressGate.Grant"/> checks it); null: none.</summary>
    public EgressPolicy? Egress { get; init; }
}

/// <summary>A call: code to run in the sandbox's namespace.</summary>
public sealed record CallRequest(string? Code, int? TimeoutSeconds, string? Stdin, bool Interactive)
{
    /// <summary>The namespace (null: the kernel's main one; another is made when first named). At most 64 characters.</summary>
    public string? Context { get; init; }

    /// <summary>The context's namespace is emptied before the code runs (the code may then be empty).</summary>
    public bool ResetContext { get; init; }

    /// <summary>Environment variables for this call only.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}



/// <summary>
/// Everything done to a stateful sandbox, the same for every surface (the REST API, MCP, the playground): create it,
/// find the caller's own, send it commands (code, restart, file operations) and wait for their ends, interrupt,
/// delete. Each command is a session the sandbox's host claims through the sandbox lane; its output, input, result
/// and waits are a session's. The endpoints only map requests and outcomes.
/// </summary>
public sealed partial class SandboxOperations(
    ISandboxStore store,
    ISessionStore sessions,
    SandboxLedger ledger,
    SessionCompletions completions,
    SessionSignals signals,
    SubmittedJobs submitted,
    RunnerHosts hosts,
    RuntimeDirectory runtimes,
    SandboxTelemetry telemetry,
    IOptions<SandboxServiceOptions> options,
    IOptions<SessionServiceOptions> sessionOptions,
    TimeProvider time,
    CallerDirectory owners,
    IOptions<EgressOptions> egressOptions,
    ILoggerFactory loggers)
{
    private const int ListLimit = 200;
    private const int MaxPathLength = 255;

    /// <summary>How long a file operation, a restart or a call past its timeout may take to be answered.</summary>
    public static readonly TimeSpan CommandGrace = TimeSpan.FromSeconds(30);

    /// <summary>How long a completed create's sandbox may stay starting while the ledger records it (<see cref="StartedAsync"/>).</summary>
    private static readonly TimeSpan LedgerGrace = TimeSpan.FromSeconds(5);

    public SandboxServiceOptions Options => options.Value;

    /// <summary>Creates a sandbox and waits until its host has it running (201), or says why not.</summary>
    public async Task<(SandboxRecord? Sandbox, ProblemDetails? Problem)> CreateAsync(Caller caller, SandboxRequest request, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var maxLifetime = caller.Quotas.MaxSandboxLifetimeSeconds ?? 7 * 24 * 3600;
        var lifetime = request.LifetimeSeconds ?? Math.Min(settings.DefaultLifetimeSeconds, maxLifetime);
        if (lifetime < 1 || lifetime > maxLifetime)
        {
            return (null, BadRequest("bad-sandbox-request", $"lifetime_seconds must be from 1 to {maxLifetime} for this key; got {lifetime}."));
        }
        var idle = request.IdleTimeoutSeconds ?? Math.Min(settings.DefaultIdleTimeoutSeconds, lifetime);
        if (idle < 1 || idle > lifetime)
        {
            return (null, BadRequest("bad-sandbox-request", $"idle_timeout_seconds must be from 1 to lifetime_seconds ({lifetime}); got {idle}."));
        }
        if (await hosts.UnavailableAsync(cancellationToken) is { } why)
        {
            return (null, Problems.EngineUnavailable(why, SessionSubmitter.EngineRetryAfterSeconds));
        }
        var (runtime, runtimeProblem) = await runtimes.ResolveAsync(request.Runtime, cancellationToken);
        if (runtimeProblem is not null)
        {
            return (null, runtimeProblem);
        }
        var listed = await runtimes.ListAsync(cancellationToken);
        // A sandbox is a kernel that keeps its namespace between calls: Python's. The other languages run programs, not calls.
        if (listed.FirstOrDefault(r => r.Id == runtime) is { } chosen && chosen.Language != SourceLanguages.Python)
        {
            string[] stateful = [.. listed.Where(r => r.Language == SourceLanguages.Python).Select(r => r.Id)];
            var problem = Problems.Create(StatusCodes.Status400BadRequest, "runtime-not-stateful", "Not a runtime for sandboxes",
                $"'{chosen.Id}' runs {chosen.Language} programs, one per run (POST /execute); a sandbox keeps a Python kernel between calls. "
                + $"Runtimes a sandbox can have: {string.Join(", ", stateful)}.");
            problem.Extensions["runtimes"] = stateful;
            return (null, problem);
        }
        var runtimeMemory = listed.FirstOrDefault(r => r.Id == runtime)?.MemoryMb;
        var (limited, ceiling) = QuotaGate.ApplyCeilings(caller, new RunOptions([], null, null, request.MemoryMb, Runtime: runtime), runtimeMemory);
        if (ceiling is not null)
        {
            return (null, ceiling);
        }
        var (egress, egressProblem) = EgressGate.Grant(caller, request.Egress, egressOptions.Value);
        if (egressProblem is not null)
        {
            return (null, egressProblem);
        }

        var now = time.GetUtcNow();
        var id = "sbx_" + SessionIds.New();
        var token = request.WithAccessToken ? ApiKeys.NewSecret() : null;
        var sandbox = new SandboxRecord(id, caller.Id, runtime, SandboxStates.Starting, null, null, now, now, now.AddSeconds(lifetime), idle, lifetime,
            limited.MemoryMb ?? runtimeMemory, 0, null, null, request.Attributes, token);
        Activity.Current?.SetTag(SandboxTelemetry.SandboxId, id);
        if (await store.CreateSandboxAsync(sandbox, caller.Quotas.MaxSandboxes, cancellationToken) != SandboxAdmission.Created)
        {
            return (null, Problems.Create(StatusCodes.Status429TooManyRequests, "sandbox-quota", "Too many sandboxes",
                $"This key may have {caller.Quotas.MaxSandboxes} sandboxes alive at once; delete one (DELETE /sandboxes/{{id}}) first."));
        }
        telemetry.Created(caller.Id);
        Audit.SandboxCreated(loggers, caller, id, runtime);
        var command = new SandboxCommand(id, SandboxCommandKinds.Create, IdleTimeoutSeconds: request.IdleTimeoutAdjustable ? null : idle,
            LifetimeSeconds: lifetime);
        var create = await SubmitAsync(sandbox, command, limited with { Runtime = runtime, Egress = egress }, [], caller, cancellationToken);
        if (create.Problem is not null)
        {
            await ledger.EndAsync(id, "it could not be queued", cancellationToken);
            return (null, create.Problem);
        }
        var ended = await WaitAsync(create.CommandId!, TimeSpan.FromSeconds(settings.CreateWaitSeconds), cancellationToken);
        var created = ended?.Result?.Status == RunStatus.Completed
            ? await StartedAsync(create.CommandId!, id, cancellationToken)
            : await store.FindSandboxAsync(id, cancellationToken);
        if (created?.State == SandboxStates.Running)
        {
            return (created, null);
        }
        var reason = ended?.Result is { } failed
            ? $"it could not be created: {failed.Detail ?? failed.Status}"
            : $"no runner host created it within {settings.CreateWaitSeconds} s";
        created = await ledger.EndAsync(id, reason, cancellationToken);
        return (null, Problems.Create(StatusCodes.Status503ServiceUnavailable, "sandbox-not-created", "The sandbox could not be created",
            $"Sandbox {id} ended: {created?.EndedReason ?? reason}."));
    }

    /// <summary>
    /// The sandbox of a create that completed. Its result is stored a moment before the ledger starts the sandbox, and its
    /// end is announced only after that (<see cref="SessionCommands.CompleteAsync"/>): a wait woken in between, by the
    /// replica's <see cref="StoreWatch"/>, listens for that announcement, for a little while, and looks again.
    /// </summary>
    private async Task<SandboxRecord?> StartedAsync(string commandId, string sandboxId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + LedgerGrace;
        while (true)
        {
            var announced = signals.WhenEnded(commandId, cancellationToken);
            var sandbox = await store.FindSandboxAsync(sandboxId, cancellationToken);
            var left = deadline - time.GetUtcNow();
            if (sandbox?.State != SandboxStates.Starting || left <= TimeSpan.Zero)
            {
                return sandbox;
            }
            await Task.WhenAny(announced, Task.Delay(left, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The sandbox if it exists and the caller may see it (its own; an operator sees every one); null otherwise.</summary>
    public async Task<SandboxRecord?> FindOwnedAsync(string id, Caller caller, CancellationToken cancellationToken) =>
        id.Length <= 64 && await store.FindSandboxAsync(id, cancellationToken) is { } sandbox && caller.Owns(sandbox.Owner) ? sandbox : null;

    /// <summary>
    /// The sandbox and its owner as the caller, when <paramref name="token"/> is the sandbox's own token (compared in
    /// constant time); null otherwise, and for a sandbox without a token or whose owner's key was revoked.
    /// </summary>
    public async Task<(SandboxRecord Sandbox, Caller Owner)?> FindByAccessTokenAsync(string id, string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token) || id.Length > 64 || await store.FindSandboxAsync(id, cancellationToken) is not { AccessToken: { } own } sandbox
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(own)))
        {
            return null;
        }
        return await owners.FindAsync(sandbox.Owner, cancellationToken) is { } owner ? (sandbox, owner) : null;
    }

    /// <summary>Replaces what the surface keeps about the sandbox (a JSON object); false once it has ended.</summary>
    public Task<bool> SetAttributesAsync(SandboxRecord sandbox, string? attributes, CancellationToken cancellationToken) =>
        store.SetSandboxAttributesAsync(sandbox.Id, attributes, cancellationToken);

    /// <summary>
    /// A new idle timeout, counted from now, within the sandbox's lifetime (E2B's setTimeout); a problem when it is out
    /// of range or the sandbox has ended.
    /// </summary>
    public async Task<ProblemDetails?> SetIdleTimeoutAsync(SandboxRecord sandbox, int seconds, CancellationToken cancellationToken)
    {
        if (seconds < 1 || seconds > sandbox.LifetimeSeconds)
        {
            return BadRequest("bad-sandbox-request", $"The timeout must be from 1 to the sandbox's lifetime ({sandbox.LifetimeSeconds} s); got {seconds}.");
        }
        return NotRunning(sandbox) ?? (await store.SetSandboxIdleTimeoutAsync(sandbox.Id, seconds, cancellationToken)
            ? null
            : NotRunning(await store.FindSandboxAsync(sandbox.Id, cancellationToken) ?? sandbox with { State = SandboxStates.Ended }));
    }

    public Task<IReadOnlyList<SandboxRecord>> ListAsync(Caller caller, CancellationToken cancellationToken) =>
        store.ListSandboxesAsync(caller.IsOperator ? null : caller.Id, ListLimit, cancellationToken);

    /// <summary>Queues a call (the caller then waits for it, or follows it live); a problem when the sandbox cannot take it.</summary>
    public async Task<(string? CommandId, ProblemDetails? Problem)> CallAsync(
        SandboxRecord sandbox, CallRequest request, Caller caller, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Code) && !request.ResetContext)
        {
            return (null, BadRequest("bad-call", "'code' is required."));
        }
        if (request.Context is { Length: 0 or > 64 })
        {
            return (null, BadRequest("bad-call", "A context's id has 1 to 64 characters."));
        }
        if (Encoding.UTF8.GetByteCount(request.Code ?? "") + (request.Env?.Sum(e => e.Key.Length + e.Value.Length) ?? 0) > options.Value.MaxCodeBytes)
        {
            return (null, Problems.Create(StatusCodes.Status413PayloadTooLarge, "code-too-large", "Code too large",
                $"A call's code may have at most {options.Value.MaxCodeBytes} bytes."));
        }
        var timeout = request.TimeoutSeconds ?? options.Value.DefaultCallTimeoutSeconds;
        if (timeout < 1)
        {
            return (null, BadRequest("bad-call", $"timeout_seconds must be at least 1; got {timeout}."));
        }
        var (limited, ceiling) = QuotaGate.ApplyCeilings(caller,
            new RunOptions([], request.Stdin, timeout, null, request.Interactive, Runtime: sandbox.Runtime), null);
        if (ceiling is not null)
        {
            return (null, ceiling);
        }
        var command = new SandboxCommand(sandbox.Id, SandboxCommandKinds.Run, Code: request.Code ?? "")
        {
            Context = request.Context, ResetContext = request.ResetContext, Env = request.Env is { Count: > 0 } env ? env : null,
        };
        return await SubmitAsync(sandbox, command, limited, [], caller, cancellationToken);
    }

    /// <summary>Interrupts the sandbox's running call (its KeyboardInterrupt; the namespace survives). False when none runs.</summary>
    public async Task<bool> InterruptAsync(SandboxRecord sandbox, CancellationToken cancellationToken)
    {
        var interrupted = false;
        foreach (var command in await store.UnfinishedCommandsAsync(sandbox.Id, cancellationToken))
        {
            if (command.Status == SessionStatus.Running && command.Options.Sandbox?.Kind == SandboxCommandKinds.Run
                && await sessions.RequestCancelAsync(command.Id, cancellationToken) is not null)
            {
                interrupted = true;
            }
        }
        if (interrupted && sandbox.Host is { } host)
        {
            signals.CallHost(host);
        }
        return interrupted;
    }

    /// <summary>A fresh namespace in the same sandbox: a running call is interrupted first; files stay.</summary>
    public async Task<(SessionRecord? Command, ProblemDetails? Problem)> RestartAsync(SandboxRecord sandbox, Caller caller, CancellationToken cancellationToken)
    {
        await InterruptAsync(sandbox, cancellationToken);
        return await CommandAsync(sandbox, new SandboxCommand(sandbox.Id, SandboxCommandKinds.Restart), [], caller, cancellationToken);
    }

    /// <summary>A file operation (put, get, list, delete), answered when the host has done it.</summary>
    public async Task<(SessionRecord? Command, ProblemDetails? Problem)> FileAsync(
        SandboxRecord sandbox, string kind, string path, byte[]? content, Caller caller, CancellationToken cancellationToken)
    {
        if (BadPath(path, allowEmpty: kind == SandboxCommandKinds.ListFiles) is { } why)
        {
            return (null, BadRequest("bad-sandbox-path", why));
        }
        if (content is not null && content.Length > options.Value.MaxFileBytes)
        {
            return (null, Problems.Create(StatusCodes.Status413PayloadTooLarge, "sandbox-file-too-large", "File too large",
                $"A sandbox's file may have at most {options.Value.MaxFileBytes} bytes."));
        }
        IReadOnlyList<SessionFile> files = content is null ? [] : [new SessionFile(path, content)];
        return await CommandAsync(sandbox, new SandboxCommand(sandbox.Id, kind, Path: path), files, caller, cancellationToken);
    }

    /// <summary>Ends the sandbox now: its host removes the container (and whatever runs in it) at once.</summary>
    public async Task<SandboxRecord?> DeleteAsync(SandboxRecord sandbox, Caller caller, CancellationToken cancellationToken)
    {
        await InterruptAsync(sandbox, cancellationToken);
        Audit.SandboxDeleted(loggers, caller, sandbox.Id);
        return await ledger.EndAsync(sandbox.Id, "deleted by its owner", cancellationToken);
    }

    /// <summary>The command's session once it has ended, or as it is when the wait is over.</summary>
    public Task<SessionRecord?> WaitAsync(string commandId, TimeSpan wait, CancellationToken cancellationToken) =>
        completions.WaitAsync(commandId, wait, cancellationToken);

    /// <summary>How long a call may take to be answered: its timeout and the grace a host needs to interrupt and report.</summary>
    public TimeSpan CallWait(SessionRecord? call, int? timeoutSeconds) =>
        TimeSpan.FromSeconds((call?.Options.TimeoutSeconds ?? timeoutSeconds ?? options.Value.DefaultCallTimeoutSeconds) + CommandGrace.TotalSeconds);

    /// <summary>The problem for a sandbox that cannot take commands (ended), or null.</summary>
    public static ProblemDetails? NotRunning(SandboxRecord sandbox) => sandbox.State switch
    {
        SandboxStates.Running => null,
        SandboxStates.Ended => Problems.Create(StatusCodes.Status410Gone, "sandbox-ended", "The sandbox has ended",
            $"Sandbox {sandbox.Id} ended: {sandbox.EndedReason}. Create another one."),
        _ => Problems.Create(StatusCodes.Status409Conflict, "sandbox-starting", "The sandbox is not ready",
            $"Sandbox {sandbox.Id} is still being created; retry in a moment."),
    };

    public static ProblemDetails SandboxNotFound(string id) => Problems.Create(StatusCodes.Status404NotFound, "sandbox-not-found", "No such sandbox",
        $"There is no sandbox '{id}': it never existed, it is another key's, or it ended long ago.");

    private async Task<(SessionRecord? Command, ProblemDetails? Problem)> CommandAsync(
        SandboxRecord sandbox, SandboxCommand command, IReadOnlyList<SessionFile> files, Caller caller, CancellationToken cancellationToken)
    {
        var (commandId, problem) = await SubmitAsync(sandbox, command, new RunOptions([], null, null, null, Runtime: sandbox.Runtime), files, caller,
            cancellationToken);
        if (problem is not null)
        {
            return (null, problem);
        }
        var ended = await WaitAsync(commandId!, CommandGrace, cancellationToken);
        return ended is not null && SessionStatus.IsTerminal(ended.Status)
            ? (ended, null)
            : (null, Problems.Create(StatusCodes.Status504GatewayTimeout, "sandbox-no-answer", "The sandbox did not answer",
                $"Sandbox {sandbox.Id}'s host did not answer the {command.Kind} within {CommandGrace.TotalSeconds:0} s."));
    }

    private async Task<(string? CommandId, ProblemDetails? Problem)> SubmitAsync(
        SandboxRecord sandbox, SandboxCommand command, RunOptions runOptions, IReadOnlyList<SessionFile> files, Caller caller,
        CancellationToken cancellationToken)
    {
        if (command.Kind != SandboxCommandKinds.Create)
        {
            if (NotRunning(sandbox) is { } notRunning)
            {
                return (null, notRunning);
            }
            if ((await store.UnfinishedCommandsAsync(sandbox.Id, cancellationToken)).Count >= options.Value.MaxPendingCommands)
            {
                return (null, Problems.Create(StatusCodes.Status429TooManyRequests, "sandbox-busy", "The sandbox is busy",
                    $"Sandbox {sandbox.Id} has {options.Value.MaxPendingCommands} commands waiting or running; wait for one to end."));
            }
        }
        var commandId = SessionIds.New();
        Activity.Current?.SetTag(SessionTelemetry.SessionId, commandId);
        Activity.Current?.SetTag(SandboxTelemetry.SandboxId, sandbox.Id);
        var created = new NewSession(commandId, "sandbox:" + command.Kind, files, runOptions with { Sandbox = command }, Activity.Current?.Id, caller.Id)
        {
            SandboxId = sandbox.Id,
            PinHost = command.Kind == SandboxCommandKinds.Create ? null : sandbox.Host,
        };
        if (await sessions.CreateAsync(created, sessionOptions.Value.QueueCapacity, cancellationToken) != SessionAdmission.Created)
        {
            return (null, Problems.QueueFull(SessionSubmitter.RetryAfterSeconds));
        }
        _ = completions.Listen(commandId); // before the host can end it: the waiter then never misses its end
        // The claim on this replica hands the host the job as built here, without reading its files back.
        submitted.Add(RunRequests.For(commandId, created.Entrypoint, [.. files.Select(f => new RunFile(f.Path, f.Content))], created.Options,
            created.TraceParent));
        signals.SandboxWorkArrived(created.PinHost);
        return (commandId, null);
    }

    /// <summary>A path of the sandbox's working directory as commands take it: relative, '/' between parts, no empty, '.' or '..' part.</summary>
    public static string? BadPath(string path, bool allowEmpty)
    {
        if (path.Length == 0)
        {
            return allowEmpty ? null : "A file path is required.";
        }
        if (path.Length > MaxPathLength || path.StartsWith('/') || path.Contains('\0', StringComparison.Ordinal) || path.Contains('\\', StringComparison.Ordinal)
            || path.Split('/').Any(p => p is "" or "." or ".."))
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"'{path}' is not a path in the sandbox: relative to /sandbox, at most {MaxPathLength} characters, '/' between parts, no empty, '.' or '..' part.");
        }
        return null;
    }

    private static ProblemDetails BadRequest(string type, string detail) => Problems.Create(StatusCodes.Status400BadRequest, type, "Invalid request", detail);
}
