using System.Net;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>
/// The open mode (no key configured) lets in callers on this machine only: not a page of another site in this machine's
/// browser, not a DNS name rebound to loopback, not a caller behind a tunnel or proxy that connects from loopback. What a
/// browser, a rebinding page or a proxy sends is sent here as they would send it; the ordinary local calls keep working.
/// </summary>
public sealed class OpenModeAccessTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    private const string Hello = "print('hello')\n";

    private string Origin => service.Client.BaseAddress!.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task A_page_of_another_site_cannot_run_code_but_the_playground_origin_and_curl_can()
    {
        await AssertRefusedAsync(Execute(("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Origin", "http://evil.example")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Sec-Fetch-Site", "same-site")), HttpStatusCode.Forbidden, "cross-site-request");
        await AssertRefusedAsync(Execute(("Origin", "null")), HttpStatusCode.Forbidden, "cross-site-request");
        using (var cleanup = new HttpRequestMessage(HttpMethod.Post, "/cleanup/0123456789abcdef0123456789abcdef"))
        {
            cleanup.Headers.Add("Origin", "http://evil.example");
            await AssertRefusedAsync(cleanup, HttpStatusCode.Forbidden, "cross-site-request");
        }

        await AssertRunsAsync(Execute(("Origin", Origin), ("Sec-Fetch-Site", "same-origin")));
        await AssertRunsAsync(Execute());
    }

    [Fact]
    public async Task A_string_that_is_no_key_counts_as_none_but_a_malformed_key_is_refused()
    {
        await AssertRunsAsync(Execute(("X-API-Key", "e2b_00"))); // E2B's SDKs must send something
        using var malformed = Execute(("X-API-Key", "exk_0123456789ab_not-the-secret"));
        using var refused = await service.Client.SendAsync(malformed);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_host_name_that_is_not_this_machine_s_is_refused_as_dns_rebinding()
    {
        await AssertRefusedAsync(Execute(("Host", "rebind.evil.example")), HttpStatusCode.MisdirectedRequest, "host-not-loopback");
        using (var read = new HttpRequestMessage(HttpMethod.Get, "/result/0123456789abcdef0123456789abcdef"))
        {
            read.Headers.Host = "rebind.evil.example";
            await AssertRefusedAsync(read, HttpStatusCode.MisdirectedRequest, "host-not-loopback");
        }

        var port = service.Client.BaseAddress!.Port;
        foreach (var host in new[] { $"localhost:{port}", $"127.0.0.1:{port}", $"playground.localhost:{port}" })
        {
            await AssertRunsAsync(Execute(("Host", host)));
        }
    }

    [Fact]
    public async Task A_request_through_a_tunnel_or_proxy_is_not_taken_for_a_local_one()
    {
        await AssertRefusedAsync(Execute(("X-Forwarded-For", "203.0.113.7")), HttpStatusCode.Forbidden, "proxied-request");
        await AssertRefusedAsync(Execute(("Forwarded", "for=203.0.113.7;proto=https")), HttpStatusCode.Forbidden, "proxied-request");
        await AssertRefusedAsync(Execute(("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "abc.tunnel.example")), HttpStatusCode.Forbidden, "proxied-request");

        // Straight to SessionService, past the gateway: a forwarded address from loopback is not believed to be local either.
        using var direct = await service.Direct(null).SendAsync(Execute(("X-Forwarded-For", "203.0.113.7")));
        Assert.True(direct.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, $"SessionService answered {(int)direct.StatusCode}");
    }

    [Fact]
    public async Task The_open_mode_refuses_an_anonymous_caller_from_an_address_that_is_not_loopback()
    {
        using var remote = service.With(null, from: "10.213.77.2");

        using var refused = await remote.UploadAsync("print(1)\n");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var local = await service.Client.UploadAsync("print(1)\n");
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
    }

    private static HttpRequestMessage Execute(params (string Header, string Value)[] headers)
    {
        var form = new MultipartFormDataContent();
        form.AddFile("main.py", Hello);
        var request = new HttpRequestMessage(HttpMethod.Post, "/execute?wait=true") { Content = form };
        foreach (var (header, value) in headers)
        {
            if (header == "Host")
            {
                request.Headers.Host = value;
            }
            else
            {
                request.Headers.TryAddWithoutValidation(header, value);
            }
        }
        return request;
    }

    private async Task AssertRefusedAsync(HttpRequestMessage request, HttpStatusCode status, string type)
    {
        using (request)
        using (var response = await service.Client.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{request.Method} {request.RequestUri} answered {(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal("urn:executor:problem:" + type, problem.GetProperty("type").GetString());
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        }
    }

    private async Task AssertRunsAsync(HttpRequestMessage request)
    {
        using (request)
        using (var response = await service.Client.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"answered {(int)response.StatusCode}: {body}");
            Assert.Equal("hello\n", JsonDocument.Parse(body).RootElement.GetProperty("stdout").GetString());
        }
    }
}
