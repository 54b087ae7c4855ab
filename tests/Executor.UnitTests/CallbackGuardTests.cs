using System.Net;
using System.Text;
using Executor.Contracts;
using Executor.SessionCore.Callbacks;
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
    [InlineData("168.63.129.16")] // Azure's wire server (a public address Azure answers on inside)
    [InlineData("100.100.100.200")] // Alibaba Cloud's metadata
    [InlineData("192.0.0.192")] // Oracle Cloud's metadata
    [InlineData("169.254.170.2")] // AWS ECS task metadata
    [InlineData("fd00:ec2::254")] // AWS's IPv6 metadata
    [InlineData("fd00:ec2::253")] // AWS's IPv6 DNS
    public void Non_public_addresses_are_refused(string address) => Assert.False(AddressRules.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.215.14")]
    [InlineData("172.32.0.1")] // just past 172.16.0.0/12
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    public void Public_addresses_pass(string address) => Assert.True(AddressRules.IsPublic(IPAddress.Parse(address)));

    /// <summary>Every range Microsoft's AntiSSRF library denies by default is refused here too (its first and last address).</summary>
    [Fact]
    public void Every_range_the_AntiSSRF_library_denies_is_refused()
    {
        foreach (var range in Microsoft.Security.AntiSSRF.IPAddressRanges.recommendedLatest)
        {
            var network = IPNetwork.Parse(range);
            var first = network.BaseAddress.GetAddressBytes();
            var last = (byte[])first.Clone();
            for (var bit = network.PrefixLength; bit < last.Length * 8; bit++)
            {
                last[bit / 8] |= (byte)(0x80 >> (bit % 8));
            }
            Assert.False(AddressRules.IsPublic(new IPAddress(first)), $"{range}: {new IPAddress(first)}");
            Assert.False(AddressRules.IsPublic(new IPAddress(last)), $"{range}: {new IPAddress(last)}");
        }
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "only to public addresses")]
    [InlineData("http://10.0.0.1:8080/hook", "only to public addresses")]
    [InlineData("http://[fd00::1]/hook", "only to public addresses")]
    [InlineData("https://metadata.internal/", "only to public addresses")]
    [InlineData("https://mixed.example/hook", "only to public addresses")] // one private address among public ones is enough to refuse
    [InlineData("ftp://files.example/hook", "'ftp'")]
    [InlineData("http://user:secret@hooks.example/", "credentials")]
    [InlineData("/relative/hook", "only http and https")] // a file: URL on Unix
    [InlineData("https://nowhere.example/", "only to public addresses")]
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
    public async Task A_refusal_never_says_what_a_name_resolves_to_nor_whether_it_resolves()
    {
        var guard = Guard(new() { ["db.internal"] = ["10.20.30.40"], ["metadata.internal"] = ["169.254.169.254"] });

        var internalName = await guard.CheckAsync("http://db.internal:5432/", CancellationToken.None);
        var metadata = await guard.CheckAsync("http://metadata.internal/", CancellationToken.None);
        var unknown = await guard.CheckAsync("http://nothing.internal:5432/", CancellationToken.None);

        Assert.DoesNotContain("10.20.30.40", internalName, StringComparison.Ordinal);
        Assert.DoesNotContain("169.254", metadata, StringComparison.Ordinal);
        // An internal name that exists and one that does not get the same answer: no oracle for the internal DNS.
        Assert.Equal(internalName, unknown!.Replace("nothing.internal", "db.internal", StringComparison.Ordinal));
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
    public void Signatures_match_the_Standard_Webhooks_test_vector()
    {
        // The specification's published vector: what every receiver's library checks against.
        var headers = CallbackSigner.Headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
            DateTimeOffset.FromUnixTimeSeconds(1614265330), """{"test": 2432232314}"""u8).ToDictionary();

        Assert.Equal("msg_p5jXN8AQM9LWM0D4loKWxJek", headers["webhook-id"]);
        Assert.Equal("1614265330", headers["webhook-timestamp"]);
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", headers["webhook-signature"]);
    }

    [Fact]
    public void A_receiver_s_Standard_Webhooks_library_accepts_a_delivery_and_refuses_it_tampered_replayed_or_for_another_session()
    {
        const string secret = "secret-0123456789abcdef"; // a plain secret: receivers use whsec_ + base64 of its bytes
        var receiver = new StandardWebhooks.StandardWebhook("whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)));
        var body = """{"session_id":"s1","status":"completed"}""";
        var now = DateTimeOffset.UtcNow;

        Microsoft.AspNetCore.Http.HeaderDictionary Signed(string id, DateTimeOffset at) =>
            new(CallbackSigner.Headers(secret, id, at, Encoding.UTF8.GetBytes(body))
                .ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value)));

        receiver.Verify(body, Signed("s1", now));
        Assert.ThrowsAny<Exception>(() => receiver.Verify(body.Replace("completed", "failed", StringComparison.Ordinal), Signed("s1", now)));
        Assert.ThrowsAny<Exception>(() => receiver.Verify(body, Signed("s1", now.AddMinutes(-10)))); // an old delivery replayed
        var forged = Signed("s1", now);
        forged["webhook-id"] = "s2"; // the same signature passed off as another session's delivery
        Assert.ThrowsAny<Exception>(() => receiver.Verify(body, forged));
        // The previous header is still sent, in its own format, for one release.
        Assert.Matches("^t=[0-9]+,v1=[0-9a-f]{64}$", Signed("s1", now)["X-Executor-Signature"].ToString());
    }

    private sealed class StaticOptions(CallbackOptions value) : IOptionsMonitor<CallbackOptions>
    {
        public CallbackOptions CurrentValue => value;

        public CallbackOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<CallbackOptions, string?> listener) => null;
    }
}
