using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Executor.Contracts;
using Executor.Runner.Egress;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Executor.UnitTests.Egress;

/// <summary>
/// The runner host's egress proxy over real sockets: the sandbox's side is the lease's Unix socket, the destinations are
/// servers of the test's own on 127.0.0.1 (allowed as a private address, as an operator would allow an internal index).
/// </summary>
public sealed class EgressProxyTests : IDisposable
{
    private const string Secret = "Bearer s3cr3t-egress-token";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "egress-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private EgressProxy Proxy(Action<EgressOptions>? configure = null)
    {
        var options = new EgressOptions
        {
            SocketDirectory = Path.Combine(_root, "s"),
            CertificateDirectory = Path.Combine(_root, "ca"),
            AllowedPrivateAddresses = ["127.0.0.1/32"],
        };
        configure?.Invoke(options);
        Assert.True(new EgressOptionsValidator().Validate(null, options).Succeeded);
        return new EgressProxy(Options.Create(options), TimeProvider.System, NullLogger<EgressProxy>.Instance);
    }

    private static Task<EgressLease> Open(EgressProxy proxy, params string[] destinations) =>
        proxy.OpenAsync("run-1", new EgressPolicy([.. destinations.Select(d => EgressDestinations.Normalize(d)!)], 1 << 20, 8), CancellationToken.None);

