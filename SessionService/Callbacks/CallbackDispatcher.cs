using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Executor.Session.Dispatch;
using Executor.Session.Live;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Microsoft.Extensions.Options;

namespace Executor.Session.Callbacks;

/// <summary>
/// Delivers callbacks from the outbox (<see cref="ICallbackOutbox"/>), on every replica, never on the path of a run: it
/// leases what is due, POSTs each session's result, signed, and records the outcome. A failure (no answer, a non-2xx
/// answer, a refused address) is retried with exponential backoff until Callbacks:MaxAttempts; a replica that dies
/// mid-attempt loses nothing (its lease runs out and another attempt follows). Delivery is at least once: receivers
/// deduplicate by X-Executor-Session.
/// </summary>
public sealed partial class CallbackDispatcher(
    ICallbackOutbox outbox, ISessionStore store, SessionSignals signals, CallbackAddressGuard guard,
    IOptionsMonitor<CallbackOptions> options, TimeProvider time, ILogger<CallbackDispatcher> logger) : BackgroundService
{
    public static readonly ActivitySource ActivitySource = new("Executor.Callbacks");
    private static readonly TimeSpan LookAgain = TimeSpan.FromSeconds(5);

    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        ConnectCallback = guard.ConnectAsync,
        AllowAutoRedirect = false, // a redirect is a failure, never a way around the guard
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var ended = signals.WhenAnyEnded(stoppingToken); // listen first, then look
            try
            {
                var settings = options.CurrentValue;
                var due = await outbox.LeaseDueCallbacksAsync(settings.Concurrency, TimeSpan.FromSeconds(settings.TimeoutSeconds + 10), stoppingToken);
                await Task.WhenAll(due.Select(c => DeliverAsync(c, settings, stoppingToken)));
                if (due.Count == settings.Concurrency)
                {
                    continue; // more may be due
                }
                var next = await outbox.NextCallbackDueAsync(stoppingToken);
                var wait = next is { } at ? Clamp(at - time.GetUtcNow()) : LookAgain;
                await Task.WhenAny(ended, Task.Delay(wait, time, stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogOutboxFailed(e.Message); // the store is down: the outbox waits in it
                await Task.Delay(LookAgain, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private static TimeSpan Clamp(TimeSpan wait) => wait < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : wait > LookAgain ? LookAgain : wait;

    private async Task DeliverAsync(CallbackRecord callback, CallbackOptions settings, CancellationToken stoppingToken)
    {
        using var activity = ActivitySource.StartActivity("deliver callback", ActivityKind.Producer);
        activity?.SetTag("executor.session_id", callback.SessionId);
        activity?.SetTag("executor.callback.attempt", callback.Attempts);
        string? error;
        try
        {
            error = await AttemptAsync(callback, settings, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return; // shutting down: the lease runs out and the attempt is made again
        }
        var delivered = error is null;
        var retry = !delivered && callback.Attempts < settings.MaxAttempts ? time.GetUtcNow() + settings.RetryDelay(callback.Attempts) : (DateTimeOffset?)null;
        activity?.SetTag("executor.callback.outcome", delivered ? "delivered" : retry is null ? "failed" : "retry");
        if (delivered)
        {
            LogDelivered(callback.SessionId, callback.Attempts);
        }
        else if (retry is null)
        {
            LogGaveUp(callback.SessionId, callback.Attempts, error!);
        }
        else
        {
            LogRetrying(callback.SessionId, callback.Attempts, error!, retry.Value);
        }
        await outbox.RecordCallbackAsync(callback.SessionId, delivered, retry, error, CancellationToken.None);
    }

    /// <summary>One POST (a PUT for Judge0 submissions): null when the receiver took it (2xx), else what went wrong.</summary>
    private async Task<string?> AttemptAsync(CallbackRecord callback, CallbackOptions settings, CancellationToken stoppingToken)
    {
        if (await store.FindAsync(callback.SessionId, stoppingToken) is not { Result: not null } session)
        {
            return "the session is gone";
        }
        if (settings.SigningSecret is not { Length: > 0 } secret)
        {
            return "Callbacks:SigningSecret is not set: nothing is sent unsigned";
        }
        // A Judge0 submission's callback is Judge0's: a PUT of the submission as Judge0 writes it.
        var judge0 = session.Options.LanguageId is not null;
        var body = judge0
            ? JsonSerializer.SerializeToUtf8Bytes(Compat.Judge0Format.Submission(session, null, Compat.Judge0Format.DefaultFields, base64: false))
            : JsonSerializer.SerializeToUtf8Bytes(SessionResults.From(session), SessionFeed.Json);
        using var request = new HttpRequestMessage(judge0 ? HttpMethod.Put : HttpMethod.Post, callback.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.UserAgent.ParseAdd("Executor-Callbacks/1");
        request.Headers.Add(CallbackSigner.Header, CallbackSigner.Sign(secret, time.GetUtcNow(), body));
        request.Headers.Add("X-Executor-Session", session.Id);
        request.Headers.Add("X-Executor-Attempt", callback.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"the receiver answered HTTP {(int)response.StatusCode}";
        }
        catch (HttpRequestException e)
        {
            return e.InnerException is CallbackRefusedException refused ? $"refused: {refused.Message}" : $"no answer: {e.Message}";
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return $"no answer within {settings.TimeoutSeconds} s";
        }
    }

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Callback of session {SessionId} delivered (attempt {Attempt})")]
    private partial void LogDelivered(string sessionId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Callback of session {SessionId} failed (attempt {Attempt}: {Error}); next attempt at {RetryAt:O}")]
    private partial void LogRetrying(string sessionId, int attempt, string error, DateTimeOffset retryAt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Callback of session {SessionId} given up after {Attempts} attempts: {Error}")]
    private partial void LogGaveUp(string sessionId, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The callback outbox cannot be read: {Reason}")]
    private partial void LogOutboxFailed(string reason);
}
