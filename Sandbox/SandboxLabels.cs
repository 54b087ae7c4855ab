using Docker.DotNet.Models;

namespace Executor.Sandbox;

/// <summary>
/// Labels on every container Executor creates, so that any leftover can be found and attributed
/// (the way testcontainers' Ryuk finds its own).
/// </summary>
public static class SandboxLabels
{
    public const string Managed = "executor.managed";
    public const string Deployment = "executor.deployment";
    public const string Host = "executor.host";
    public const string Service = "executor.service";
    public const string Role = "executor.role";
    public const string Instance = "executor.instance";
    public const string Session = "executor.session";
    public const string CreatedAt = "executor.created-at";

    /// <summary>The runtime (python-3.11, python-3.11-data...) whose image and defaults the sandbox has.</summary>
    public const string Runtime = "executor.runtime";

    /// <summary>Pre-started container waiting in the warm pool.</summary>
    public const string PoolRole = "pool";

    /// <summary>Container created on demand for one session.</summary>
    public const string ColdRole = "cold";

    /// <summary>Name prefix of a pool container nobody has leased yet.</summary>
    public const string PoolNamePrefix = "executor-pool-";

    /// <summary>Name prefix of a pool container leased to the runner (which renames it so, shortly after the lease).</summary>
    public const string LeasedNamePrefix = "executor-leased-";

    /// <summary>Name prefix of a container the runner started itself (a cold run's, a runtime probe's).</summary>
    public const string RunNamePrefix = "executor-run-";

    /// <summary>The labels that select every container of one deployment on one runner host.</summary>
    public static Dictionary<string, string> OfHost(SandboxOptions options) => new()
    {
        [Managed] = "true",
        [Deployment] = options.Deployment,
        [Host] = options.Host,
    };

    /// <summary>
    /// Whether the container is the runner's: leased warm ones and the cold ones it started. Its runner removes them;
    /// when that runner is gone, its host's pool does (RunnerLiveness).
    /// </summary>
    public static bool IsRunners(ContainerListResponse container) =>
        container.Labels.TryGetValue(Role, out var role) && role == ColdRole
        || HasName(container, LeasedNamePrefix)
        || HasName(container, RunNamePrefix);

    public static bool HasName(ContainerListResponse container, string prefix) =>
        container.Names.Any(n => n.TrimStart('/').StartsWith(prefix, StringComparison.Ordinal));
}