    private static async Task<NetworkStream> ConnectAsync(EgressLease lease)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(lease.Directory, LauncherEgress.SocketName)));
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Sends a request head and reads the proxy's answer up to the end of its head (and its body when it closes).</summary>
    private static async Task<string> AskAsync(Stream stream, string request, bool toEnd)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            answer.Write(buffer, 0, read);
            if (!toEnd && Encoding.ASCII.GetString(answer.ToArray()).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                break;
            }
        }
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    /// <summary>Opens a lease allowing <paramref name="destinations"/>, sends one request, and returns the answer and its record.</summary>
    private static async Task<(string Answer, EgressConnection Connection)> AskOnceAsync(EgressProxy proxy, string request, params string[] destinations)
    {
        await using var lease = await Open(proxy, destinations);
        using (var stream = await ConnectAsync(lease))
        {
            var answer = await AskAsync(stream, request, toEnd: true);
            await lease.DisposeAsync();
            return (answer, Assert.Single(lease.Connections));
        }
    }

    /// <summary>An HttpClient whose proxy is the lease's socket, as the launcher makes it the sandbox's.</summary>
    private static HttpClient Client(EgressLease lease, string? trustedPem = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = true,
            Proxy = new WebProxy("http://egress.proxy:3128"),
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(lease.Directory, LauncherEgress.SocketName)), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        if (trustedPem is not null)
        {
            var trusted = X509Certificate2.CreateFromPem(trustedPem);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return certificate is X509Certificate2 presented && chain.Build(presented) && presented.MatchesHostname("localhost");
            };
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }

    [Fact]
    public async Task Connect_tunnels_to_an_allowed_destination_and_counts_its_bytes()
    {
        await using var server = LoopbackServer.Echo();
        using var proxy = Proxy();
        var lease = await Open(proxy, $"127.0.0.1:{server.Port}");
        using (var stream = await ConnectAsync(lease))
        {
            var answer = await AskAsync(stream, $"CONNECT 127.0.0.1:{server.Port} HTTP/1.1\r\nHost: 127.0.0.1:{server.Port}\r\n\r\n", toEnd: false);
            Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
            await stream.WriteAsync("hello, egress"u8.ToArray());
            var echoed = new byte[13];
            await stream.ReadExactlyAsync(echoed);
            Assert.Equal("hello, egress", Encoding.ASCII.GetString(echoed));
        }
        await lease.DisposeAsync();

        var connection = Assert.Single(lease.Connections);
        Assert.Equal($"127.0.0.1:{server.Port}", connection.Destination);
        Assert.True(connection.Allowed);
        Assert.Null(connection.Refused);
        Assert.Equal("127.0.0.1", connection.Address);
        Assert.Equal(13, connection.BytesSent);
        Assert.Equal(13, connection.BytesReceived);
        Assert.False(connection.Intercepted);
        Assert.Null(proxy.AuthorityPem);
    }

    [Fact]
    public async Task A_destination_not_allowed_is_refused_with_403_and_recorded()
    {
        await using var server = LoopbackServer.Echo();
        using var proxy = Proxy();

        var (answer, connection) = await AskOnceAsync(proxy, $"CONNECT 127.0.0.1:{server.Port} HTTP/1.1\r\n\r\n", "127.0.0.1:1");

        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{server.Port} is not allowed", answer, StringComparison.Ordinal);
        Assert.Equal((false, EgressRefusals.NotAllowed, null), (connection.Allowed, connection.Refused, connection.Address));
        Assert.Equal(0, server.Accepted);
    }

    [Fact]
    public async Task An_allowed_name_that_resolves_to_a_private_address_is_refused()
    {
        await using var server = LoopbackServer.Echo();
        using var proxy = Proxy(o => o.AllowedPrivateAddresses = []);

        var (answer, connection) = await AskOnceAsync(proxy, $"CONNECT localhost:{server.Port} HTTP/1.1\r\n\r\n", "localhost:*");

        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
        Assert.Equal((false, EgressRefusals.PrivateAddress), (connection.Allowed, connection.Refused));
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(connection.Address!)), connection.Address);
        Assert.Equal(0, server.Accepted);
    }

    [Fact]
    public async Task Plain_http_is_forwarded_with_the_operators_credential_in_place_of_the_sandboxs()
    {
        await using var server = LoopbackServer.Http("hello from origin");
        using var proxy = Proxy(o => o.Credentials = [new() { Host = "LOCALHOST", Header = "Authorization", Value = Secret }]);
        await using var lease = await Open(proxy, $"localhost:{server.Port}");
        using var client = Client(lease);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://localhost:{server.Port}/simple/pkg/?q=1");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer forged");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello from origin", await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain(Secret, response.ToString(), StringComparison.Ordinal);
        var seen = Assert.Single(server.Requests);
        Assert.StartsWith("GET /simple/pkg/?q=1 HTTP/1.1\r\n", seen, StringComparison.Ordinal);
        Assert.Contains($"\r\nAuthorization: {Secret}\r\n", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", seen, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", seen, StringComparison.Ordinal);
        Assert.Contains($"Host: localhost:{server.Port}\r\n", seen, StringComparison.Ordinal);
        var connection = Assert.Single(lease.Connections);
        Assert.True(connection.Allowed);
        Assert.False(connection.Intercepted);
    }

    [Fact]
    public async Task Https_to_a_host_with_a_credential_is_intercepted_and_the_credential_added_where_the_sandbox_cannot_see_it()
    {
        using var upstreamAuthority = new Executor.EndToEndTests.OriginAuthority();
        using var certificate = upstreamAuthority.Issue("localhost");
        await using var server = LoopbackServer.Http("secure hello", certificate: certificate);
        var caFile = Path.Combine(_root, "upstream-ca.pem");
        Directory.CreateDirectory(_root);
        await File.WriteAllTextAsync(caFile, upstreamAuthority.Pem);
        using var proxy = Proxy(o =>
        {
            o.Credentials = [new() { Host = "localhost", Header = "X-Api-Key", Value = Secret }];
            o.UpstreamCaFile = caFile;
        });
        Assert.NotNull(proxy.AuthorityPem);
        await using var lease = await Open(proxy, $"localhost:{server.Port}");
        using var client = Client(lease, proxy.AuthorityPem);

        using var response = await client.GetAsync(new Uri($"https://localhost:{server.Port}/private/index"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("secure hello", await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain(Secret, response.ToString(), StringComparison.Ordinal);
        var seen = Assert.Single(server.Requests);
        Assert.StartsWith("GET /private/index HTTP/1.1\r\n", seen, StringComparison.Ordinal);
        Assert.Contains($"\r\nX-Api-Key: {Secret}\r\n", seen, StringComparison.Ordinal);
        var connection = Assert.Single(lease.Connections);
        Assert.True(connection.Allowed);
        Assert.True(connection.Intercepted);
        Assert.True(connection.BytesReceived > "secure hello".Length);

        // The authority is kept on disk: a second proxy (a restarted runner) presents the same one.
        using var restarted = new EgressProxy(
            Options.Create(new EgressOptions { CertificateDirectory = Path.Combine(_root, "ca"), Credentials = [new() { Host = "localhost", Value = "x" }] }),
            TimeProvider.System, NullLogger<EgressProxy>.Instance);
        Assert.Equal(proxy.AuthorityPem, restarted.AuthorityPem);
    }

    [Fact]
    public async Task Https_to_an_upstream_no_authority_vouches_for_is_refused()
    {
        using var upstreamAuthority = new Executor.EndToEndTests.OriginAuthority();
        using var certificate = upstreamAuthority.Issue("localhost");
        await using var server = LoopbackServer.Http(certificate: certificate);
        using var proxy = Proxy(o => o.Credentials = [new() { Host = "localhost", Header = "X-Api-Key", Value = Secret }]);

        var (answer, connection) = await AskOnceAsync(proxy, $"CONNECT localhost:{server.Port} HTTP/1.1\r\n\r\n", $"localhost:{server.Port}");

        Assert.StartsWith("HTTP/1.1 502", answer, StringComparison.Ordinal);
        Assert.Equal(EgressRefusals.ConnectFailed, connection.Refused);
    }

    [Fact]
    public async Task Passing_the_byte_limit_cuts_the_connection_and_signals_the_run()
    {
        await using var server = LoopbackServer.Http(length: 4 << 20);
        using var proxy = Proxy();
        await using var lease = await proxy.OpenAsync("run-bytes", new EgressPolicy([$"127.0.0.1:{server.Port}"], 100_000, 8), CancellationToken.None);
        using var client = Client(lease);

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{server.Port}/big"));
            await response.Content.ReadAsByteArrayAsync();
        });

        Assert.True(lease.LimitExceeded.IsCancellationRequested);
        Assert.Equal("The run moved more than 100000 bytes through the egress proxy.", lease.LimitDetail);
        var connection = Assert.Single(lease.Connections);
        Assert.Equal(EgressRefusals.ByteLimit, connection.Refused);
        Assert.True(connection.BytesSent + connection.BytesReceived <= 100_000);

        // Until the runner has ended the run, what it still tries is refused and recorded.
        using var late = await ConnectAsync(lease);
        Assert.StartsWith("HTTP/1.1 429", await AskAsync(late, $"CONNECT 127.0.0.1:{server.Port} HTTP/1.1\r\n\r\n", toEnd: true), StringComparison.Ordinal);
        Assert.Equal(EgressRefusals.ByteLimit, lease.Connections[^1].Refused);
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_is_refused_with_502()
    {
        var (answer, connection) = await AskOnceAsync(Proxy(), "CONNECT no-such-host.invalid:443 HTTP/1.1\r\n\r\n", "*.invalid:*");

        Assert.StartsWith("HTTP/1.1 502", answer, StringComparison.Ordinal);
        Assert.Equal(EgressRefusals.Unresolved, connection.Refused);
    }

    [Theory]
    [InlineData("[::1]", "::1")]
    [InlineData("169.254.169.254", "169.254.169.254")]
    [InlineData("127.0.0.2", "127.0.0.2")] // loopback, but not within the listed 127.0.0.1/32
    public async Task An_allowed_address_literal_that_is_not_public_is_refused(string host, string address)
    {
        var (answer, connection) = await AskOnceAsync(Proxy(), $"CONNECT {host}:80 HTTP/1.1\r\n\r\n", host + ":*");

        Assert.StartsWith("HTTP/1.1 403", answer, StringComparison.Ordinal);
        Assert.Equal((EgressRefusals.PrivateAddress, address), (connection.Refused, connection.Address));
    }

    [Fact]
    public async Task Connections_past_the_limit_are_refused_and_signal_the_run()
    {
        await using var server = LoopbackServer.Echo();
        using var proxy = Proxy();
        await using var lease = await proxy.OpenAsync("run-conns", new EgressPolicy([$"127.0.0.1:{server.Port}"], 1 << 20, 2), CancellationToken.None);
        var connect = $"CONNECT 127.0.0.1:{server.Port} HTTP/1.1\r\n\r\n";
        using var first = await ConnectAsync(lease);
        using var second = await ConnectAsync(lease);
        using var third = await ConnectAsync(lease);

        Assert.StartsWith("HTTP/1.1 200", await AskAsync(first, connect, toEnd: false), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(second, connect, toEnd: false), StringComparison.Ordinal);
        Assert.False(lease.LimitExceeded.IsCancellationRequested);
        Assert.StartsWith("HTTP/1.1 429", await AskAsync(third, connect, toEnd: true), StringComparison.Ordinal);

        Assert.True(lease.LimitExceeded.IsCancellationRequested);
        Assert.Equal("The run opened more than 2 connections through the egress proxy.", lease.LimitDetail);
        Assert.Equal([null, null, EgressRefusals.ConnectionLimit], lease.Connections.Select(c => c.Refused));
    }

    [Fact]
    public async Task A_request_that_is_not_a_proxy_request_is_refused_as_bad()
    {
        var (answer, connection) = await AskOnceAsync(Proxy(), "GET /relative HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.1:*");

        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Equal(EgressRefusals.BadRequest, connection.Refused);
    }

    [Fact]
    public async Task TakeNew_reports_each_attempt_once()
    {
        using var proxy = Proxy();
        await using var lease = await Open(proxy, "127.0.0.1:1");
        using (var stream = await ConnectAsync(lease))
        {
            await AskAsync(stream, "CONNECT nowhere.example:443 HTTP/1.1\r\n\r\n", toEnd: true);
        }
        Assert.Equal("nowhere.example:443", Assert.Single(lease.TakeNew()).Destination);
        Assert.Empty(lease.TakeNew());
        using (var stream = await ConnectAsync(lease))
        {
            await AskAsync(stream, "CONNECT elsewhere.example:443 HTTP/1.1\r\n\r\n", toEnd: true);
        }
        Assert.Equal("elsewhere.example:443", Assert.Single(lease.TakeNew()).Destination);
        Assert.Equal(2, lease.Connections.Count);
    }

    [Fact]
    public async Task A_lease_makes_a_socket_the_sandbox_user_can_reach_and_disposing_it_removes_everything()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        await using var server = LoopbackServer.Echo();
        using var proxy = Proxy();
        var lease = await Open(proxy, $"127.0.0.1:{server.Port}");
        var socket = Path.Combine(lease.Directory, LauncherEgress.SocketName);
        Assert.Equal(Path.Combine(_root, "s"), Path.GetDirectoryName(lease.Directory));
        Assert.StartsWith("run-1-", Path.GetFileName(lease.Directory), StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(lease.Directory));
        Assert.Equal((UnixFileMode)0b110_110_110, File.GetUnixFileMode(socket));
        var open = await ConnectAsync(lease);
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(open, $"CONNECT 127.0.0.1:{server.Port} HTTP/1.1\r\n\r\n", toEnd: false), StringComparison.Ordinal);

        await lease.DisposeAsync();

        Assert.False(Directory.Exists(lease.Directory));
        Assert.Equal(0, await open.ReadAsync(new byte[1]));
        open.Dispose();
    }

    [Theory]
    [InlineData("AllowedPrivateAddresses", "10.0.0.0/33")]
    [InlineData("SocketDirectory", "relative/egress")]
    [InlineData("SocketDirectory", "/a/socket/directory/far/too/long/for/unix/sockets")]
    [InlineData("Credentials", "*.example.com")]
    [InlineData("Credentials", "example.com:443")]
    public void Settings_the_proxy_cannot_use_are_refused_at_start(string setting, string value)
    {
        var options = new EgressOptions();
        switch (setting)
        {
            case "AllowedPrivateAddresses": options.AllowedPrivateAddresses = [value]; break;
            case "SocketDirectory": options.SocketDirectory = value; break;
            default: options.Credentials = [new() { Host = value, Value = "x" }]; break;
        }

        var result = new EgressOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
    }
}
