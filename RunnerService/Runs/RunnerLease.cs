using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>
/// Holds this runner's liveness lease with its host's PrewarmService for the life of the process: one PUT
/// /runner-lease whose body sends a byte now and then and never ends. A runner killed outright (SIGKILL, out of memory)
/// removes nothing, but the kernel closes its connection: the pool, which shares the engine, then removes this
/// runner's containers instead of leaving them until it starts again. Started first and stopped last, so that a
/// graceful stop has removed everything before the lease is released.
/// </summary>
public sealed partial class RunnerLease(HttpClient http, TimeProvider time, ILogger<RunnerLease> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    // HTTP/1.1 sends the whole body before it reads the response, so a pool that went away (restarted) is noticed only
    // by a write (the second after its end): this often, a restarted pool sees the lease again well within its
    // Pool:RunnerLeaseSeconds (3), after which it takes the runner's containers for a dead runner's.
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, PoolRoutes.RunnerLease) { Content = new HeldContent(time, stoppingToken) };
                using var response = await http.SendAsync(request, stoppingToken);
                LogLeaseEnded((int)response.StatusCode);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogLeaseFailed(e.Message);
            }
            await Task.Delay(RetryDelay, time, stoppingToken);
        }
    }

    /// <summary>A body that lasts until the process stops.</summary>
    private sealed class HeldContent(TimeProvider time, CancellationToken stopping) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            try
            {
                while (true)
                {
                    await stream.WriteAsync(new byte[] { 0 }, stopping);
                    await stream.FlushAsync(stopping);
                    await Task.Delay(KeepAlive, time, stopping);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // Stopping: the body ends, and the lease with it.
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The pool ended this runner's liveness lease ({Status}); holding it again")]
    private partial void LogLeaseEnded(int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hold a liveness lease with the pool: {Reason}; retrying")]
    private partial void LogLeaseFailed(string reason);
}
