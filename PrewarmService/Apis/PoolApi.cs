using Executor.Contracts;
using Executor.Prewarm.Pool;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Prewarm.Apis;

public static class PoolApi
{
    public static IEndpointRouteBuilder MapPoolApi(this IEndpointRouteBuilder app)
    {
        // Internal: the public POST /prewarm is SessionService's, which every host's runner relays here.
        app.MapPost(PoolRoutes.Prewarm, Prewarm)
            .WithName("Prewarm")
            .WithTags("Pool")
            .WithSummary("Triggers a refill of the warm pool, or keeps ?count=N ready from now on (internal)")
            .ExcludeFromDescription();

        // Internal: the gateway does not route these.
        app.MapGet(PoolRoutes.State, GetState)
            .WithName("GetPool")
            .WithTags("Pool")
            .WithSummary("The pool's state (internal)")
            .ExcludeFromDescription();
        app.MapPut(PoolRoutes.RunnerLease, HoldRunnerLeaseAsync)
            .WithName("HoldRunnerLease")
            .WithTags("Pool")
            .WithSummary("The runner of this host holds its lease for as long as it lives; once it is gone, its containers are removed (internal)")
            .ExcludeFromDescription();
        app.MapPost(PoolRoutes.Leases, LeaseAsync)
            .WithName("LeaseContainer")
            .WithTags("Pool")
            .WithSummary("Hands a ready container to the runner for one run (internal)")
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>Held for as long as the request's body lasts: the runner's process, or its connection, ending ends it.</summary>
    public static async Task<Results<NoContent, BadRequest>> HoldRunnerLeaseAsync(
        HttpContext context, RunnerLiveness liveness, IHostApplicationLifetime lifetime, [FromHeader(Name = PoolRoutes.RunnerHeader)] string? runner)
    {
        if (string.IsNullOrEmpty(runner))
        {
            return TypedResults.BadRequest();
        }
        // The body is a byte now and then, for as long as the runner lives: neither slow nor too long.
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }
        if (context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }
        using (liveness.Hold(runner))
        {
            var buffer = new byte[64];
            // Held until the runner goes, or this service stops: then the connection is aborted, since a request (and its
            // never-ending body) that outlived the stop would hold the server's graceful shutdown, and the pool's removal
            // of its containers, until the host's deadline.
            using var abortOnStop = lifetime.ApplicationStopping.Register(context.Abort);
            try
            {
                while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0)
                {
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException)
            {
                // The connection ended with the runner: the lease is released all the same.
            }
        }
        return TypedResults.NoContent();
    }

    /// <summary>?count=N sets the default runtime's pool (the one POST /prewarm has always meant); every pool refills.</summary>
    public static Results<Ok<PrewarmResponse>, ProblemHttpResult> Prewarm(WarmPools pools, IOptions<PoolOptions> options, [FromQuery] int? count)
    {
        if (count is { } requested)
        {
            if (requested < 0 || requested > options.Value.MaxSize)
            {
                return TypedResults.Problem(
                    statusCode: StatusCodes.Status400BadRequest,
                    type: "urn:executor:problem:bad-pool-size",
                    title: "Invalid pool size",
                    detail: $"count must be from 0 to {options.Value.MaxSize}; got {requested}.");
            }
            foreach (var other in pools.All.Skip(1))
            {
                other.RequestRefill();
            }
            return TypedResults.Ok(new PrewarmResponse("prewarm triggered", pools.Default.Resize(requested)));
        }
        foreach (var pool in pools.All)
        {
            pool.RequestRefill();
        }
        return TypedResults.Ok(new PrewarmResponse("prewarm triggered", pools.Default.Target));
    }

    /// <summary>The default runtime's pool at the top level (as before there were runtimes), every runtime's in <c>runtimes</c>.</summary>
    public static Ok<PoolState> GetState(WarmPools pools)
    {
        var pool = pools.Default;
        return TypedResults.Ok(new PoolState(pool.Target, pool.ConfiguredTarget, pool.Ready, pool.Starting, pool.MaxSize, pool.Counts.Hits,
            pool.Counts.Misses, pool.Counts.Recycled, Math.Round(pool.Demand.LeaseRate, 3), Math.Round(pool.Demand.RefillSeconds, 3),
            pool.Demand.Ceiling)
        {
            Pid = Environment.ProcessId,
            Runtimes = pools.All.ToDictionary(p => p.Language.Id, p => new RuntimePoolState(p.Target, p.Ready, p.Starting, p.Counts.Hits, p.Counts.Misses)),
        });
    }

    public static async Task<Results<Ok<LeaseResponse>, NoContent, ProblemHttpResult>> LeaseAsync(
        WarmPools pools, IOptions<PoolOptions> options, [FromQuery(Name = "wait_ms")] int? waitMs, [FromQuery] string? runtime,
        CancellationToken cancellationToken)
    {
        if (pools.Find(runtime) is not { } pool)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                type: "urn:executor:problem:unknown-runtime",
                title: "Unknown runtime",
                detail: $"This host has no runtime '{runtime}'; it has {string.Join(", ", pools.All.Select(p => p.Language.Id))}.");
        }
        var wait = TimeSpan.FromMilliseconds(Math.Clamp(waitMs ?? 0, 0, options.Value.MaxLeaseWaitMs));
        return await pool.LeaseAsync(wait, cancellationToken) is { } containerId
            ? TypedResults.Ok(new LeaseResponse(containerId))
            : TypedResults.NoContent();
    }
}
