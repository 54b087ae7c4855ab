using Executor.SessionCore.Runtimes;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Executor.Session.Apis;

/// <summary>GET /runtimes: what a request may name in its 'runtime' field.</summary>
public static class RuntimesApi
{
    public static IEndpointRouteBuilder MapRuntimesApi(this IEndpointRouteBuilder app)
    {
        // A catalogue, like the API docs: nothing in it belongs to a caller, so it needs no key.
        app.MapGet("/runtimes", ListAsync)
            .WithName("ListRuntimes")
            .WithTags("Runtimes")
            .WithSummary("Lists the runtimes scripts can run in")
            .WithDescription("Each runtime's id (the 'runtime' field of POST /execute), language and version, the packages its image "
                + "holds beyond the standard library, its default memory limit, and whether it is the default.")
            .AllowAnonymous();
        return app;
    }

    public static async Task<Ok<IReadOnlyList<RuntimeListing>>> ListAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken) =>
        TypedResults.Ok(await runtimes.ListAsync(cancellationToken));
}
