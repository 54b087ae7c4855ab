using System.Net;
using System.Text;
using Executor.Session.Callbacks;
using Microsoft.Extensions.Options;

namespace Executor.UnitTests;

/// <summary>
/// The callback guard's address checks, with names resolved by a fake and connections made by a fake: nothing here
/// sends a packet anywhere.
/// </summary>
public class CallbackGuardTests
{
    private readonly List<IPEndPoint> _connections = [];

    private CallbackAddressGuard Guard(Dictionary<string, string[]>? names = null, params string[] allowed) => new(
        new StaticOptions(new CallbackOptions { AllowedHosts = allowed }),
        resolve: (host, _) => Task.FromResult((names ?? []).TryGetValue(host, out var a) ? a.Select(IPAddress.Parse).ToArray() : []),
        connect: (endpoint, _) =>
        {
            _connections.Add(endpoint);
            return ValueTask.FromResult<Stream>(new MemoryStream());
        });

    [Theory]
    [InlineData("169.254.169.254")] // cloud metadata
    [InlineData("169.254.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("172.16.5.4")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("100.64.0.1")] // carrier-grade NAT
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.2")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")] // multicast
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")] // reserved
    [InlineData("255.255.255.255")]
    [InlineData("192.0.2.1")] // documentation
    [InlineData("198.18.0.1")] // benchmarking
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fd00::1")] // unique local
    [InlineData("fc00::1")]
    [InlineData("fe80::1")] // link-local
    [InlineData("ff02::1")] // multicast
    [InlineData("2001:db8::1")]
    [InlineData("::ffff:10.0.0.1")] // IPv4-mapped
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("64:ff9b::a00:1")] // NAT64 of 10.0.0.1
    [InlineData("2002:a9fe:a9fe::1")] // 6to4 of 169.254.169.254
    [InlineData("::a00:1")] // IPv4-compatible
    public void Non_public_addresses_are_refused(string address) => Assert.False(CallbackAddressGuard.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.215.14")]
    [InlineData("172.32.0.1")] // just past 172.16.0.0/12
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    public void Public_addresses_pass(string address) => Assert.True(CallbackAddressGuard.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "169.254.169.254")]
    [InlineData("http://10.0.0.1:8080/hook", "10.0.0.1")]
    [InlineData("http://[fd00::1]/hook", "fd00::1")]
    [InlineData("https://metadata.internal/", "169.254.169.254")]
    [InlineData("https://mixed.example/hook", "10.0.0.1")] // one private address among public ones is enough to refuse
    [InlineData("ftp://files.example/hook", "'ftp'")]
    [InlineData("http://user:secret@hooks.example/", "credentials")]
    [InlineData("/relative/hook", "only http and https")] // a file: URL on Unix
    [InlineData("https://nowhere.example/", "does not resolve")]
    public async Task Bad_callback_urls_are_refused_with_a_reason(string url, string reason)
    {
        var guard = Guard(new()
        {
            ["metadata.internal"] = ["169.254.169.254"],
            ["mixed.example"] = ["93.184.215.14", "10.0.0.1"],
            ["hooks.example"] = ["93.184.215.14"],
            ["files.example"] = ["93.184.215.14"],
        });

        var why = await guard.CheckAsync(url, CancellationToken.None);

        Assert.NotNull(why);
        Assert.Contains(reason, why, StringComparison.Ordinal);
        Assert.Empty(_connections);
    }

    [Fact]
    public async Task The_allow_list_lets_through_exactly_what_it_names()
    {
        var guard = Guard(new() { ["hooks.corp.example"] = ["10.1.2.3"], ["other.example"] = ["10.1.2.3"] }, "127.0.0.1", "192.168.7.0/24", "*.corp.example");

        Assert.Null(await guard.CheckAsync("http://127.0.0.1:9000/hook", CancellationToken.None));
        Assert.Null(await guard.CheckAsync("http://192.168.7.20/hook", CancellationToken.None));
        Assert.Null(await guard.CheckAsync("https://hooks.corp.example/hook", CancellationToken.None));
        Assert.Null(await guard.CheckAsync("https://93.184.215.14/hook", CancellationToken.None));
        Assert.NotNull(await guard.CheckAsync("http://127.0.0.2:9000/hook", CancellationToken.None));
        Assert.NotNull(await guard.CheckAsync("http://[::1]:9000/hook", CancellationToken.None));
        Assert.NotNull(await guard.CheckAsync("http://192.168.8.1/hook", CancellationToken.None));
        Assert.NotNull(await guard.CheckAsync("https://other.example/hook", CancellationToken.None));
    }

    [Theory]
    [InlineData("rebound.example", "169.254.169.254")]
    [InlineData("rebound.example", "10.0.0.1")]
    [InlineData("rebound.example", "fd00::1")]
    [InlineData("169.254.169.254", null)]
    public async Task At_delivery_a_name_that_now_resolves_to_a_private_address_is_never_connected_to(string host, string? resolvesTo)
    {
        // Accepted at submission when it was public; by delivery its DNS answers something else (rebinding).
        var guard = Guard(resolvesTo is null ? [] : new() { [host] = [resolvesTo] });

        await Assert.ThrowsAsync<CallbackRefusedException>(() => guard.ConnectAsync(host, 80, CancellationToken.None).AsTask());

        Assert.Empty(_connections);
    }

    [Fact]
    public async Task At_delivery_only_the_allowed_addresses_of_a_name_are_connected_to()
    {
        var guard = Guard(new() { ["mixed.example"] = ["10.0.0.1", "93.184.215.14"] });

        await using var _ = await guard.ConnectAsync("mixed.example", 443, CancellationToken.None);

        Assert.Equal([new IPEndPoint(IPAddress.Parse("93.184.215.14"), 443)], _connections);
    }

    [Fact]
    public void A_signature_verifies_over_its_exact_body_and_time_only()
    {
        var body = Encoding.UTF8.GetBytes("""{"session_id":"s1","status":"completed"}""");
        var at = new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);

        var header = CallbackSigner.Sign("secret-0123456789abcdef", at, body);

        Assert.Matches("^t=1795770000,v1=[0-9a-f]{64}$", header);
        Assert.True(CallbackSigner.Verify("secret-0123456789abcdef", header, body, at.AddSeconds(30), TimeSpan.FromMinutes(5)));
        Assert.False(CallbackSigner.Verify("another-secret-0123456", header, body, at, TimeSpan.FromMinutes(5)));
        Assert.False(CallbackSigner.Verify("secret-0123456789abcdef", header, [.. body, (byte)' '], at, TimeSpan.FromMinutes(5)));
        Assert.False(CallbackSigner.Verify("secret-0123456789abcdef", header.Replace("t=1795770000", "t=1795770001", StringComparison.Ordinal), body, at, TimeSpan.FromMinutes(5)));
        Assert.False(CallbackSigner.Verify("secret-0123456789abcdef", header, body, at.AddMinutes(10), TimeSpan.FromMinutes(5)));
    }

    private sealed class StaticOptions(CallbackOptions value) : IOptionsMonitor<CallbackOptions>
    {
        public CallbackOptions CurrentValue => value;

        public CallbackOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<CallbackOptions, string?> listener) => null;
    }
}
