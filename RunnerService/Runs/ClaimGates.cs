namespace Executor.Runner.Runs;

/// <summary>
/// When a runner host may start claiming work, in either lane (runs, <see cref="ClaimLoop"/>; stateful sandboxes,
/// <see cref="Sandboxes.SandboxClaimLoop"/>): after the reaper's first sweep (it would take a new container for a dead
/// process's), once SessionService knows this process (a claim must come from a live host), and once the runtimes'
/// images have been probed (claims name the runtimes the host can run).
/// </summary>
public sealed class ClaimGates(RunnerReaper reaper, HostHeartbeat heartbeat, RuntimeProbe runtimes)
{
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        await reaper.FirstSweep.WaitAsync(cancellationToken);
        await heartbeat.Connected.WaitAsync(cancellationToken);
        await runtimes.FirstRound.WaitAsync(cancellationToken);
    }
}
