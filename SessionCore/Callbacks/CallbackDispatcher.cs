using Executor.Contracts;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Callbacks;

/// <summary>
/// Delivers callbacks from the outbox (<see cref="ICallbackOutbox"/>), on every replica, never on the path of a run: it
/// leases what is due, POSTs each session's result, signed, and records the outcome. A failure (no answer, a non-2xx
/// answer, a refused address) is retried with exponential backoff until Callbacks:MaxAttempts; a replica that dies
/// mid-attempt loses nothing (its lease runs out and another attempt follows). Delivery is at least once: receivers
/// deduplicate by webhook-id. Each delivery starts as soon as a slot is free (Callbacks:Concurrency in all, at most
/// Callbacks:PerDestinationConcurrency per receiver), so a receiver that never answers delays only its own callbacks.
/// </summary>
public sealed partial class CallbackDispatcher(
    ICallbackOutbox outbox, ISessionStore store, SessionSignals signals, CallbackAddressGuard guard, IEnumerable<ICallbackFormat> formats,
    IOptionsMonitor<CallbackOptions> options, TimeProvider time, ILogger<CallbackDispatcher> logger) : BackgroundService
{
    private readonly Dictionary<string, ICallbackFormat> _formats = formats.ToDictionary(f => f.Surface, StringComparer.Ordinal);

    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Callbacks);
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

    // Deliveries in flight (and leased ones waiting for their receiver's slot), per destination; guarded by _slots.
    private readonly Lock _slots = new();
    private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<CallbackRecord>> _waiting = new(StringComparer.Ordinal);
    private readonly HashSet<Task> _running = [];
    private int _held;
    private TaskCompletionSource _slotFreed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var ended = signals.WhenAnyEnded(stoppingToken); // listen first, then look
                Task freed;
                int free;
                string[] full;
                var settings = options.CurrentValue;
                lock (_slots)
                {
                    freed = _slotFreed.Task;
                    free = settings.Concurrency - _held;
                    full = [.. _inFlight.Where(d => d.Value >= settings.PerDestinationConcurrency).Select(d => d.Key)];
                }
                try
                {
                    TimeSpan wait = LookAgain;
                    if (free > 0)
                    {
                        var due = await outbox.LeaseDueCallbacksAsync(
                            free, settings.PerDestinationConcurrency, full, TimeSpan.FromSeconds(settings.TimeoutSeconds + 10), stoppingToken);
                        foreach (var callback in due)
                        {
                            Start(callback, settings, stoppingToken);
                        }
                        if (due.Count == free)
                        {
                            continue; // more may be due
                        }
                        var next = await outbox.NextCallbackDueAsync(full, stoppingToken);
                        wait = next is { } at ? Clamp(at - time.GetUtcNow()) : LookAgain;
                    }
                    await Task.WhenAny(ended, freed, Task.Delay(wait, time, stoppingToken));
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
        finally
        {
            Task[] running;
            lock (_slots)
            {
                running = [.. _running];
            }
            await Task.WhenAll(running); // they end at once: the same token stops them
        }
    }

    private static TimeSpan Clamp(TimeSpan wait) => wait < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : wait > LookAgain ? LookAgain : wait;

    /// <summary>The receiver a callback goes to: its URL's scheme, host and port.</summary>
    public static string DestinationOf(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
            ? $"{uri.Scheme}://{(uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.IdnHost}]" : uri.IdnHost)}:{uri.Port}".ToLowerInvariant()
            : url;

    /// <summary>Starts a leased callback now if its receiver has a free slot, else when one of its deliveries ends.</summary>
    private void Start(CallbackRecord callback, CallbackOptions settings, CancellationToken stoppingToken)
    {
        var destination = callback.Destination ?? DestinationOf(callback.Url);
        lock (_slots)
        {
            _held++;
            if (_inFlight.GetValueOrDefault(destination) >= settings.PerDestinationConcurrency)
            {
                // Leased in the same batch as others to this receiver: at most one slot's worth waits, so it starts
                // within one attempt's time, well inside its lease.
                (_waiting.TryGetValue(destination, out var queue) ? queue : _waiting[destination] = new()).Enqueue(callback);
                return;
            }
            _inFlight[destination] = _inFlight.GetValueOrDefault(destination) + 1;
            Run(callback, destination, settings, stoppingToken);
        }
    }

    private void Run(CallbackRecord callback, string destination, CallbackOptions settings, CancellationToken stoppingToken)
    {
        var delivery = Task.Run(() => DeliverAsync(callback, settings, stoppingToken), CancellationToken.None);
        _running.Add(delivery);
        // Not synchronously: this runs under _slots, which the continuation takes.
        delivery.ContinueWith(done => Finished(done, destination, settings, stoppingToken), CancellationToken.None,
            TaskContinuationOptions.None, TaskScheduler.Default);
    }

    private void Finished(Task delivery, string destination, CallbackOptions settings, CancellationToken stoppingToken)
    {
        lock (_slots)
        {
            _running.Remove(delivery);
            _held--;
            if (_waiting.TryGetValue(destination, out var queue) && queue.TryDequeue(out var next) && !stoppingToken.IsCancellationRequested)
            {
                Run(next, destination, settings, stoppingToken); // the slot passes on: its count stays
            }
            else if (--_inFlight[destination] == 0)
            {
                _inFlight.Remove(destination);
            }
            if (queue is { Count: 0 })
            {
                _waiting.Remove(destination);
            }
            _slotFreed.TrySetResult();
            _slotFreed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    private async Task DeliverAsync(CallbackRecord callback, CallbackOptions settings, CancellationToken stoppingToken)
    {
        using var activity = ActivitySource.StartActivity("deliver callback", ActivityKind.Producer);
        activity?.SetTag("executor.session_id", callback.SessionId);
        activity?.SetTag("executor.callback.attempt", callback.Attempts);
        (string Shown, string Logged)? error;
        try
        {
            error = await AttemptAsync(callback, settings, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return; // shutting down: the lease runs out and the attempt is made again
        }
        catch (Exception e)
        {
            error = ("not delivered", e.Message); // the store failed mid-attempt: the attempt counts, a retry follows
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
            LogGaveUp(callback.SessionId, callback.Attempts, error!.Value.Logged);
        }
        else
        {
            LogRetrying(callback.SessionId, callback.Attempts, error!.Value.Logged, retry.Value);
        }
        try
        {
            await outbox.RecordCallbackAsync(callback.SessionId, delivered, retry, error?.Shown, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogOutboxFailed(e.Message); // not recorded: the lease runs out and the attempt is made again
        }
    }

    /// <summary>
    /// One POST of the result (or what the session's surface sends instead): null when the receiver took it (2xx), else what went wrong, twice: as
    /// the caller may read it (GET /result/{id}/callback) and as the operator's log says it. The caller never learns what
    /// a name resolved to, nor how an internal receiver failed (which ports answer).
    /// </summary>
    private async Task<(string Shown, string Logged)?> AttemptAsync(CallbackRecord callback, CallbackOptions settings, CancellationToken stoppingToken)
    {
        if (await store.FindAsync(callback.SessionId, stoppingToken) is not { Result: not null } session)
        {
            return ("the session is gone", "the session is gone");
        }
        if (settings.SigningSecret is not { Length: > 0 } secret)
        {
            const string unsigned = "Callbacks:SigningSecret is not set: nothing is sent unsigned";
            return (unsigned, unsigned);
        }
        // A surface with a callback of its own sends it for the sessions it submitted; the others send the result.
        var format = session.Options.Surface is { } surface ? _formats.GetValueOrDefault(surface) : null;
        var body = format?.Body(session) ?? JsonSerializer.SerializeToUtf8Bytes(SessionResults.From(session), SessionResults.Json);
        using var request = new HttpRequestMessage(format?.Method ?? HttpMethod.Post, callback.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.UserAgent.ParseAdd("Executor-Callbacks/1");
        foreach (var (name, value) in CallbackSigner.Headers(secret, session.Id, time.GetUtcNow(), body))
        {
            request.Headers.Add(name, value);
        }
        request.Headers.Add("X-Executor-Session", session.Id);
        request.Headers.Add("X-Executor-Attempt", callback.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        (string Shown, string Logged) failure;
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                return null;
            }
            var status = $"the receiver answered HTTP {(int)response.StatusCode}";
            failure = (status, status);
        }
        catch (HttpRequestException e) when (e.InnerException is CallbackRefusedException refused)
        {
            return ("refused: the receiver's host no longer resolves to addresses a callback may go to", $"refused: {refused.Message}");
        }
        catch (HttpRequestException e)
        {
            failure = ("no answer (the connection failed)", $"no answer: {e.Message}");
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            var late = $"no answer within {settings.TimeoutSeconds} s";
            failure = (late, late);
        }
        // An allow-listed internal receiver: how it failed would map the internal network for the caller.
        return await guard.IsInternalAsync(request.RequestUri!.IdnHost, stoppingToken)
            ? ("not delivered (the receiver is on an internal network: the service's logs say why)", failure.Logged)
            : failure;
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
