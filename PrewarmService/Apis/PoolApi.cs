using Executor.Prewarm.Pool;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Executor.Prewarm.Apis;

public static class PoolApi
{
    public static IEndpointRouteBuilder MapPoolApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/prewarm", Prewarm)
            .WithName("Prewarm")
            .WithTags("Pool")
            .WithSummary("Triggers a refill of the warm pool")
            .WithDescription("Returns at once; the pool starts containers in the background until it is back at its target size.");

        // Internal: the gateway does not route these.
        app.MapGet("/pool", GetState)
            .WithName("GetPool")
            .WithTags("Pool")
            .WithSummary("The pool's state (internal)")
            .ExcludeFromDescription();
        app.MapPost("/leases", Lease)
            .WithName("LeaseContainer")
            .WithTags("Pool")
            .WithSummary("Hands a ready container to the runner for one run (internal)")
            .ExcludeFromDescription();
        return app;
    }

    public static Ok<PrewarmResponse> Prewarm(WarmPool pool)
    {
        pool.RequestRefill();
        return TypedResults.Ok(new PrewarmResponse("prewarm triggered"));
    }

    public static Ok<PoolState> GetState(WarmPool pool) =>
        TypedResults.Ok(new PoolState(pool.Target, pool.Ready, pool.Starting, pool.Hits, pool.Misses));

    public static Results<Ok<LeaseResponse>, NoContent> Lease(LeaseRequest request, WarmPool pool) =>
        pool.TryLease(request.SessionId) is { } containerId
            ? TypedResults.Ok(new LeaseResponse(containerId))
            : TypedResults.NoContent();
}

/// <param name="Status">Always "prewarm triggered".</param>
public sealed record PrewarmResponse(string Status);

public sealed record PoolState(int Target, int Ready, int Starting, long Hits, long Misses);

public sealed record LeaseRequest(string SessionId);

public sealed record LeaseResponse(string ContainerId);
