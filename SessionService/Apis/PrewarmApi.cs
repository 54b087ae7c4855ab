using Executor.SessionCore;
using Executor.SessionCore.Access;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Apis;

/// <summary>POST /prewarm, the seed's route: every runner host's pool hears it at its next heartbeat (at once, if it is waiting).</summary>
public static class PrewarmApi
{
    private const int DefaultMaxPoolSize = 64;

    public static IEndpointRouteBuilder MapPrewarmApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/prewarm", PrewarmAsync)
            .WithName("Prewarm")
            .WithTags("Pool")
            .WithSummary("Triggers a refill of the warm pools")
            .WithDescription("Returns at once; every runner host's pool starts containers in the background. With ?count=N each pool keeps "
                + "N containers ready from now on (at most the hosts' maximum, 64 by default).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return app;
    }

    public static async Task<Results<Ok<PrewarmResponse>, ProblemHttpResult>> PrewarmAsync(
        HttpContext context, IOptions<AuthOptions> auth, IHostDirectory directory, RunnerHosts hosts, SessionSignals signals,
        [FromQuery] int? count, CancellationToken cancellationToken)
    {
        if (count is { } requested)
        {
            // Holding containers costs the machine memory: the seed's plain refill is anyone's, a size is an operator's.
            if (!Caller.Of(context, auth.Value).IsOperator)
            {
                return TypedResults.Problem(Problems.Create(StatusCodes.Status403Forbidden, "forbidden", "Operators only",
                    "POST /prewarm?count=N changes how many containers every host keeps: it needs an operator key. POST /prewarm alone does not."));
            }
            var max = await hosts.MaxPoolSizeAsync(cancellationToken) ?? DefaultMaxPoolSize;
            if (requested < 0 || requested > max)
            {
                return TypedResults.Problem(Problems.Create(StatusCodes.Status400BadRequest, "bad-pool-size", "Invalid pool size",
                    $"count must be from 0 to {max}; got {requested}."));
            }
        }
        var generation = await directory.RequestPrewarmAsync(count, cancellationToken);
        signals.CallAllHosts();
        return TypedResults.Ok(new PrewarmResponse("prewarm triggered", count, generation));
    }
}

/// <param name="Status">Always "prewarm triggered".</param>
/// <param name="Target">How many containers each pool now keeps ready, when count was given.</param>
/// <param name="Generation">The request's number: each runner host applies each request once.</param>
public sealed record PrewarmResponse(string Status, int? Target, long Generation);
