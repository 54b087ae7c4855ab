using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;

namespace Executor.ServiceTests;

/// <summary>
/// SessionService maps its routes once; the gateway routes prefixes of them in its configuration. A route SessionService
/// adds that no gateway route reaches would work in these tests' direct calls and nowhere else: every mapped route is
/// either reached by a gateway route or named here as the service's own.
/// </summary>
public sealed class GatewayRoutesTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    /// <summary>Routes a caller never reaches through the gateway: health for the orchestrator, the service's own
    /// document (the gateway serves the merged one under the same path).</summary>
    private static readonly string[] ServiceOwn = ["/health", "/alive", "/openapi/{documentName}.json"];

    [Fact]
    public void Every_route_session_service_maps_is_reached_through_a_gateway_route()
    {
        var routes = service.Gateway.Services.GetRequiredService<IProxyConfigProvider>().GetConfig().Routes;
        var matchers = routes.Select(route => (route.RouteId, Route: route,
            Matcher: new TemplateMatcher(TemplateParser.Parse(route.Match.Path!.TrimStart('/')), new RouteValueDictionary()))).ToList();

        var unreached = new List<string>();
        foreach (var endpoint in service.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            if (ServiceOwn.Contains(pattern, StringComparer.Ordinal))
            {
                continue;
            }
            var sample = Sample(endpoint.RoutePattern);
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [];
            var reached = matchers.Any(m => m.Matcher.TryMatch(sample, new RouteValueDictionary())
                && (m.Route.Match.Methods is not { Count: > 0 } allowed || methods.Count == 0 || methods.Any(allowed.Contains)));
            if (!reached)
            {
                unreached.Add($"{string.Join(',', methods)} {pattern}");
            }
        }

        Assert.True(unreached.Count == 0,
            $"SessionService maps routes no gateway route reaches (add them to Gateway/appsettings.json, or to {nameof(ServiceOwn)}): " +
            string.Join("; ", unreached));
    }

    /// <summary>A concrete path the pattern matches: each parameter given a plain value.</summary>
    private static string Sample(RoutePattern pattern) =>
        "/" + string.Join('/', pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternSeparatorPart separator => separator.Content,
            RoutePatternParameterPart => "x",
            _ => "",
        }))));
}
