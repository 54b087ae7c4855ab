using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.DependencyInjection;

namespace Executor.EndToEndTests;

/// <summary>
/// The whole Executor stack, started once for the suite through the real AppHost, against the real Docker engine.
/// Its containers carry the deployment label "tests", so the suite can see exactly what it left behind.
/// </summary>
public class StackFixture : IAsyncLifetime
{
    /// <summary>Every stack of the suite labels its containers with a deployment starting with this.</summary>
    public const string DeploymentPrefix = "tests";
    public const int PoolSize = 2;

    /// <summary>This stack's deployment label: stacks that run side by side never sweep up each other's containers.</summary>
    public virtual string Deployment => DeploymentPrefix;

    public const string OperatorKey = "e2e-operator-key-0123456789abcdef";

    /// <summary>The secret each runner host's credential is derived from (Sessions:HostSecret): tests may act as a host.</summary>
    public const string HostSecret = "e2e-host-secret-0123456789abcdef";

    /// <summary>What runner and prewarm of a host present to each other: the tests' clients of them present it too.</summary>
    public const string InternalToken = "e2e-internal-token-0123456789abcdef";

    /// <summary>The secret the stack signs callbacks with (webhook-signature, and X-Executor-Signature for one release).</summary>
    public const string CallbackSecret = CallbackReceiver.Secret;

    /// <summary>Whether every caller must present a key (the required mode); else the open mode.</summary>
    protected virtual bool RequireKeys => false;

    /// <summary>A client of the gateway with the operator key.</summary>
    public HttpClient Operator { get; private set; } = null!;

    /// <summary>The OCI runtime the stack's sandboxes run under, as results name it.</summary>
    public virtual string ExpectedIsolation => "runc";

