using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Executor.Bench;

/// <summary>The Executor stack under its AppHost, and a client that uses it as a platform would (wait mode).</summary>
public sealed class Stack : IAsyncDisposable
{
    private static readonly byte[] HelloWorld = "print(\"Hello from Python\")\n"u8.ToArray();

    private static readonly string[] Services = ["Gateway", "SessionService", "RunnerService", "PrewarmService"];

    /// <summary>The bench resizes pools, an operator's right; its callers are anonymous (the open mode, from loopback).</summary>
    public static readonly string OperatorKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    private static readonly (string Quota, string Value)[] AnonymousQuotas =
        [("MaxConcurrentRuns", "1000"), ("MaxQueued", "100000"), ("RunsPerMinute", "100000"), ("MaxSandboxes", "1000")];

    /// <summary>
    /// This bench process's deployment label: the services sweep up only their own deployment's leftovers, so two benches
    /// (or a bench and a test run) on one engine never remove each other's containers.
    /// </summary>
    public static readonly string Deployment = $"bench-{Environment.ProcessId}";

    private readonly DistributedApplication _app;

    private const string InternalToken = "bench-internal-token-0123456789";

    private Stack(DistributedApplication app, HttpClient gateway, HttpClient prewarm, HttpClient runner)
    {
        _app = app;
        Gateway = gateway;
        Prewarm = prewarm;
        Runner = runner;
    }

    public HttpClient Runner { get; }

    public HttpClient Gateway { get; }

    public HttpClient Prewarm { get; }

    /// <summary>
    /// Starts a stack; <paramref name="runtime"/> is the sandboxes' OCI runtime: null for the engine's default (runc),
    /// "runsc" for gVisor. <paramref name="postgres"/>: the distributed mode's store (a PostgreSQL started by the
    /// AppHost from eng/postgres.sh), with one replica and one host, so that only the store differs from embedded.
    /// <paramref name="settings"/>: more AppHost arguments (--Executor:Name=value), as a mode needs them.
    /// </summary>
    public static async Task<Stack> StartAsync(bool warmPool, int poolSize, string? runtime = null, bool postgres = false, IReadOnlyList<string>? settings = null)
    {
        try
        {
            return await StartOnceAsync(warmPool, poolSize, runtime, postgres, settings);
        }
        catch (DistributedApplicationException e)
        {
            // The gateway's port is picked free, then released until the gateway binds it: on a busy machine another
            // process may take it meanwhile. Once more, with another port.
            Console.WriteLine($"  note: the stack did not start ({e.Message}); starting it once more");
            return await StartOnceAsync(warmPool, poolSize, runtime, postgres, settings);
        }
    }

    private static async Task<Stack> StartOnceAsync(bool warmPool, int poolSize, string? runtime, bool postgres, IReadOnlyList<string>? settings)
    {
        var app = await StartAppAsync(
            [
                $"--Executor:DataDirectory={Path.Combine(Path.GetTempPath(), "executor-bench-" + Guid.NewGuid().ToString("N"))}",
                $"--Executor:PoolSize={poolSize}",
                $"--Executor:UseWarmPool={warmPool}",
                // The runner host's own services answer only this token (and their probes): the bench reads their state.
                $"--Executor:InternalToken={InternalToken}",
                .. runtime is null ? Array.Empty<string>() : [$"--Executor:Runtime={runtime}"],
                .. postgres ? ["--Executor:Mode=distributed", "--Executor:SessionReplicas=1", "--Executor:RunnerHosts=1"] : Array.Empty<string>(),
                .. settings ?? [],
            ],
            ["prewarm", "runner", "session", "gateway"]);
        var gateway = new HttpClient { BaseAddress = app.GetEndpoint("gateway", "http"), Timeout = TimeSpan.FromMinutes(2) };
        var prewarm = new HttpClient { BaseAddress = app.GetEndpoint("prewarm", "http"), DefaultRequestHeaders = { { "X-Executor-Internal-Token", InternalToken } } };
        var runner = new HttpClient { BaseAddress = app.GetEndpoint("runner", "http"), DefaultRequestHeaders = { { "X-Executor-Internal-Token", InternalToken } } };
        var stack = new Stack(app, gateway, prewarm, runner);
        await stack.WaitForPoolAsync(poolSize);
        return stack;
    }

