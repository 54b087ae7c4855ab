using Executor.Runner.Runs;
using Executor.Sandbox;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Executor.Runner.Apis;

/// <summary>Internal API: SessionService starts and cancels runs here. Not exposed by the gateway.</summary>
public static class RunsApi
{
    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/runs").WithTags("Runs");

        api.MapPost("/", StartAsync)
            .WithName("StartRun")
            .WithSummary("Runs a session's script and answers with its result; a repeated request joins the same run.");
        api.MapGet("/{sessionId}", Get)
            .WithName("GetRun")
            .WithSummary("What the runner knows of a run: running (with its container) or finished.");
        app.MapGet("/state", (WarmSlots slots, RunRegistry runs, ContainerJanitor janitor, Microsoft.Extensions.Options.IOptions<RunnerOptions> options) =>
                TypedResults.Ok(new RunnerState(
                    options.Value.UseWarmPool ? options.Value.AttachedSlots : 0, slots.Ready, runs.ActiveCount, janitor.Pending)))
            .WithName("GetRunnerState")
            .WithTags("Runs")
            .WithSummary("Attached warm slots, runs in progress and removals pending (internal)");
        api.MapDelete("/{sessionId}", CancelAsync)
            .WithName("CancelRun")
            .WithSummary("Kills a run and removes its container, then answers with its result; an unknown run is cancelled ahead.");
        return api;
    }

    public static async Task<Results<Ok<RunResult>, ValidationProblem>> StartAsync(RunRequest request, RunRegistry runs)
    {
        var errors = RunRequestValidator.Validate(request);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }
        return TypedResults.Ok(await runs.StartOrJoin(request));
    }

    public static Results<Ok<RunInfo>, NotFound> Get(string sessionId, RunRegistry runs)
    {
        if (runs.Find(sessionId) is { } active)
        {
            return TypedResults.Ok(new RunInfo(sessionId, "running", active.ContainerId, active.WarmStart));
        }
        if (runs.FindFinished(sessionId) is { } done)
        {
            return TypedResults.Ok(new RunInfo(sessionId, done.Status, done.ContainerId, done.WarmStart));
        }
        return TypedResults.NotFound();
    }

    public static async Task<Ok<RunResult>> CancelAsync(string sessionId, RunRegistry runs) =>
        TypedResults.Ok(await runs.CancelAsync(sessionId));
}
