using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Pulls work from SessionService: whenever this host has a free run slot it asks for at most that many sessions
/// (a long poll), warm capacity first — without warm containers it takes one at a time, so hosts with warm ones get
/// the rest — and starts each. While its engine is unreachable it claims nothing: the other hosts take the work. Every answer's number is sent back with the next claim, so a claim whose answer was
/// lost goes back to the queue and nothing received is ever run elsewhere.
/// </summary>
public sealed partial class ClaimLoop(
    SessionClient session,
    RunRegistry runs,
    WarmSlots slots,
    HostHeartbeat heartbeat,
    ClaimGates gates,
    RuntimeProbe runtimes,
    SandboxInstance instance,
    IOptions<SandboxOptions> sandbox,
    IOptions<RunnerOptions> options,
    TimeProvider time,
    ILogger<ClaimLoop> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await gates.OpenAsync(stoppingToken);
        long received = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var free = options.Value.MaxConcurrentRuns - runs.ActiveCount;
            if (free <= 0)
            {
                await runs.SlotFreed.WaitAsync(stoppingToken);
                continue;
            }
            if (heartbeat.EngineProblem is not null)
            {
                await Task.Delay(RetryDelay, time, stoppingToken);
                continue;
            }
            var warm = slots.Ready + heartbeat.PoolReady;
            try
            {
                var claim = await session.ClaimAsync(sandbox.Value.Host,
                    new ClaimRequest(instance.Id, Math.Min(free, Math.Max(1, warm)), warm, received, runtimes.AvailableIds), stoppingToken);
                if (claim.Jobs.Count > 0)
                {
                    received = claim.Seq;
                    foreach (var job in claim.Jobs)
                    {
                        runs.Start(job);
                    }
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogClaimFailed(e.Message);
                await Task.Delay(RetryDelay, time, stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not claim work from SessionService: {Reason}; retrying")]
    private partial void LogClaimFailed(string reason);
}
