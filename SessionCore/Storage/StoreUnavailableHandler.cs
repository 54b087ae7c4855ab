using System.Data.Common;
using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;

namespace Executor.SessionCore.Storage;

/// <summary>
/// A database that cannot be reached (PostgreSQL down, a connection refused or cut) makes any request a 503 problem with
/// Retry-After, not a 500: nothing was stored, and the client should come back. Service resumes by itself when the
/// database returns (connections are pooled and re-opened).
/// </summary>
public sealed partial class StoreUnavailableHandler(ISessionStore store, IProblemDetailsService problems, ILogger<StoreUnavailableHandler> logger)
    : IExceptionHandler
{
    private const int RetryAfterSeconds = 5;

    public static bool IsUnavailable(Exception e) =>
        e is DbException or System.Net.Sockets.SocketException or TimeoutException
        || e.InnerException is { } inner && IsUnavailable(inner);

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsUnavailable(exception))
        {
            return false;
        }
        LogUnavailable(store.Description, exception.Message);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = Problems.Create(StatusCodes.Status503ServiceUnavailable, "store-unavailable", "The session store is unavailable",
                // Where the database is and what its driver said are for the operators' logs, not for callers.
                $"The session store cannot be reached. Nothing was stored; retry in {RetryAfterSeconds} s."),
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The session store ({Store}) is unavailable: {Reason}")]
    private partial void LogUnavailable(string store, string reason);
}
