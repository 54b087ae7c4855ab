using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Executor.Contracts;
using Executor.Runner.Runs;

namespace Executor.Runner.Egress;

/// <summary>
/// One connection from a sandbox to its proxy: one request (CONNECT, or an absolute http:// URL), checked, connected,
/// and then its bytes copied both ways and counted until either end closes. One request per connection keeps the
/// proxy simple and its records exact: every request that reaches a destination is an attempt of its own.
/// </summary>
internal sealed partial class EgressExchange(EgressProxy proxy, EgressLease lease, Socket client)
{
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly string[] HopByHop = ["Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer", "Upgrade"];
    private static readonly List<SslApplicationProtocol> Http11 = [SslApplicationProtocol.Http11];

    private ConnectionRecord? _record;

    public async Task RunAsync()
    {
        using var activity = SandboxRunner.ActivitySource.StartActivity("egress connection");
        activity?.SetTag("executor.run_id", lease.RunId);
        await using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            await ServeAsync(stream);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or AuthenticationException)
        {
            // The sandbox or the destination went away, the lease ended, or a limit cut the connection: the record says what moved.
        }
        catch (Exception e)
        {
            LogFailed(proxy.Logger, e, lease.RunId, _record?.Destination);
        }
        if (_record is { } record)
        {
            record.End(proxy.Time);
            var done = record.Snapshot(proxy.Time);
            activity?.SetTag("egress.destination", done.Destination).SetTag("egress.allowed", done.Allowed).SetTag("egress.refused", done.Refused)
                .SetTag("egress.address", done.Address).SetTag("egress.intercepted", done.Intercepted)
                .SetTag("egress.bytes_sent", done.BytesSent).SetTag("egress.bytes_received", done.BytesReceived);
            if (!done.Allowed)
            {
                activity?.SetStatus(ActivityStatusCode.Error, done.Refused);
            }
            LogConnection(proxy.Logger, lease.RunId, done.Destination, done.Allowed, done.Refused, done.Address, done.BytesSent, done.BytesReceived, done.DurationMs);
        }
    }

    private async Task ServeAsync(NetworkStream stream)
    {
        HttpRequestHead? head;
        ReadOnlyMemory<byte> rest;
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(lease.Stopping))
        {
            wait.CancelAfter(HeadTimeout);
            (head, rest) = await HttpRequestHead.ReadAsync(stream, wait.Token);
        }
        if (head is null || Target(head) is not { } target)
        {
            var asked = head?.Target ?? "";
            _record = lease.Record(asked.Length > 260 ? asked[..260] : asked);
            // A malformed request is an attempt too: a run cannot hammer its proxy without meeting its limit.
            lease.TryAttempt();
            await RefuseAsync(stream, EgressRefusals.BadRequest, HttpStatusCode.BadRequest,
                "The egress proxy takes one request a connection: CONNECT host:port, or a method with an absolute http:// URL.");
            return;
        }
        var record = _record = lease.Record(target.Destination);
        if (!lease.TryAttempt() || lease.LimitExceeded.IsCancellationRequested)
        {
            await RefuseAsync(stream, lease.LimitRefusal ?? EgressRefusals.ConnectionLimit, HttpStatusCode.TooManyRequests, lease.LimitDetail ?? "");
            return;
        }
        if (!EgressDestinations.Allows(lease.Policy.Destinations, target.Host, target.Port))
        {
            await RefuseAsync(stream, EgressRefusals.NotAllowed, HttpStatusCode.Forbidden, $"Egress to {target.Destination} is not allowed for this run.");
            return;
        }
        var addresses = await ResolveAsync(target.Host);
        if (addresses.Length == 0)
        {
            await RefuseAsync(stream, EgressRefusals.Unresolved, HttpStatusCode.BadGateway, $"{target.Host} does not resolve.");
            return;
        }
        var permitted = addresses.Where(proxy.IsPermitted).ToList();
        if (permitted.Count == 0)
        {
            record.Address = addresses[0].ToString();
            await RefuseAsync(stream, EgressRefusals.PrivateAddress, HttpStatusCode.Forbidden,
                $"{target.Host} resolves to {record.Address}, an address the egress proxy does not connect to.");
            return;
        }
        using var upstream = await ConnectAsync(permitted, target.Port);
        if (upstream is null)
        {
            await RefuseAsync(stream, EgressRefusals.ConnectFailed, HttpStatusCode.BadGateway, $"Could not connect to {target.Destination}.");
            return;
        }
        await using var upstreamStream = new NetworkStream(upstream, ownsSocket: false);
        var credentials = proxy.CredentialsFor(target.Host);
        if (!target.Connect)
        {
            record.Allowed = true;
            await upstreamStream.WriteAsync(Rewrite(head, target, credentials), lease.Cut);
            await PumpAsync(stream, client, rest, upstreamStream, null, untilResponse: true);
        }
        else if (credentials.Count == 0 || proxy.Authority is not { } authority)
        {
            record.Allowed = true;
            await stream.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), lease.Cut);
            await PumpAsync(stream, client, rest, upstreamStream, upstream, untilResponse: false);
        }
        else
        {
            await InterceptAsync(stream, rest, upstreamStream, target, credentials, authority);
        }
    }

    /// <summary>
    /// Terminates the sandbox's TLS with a certificate for the host from the deployment's authority, adds the credential
    /// to its request, and sends it on over TLS validated as any client would. The upstream handshake comes first, so a
    /// destination that fails it is refused before the sandbox is told the tunnel is up.
    /// </summary>
    private async Task InterceptAsync(
        NetworkStream stream, ReadOnlyMemory<byte> rest, NetworkStream upstreamStream, Target target, List<EgressCredential> credentials, EgressAuthority authority)
    {
        var record = _record!;
        if (!rest.IsEmpty)
        {
            await RefuseAsync(stream, EgressRefusals.BadRequest, HttpStatusCode.BadRequest, "Send nothing after CONNECT before the proxy answers it.");
            return;
        }
        await using var upstreamTls = new SslStream(upstreamStream, leaveInnerStreamOpen: false, proxy.ValidateUpstream);
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(lease.Cut))
        {
            handshake.CancelAfter(ConnectTimeout);
            try
            {
                await upstreamTls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions { TargetHost = target.Host.Trim('[', ']'), ApplicationProtocols = Http11 }, handshake.Token);
            }
            catch (Exception e) when (e is AuthenticationException or IOException || e is OperationCanceledException && !lease.Cut.IsCancellationRequested)
            {
                LogUpstreamTls(proxy.Logger, lease.RunId, target.Destination, e.Message);
                await RefuseAsync(stream, EgressRefusals.ConnectFailed, HttpStatusCode.BadGateway, $"TLS to {target.Destination} failed.");
                return;
            }
        }
        record.Allowed = true;
        record.Intercepted = true;
        await stream.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), lease.Cut);
        await using var sandboxTls = new SslStream(stream, leaveInnerStreamOpen: true);
        HttpRequestHead? head;
        ReadOnlyMemory<byte> body;
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(lease.Cut))
        {
            wait.CancelAfter(HeadTimeout);
            await sandboxTls.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions { ServerCertificateContext = authority.LeafFor(target.Host), ApplicationProtocols = Http11 }, wait.Token);
            (head, body) = await HttpRequestHead.ReadAsync(sandboxTls, wait.Token);
        }
        if (head is null)
        {
            return;
        }
        await upstreamTls.WriteAsync(Rewrite(head, target with { OriginForm = head.Target }, credentials), lease.Cut);
        await PumpAsync(sandboxTls, client, body, upstreamTls, null, untilResponse: true);
    }

    /// <summary>
    /// The request as the destination gets it: origin-form, Host naming the destination checked, no hop-by-hop or
    /// proxy fields, the operator's credentials in place of any the sandbox sent, and Connection: close.
    /// </summary>
    private byte[] Rewrite(HttpRequestHead head, Target target, List<EgressCredential> credentials)
    {
        foreach (var name in HopByHop.Concat(credentials.Select(c => c.Header)).Append("Host"))
        {
            head.Remove(name);
        }
        var defaultPort = target.Connect ? 443 : 80;
        head.Fields.Insert(0, new("Host", target.Port == defaultPort ? target.Host : target.Destination));
        head.Fields.AddRange(credentials.Select(c => new KeyValuePair<string, string>(c.Header, c.Value)));
        head.Fields.Add(new("Connection", "close"));
        var bytes = head.Serialize(target.OriginForm);
        return lease.TryMove(bytes.Length) ? Counted(bytes, sent: true) : throw Cut();
    }

    private byte[] Counted(byte[] bytes, bool sent)
    {
        if (sent)
        {
            _record!.AddSent(bytes.Length);
        }
        else
        {
            _record!.AddReceived(bytes.Length);
        }
        return bytes;
    }

    private OperationCanceledException Cut()
    {
        _record!.Refused = EgressRefusals.ByteLimit;
        return new OperationCanceledException(lease.LimitDetail);
    }

    /// <summary>
    /// Copies both ways until the exchange is over: for a tunnel when both ends have closed (each end's close is passed
    /// on as a half-close), for a forwarded request when the destination has sent its response and closed.
    /// </summary>
    private async Task PumpAsync(Stream sandbox, Socket sandboxSocket, ReadOnlyMemory<byte> pending, Stream destination, Socket? destinationSocket, bool untilResponse)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(lease.Cut);
        var up = CopyAsync(sandbox, destination, pending, toDestination: true, destinationSocket, done.Token);
        var down = CopyAsync(destination, sandbox, default, toDestination: false, untilResponse ? null : sandboxSocket, done.Token);
        try
        {
            if (untilResponse)
            {
                await down;
            }
            else
            {
                await await Task.WhenAny(up, down);
                await Task.WhenAll(up, down);
            }
        }
        finally
        {
            await done.CancelAsync();
            await Task.WhenAll(up, down).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task CopyAsync(Stream from, Stream to, ReadOnlyMemory<byte> pending, bool toDestination, Socket? halfClose, CancellationToken cancellationToken)
    {
        if (!pending.IsEmpty)
        {
            await MoveAsync(to, pending, toDestination, cancellationToken);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await MoveAsync(to, buffer.AsMemory(0, read), toDestination, cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        halfClose?.Shutdown(SocketShutdown.Send);
    }

    private async Task MoveAsync(Stream to, ReadOnlyMemory<byte> bytes, bool toDestination, CancellationToken cancellationToken)
    {
        if (!lease.TryMove(bytes.Length))
        {
            throw Cut();
        }
        await to.WriteAsync(bytes, cancellationToken);
        if (toDestination)
        {
            _record!.AddSent(bytes.Length);
        }
        else
        {
            _record!.AddReceived(bytes.Length);
        }
    }

    private async Task<IPAddress[]> ResolveAsync(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            return [literal];
        }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(lease.Cut);
        wait.CancelAfter(ConnectTimeout);
        try
        {
            return await Dns.GetHostAddressesAsync(host, wait.Token);
        }
        catch (Exception e) when (e is SocketException || e is OperationCanceledException && !lease.Cut.IsCancellationRequested)
        {
            return [];
        }
    }

    /// <summary>Connects to the first address that answers; null when none does.</summary>
    private async Task<Socket?> ConnectAsync(List<IPAddress> addresses, int port)
    {
        foreach (var address in addresses)
        {
            _record!.Address = address.ToString();
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(lease.Cut);
            wait.CancelAfter(ConnectTimeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), wait.Token);
                return socket;
            }
            catch (Exception e) when (e is SocketException || e is OperationCanceledException && !lease.Cut.IsCancellationRequested)
            {
                socket.Dispose();
            }
        }
        return null;
    }

    private async Task RefuseAsync(Stream stream, string reason, HttpStatusCode status, string message)
    {
        var record = _record!;
        record.Allowed = false;
        record.Refused = reason;
        var body = Encoding.UTF8.GetBytes(message + "\n");
        var head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {(int)status} {ReasonPhrase(status)}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(lease.Stopping);
        wait.CancelAfter(ConnectTimeout);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(body).ToArray(), wait.Token);
    }

    private static string ReasonPhrase(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "Bad Request",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.TooManyRequests => "Too Many Requests",
        _ => "Bad Gateway",
    };

    /// <summary>Where a request asks to go: CONNECT's authority, or an absolute http:// URL's.</summary>
    private static Target? Target(HttpRequestHead head)
    {
        if (head.Method == "CONNECT")
        {
            var authority = head.Target;
            var colon = authority.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is <= 0 or > 65535)
            {
                return null;
            }
            var host = authority[..colon].ToLowerInvariant();
            var kind = Uri.CheckHostName(host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host);
            if (kind is UriHostNameType.Unknown or UriHostNameType.Basic || kind == UriHostNameType.IPv6 && !host.StartsWith('[')
                || kind != UriHostNameType.IPv6 && host.StartsWith('['))
            {
                return null;
            }
            return new Target(host, port, Connect: true, "");
        }
        if (!Uri.TryCreate(head.Target, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.UserInfo.Length > 0
            || !head.Target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var name = uri.IdnHost.ToLowerInvariant();
        return new Target(uri.HostNameType == UriHostNameType.IPv6 && !name.StartsWith('[') ? "[" + name + "]" : name, uri.Port, Connect: false, uri.PathAndQuery);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Egress of run {RunId} to {Destination}: allowed {Allowed}, refused {Refused}, address {Address}, {BytesSent} bytes sent, {BytesReceived} received, {DurationMs} ms")]
    private static partial void LogConnection(
        ILogger logger, string runId, string destination, bool allowed, string? refused, string? address, long bytesSent, long bytesReceived, double durationMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Egress of run {RunId}: TLS to {Destination} failed: {Reason}")]
    private static partial void LogUpstreamTls(ILogger logger, string runId, string destination, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Egress of run {RunId} to {Destination} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string runId, string? destination);
}

/// <summary>A request's destination: <see cref="Host"/> as the destinations' grammar writes it (IPv6 bracketed).</summary>
internal sealed record Target(string Host, int Port, bool Connect, string OriginForm)
{
    public string Destination => Host + ":" + Port.ToString(CultureInfo.InvariantCulture);
}
