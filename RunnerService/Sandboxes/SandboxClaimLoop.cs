using Executor.Contracts;
using Executor.Runner.Runs;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Sandboxes;

/// <summary>
/// Pulls commands to stateful sandboxes from SessionService's sandbox lane (<see cref="HostRoutes.SandboxClaims"/>, a
/// long poll beside the run lane of <see cref="ClaimLoop"/>, never held back by the run slots): creates while this host
/// has room for more sandboxes (<see cref="RunnerOptions.MaxSandboxes"/>) and its engine answers, and every command to a
/// sandbox it holds. Each is handed to the <see cref="SandboxRegistry"/>. It starts when the run lane does.
/// </summary>
public sealed partial class SandboxClaimLoop(
    SessionClient session,
    SandboxRegistry sandboxes,
    WarmSlots slots,
    HostHeartbeat heartbeat,
    ClaimGates gates,
    RuntimeProbe runtimes,
    SandboxInstance instance,
    IOptions<SandboxOptions> sandbox,
    IOptions<RunnerOptions> options,
    TimeProvider time,
    ILogger<SandboxClaimLoop> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await gates.OpenAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Commands to the sandboxes held here come whatever the room; creates only while there is some.
            var room = heartbeat.EngineProblem is null ? Math.Max(0, options.Value.MaxSandboxes - sandboxes.Count) : 0;
            try
            {
                var claim = await session.ClaimSandboxWorkAsync(sandbox.Value.Host,
                    new ClaimRequest(instance.Id, room, slots.Ready + heartbeat.PoolReady, ReceivedSeq: 0, runtimes.AvailableIds), stoppingToken);
                foreach (var job in claim.Jobs)
                {
                    sandboxes.Dispatch(job);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogClaimFailed(e.Message);
                await Task.Delay(RetryDelay, time, stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not claim sandbox commands from SessionService: {Reason}; retrying")]
    private partial void LogClaimFailed(string reason);
}
