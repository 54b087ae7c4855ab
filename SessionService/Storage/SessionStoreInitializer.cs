namespace Executor.Session.Storage;

/// <summary>Creates the schema before the service takes requests: a database that cannot open fails the start.</summary>
public sealed class SessionStoreInitializer(SessionStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
