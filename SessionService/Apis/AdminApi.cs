using Executor.Session.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Executor.Session.Apis;

/// <summary>Routes for operators: the runner hosts and their state.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/admin").WithTags("Administration");
        api.MapGet("/hosts", ListHostsAsync)
            .WithName("ListHosts")
            .WithSummary("The runner hosts: alive or dead, last heartbeat, pool, runs in flight");
        return api;
    }

    public static async Task<Ok<IReadOnlyList<HostRecord>>> ListHostsAsync(IHostDirectory directory, CancellationToken cancellationToken) =>
        TypedResults.Ok(await directory.ListHostsAsync(cancellationToken));
}