    /// <summary>
    /// Starts the AppHost with the bench's own deployment label, free ports, the open mode with quotas lifted and
    /// <paramref name="settings"/> (--Executor:Name=value), and waits until the <paramref name="resources"/> are healthy.
    /// </summary>
    public static async Task<DistributedApplication> StartAppAsync(IReadOnlyList<string> settings, IReadOnlyList<string> resources)
    {
        // The bench measures the service, not its quotas: the anonymous caller's (4 at once, 64 queued, 120 a minute, 5 sandboxes by
        // default) are lifted, through the environment the services inherit, as ./run.sh's settings reach them.
        foreach (var (quota, value) in AnonymousQuotas)
        {
            Environment.SetEnvironmentVariable($"Auth__Defaults__{quota}", value);
        }
        // Nor the streams and waiting requests a key may hold open (16 by default): concurrency 50, or a steady rate on a
        // slow machine, waits for more results at once.
        Environment.SetEnvironmentVariable("Sessions__MaxStreamsPerKey", "1000");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [
                $"--Executor:Deployment={Deployment}",
                "--Executor:ServicePorts=random",
                $"--Executor:GatewayPort={FreePort()}",
                $"--Executor:OperatorKey={OperatorKey}",
                "--Executor:AuthMode=open",
                .. settings,
            ],
            (options, _) => options.DisableDashboard = true);
        // The services' own logs go to their OTLP exporters; here they would only bury the figures.
        // Nor do the orchestrator's health-check failures while the services start (a stack trace each).
        builder.Services.Configure<LoggerFilterOptions>(filter =>
        {
            filter.MinLevel = LogLevel.Error;
            filter.Rules.Clear();
            filter.Rules.Add(new LoggerFilterRule(null, "Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None, null));
            // PostgreSQL writes its (harmless) messages on stderr, which the orchestrator reports as errors.
            filter.Rules.Add(new LoggerFilterRule(null, "AppHost.Resources.postgres", LogLevel.None, null));
        });
        var app = await builder.BuildAsync();
        using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await app.StartAsync(startup.Token);
            foreach (var resource in resources)
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, startup.Token);
            }
        }
        catch (DistributedApplicationException)
        {
            await app.StopAsync();
            await app.DisposeAsync();
            throw;
        }
        return app;
    }

    /// <summary>
    /// Removes what earlier benches left behind: the containers of a bench-&lt;pid&gt; deployment whose process is gone (the
    /// services sweep only their own deployment's, and each bench has its own).
    /// </summary>
    public static async Task SweepLeftoversAsync(IDockerClient docker)
    {
        var containers = await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["executor.deployment"] = true } },
        });
        foreach (var container in containers)
        {
            var deployment = container.Labels["executor.deployment"];
            if (deployment.StartsWith("bench-", StringComparison.Ordinal) && int.TryParse(deployment["bench-".Length..], out var pid) && !Alive(pid))
            {
                try
                {
                    await docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
                }
                catch (DockerApiException)
                {
                    // Gone meanwhile, or its removal already under way: either way not left behind.
                }
            }
        }
    }

    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>Submits hello world and waits for its result; returns the wall time and whether it ran warm.</summary>
    public Task<(double Ms, bool Warm)> HelloWorldAsync() => HelloWorldAsync(Gateway);

    /// <summary>Hello world through a client of the caller's (e.g. one with a new connection each time).</summary>
    public static async Task<(double Ms, bool Warm)> HelloWorldAsync(HttpClient gateway)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(HelloWorld);
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, "file", "main.py");
        var sw = Stopwatch.StartNew();
        using var response = await gateway.PostAsync("/execute?wait=true&wait_seconds=60", form);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK || result.GetProperty("logs").GetString() != "Hello from Python\n")
        {
            throw new InvalidOperationException($"hello world did not complete: {(int)response.StatusCode} {result}");
        }
        return (ms, result.GetProperty("warm_start").GetBoolean());
    }

    /// <summary>Connections, and enough calls for the JIT to move the hot paths to optimized (tier-1) code; then a full pool.</summary>
    public async Task WarmUpAsync(int runs)
    {
        for (var i = 0; i < runs; i++)
        {
            await HelloWorldAsync();
        }
        await WaitForPoolAsync(2);
    }

    public async Task ResizePoolAsync(int size)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/prewarm?count={size}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OperatorKey);
        using var response = await Gateway.SendAsync(request);
        response.EnsureSuccessStatusCode();
        await WaitForPoolAsync(size);
    }

    /// <summary>
    /// Waits until the pool holds <paramref name="size"/> booted containers, none is starting, the runner's attached
    /// slots are full and no removal is pending: nothing left over from earlier runs competes with the next one.
    /// </summary>
    public async Task WaitForPoolAsync(int size)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (!await SettledAsync(size))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the pool did not reach {size}");
            }
            await Task.Delay(50);
        }
    }

    private async Task<bool> SettledAsync(int size)
    {
        var pool = await Prewarm.GetFromJsonAsync<JsonElement>("/pool");
        var runner = await Runner.GetFromJsonAsync<JsonElement>("/state");
        return pool.GetProperty("ready").GetInt32() >= size && pool.GetProperty("starting").GetInt32() == 0
            && runner.GetProperty("slots_ready").GetInt32() >= runner.GetProperty("slots_target").GetInt32()
            && runner.GetProperty("pending_removals").GetInt32() == 0;
    }

    /// <summary>Resident memory of each service process of this bench's stacks (not another bench's or test run's), in MiB.</summary>
    public static IReadOnlyList<(string Service, double Mib)> ServiceMemory() =>
        [.. Services.Select(name => (name, Process.GetProcessesByName(name).Where(p => Ours(p.Id)).Sum(p => p.WorkingSet64) / 1024.0 / 1024))];

    /// <summary>The four services' proportional set size together (Pss of /proc/&lt;pid&gt;/smaps_rollup), in MiB.</summary>
    public static double ServiceProportionalMemory() =>
        Services.SelectMany(Process.GetProcessesByName).Where(p => Ours(p.Id)).Sum(p => ProportionalKib(p.Id)) / 1024.0;

    private static long ProportionalKib(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/smaps_rollup").FirstOrDefault(l => l.StartsWith("Pss:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0; // ended meanwhile
        }
    }

    /// <summary>
    /// Whether the process descends from this bench: the orchestrator (DCP) that starts the services is watched by the
    /// process that started it (--monitor &lt;pid&gt;), whichever process adopted it.
    /// </summary>
    public static bool Ours(int pid)
    {
        var self = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var depth = 0; pid > 1 && depth < 16; depth++)
        {
            try
            {
                if (pid == Environment.ProcessId || File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').SkipWhile(a => a != "--monitor").Skip(1).FirstOrDefault() == self)
                {
                    return true;
                }
                pid = (int)StatFields(pid)[1];
            }
            catch (IOException)
            {
                return false; // the process ended meanwhile
            }
        }
        return false;
    }

    /// <summary>
    /// The fields of /proc/&lt;pid&gt;/stat after the process's name, as numbers where they are (state is 0): ppid is [1],
    /// utime [11], stime [12], cutime [13], cstime [14]. The name may hold spaces, so they are read after its closing
    /// parenthesis. Throws IOException when the process has ended.
    /// </summary>
    public static long[] StatFields(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return [.. stat[(stat.LastIndexOf(')') + 2)..].Split(' ')
            .Select(f => long.TryParse(f, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0)];
    }

    /// <summary>Waits until a runtime's pool holds a booted container and none is starting (then for the previous run's removal).</summary>
    public async Task WaitForPoolAsync(string runtime)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            var pool = (await Prewarm.GetFromJsonAsync<JsonElement>("/pool")).GetProperty("runtimes").GetProperty(runtime);
            if (pool.GetProperty("ready").GetInt32() >= 1 && pool.GetProperty("starting").GetInt32() == 0)
            {
                await Task.Delay(200);
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"the {runtime} pool did not refill");
    }

    public async ValueTask DisposeAsync()
    {
        Gateway.Dispose();
        Prewarm.Dispose();
        Runner.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
