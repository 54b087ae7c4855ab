using System.Globalization;
using System.Threading.RateLimiting;
using Executor.SessionCore;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sessions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Live;

/// <summary>
/// Live streams (the Server-Sent Events of GET /result/{id}/events, the attach WebSocket) and long polls (wait mode)
/// held open at once, per key: each holds a task, a connection and a look at the store every second for as long as it
/// lasts, so one key opening thousands would take them from everyone. Counted per replica (Sessions:MaxStreamsPerKey).
/// </summary>
public sealed class StreamGate(IOptions<SessionServiceOptions> options, IOptions<AuthOptions> auth) : IDisposable
{
    public const int RetryAfterSeconds = 5;

    private readonly PartitionedRateLimiter<string> _open = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = options.Value.MaxStreamsPerKey,
            QueueLimit = 0,
        }));

    /// <summary>
    /// Takes a place for the caller's stream until the request ends; a 429 problem (Retry-After set) when the caller
    /// holds as many as it may.
    /// </summary>
    public ProblemDetails? TryEnter(HttpContext context)
    {
        var lease = _open.AttemptAcquire(Caller.Of(context, auth.Value).Id);
        if (lease.IsAcquired)
        {
            context.Response.RegisterForDispose(lease);
            return null;
        }
        lease.Dispose();
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "too-many-streams", "Too many open streams",
            $"This key has {options.Value.MaxStreamsPerKey} live streams and waiting requests open, as many as it may; close one, or retry in {RetryAfterSeconds} s.");
    }

    public void Dispose() => _open.Dispose();
}
