using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Threading.Channels;
using Docker.DotNet;
using Executor.Sandbox;

namespace Executor.Runner.Runs;

/// <summary>
/// Gives each container leased from the pool its leased name (<c>executor-leased-…</c>), which tells a restarted pool
/// that it is no longer the pool's. This process renames them, never the pool: the engine loses a container renamed
/// while it is being removed (see <see cref="DockerContainerEngine.RenameAsync"/>), and only the process that removes
/// a container can keep the two apart. Renames wait for leases to pause (at most a second), so a burst keeps the cores;
/// a container removed before its turn is not renamed at all, and a rename that failed is tried again. A lease that
/// never reached this process leaves its container under its pool name, not held by the pool: the pool's reaper
/// removes it.
/// </summary>
public sealed partial class LeasedNames(IContainerEngine engine, TimeProvider time, ILogger<LeasedNames> logger) : BackgroundService
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private const int MaxAttempts = 5;

    private readonly ConcurrentQueue<Pending> _pending = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly LeaseBursts _bursts = new(time);

    /// <summary>The container was leased to this process: it is renamed shortly.</summary>
    public void Leased(string containerId)
    {
        _pending.Enqueue(new Pending(containerId, Attempt: 1));
        _bursts.Leased();
        _wake.Writer.TryWrite(true);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _wake.Reader.ReadAsync(stoppingToken))
        {
            await _bursts.PauseAsync(Quiet, stoppingToken);
            var failed = new List<Pending>();
            // Stopping: the rest are about to be removed, and their names no longer matter.
            while (!stoppingToken.IsCancellationRequested && _pending.TryDequeue(out var pending))
            {
                if (!await RenamedAsync(pending) && pending.Attempt < MaxAttempts)
                {
                    failed.Add(pending with { Attempt = pending.Attempt + 1 });
                }
            }
            if (failed.Count > 0)
            {
                // Under its pool name a container the pool does not hold is an orphan to the pool's reaper (two sweeps
                // later): the engine being away for a moment must not cost a run its container.
                await Task.Delay(RetryDelay, time, stoppingToken);
                failed.ForEach(_pending.Enqueue);
                _wake.Writer.TryWrite(true);
            }
        }
    }

    /// <summary>Whether it has its leased name, or needs none (gone already: a short run).</summary>
    private async Task<bool> RenamedAsync(Pending pending)
    {
        try
        {
            await engine.RenameAsync(pending.ContainerId, SandboxLabels.LeasedNamePrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
                CancellationToken.None);
            return true;
        }
        catch (Exception e) when (e is DockerContainerNotFoundException or DockerApiException { StatusCode: HttpStatusCode.NotFound })
        {
            return true;
        }
        catch (Exception e)
        {
            LogRenameFailed(pending.ContainerId, pending.Attempt, e.Message);
            return false;
        }
    }

    private readonly record struct Pending(string ContainerId, int Attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not rename leased container {ContainerId} (attempt {Attempt}): {Reason}")]
    private partial void LogRenameFailed(string containerId, int attempt, string reason);
}
