using System.Net;
using Executor.RunProtocol;

namespace Executor.Runner.Runs;

/// <summary>
/// The runner host's side of the run protocol: claim work, say it is alive, report results. Every call is the host's:
/// SessionService never calls a host, so a host needs no address anyone can reach, and holds no database credentials.
/// </summary>
public sealed class SessionClient(HttpClient http)
{
    public async Task<ClaimResponse> ClaimAsync(string host, ClaimRequest request, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(HostRoutes.ClaimsOf(host), request, RunProtocolJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<ClaimResponse>(RunProtocolJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("SessionService answered a claim with nothing");
    }

    public async Task<HeartbeatResponse> HeartbeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(HostRoutes.HeartbeatOf(host), beat, RunProtocolJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<HeartbeatResponse>(RunProtocolJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("SessionService answered a heartbeat with nothing");
    }

    /// <summary>Returns once SessionService has the result, or will never want it (the session ended otherwise, or is gone).</summary>
    public async Task ReportAsync(string host, string sessionId, RunResult result, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(HostRoutes.ResultOf(host, sessionId), result, RunProtocolJson.Options, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            response.EnsureSuccessStatusCode();
        }
    }
}
