using System.Net;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// This host's PrewarmService: leases warm containers (any failure means "no warm container": the run goes cold), and
/// relays the pool's state and POST /prewarm between it and SessionService. A leased container is this process's: it
/// gives it its leased name (<see cref="LeasedNames"/>).
/// </summary>
public sealed partial class PrewarmClient(HttpClient http, LeasedNames names, ILogger<PrewarmClient> logger)
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = ContractsJson.Options;

    /// <summary>The pool's state; null while the pool cannot be asked.</summary>
    public async Task<PoolStatus?> GetPoolAsync(CancellationToken cancellationToken)
    {
        try
        {
            return (await http.GetFromJsonAsync<PoolState>(PoolRoutes.State, Json, cancellationToken))?.ToStatus();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Polly.ExecutionRejectedException
            && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Applies a POST /prewarm to this host's pool; false when the pool could not be reached (asked again later).</summary>
    public async Task<bool> PrewarmAsync(int? count, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.PostAsync(count is { } n ? $"{PoolRoutes.Prewarm}?count={n}" : PoolRoutes.Prewarm, null, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Polly.ExecutionRejectedException
            && !cancellationToken.IsCancellationRequested)
        {
            LogPrewarmFailed(e.Message);
            return false;
        }
    }

    public async Task<string?> TryLeaseAsync(int waitMs, CancellationToken cancellationToken, string? runtime = null)
    {
        try
        {
            var query = runtime is null ? "" : $"&runtime={Uri.EscapeDataString(runtime)}";
            using var response = await http.PostAsync($"{PoolRoutes.Leases}?wait_ms={waitMs}{query}", null, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NoContent)
            {
                return null;
            }
            response.EnsureSuccessStatusCode();
            var lease = await response.Content.ReadFromJsonAsync<LeaseResponse>(Json, cancellationToken);
            if (lease?.ContainerId is { } containerId)
            {
                names.Leased(containerId);
            }
            return lease?.ContainerId;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Polly.CircuitBreaker.BrokenCircuitException
            or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
        {
            LogLeaseFailed(e.Message);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not relay a prewarm request to the pool: {Reason}")]
    private partial void LogPrewarmFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No warm container: the pool is unreachable ({Reason}); starting cold")]
    private partial void LogLeaseFailed(string reason);
}
