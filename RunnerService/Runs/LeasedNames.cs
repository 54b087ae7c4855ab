using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Threading.Channels;
using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// Gives each container leased from the pool its leased name (<c>executor-leased-…</c>), which tells a restarted pool
/// that it is no longer the pool's. This process renames them, never the pool: the engine loses a container renamed
/// while it is being removed (see <see cref="DockerContainerEngine.RenameAsync"/>), and only the process that removes
/// a container can keep the two apart. Renames wait for leases to pause (at most a second), so a burst keeps the cores;
/// a container removed before its turn is not renamed at all. A lease that never reached this process leaves its
/// container under its pool name, not held by the pool: the pool's reaper removes it.
/// </summary>
public sealed partial class LeasedNames(IContainerEngine engine, TimeProvider time, ILogger<LeasedNames> logger) : BackgroundService
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan MaxHoldBack = TimeSpan.FromSeconds(1);

    private readonly ConcurrentQueue<string> _pending = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private long _lastLease;

    /// <summary>The container was leased to this process: it is renamed shortly.</summary>
    public void Leased(string containerId)
    {
        _pending.Enqueue(containerId);
        Volatile.Write(ref _lastLease, time.GetTimestamp());
        _wake.Writer.TryWrite(true);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _wake.Reader.ReadAsync(stoppingToken))
        {
            var started = time.GetTimestamp();
            while (time.GetElapsedTime(Volatile.Read(ref _lastLease)) < Quiet && time.GetElapsedTime(started) < MaxHoldBack)
            {
                await Task.Delay(Quiet, time, stoppingToken);
            }
            while (_pending.TryDequeue(out var containerId))
            {
                await RenameAsync(containerId);
            }
        }
    }

    private async Task RenameAsync(string containerId)
    {
        try
        {
            await engine.RenameAsync(containerId, SandboxLabels.LeasedNamePrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
                CancellationToken.None);
        }
        catch (Exception e)
        {
            // Gone already (a short run), or the engine is away: under its pool name the pool's reaper answers for it.
            LogRenameFailed(containerId, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not rename leased container {ContainerId}: {Reason}")]
    private partial void LogRenameFailed(string containerId, string reason);
}
