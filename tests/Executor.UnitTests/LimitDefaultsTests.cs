using System.Text.Json;
using Executor.Contracts;
using Executor.EndToEndTests;
using Executor.Gateway.Extensions;
using Executor.SessionCore.Sessions;
using Yarp.ReverseProxy.Configuration;

namespace Executor.UnitTests;

/// <summary>The limits SessionService and the gateway share are declared once (<see cref="LimitDefaults"/>, <see cref="HostRoutes"/>).</summary>
public sealed class LimitDefaultsTests
{
    [Fact]
    public void The_gateway_lets_through_to_each_route_what_SessionService_accepts_by_default()
    {
        Assert.Equal(new SessionServiceOptions().MaxUploadBytes, UploadBodyLimit.Limits["execute"]);
        Assert.Equal(new SessionServiceOptions().MaxUploadBytes, UploadBodyLimit.Limits["execute-pytest"]);
        Assert.Equal(HostRoutes.MaxResultBytes, UploadBodyLimit.Limits["hosts"]);
    }

    [Fact]
    public async Task Every_limited_route_is_a_gateway_route_that_takes_its_limit_from_the_contracts()
    {
        using var settings = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "Gateway", "appsettings.json")));
        var routes = settings.RootElement.GetProperty("ReverseProxy").GetProperty("Routes");
        var filter = new UploadBodyLimit();
        foreach (var (id, limit) in UploadBodyLimit.Limits)
        {
            Assert.True(routes.TryGetProperty(id, out var route), $"the gateway has no route '{id}'");
            Assert.False(route.TryGetProperty("MaxRequestBodySize", out _), $"route '{id}' copies its limit into the configuration");
            var configured = await filter.ConfigureRouteAsync(new RouteConfig { RouteId = id }, null, CancellationToken.None);
            Assert.Equal(limit, configured.MaxRequestBodySize);
        }
        var own = await filter.ConfigureRouteAsync(new RouteConfig { RouteId = "execute", MaxRequestBodySize = 1 }, null, CancellationToken.None);
        Assert.Equal(1, own.MaxRequestBodySize);
    }
}
