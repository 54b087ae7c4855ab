using Executor.Contracts;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Sandboxes;

/// <summary>
/// Keeps the sandboxes' rows true as their commands end and as their hosts come and go, on whichever replica hears
/// it: a create that worked starts the sandbox, each command restarts its idle time, a host that died or restarted ends
/// the sandboxes it held, and what a host holds but the store has ended is named back to it for removal.
/// </summary>
public sealed partial class SandboxLedger(
    ISandboxStore store,
    IHostDirectory hosts,
    SessionCompletions completions,
    SessionSignals signals,
    SubmittedJobs submitted,
    SandboxTelemetry telemetry,
    ILogger<SandboxLedger> logger)
{
    /// <summary>A command's result was stored: what it means for its sandbox.</summary>
    public async Task CommandEndedAsync(SessionRecord command, string host, RunResult result, CancellationToken cancellationToken)
    {
        if (command.Options.Sandbox is not { } sandbox)
        {
            return;
        }
        if (sandbox.Kind == SandboxCommandKinds.Create)
        {
            if (result.Status == RunStatus.Completed)
            {
                var instance = (await hosts.ListHostsAsync(cancellationToken)).FirstOrDefault(h => h.Id == host)?.Instance;
                if (!await store.StartSandboxAsync(sandbox.SandboxId, host, instance, result.ContainerId, cancellationToken))
                {
                    // Deleted (or timed out) while it was being created: the host removes it at its next heartbeat.
                    signals.CallHost(host);
                }
                return;
            }
            await EndAsync(sandbox.SandboxId, $"it could not be created: {result.Detail ?? result.Status}", cancellationToken);
            return;
        }
        if (result.Sandbox?.Status == SandboxStatus.SandboxGone)
        {
            await EndAsync(sandbox.SandboxId, result.Detail ?? $"its container on runner host '{host}' ended", cancellationToken);
            return;
        }
        await store.TouchSandboxAsync(sandbox.SandboxId, sandbox.Kind == SandboxCommandKinds.Run ? 1 : 0, cancellationToken);
        if (sandbox.Kind == SandboxCommandKinds.Run)
        {
            telemetry.Called(result.Sandbox?.Status ?? result.Status, result.DurationMs, command.Owner);
        }
    }

    /// <summary>
    /// Ends the sandbox (the first reason stays) and its queued commands, and tells its host to remove it. Returns the
    /// sandbox as it is now.
    /// </summary>
    public async Task<SandboxRecord?> EndAsync(string sandboxId, string reason, CancellationToken cancellationToken)
    {
        var (sandbox, ended) = await store.EndSandboxAsync(sandboxId, reason, cancellationToken);
        foreach (var command in ended)
        {
            submitted.Forget(command.Id);
            completions.Completed(command.Id, command);
        }
        if (sandbox?.EndedReason == reason)
        {
            LogEnded(sandboxId, reason);
            telemetry.Ended(sandbox.Owner);
        }
        if (sandbox?.Host is { } host)
        {
            signals.CallHost(host);
        }
        return sandbox;
    }

    /// <summary>A host's heartbeat: the sandboxes it ended itself end here; those it holds that ended here it must remove.</summary>
    public async Task<IReadOnlyList<SandboxEnd>> ReconcileAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
    {
        foreach (var end in beat.SandboxesEnded ?? [])
        {
            await EndAsync(end.SandboxId, $"runner host '{host}' ended it: {end.Reason}", cancellationToken);
        }
        return await store.EndedAmongAsync(beat.Sandboxes ?? [], cancellationToken);
    }

    /// <summary>The host died, or restarted as another process: the sandboxes it held are gone with it.</summary>
    public async Task HostLostAsync(string host, string? liveInstance, string reason, CancellationToken cancellationToken)
    {
        foreach (var sandbox in await store.SandboxesOnAsync(host, liveInstance, cancellationToken))
        {
            await EndAsync(sandbox.Id, reason, cancellationToken);
        }
    }

    /// <summary>Ends the sandboxes idle past their timeout or past their lifetime.</summary>
    public async Task SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var sandbox in await store.DueSandboxesAsync(now, cancellationToken))
        {
            var reason = now >= sandbox.ExpiresAt
                ? $"its lifetime of {sandbox.LifetimeSeconds} s ended"
                : $"it was idle for {sandbox.IdleTimeoutSeconds} s";
            await EndAsync(sandbox.Id, reason, cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox {SandboxId} ended: {Reason}")]
    private partial void LogEnded(string sandboxId, string reason);
}
