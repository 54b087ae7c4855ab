using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Executor.AppHost;

/// <summary>
/// The AppHost's own settings (Executor:*, docs/operations.md): the mode, how many replicas and hosts, where the data
/// lives, and the secrets the services share. Anything not given keeps the services' own defaults.
/// </summary>
internal sealed class ExecutorSettings
{
    /// <summary>Where <c>eng/private-engine.sh</c> keeps each private engine's socket and readiness mark.</summary>
    private const string EnginesDirectory = "/var/tmp/executor-engines";

    private readonly IConfigurationSection _section;

    public ExecutorSettings(IDistributedApplicationBuilder builder)
    {
        _section = builder.Configuration.GetSection("Executor");
        Repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        DataDirectory = Path.GetFullPath(_section["DataDirectory"] ?? Path.Combine(Repository, ".data"));
        Distributed = _section["Mode"] == "distributed";
        SessionReplicas = Distributed ? Count("SessionReplicas", 2) : 1;
        RunnerHostCount = Distributed ? Count("RunnerHosts", 2) : 1;
        Deployment = _section["Deployment"] ?? "default";
        ServiceEnvironment = Given("Environment") ?? "Production";
        // The secret each runner host's own credential is derived from, new at every start unless given (tests that
        // act as a host derive credentials from it).
        HostSecret = Given("HostSecret") ?? NewSecret();
    }

    /// <summary>The repository's root: the scripts the AppHost starts (eng/) run from it.</summary>
    public string Repository { get; }

    /// <summary>The SQLite file or the PostgreSQL cluster (.data/ unless Executor:DataDirectory says otherwise).</summary>
    public string DataDirectory { get; }

    /// <summary>Executor:Mode=distributed: PostgreSQL, several SessionService replicas, several runner hosts.</summary>
    public bool Distributed { get; }

    public int SessionReplicas { get; }

    public int RunnerHostCount { get; }

    /// <summary>The label that scopes the sweeping of leftover containers (and names the private engines).</summary>
    public string Deployment { get; }

    public string HostSecret { get; }

    /// <summary>
    /// The services' hosting environment (Executor:Environment): Production by default, Development for those who
    /// want the framework's development behaviour (<c>./run.sh --dev</c>).
    /// </summary>
    public string ServiceEnvironment { get; }

    /// <summary>
    /// The services' own ports are free ones (not the launch profiles') for tests and the benchmark, which may run beside
    /// a developer's stack, and whenever a service runs more than once.
    /// </summary>
    public bool RandomServicePorts => _section["ServicePorts"] == "random" || Distributed;

    /// <summary>An Executor:* setting as given, or null.</summary>
    public string? this[string setting] => Given(setting);

    /// <summary>
    /// The runner hosts to start. The first uses the machine's engine (or Executor:DockerEndpoint); each further one a
    /// private engine of its own, so that several hosts really are several engines.
    /// </summary>
    public IEnumerable<RunnerHost> RunnerHosts()
    {
        for (var h = 1; h <= RunnerHostCount; h++)
        {
            var suffix = RunnerHostCount == 1 ? "" : $"-{h}";
            var name = RunnerHostCount == 1 ? Given("Host") : $"host-{h}";
            // What runner and prewarm of this host present to each other, and only they hold.
            var internalToken = Given("InternalToken") ?? NewSecret();
            if (h == 1)
            {
                yield return new RunnerHost(suffix, name, Given("DockerEndpoint"), internalToken, Engine: null);
                continue;
            }
            var engine = $"{Deployment}-host-{h}".ToLowerInvariant();
            yield return new RunnerHost(suffix, name, $"unix://{EnginesDirectory}/{engine}/docker.sock", internalToken,
                new PrivateEngine(engine, $"{EnginesDirectory}/{engine}/ready"));
        }
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string? Given(string setting) => _section[setting] is { Length: > 0 } value ? value : null;

    private int Count(string setting, int fallback) =>
        Given(setting) is { } given ? int.Parse(given, CultureInfo.InvariantCulture) : fallback;

    private static string NewSecret() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
}

/// <summary>One runner host: RunnerService and PrewarmService beside one Docker engine (only these two hold its socket).</summary>
/// <param name="Suffix">What tells this host's resources from another's ("", or "-2").</param>
/// <param name="Name">Sandbox:Host, or null for the services' default (the machine's name).</param>
/// <param name="DockerEndpoint">The engine, or null for the services' default (DOCKER_HOST, else the local socket).</param>
/// <param name="InternalToken">What the host's runner and pool present to each other.</param>
/// <param name="Engine">The private engine the AppHost starts for this host, or null.</param>
internal sealed record RunnerHost(string Suffix, string? Name, string? DockerEndpoint, string InternalToken, PrivateEngine? Engine);

/// <summary>A Docker engine of a runner host's own (eng/private-engine.sh), ready once its mark file exists.</summary>
internal sealed record PrivateEngine(string Name, string ReadyFile);
