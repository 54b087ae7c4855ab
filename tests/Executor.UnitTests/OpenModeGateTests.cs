using Executor.SessionCore.Access;
using Microsoft.AspNetCore.Http;

namespace Executor.UnitTests;

/// <summary>What the open mode takes for "this machine", request by request (the end-to-end tests go through the gateway).</summary>
public sealed class OpenModeGateTests
{
    [Theory]
    [InlineData("localhost:5000")]
    [InlineData("LOCALHOST")]
    [InlineData("playground.localhost:5000")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("127.8.9.10")]
    [InlineData("[::1]:5000")]
    public void A_loopback_host_is_let_in(string host) => Assert.Null(OpenModeGate.Refusal(Request("POST", host)));

    [Theory]
    [InlineData("rebind.evil.example")]
    [InlineData("localhost.evil.example")]
    [InlineData("10.0.0.1:5000")]
    [InlineData("[::2]")]
    public void Any_other_host_is_misdirected(string host) =>
        Assert.Equal("urn:executor:problem:host-not-loopback", OpenModeGate.Refusal(Request("GET", host))?.Type);

    [Theory]
    [InlineData("X-Forwarded-For", "203.0.113.7")]
    [InlineData("X-Forwarded-Host", "abc.tunnel.example")]
    [InlineData("X-Forwarded-Proto", "https")]
    [InlineData("Forwarded", "for=203.0.113.7")]
    [InlineData("X-Real-IP", "203.0.113.7")]
    public void A_request_a_proxy_forwarded_is_refused(string header, string value) =>
        Assert.Equal("urn:executor:problem:proxied-request", OpenModeGate.Refusal(Request("GET", "localhost:5000", (header, value)))?.Type);

    [Theory]
    [InlineData("POST", "Origin", "http://evil.example")]
    [InlineData("DELETE", "Origin", "http://localhost:3000")]
    [InlineData("POST", "Origin", "https://localhost:5000")]
    [InlineData("POST", "Origin", "null")]
    [InlineData("PUT", "Sec-Fetch-Site", "cross-site")]
    [InlineData("POST", "Sec-Fetch-Site", "same-site")]
    public void A_page_of_another_site_may_not_change_state(string method, string header, string value) =>
        Assert.Equal("urn:executor:problem:cross-site-request", OpenModeGate.Refusal(Request(method, "localhost:5000", (header, value)))?.Type);

    [Theory]
    [InlineData("POST", "Origin", "http://localhost:5000")]
    [InlineData("POST", "Sec-Fetch-Site", "same-origin")]
    [InlineData("POST", "Sec-Fetch-Site", "none")]
    [InlineData("GET", "Origin", "http://evil.example")]
    public void The_same_origin_and_reads_are_let_in(string method, string header, string value) =>
        Assert.Null(OpenModeGate.Refusal(Request(method, "localhost:5000", (header, value))));

    private static DefaultHttpContext Request(string method, string host, params (string Header, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString(host);
        foreach (var (header, value) in headers)
        {
            context.Request.Headers[header] = value;
        }
        return context;
    }
}
