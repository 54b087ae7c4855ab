using System.Text.Json;

namespace Executor.Session.Dispatch;

/// <summary>
/// Calls RunnerService. Runs are idempotent by session id there, so the resilience handler may retry a run
/// request safely: a retry joins the run in progress or gets its result, it never starts a second one.
/// </summary>
public sealed class RunnerClient(HttpClient http)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public async Task<RunResult> RunAsync(RunRequest request, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/runs", request, Json, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<RunResult>(Json, cancellationToken)
            ?? throw new InvalidOperationException("The runner answered with no result");
    }

    /// <summary>Kills the session's run if it is running; the runner answers with the run's final result.</summary>
    public async Task<RunResult?> CancelAsync(string sessionId, CancellationToken cancellationToken)
    {
        using var response = await http.DeleteAsync($"/runs/{Uri.EscapeDataString(sessionId)}", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<RunResult>(Json, cancellationToken);
    }
}
