using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

/// <summary>
/// The OCI runtime that runs the sandboxes: <see cref="SandboxOptions.Runtime"/>, or the engine's default when that is
/// empty. Resolved once at start, when a runtime the engine does not know fails the start with what to do about it.
/// Results name it, and the seccomp profile depends on it (<see cref="SeccompProfile.For"/>).
/// </summary>
public sealed partial class SandboxRuntime(
    IDockerClient docker, IOptions<SandboxOptions> options, RuntimeCatalog catalog, ILogger<SandboxRuntime> logger) : IHostedService
{
    private string? _name;

    /// <summary>The runtime's name as the engine knows it, e.g. "runc" or "runsc".</summary>
    public string Name => _name ?? Configured ?? "runc";

    private string? Configured => string.IsNullOrWhiteSpace(options.Value.Runtime) ? null : options.Value.Runtime;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        LogRuntimes(catalog.Summary); // the catalog, resolved with this service, has failed the start on invalid Runtimes settings
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        Docker.DotNet.Models.SystemInfoResponse info;
        try
        {
            info = await docker.System.GetSystemInfoAsync(timeout.Token);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The engine may come later; the health check says so meanwhile.
            LogUnresolved(Name, e.Message);
            return;
        }
        if (Configured is { } wanted && info.Runtimes?.ContainsKey(wanted) != true)
        {
            throw new InvalidOperationException(
                $"Sandbox:Runtime is '{wanted}', but the Docker engine knows only {string.Join(", ", info.Runtimes?.Keys ?? [])}. "
                + (SeccompProfile.IsGvisor(wanted) ? "Install and register gVisor with: eng/prerequisites.sh --runsc" : "Register it with the engine first."));
        }
        _name = Configured ?? info.DefaultRuntime ?? "runc";
        LogResolved(_name);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Runtimes: {Runtimes}")]
    private partial void LogRuntimes(string runtimes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandboxes run under the {Runtime} runtime")]
    private partial void LogResolved(string runtime);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not ask the engine for its runtimes ({Reason}); assuming {Runtime}")]
    private partial void LogUnresolved(string runtime, string reason);
}
