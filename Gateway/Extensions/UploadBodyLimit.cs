using Executor.Contracts;
using Yarp.ReverseProxy.Configuration;

namespace Executor.Gateway.Extensions;

/// <summary>
/// The body limits of the routes whose limit SessionService sets too, declared once in the contracts rather than copied
/// into the gateway's configuration: the upload routes (POST /execute, POST /execute_pytest) let through the largest
/// upload SessionService accepts with its default limits (<see cref="LimitDefaults.UploadBytes"/>), the runner hosts'
/// route their largest result (<see cref="HostRoutes.MaxResultBytes"/>). A route that sets MaxRequestBodySize keeps its
/// own (a deployment that raised Sessions:MaxTotalFileBytes raises it there too).
/// </summary>
public sealed class UploadBodyLimit : IProxyConfigFilter
{
    /// <summary>The limits by route id (the gateway's "ReverseProxy:Routes").</summary>
    public static readonly IReadOnlyDictionary<string, long> Limits = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["execute"] = LimitDefaults.UploadBytes,
        ["execute-pytest"] = LimitDefaults.UploadBytes,
        ["hosts"] = HostRoutes.MaxResultBytes,
        ["sandbox"] = LimitDefaults.SandboxFileBytes,
        ["e2b-sandbox"] = LimitDefaults.SandboxFileBytes + 64 * 1024, // a file in a multipart body, with its headers
    };

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => ValueTask.FromResult(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
        ValueTask.FromResult(route.MaxRequestBodySize is null && Limits.TryGetValue(route.RouteId, out var limit)
            ? route with { MaxRequestBodySize = limit }
            : route);
}
