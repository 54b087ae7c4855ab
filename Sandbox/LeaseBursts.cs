namespace Executor.Sandbox;

/// <summary>
/// When the last lease came, so that work behind the leases (the pool's refills, the runner's renames of what it
/// leased) waits while they come in quick succession: a burst keeps the cores, and what waited runs in its pause.
/// </summary>
public sealed class LeaseBursts(TimeProvider time)
{
    private static readonly TimeSpan MaxHoldBack = TimeSpan.FromSeconds(1);

    private long _lastLease;

    public void Leased() => Volatile.Write(ref _lastLease, time.GetTimestamp());

    /// <summary>Waits at least <paramref name="quiet"/>, and on until no lease has come for that long, at most a second.</summary>
    public async Task PauseAsync(TimeSpan quiet, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        do
        {
            await Task.Delay(quiet, time, cancellationToken);
        }
        while (time.GetElapsedTime(Volatile.Read(ref _lastLease)) < quiet && time.GetElapsedTime(started) < MaxHoldBack);
    }
}