    /// <summary>The Docker engine the stack's sandboxes run on: the machine's, unless a stack brings its own.</summary>
    protected virtual string DockerEndpoint => "unix:///var/run/docker.sock";

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "executor-tests-" + Guid.NewGuid().ToString("N"));

    /// <summary>Where this stack's SessionService keeps its database; unique to the stack.</summary>
    public string DataDirectory => _dataDirectory;
    private DistributedApplication? _app;

    /// <summary>AppHost settings a derived stack adds.</summary>
    protected virtual IEnumerable<string> ExtraArguments => [];

    /// <summary>
    /// Warm containers of the data runtime: the main stack keeps one (the runtime tests use it); the other stacks none,
    /// so that each starts no gigabyte-image sandbox it does not use (their data runs, if any, start cold).
    /// </summary>
    protected virtual int DataPoolSize => 1;

    /// <summary>
    /// Warm containers of each language runtime (C, C++, Java, JavaScript, bash): none, but in the stack that tests the
    /// languages, so that the other stacks start no sandbox they do not use.
    /// </summary>
    protected virtual int LanguagePoolSize => 0;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The stack has not started");

    public HttpClient Gateway { get; private set; } = null!;

    /// <summary>The (first) runner host's RunnerService.</summary>
    public HttpClient Runner => Runners[0];

    /// <summary>The (first) runner host's PrewarmService.</summary>
    public HttpClient Prewarm => Prewarms[0];

    /// <summary>The (first) SessionService replica.</summary>
    public HttpClient Session => Sessions[0];

    public IDockerClient Docker { get; private set; } = null!;

    /// <summary>Every span the stack's services export (OTLP/HTTP, as to any collector).</summary>
    public OtlpReceiver Telemetry { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Docker = new DockerClientBuilder().WithEndpoint(new Uri(DockerEndpoint)).Build();
        Telemetry = await OtlpReceiver.StartAsync();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [
                $"--Executor:Deployment={Deployment}",
                "--Executor:ServicePorts=random",
                $"--Executor:DataDirectory={_dataDirectory}",
                $"--Executor:PoolSize={PoolSize}",
                $"--Executor:DataPoolSize={DataPoolSize}",
                $"--Executor:LanguagePoolSize={LanguagePoolSize}",
                // Any free port: the suite must not collide with a stack started by ./run.sh on 5000. Every address: a test
                // calls from one that is not loopback (the open mode must refuse it).
                $"--Executor:GatewayPort={FreePort()}",
                "--Executor:GatewayHost=0.0.0.0",
                $"--Executor:OtlpEndpoint={Telemetry.Endpoint}",
                $"--Executor:DockerEndpoint={DockerEndpoint}",
                // An operator key for the tests that administer the stack; the mode stays open (anonymous from loopback)
                // unless a stack asks for keys.
                $"--Executor:OperatorKey={OperatorKey}",
                // Callbacks signed with a known secret; the tests' own receivers listen on 127.0.0.1, allowed by name.
                $"--Executor:CallbackSecret={CallbackSecret}",
                "--Executor:CallbackAllowedHosts=127.0.0.1",
                // Interactive sessions nobody attaches to read end of file after 3 s.
                "--Executor:StdinAttachGraceSeconds=3",
                $"--Executor:HostSecret={HostSecret}",
                $"--Executor:InternalToken={InternalToken}",
                .. RequireKeys ? Array.Empty<string>() : ["--Executor:AuthMode=open"],
                .. ExtraArguments,
            ],
            (options, _) => options.DisableDashboard = true);
        _app = await builder.BuildAsync();

        using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await _app.StartAsync(startup.Token);
        foreach (var resource in SessionNames.Concat(HostNames.SelectMany(h => new[] { h.Prewarm, h.Runner })).Append("gateway"))
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, startup.Token);
        }

        Gateway = _app.CreateHttpClient("gateway");
        Operator = _app.CreateHttpClient("gateway");
        Operator.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", OperatorKey);
        Sessions = [.. SessionNames.Select(name => _app.CreateHttpClient(name))];
        Runners = [.. HostNames.Select(h => Internal(_app.CreateHttpClient(h.Runner)))];
        Prewarms = [.. HostNames.Select(h => Internal(_app.CreateHttpClient(h.Prewarm)))];
    }

    /// <summary>Adds every line the resources write, from their start, to <paramref name="lines"/> (lock it to read).</summary>
    protected async Task CollectLogsAsync(List<string> lines, params string[] resources)
    {
        var logs = App.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var name in resources)
        {
            // Logs are kept by the resource's id (the name plus a suffix), which its notifications carry.
            var resource = (await App.ResourceNotifications.WaitForResourceAsync(name, _ => true)).ResourceId;
            _ = Task.Run(async () =>
            {
                await foreach (var batch in logs.WatchAsync(resource))
                {
                    lock (lines)
                    {
                        lines.AddRange(batch.Select(line => line.Content));
                    }
                }
            });
        }
    }

    /// <summary>A client of a runner host's own service: it presents the host's internal token, as its other service does.</summary>
    private static HttpClient Internal(HttpClient client)
    {
        client.DefaultRequestHeaders.Add("X-Executor-Internal-Token", InternalToken);
        return client;
    }

    /// <summary>The SessionService resources (one, or the replicas of the distributed mode).</summary>
    protected virtual IReadOnlyList<string> SessionNames => ["session"];

    /// <summary>The runner hosts' resources (one, or several in the distributed mode).</summary>
    protected virtual IReadOnlyList<(string Runner, string Prewarm)> HostNames => [("runner", "prewarm")];

    /// <summary>Every SessionService replica, every runner host's runner and pool.</summary>
    public IReadOnlyList<HttpClient> Sessions { get; private set; } = [];

    public IReadOnlyList<HttpClient> Runners { get; private set; } = [];

    public IReadOnlyList<HttpClient> Prewarms { get; private set; } = [];

    /// <summary>
    /// Waits until the resource is healthy. Right after a start command its state may still read Exited for a moment:
    /// the default behaviour would stop waiting there ("failed to start"), so this one waits through it.
    /// </summary>
    public async Task WaitHealthyAsync(string resource)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, WaitBehavior.WaitOnResourceUnavailable, timeout.Token);
    }

    public virtual async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await StopGracefullyAsync();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Docker.Dispose();
        await Telemetry.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>
    /// Stops the two services that own containers as an orchestrator would (SIGTERM, then wait), so they clean up
    /// after themselves: the test host does not always deliver a graceful stop to processes it restarted.
    /// </summary>
    private async Task StopGracefullyAsync()
    {
        foreach (var (client, path) in Runners.Select(r => (r, "/state")).Concat(Prewarms.Select(p => (p, "/pool"))))
        {
            try
            {
                var state = await client.GetFromJsonAsync<System.Text.Json.JsonElement>(path);
                using var process = System.Diagnostics.Process.GetProcessById(state.GetProperty("pid").GetInt32());
                using var term = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term.WaitForExitAsync();
                process.WaitForExit(30_000);
            }
            catch (Exception e) when (e is HttpRequestException or ArgumentException or InvalidOperationException)
            {
                // Not running: nothing to stop.
            }
        }
    }

    /// <summary>Every container of this test deployment, running or not.</summary>
    public async Task<IList<ContainerListResponse>> ContainersAsync() =>
        await Docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"executor.deployment={Deployment}"] = true },
            },
        });

    /// <summary>
    /// Containers of a session that still exist: the one the runner says it used (warm ones are leased, not
    /// labelled with the session) and any that carry the session's label (cold ones).
    /// </summary>
    public async Task<IList<string>> ContainersOfSessionAsync(string sessionId)
    {
        var run = await Runner.GetFromJsonAsync<System.Text.Json.JsonElement>($"/runs/{sessionId}");
        var used = run.GetProperty("container_id").GetString();
        Assert.False(string.IsNullOrEmpty(used), $"the runner does not know which container session {sessionId} used");
        return [.. (await ContainersAsync())
            .Where(c => c.ID == used || (c.Labels.TryGetValue("executor.session", out var s) && s == sessionId))
            .Select(c => c.ID)];
    }

    /// <summary>
    /// Runs a hostile script and checks it was contained: it ends in <paramref name="expectedStatus"/>, every service
    /// is healthy afterwards, an ordinary script in the same runtime still prints what it should, and no container of
    /// the session is left.
    /// </summary>
    public async Task<System.Text.Json.JsonElement> RunContainedAsync(
        string script, string expectedStatus, (string Script, string Stdout) ordinary, params (string Field, string Value)[] fields)
    {
        var sessionId = await Gateway.SubmitAsync(script, fields);
        var result = await Gateway.WaitForResultAsync(sessionId);

        var logs = result.GetProperty("logs").GetString();
        Assert.True(expectedStatus == result.GetProperty("status").GetString(),
            $"expected {expectedStatus}, got {result.GetProperty("status")}: {result.GetProperty("detail")} / {(logs is { Length: > 300 } ? logs[^300..] : logs)}");
        await AssertHealthyAsync();
        var runtime = fields.Where(f => f.Field == "runtime").ToArray();
        var normal = await Gateway.RunAsync(ordinary.Script, runtime);
        Assert.Equal("completed", normal.GetProperty("status").GetString());
        Assert.Equal(ordinary.Stdout, normal.GetProperty("stdout").GetString());
        await ExecutorApi.WaitUntilAsync(async () => (await ContainersOfSessionAsync(sessionId)).Count == 0,
            $"no container of session {sessionId} is left");
        return result;
    }

    /// <summary>Every service answers its readiness probe.</summary>
    public async Task AssertHealthyAsync()
    {
        foreach (var service in Sessions.Concat(Runners).Concat(Prewarms).Append(Gateway))
        {
            using var response = await service.GetAsync("/health");
            Assert.True(response.IsSuccessStatusCode, $"{service.BaseAddress} /health answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<bool> ContainerExistsAsync(string containerId)
    {
        try
        {
            await Docker.Containers.InspectContainerAsync(containerId);
            return true;
        }
        catch (DockerContainerNotFoundException)
        {
            return false;
        }
    }

    /// <summary>A port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<StackFixture>
{
    public const string Name = "1 stack";
}

/// <summary>The same stack with every sandbox under gVisor (runsc, registered by eng/prerequisites.sh --runsc).</summary>
public sealed class GvisorStackFixture : StackFixture
{
    public override string Deployment => "tests-gvisor";

    public override string ExpectedIsolation => "runsc";

    protected override int DataPoolSize => 0;

    // Egress allowed to a loopback server, so that a run asking for it reaches the host, which refuses it under gVisor.
    protected override IEnumerable<string> ExtraArguments => ["--Executor:Runtime=runsc", "--Executor:EgressAllowedHosts=127.0.0.3:*"];
}

[CollectionDefinition(Name)]
public sealed class GvisorCollection : ICollectionFixture<GvisorStackFixture>
{
    public const string Name = "2 gvisor";
}
