using System.Diagnostics;
using Executor.Contracts;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Telemetry;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// Serves the runner hosts' claims: a host that asks for work gets up to its capacity of queued sessions, oldest first,
/// as soon as there are any (a long poll), and each session is claimed once. What a host says it never received goes
/// back to the queue first.
/// </summary>
public sealed partial class ClaimBroker(
    IWorkQueue queue,
    Sandboxes.ISandboxStore sandboxes,
    SubmittedJobs submitted,
    SessionSignals signals,
    SessionTelemetry telemetry,
    TimeProvider time,
    ILogger<ClaimBroker> logger)
{
    public async Task<ClaimResponse> ClaimAsync(string host, ClaimRequest request, TimeSpan wait, CancellationToken cancellationToken)
    {
        var released = await queue.ReleaseUnreceivedAsync(host, request.Instance, request.ReceivedSeq, cancellationToken);
        if (released > 0)
        {
            LogReleased(released, host);
            signals.WorkArrived();
        }
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            // Listen first, then look: work queued in between is never missed.
            using var waiter = signals.WaitForWork(request.WarmReady, request.Runtimes);
            var claim = await queue.ClaimAsync(host, request.Instance, Math.Max(1, request.Capacity), request.Runtimes, cancellationToken);
            if (claim.Sessions.Count > 0)
            {
                waiter.PassOn();
                return new ClaimResponse(claim.Seq, await JobsAsync(claim, cancellationToken));
            }
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return new ClaimResponse(0, []);
            }
            // Woken by new work, or by the replica's watch of the queue (StoreWatch), or the wait is over.
            await Task.WhenAny(waiter.Woken, Task.Delay(left, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// The sandbox lane (<see cref="HostRoutes.SandboxClaims"/>): the commands to the host's sandboxes and at most
    /// <see cref="ClaimRequest.Capacity"/> creates, as soon as there are any. Never limited by run slots, and never
    /// answered with another host's sandbox's command.
    /// </summary>
    public async Task<ClaimResponse> ClaimSandboxWorkAsync(string host, ClaimRequest request, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            // Listen first, then look: a command queued in between is never missed.
            var woken = signals.WhenSandboxWork(host, cancellationToken);
            var claim = await sandboxes.ClaimSandboxCommandsAsync(host, request.Instance, Math.Max(0, request.Capacity), request.Runtimes, cancellationToken);
            if (claim.Sessions.Count > 0)
            {
                return new ClaimResponse(0, await JobsAsync(claim, cancellationToken));
            }
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return new ClaimResponse(0, []);
            }
            await Task.WhenAny(woken, Task.Delay(left, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task<IReadOnlyList<RunJob>> JobsAsync(Claim claim, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var jobs = new List<RunJob>(claim.Sessions.Count);
        var missing = new List<ClaimedSession>();
        foreach (var session in claim.Sessions)
        {
            telemetry.Waited(now - session.CreatedAt);
            // The wait in the queue belongs to the trace of the request that submitted the session.
            ActivityContext.TryParse(session.TraceParent, null, out var trace);
            using (var wait = SessionTelemetry.Source.StartActivity("queue wait", ActivityKind.Internal, trace, startTime: session.CreatedAt))
            {
                wait?.SetTag(SessionTelemetry.SessionId, session.Id);
                wait?.SetTag(SessionTelemetry.RunnerHost, claim.Host);
            }
            if (submitted.Take(session.Id) is { } job)
            {
                jobs.Add(job);
            }
            else
            {
                missing.Add(session);
            }
        }
        if (missing.Count > 0)
        {
            var files = await queue.LoadFilesAsync([.. missing.Select(s => s.Id)], cancellationToken);
            jobs.AddRange(missing.Select(s => RunRequests.For(s.Id, s.Entrypoint, files[s.Id], s.Options, s.TraceParent)));
        }
        Activity.Current?.SetTag("executor.claimed", jobs.Count);
        return jobs;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Put {Count} sessions back in the queue: runner host {Host} never received their claim")]
    private partial void LogReleased(int count, string host);
}
