using System.Net;
using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// The runner host's side of the run protocol: claim work, say it is alive, report results. Every call is the host's:
/// SessionService never calls a host, so a host needs no address anyone can reach, and holds no database credentials.
/// </summary>
public sealed class SessionClient(HttpClient http)
{
    private static readonly TimeSpan ClaimTimeout = HostRoutes.ClaimWait + TimeSpan.FromSeconds(15);
    private static readonly TimeSpan HeartbeatTimeout = HostRoutes.HeartbeatInterval + TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReportTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StdinTimeout = HostRoutes.StdinWait + TimeSpan.FromSeconds(15);

    public Task<ClaimResponse> ClaimAsync(string host, ClaimRequest request, CancellationToken cancellationToken) =>
        ClaimFromAsync(HostRoutes.ClaimsOf(host), request, cancellationToken);

    /// <summary>The sandbox lane: commands to stateful sandboxes (creates up to <see cref="ClaimRequest.Capacity"/>, and every command to one this host holds).</summary>
    public Task<ClaimResponse> ClaimSandboxWorkAsync(string host, ClaimRequest request, CancellationToken cancellationToken) =>
        ClaimFromAsync(HostRoutes.SandboxClaimsOf(host), request, cancellationToken);

    private async Task<ClaimResponse> ClaimFromAsync(string route, ClaimRequest request, CancellationToken cancellationToken)
    {
        using var timeout = Timeout(ClaimTimeout, cancellationToken);
        cancellationToken = timeout.Token;
        using var response = await http.PostAsJsonAsync(route, request, ContractsJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<ClaimResponse>(ContractsJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("SessionService answered a claim with nothing");
    }

    public async Task<HeartbeatResponse> HeartbeatAsync(string host, Heartbeat beat, CancellationToken cancellationToken)
    {
        using var timeout = Timeout(HeartbeatTimeout, cancellationToken);
        cancellationToken = timeout.Token;
        using var response = await http.PostAsJsonAsync(HostRoutes.HeartbeatOf(host), beat, ContractsJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<HeartbeatResponse>(ContractsJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("SessionService answered a heartbeat with nothing");
    }

    /// <summary>Returns once SessionService has the result, or will never want it (the session ended otherwise, or is gone).</summary>
    public async Task ReportAsync(string host, string sessionId, RunResult result, CancellationToken cancellationToken)
    {
        using var timeout = Timeout(ReportTimeout, cancellationToken);
        cancellationToken = timeout.Token;
        using var response = await http.PostAsJsonAsync(HostRoutes.ResultOf(host, sessionId), result, ContractsJson.Options, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            response.EnsureSuccessStatusCode();
        }
    }

    /// <summary>An interactive run's input from byte <paramref name="from"/> on: waits up to <see cref="HostRoutes.StdinWait"/> for some.</summary>
    public async Task<StdinBatch> ReadStdinAsync(string host, string sessionId, long from, CancellationToken cancellationToken)
    {
        using var timeout = Timeout(StdinTimeout, cancellationToken);
        cancellationToken = timeout.Token;
        using var response = await http.GetAsync(HostRoutes.StdinOf(host, sessionId, from), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return new StdinBatch([], from, End: true); // the session is gone: no more input
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<StdinBatch>(ContractsJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("SessionService answered a read of input with nothing");
    }

    /// <summary>
    /// Sends a run's output as it happens: each frame is written and flushed as it comes (a plain stream content would
    /// sit in the connection's buffer until it filled), until the frames end. A run can last long: no timeout.
    /// </summary>
    public async Task StreamOutputAsync(string host, string sessionId, System.Threading.Channels.ChannelReader<byte[]> frames, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, HostRoutes.OutputOf(host, sessionId)) { Content = new FramesContent(frames) };
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    private sealed class FramesContent(System.Threading.Channels.ChannelReader<byte[]> frames) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await foreach (var frame in frames.ReadAllAsync())
            {
                await stream.WriteAsync(frame);
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private static CancellationTokenSource Timeout(TimeSpan after, CancellationToken cancellationToken)
    {
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(after);
        return timeout;
    }
}
