using Executor.Contracts;
using Executor.SessionCore;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Apis;

/// <summary>
/// Internal API of the runner hosts (the run protocol, Executor.Contracts): they claim work, say they are alive and
/// report results. Every call carries the host's own credential (HostCredentials), and touches only sessions that host
/// claimed: another host's result, output or input is not found. The gateway routes /hosts/* too, so that remote hosts
/// need no port of the replicas; the credential is what guards them.
/// </summary>
public static class HostsApi
{
    public static RouteGroupBuilder MapHostsApi(this IEndpointRouteBuilder app)
    {
        // Not the callers' keys: each host presents its own credential.
        var api = app.MapGroup("").WithTags("Runner hosts").ExcludeFromDescription().AllowAnonymous().AddEndpointFilter(RequireHostCredential);

        api.MapPost(HostRoutes.Claims, ClaimAsync).WithName("ClaimRuns");
        api.MapPost(HostRoutes.SandboxClaims, ClaimSandboxWorkAsync).WithName("ClaimSandboxWork");
        api.MapPost(HostRoutes.Heartbeat, HeartbeatAsync).WithName("Heartbeat");
        // A result carries the files the run handed back (Sandbox:OutFilesMaxBytes, 8 MiB by default), base64 in JSON.
        api.MapPost(HostRoutes.Result, ReportAsync).WithName("ReportResult").WithMetadata(new RequestSizeLimitAttribute(HostRoutes.MaxResultBytes));
        api.MapPost(HostRoutes.Output, ReceiveOutputAsync).WithName("StreamOutput");
        api.MapGet(HostRoutes.Stdin, ReadStdinAsync).WithName("ReadStdin");
        return api;
    }

    public static async Task<Results<Ok<ClaimResponse>, BadRequest>> ClaimAsync(
        string host, ClaimRequest request, ClaimBroker broker, CancellationToken cancellationToken) =>
        IsHostId(host) ? TypedResults.Ok(await broker.ClaimAsync(host, request, HostRoutes.ClaimWait, cancellationToken)) : TypedResults.BadRequest();

    public static async Task<Results<Ok<ClaimResponse>, BadRequest>> ClaimSandboxWorkAsync(
        string host, ClaimRequest request, ClaimBroker broker, CancellationToken cancellationToken) =>
        IsHostId(host) ? TypedResults.Ok(await broker.ClaimSandboxWorkAsync(host, request, HostRoutes.ClaimWait, cancellationToken)) : TypedResults.BadRequest();

    public static async Task<Results<Ok<HeartbeatResponse>, BadRequest>> HeartbeatAsync(
        string host, Heartbeat beat, RunnerHosts hosts, CancellationToken cancellationToken) =>
        IsHostId(host) ? TypedResults.Ok(await hosts.BeatAsync(host, beat, HostRoutes.HeartbeatInterval, cancellationToken)) : TypedResults.BadRequest();

    /// <summary>
    /// The first result of a session counts; a repeated or late one is answered all the same (stored: false), so the host
    /// stops retrying. A result for a session another host claimed is not found.
    /// </summary>
    public static async Task<Results<Ok<ReportResponse>, NotFound, ProblemHttpResult>> ReportAsync(
        string host, string sessionId, RunResult result, SessionCommands sessions, CancellationToken cancellationToken) =>
        await sessions.CompleteAsync(host, sessionId, result, cancellationToken) switch
        {
            (HostSession.Found, var stored) => TypedResults.Ok(new ReportResponse(stored)),
            (HostSession.NotTheHosts, _) => TypedResults.Problem(Problems.NotTheHosts(host, sessionId)),
            _ => TypedResults.NotFound(),
        };

    /// <summary>
    /// A run's output as it happens (a body streamed for as long as the run lasts): kept in the store, so that whoever
    /// follows the session, on any replica, reads it on.
    /// </summary>
    public static async Task<Results<Ok, NotFound>> ReceiveOutputAsync(
        string host, string sessionId, HttpContext context, ISessionStore store, IOutputLog log, SessionSignals signals, CancellationToken cancellationToken)
    {
        if (!SessionIds.IsWellFormed(sessionId) || await store.FindAsync(sessionId, cancellationToken) is not { Status: SessionStatus.Running } session
            || session.Host != host)
        {
            return TypedResults.NotFound();
        }
        // A run may write little for a long while, and much in all: neither is a client too slow or too big.
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }
        if (context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }
        var reader = context.Request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            var chunks = new List<OutputChunk>();
            while (OutputFrames.TryRead(ref buffer, out var chunk))
            {
                chunks.Add(chunk);
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (chunks.Count > 0)
            {
                await log.AppendOutputAsync(sessionId, chunks, cancellationToken);
                signals.OutputArrived(sessionId);
            }
            if (read.IsCompleted)
            {
                return TypedResults.Ok();
            }
        }
    }

    /// <summary>
    /// An interactive run's input, for its runner host to write to the script's stdin (a long poll of at most
    /// <see cref="HostRoutes.StdinWait"/>; see <see cref="SessionCommands.ReadStdinAsync"/>).
    /// </summary>
    public static async Task<Results<Ok<StdinBatch>, NotFound, ProblemHttpResult>> ReadStdinAsync(
        string host, string sessionId, [FromQuery] long from, SessionCommands sessions, CancellationToken cancellationToken) =>
        await sessions.ReadStdinAsync(host, sessionId, from, HostRoutes.StdinWait, cancellationToken) switch
        {
            (HostSession.Found, { } batch) => TypedResults.Ok(batch),
            (HostSession.NotTheHosts, _) => TypedResults.Problem(Problems.NotTheHosts(host, sessionId)),
            _ => TypedResults.NotFound(),
        };

    private static bool IsHostId(string host) => host.Length is > 0 and <= 128 && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>The path's host must be the one whose credential the call carries, and not revoked.</summary>
    private static async ValueTask<object?> RequireHostCredential(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (request.RouteValues["host"] is not string host || !IsHostId(host))
        {
            return TypedResults.BadRequest();
        }
        var options = context.HttpContext.RequestServices.GetRequiredService<IOptions<SessionServiceOptions>>().Value;
        if (!HostCredentials.IsValid(options.HostSecret, host, request.Headers[ContractsJson.HostTokenHeader].ToString()))
        {
            return TypedResults.Problem(Problems.HostCredentialRequired(host, ContractsJson.HostTokenHeader));
        }
        if (options.RevokedHosts.Contains(host, StringComparer.Ordinal))
        {
            return TypedResults.Problem(Problems.HostRevoked(host));
        }
        return await next(context);
    }
}

/// <summary>Whether the result was stored (false: the session had already ended, or is not the host's).</summary>
public sealed record ReportResponse(bool Stored);
