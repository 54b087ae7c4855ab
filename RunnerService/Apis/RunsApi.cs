using Executor.Runner.Runs;
using Executor.Runner.Sandboxes;
using Executor.Sandbox;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Apis;

/// <summary>
/// Internal API for operators and tests: what this runner host is doing. Work does not arrive here: the host claims
/// it from SessionService (<see cref="ClaimLoop"/>).
/// </summary>
public static class RunsApi
{
    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/runs").WithTags("Runs");
        api.MapGet("/{sessionId}", Get)
            .WithName("GetRun")
            .WithSummary("What the runner knows of a run: running (with its container) or finished.");
        app.MapGet("/state", GetState)
            .WithName("GetRunnerState")
            .WithTags("Runs")
            .WithSummary("This host: attached warm slots, runs in progress, stateful sandboxes and removals pending (internal)");
        return api;
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

    public static Ok<RunnerState> GetState(
        WarmSlots slots, RunRegistry runs, SandboxRegistry sandboxes, ContainerJanitor janitor, IOptions<RunnerOptions> options,
        IOptions<SandboxOptions> sandbox) =>
        TypedResults.Ok(new RunnerState(sandbox.Value.Host, options.Value.UseWarmPool ? options.Value.AttachedSlots : 0, slots.Ready,
            runs.ActiveCount, options.Value.MaxConcurrentRuns, janitor.Pending) { Sandboxes = sandboxes.Live });
}
