namespace Executor.SessionCore.Storage;

/// <summary>
/// Brings the schema up to date before the service takes requests. A database that is not there yet (PostgreSQL still
/// starting) is waited for, with the reason in the log, rather than failing the start; a schema that cannot be
/// applied fails it.
/// </summary>
public sealed partial class SessionStoreInitializer(ISessionStore store, TimeProvider time, ILogger<SessionStoreInitializer> logger) : IHostedService
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(2);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            try
            {
                await store.InitializeAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (StoreUnavailableHandler.IsUnavailable(e) && time.GetElapsedTime(started) < GiveUpAfter)
            {
                LogWaiting(store.Description, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for the database ({Store}): {Reason}")]
    private partial void LogWaiting(string store, string reason);
}
