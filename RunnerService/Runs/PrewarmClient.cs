using System.Net;
using System.Text.Json;

namespace Executor.Runner.Runs;

/// <summary>Leases warm containers from PrewarmService. Any failure means "no warm container": the run goes cold.</summary>
public sealed partial class PrewarmClient(HttpClient http, ILogger<PrewarmClient> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public async Task<string?> TryLeaseAsync(int waitMs, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.PostAsync($"/leases?wait_ms={waitMs}", null, cancellationToken);
            if (response.StatusCode == HttpStatusCode.NoContent)
            {
                return null;
            }
            response.EnsureSuccessStatusCode();
            var lease = await response.Content.ReadFromJsonAsync<LeaseResponse>(Json, cancellationToken);
            return lease?.ContainerId;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Polly.CircuitBreaker.BrokenCircuitException
            or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
        {
            LogLeaseFailed(e.Message);
            return null;
        }
    }

    private sealed record LeaseResponse(string ContainerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No warm container: the pool is unreachable ({Reason}); starting cold")]
    private partial void LogLeaseFailed(string reason);
}
