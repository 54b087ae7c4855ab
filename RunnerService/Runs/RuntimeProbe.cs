using System.Security.Cryptography;
using System.Text.Json;
using Docker.DotNet;
using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Finds out what each runtime's image holds: at start, one short sandbox per runtime (the same limits and isolation as
/// a run, with no launcher) reports its interpreter's version and the versions of the runtime's packages. The host's
/// heartbeats carry the result to SessionService, which lists it at GET /runtimes. A runtime whose probe fails (its
/// image is missing, the engine is down) is listed as unavailable with the reason, and probed again every
/// <see cref="RetryInterval"/> until it succeeds.
/// </summary>
public sealed partial class RuntimeProbe(
    IContainerEngine engine,
    ContainerJanitor janitor,
    RuntimeCatalog catalog,
    SandboxRuntime isolation,
    SandboxInstance instance,
    LauncherFiles launcher,
    IOptions<SandboxOptions> sandboxOptions,
    TimeProvider time,
    ILogger<RuntimeProbe> logger) : BackgroundService
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(60);

    // importlib.metadata reads the installed distributions' metadata without importing them. A language other than
    // Python names the command that prints its version (argv[1], JSON): its first dotted number is the version.
    private const string Script = """
        import json, re, subprocess, sys
        from importlib import metadata
        command = json.loads(sys.argv[1])
        found = {}
        for name in sys.argv[2:]:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                pass
        version = sys.version.split()[0]
        if command:
            said = subprocess.run(command, capture_output=True, text=True, timeout=50, cwd="/tmp")
            match = re.search(r"[0-9]+(?:[.][0-9]+)+", said.stdout + said.stderr)
            version = match.group(0) if said.returncode == 0 and match else None
        print(json.dumps({"python": version, "packages": found, "cache_tag": sys.implementation.cache_tag}))
        """;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RuntimeInfo> _found = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _held = new();
    private readonly TaskCompletionSource _firstRound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every runtime as this host knows it now (not available, with no problem, until probed).</summary>
    public IReadOnlyList<RuntimeInfo> Runtimes =>
        [.. catalog.All.Select(r => _found.TryGetValue(r.Id, out var info) ? info : Describe(r, null, null, null))];

    /// <summary>Completes once every runtime has been probed once (whatever the outcome).</summary>
    public Task FirstRound => _firstRound.Task;

    /// <summary>The runtimes this host can run now: those whose probe succeeded.</summary>
    public IReadOnlyList<string> AvailableIds => [.. catalog.All.Where(r => _found.GetValueOrDefault(r.Id)?.Available == true).Select(r => r.Id)];

    /// <summary>Whether the container is a probe of this process's.</summary>
    public bool Holds(string containerId) => _held.ContainsKey(containerId);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var pending = catalog.All.Where(r => _found.GetValueOrDefault(r.Id)?.Available != true).ToList();
            if (pending.Count == 0)
            {
                return;
            }
            foreach (var language in pending)
            {
                _found[language.Id] = await ProbeAsync(language, stoppingToken);
            }
            _firstRound.TrySetResult();
            await Task.Delay(RetryInterval, time, stoppingToken);
        }
    }

    private async Task<RuntimeInfo> ProbeAsync(LanguageRuntime language, CancellationToken cancellationToken)
    {
        var spec = ProbeSpec(language);
        spec.Cmd = ["python3", "-I", "-c", Script, JsonSerializer.Serialize(language.VersionCommand ?? []), .. language.Packages];
        try
        {
            var report = JsonSerializer.Deserialize<ProbeReport>((await RunAsync(spec, cancellationToken)).Trim().Split('\n')[^1])
                ?? throw new InvalidDataException("the probe printed nothing");
            var missing = language.Packages.Where(p => !report.Packages.ContainsKey(p)).ToList();
            var problem = missing.Count > 0 ? $"the image {language.Image} lacks {string.Join(", ", missing)}"
                : report.Python is null ? $"the image {language.Image} cannot run '{string.Join(' ', language.VersionCommand ?? [])}'"
                : null;
            var found = string.Join(", ", report.Packages.Select(p => $"{p.Key} {p.Value}"));
            LogProbed(language.Id, report.Python ?? "?", found, problem ?? "ok");
            if (report.CacheTag is { } cacheTag && launcher.Shared && !launcher.CompiledFor(cacheTag))
            {
                await CompileLauncherAsync(language, cancellationToken);
            }
            return problem is null ? Describe(language, report.Python, report.Packages, null) : Describe(language, null, null, problem);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var why = e is DockerImageNotFoundException || e.Message.Contains("No such image", StringComparison.OrdinalIgnoreCase)
                ? $"the image {language.Image} is missing (build it with eng/prerequisites.sh)"
                : $"probing the image {language.Image} failed (the runner's log says why)";
            // What the engine said reaches only the log: the reason is shown to callers (GET /runtimes, 503 problems).
            LogProbeFailed(language.Id, why, e.Message);
            return Describe(language, null, null, why);
        }
    }

    /// <summary>
    /// Has the image's Python compile the launcher from the host's directory (see <see cref="LauncherFiles"/>); a failure
    /// (an engine that does not see the directory) leaves sandboxes compiling the source, as they would without it.
    /// </summary>
    private async Task CompileLauncherAsync(LanguageRuntime language, CancellationToken cancellationToken)
    {
        if (launcher.CompileCommand() is not var (command, mount))
        {
            return;
        }
        var spec = ProbeSpec(language);
        spec.Cmd = command;
        spec.HostConfig!.Mounts = [mount]; // SandboxSpec always makes a HostConfig
        try
        {
            if (!launcher.Store(await RunAsync(spec, cancellationToken)))
            {
                LogLauncherNotCompiled(language.Image, "it printed no compiled launcher");
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogLauncherNotCompiled(language.Image, e.Message);
        }
    }

    /// <summary>A short sandbox of the runtime (the same limits and isolation as a run), as the non-root user, whose command the caller sets.</summary>
    private Docker.DotNet.Models.CreateContainerParameters ProbeSpec(LanguageRuntime language)
    {
        var options = sandboxOptions.Value;
        var spec = SandboxSpec.Create(options, language, isolation.Name, SandboxLimits.Defaults(options, language), instance,
            SandboxLabels.ColdRole, time, name: $"{SandboxLabels.RunNamePrefix}probe-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        spec.User = options.User;
        return spec;
    }

    /// <summary>Runs a probe container to its end and returns its standard output; the container is removed either way.</summary>
    private async Task<string> RunAsync(Docker.DotNet.Models.CreateContainerParameters spec, CancellationToken cancellationToken)
    {
        string? id = null;
        try
        {
            // Create and start are never cancelled half-way (see IContainerEngine); the removal below follows either way.
            id = await engine.CreateAsync(spec);
            _held[id] = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ProbeTimeout);
            using var output = await engine.WatchAsync(id, CancellationToken.None);
            await engine.StartCreatedAsync(id);
            var (stdout, _) = await output.ReadOutputToEndAsync(timeout.Token);
            return stdout;
        }
        finally
        {
            if (id is not null)
            {
                _held.TryRemove(id, out _);
                await janitor.RemoveAsync(id, now: true);
            }
        }
    }

    private static RuntimeInfo Describe(LanguageRuntime language, string? python, IReadOnlyDictionary<string, string>? packages, string? problem) =>
        new(language.Id, language.Language, language.Version, language.IsDefault, language.MemoryMb,
            packages ?? new Dictionary<string, string>(), python, Available: python is not null && problem is null, problem);

    private sealed record ProbeReport(
        [property: System.Text.Json.Serialization.JsonPropertyName("python")] string? Python,
        [property: System.Text.Json.Serialization.JsonPropertyName("packages")] Dictionary<string, string> Packages,
        [property: System.Text.Json.Serialization.JsonPropertyName("cache_tag")] string? CacheTag);

    [LoggerMessage(Level = LogLevel.Information, Message = "Runtime {Runtime}: version {Version}; {Packages} ({Problem})")]
    private partial void LogProbed(string runtime, string version, string packages, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The launcher could not be compiled in {Image} ({Reason}): its sandboxes compile the launcher's source")]
    private partial void LogLauncherNotCompiled(string image, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runtime {Runtime} is unavailable: {Reason} ({Cause})")]
    private partial void LogProbeFailed(string runtime, string reason, string cause);
}
