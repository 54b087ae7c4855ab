using System.Text.Json;
using Executor.Session.Sessions;
using Microsoft.Extensions.Options;

namespace Executor.Session.Dispatch;

/// <summary>
/// Whether runs can be run right now: the runner is reachable and says its container engine is. Asked every couple
/// of seconds; while the answer is no, new submissions get 503 and queued sessions wait (they are not failed).
/// </summary>
public sealed partial class EngineStatus(
    IHttpClientFactory httpClients,
    IOptions<SessionServiceOptions> options,
    TimeProvider time,
    ILogger<EngineStatus> logger) : BackgroundService
{
    public const string ClientName = "runner-health";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    private volatile string? _unavailable;
    private TaskCompletionSource _available = NewSignal(set: true);

    /// <summary>Null while runs can run; otherwise why not.</summary>
    public string? Unavailable => _unavailable;

    /// <summary>Completes when runs can run (at once if they can now).</summary>
    public Task WhenAvailableAsync(CancellationToken cancellationToken) => Volatile.Read(ref _available).Task.WaitAsync(cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            Update(await AskAsync(stoppingToken));
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<string?> AskAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var http = httpClients.CreateClient(ClientName);
            http.BaseAddress = new Uri(options.Value.RunnerUrl);
            using var response = await http.GetAsync("/health", timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                return null;
            }
            var report = await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token);
            var reasons = report.TryGetProperty("checks", out var checks)
                ? checks.EnumerateArray().Where(c => c.GetProperty("status").GetString() == "Unhealthy")
                    .Select(c => c.GetProperty("description").GetString()).OfType<string>()
                : [];
            return string.Join("; ", reasons.DefaultIfEmpty($"the runner is not ready ({(int)response.StatusCode})"));
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return $"the runner is unreachable ({e.Message})";
        }
    }

    private void Update(string? unavailable)
    {
        var was = _unavailable;
        _unavailable = unavailable;
        if (unavailable is null && was is not null)
        {
            LogAvailableAgain();
            Volatile.Read(ref _available).TrySetResult();
        }
        else if (unavailable is not null && was is null)
        {
            LogUnavailable(unavailable);
            Volatile.Write(ref _available, NewSignal(set: false));
        }
    }

    private static TaskCompletionSource NewSignal(bool set)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (set)
        {
            signal.SetResult();
        }
        return signal;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runs cannot run: {Reason}. New sessions get 503; queued ones wait")]
    private partial void LogUnavailable(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Runs can run again; queued sessions resume")]
    private partial void LogAvailableAgain();
}
