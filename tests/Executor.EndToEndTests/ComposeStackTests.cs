using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.EndToEndTests;

[CollectionDefinition(Name)]
public sealed class ComposeCollection
{
    public const string Name = "4 compose";
}

/// <summary>The images docker-compose runs, built offline once for the collection (no registry here).</summary>
public sealed class OfflineImages : IAsyncLifetime
{
    public Task InitializeAsync() => ComposeStackTests.Script(TimeSpan.FromMinutes(20), "build");

    public Task DisposeAsync() => Task.CompletedTask;
}

/// <summary>The deployment an operator runs: docker-compose, built offline here (no registry), on the real engine.</summary>
[Collection(ComposeCollection.Name)]
public sealed class ComposeStackTests(OfflineImages images) : IClassFixture<OfflineImages>
{
    private const string Project = "executor-e2e";

    /// <summary>docker-compose's stacks require keys: this is their operator key.</summary>
    private const string OperatorKey = "e2e-compose-operator-key-0123456789";

    [Fact]
    public async Task The_distributed_files_run_a_central_tier_that_a_runner_host_joins_with_one_command()
    {
        Assert.NotNull(images);
        var port = StackFixture.FreePort();
        var hostSecret = "e2e-" + Guid.NewGuid().ToString("N");
        (string, string)[] central =
        [
            ("EXECUTOR_POSTGRES_PASSWORD", "e2e-" + Guid.NewGuid().ToString("N")), ("EXECUTOR_HOST_SECRET", hostSecret),
            ("EXECUTOR_POSTGRES_IMAGE", "executor-postgres:15"), ("EXECUTOR_PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("EXECUTOR_OPERATOR_KEY", OperatorKey), ("EXECUTOR_DATA_POOL_SIZE", "0"), ("EXECUTOR_LANGUAGE_POOL_SIZE", "0"),
        ];
        // The runner host reaches the central tier's gateway (its one published port) through the machine's own address,
        // with a credential of its own, derived from the secret as an operator would (HMAC of its name).
        (string, string)[] host =
        [
            .. central.Where(v => v.Item1 != "EXECUTOR_HOST_SECRET"), ("EXECUTOR_CENTRAL", "172.17.0.1"), ("EXECUTOR_HOST_NAME", "e2e-host"),
            ("EXECUTOR_DEPLOYMENT", "compose"), ("EXECUTOR_HOST_CREDENTIAL", HostCredential(hostSecret, "e2e-host")),
            ("EXECUTOR_INTERNAL_TOKEN", "e2e-" + Guid.NewGuid().ToString("N")),
        ];
        try
        {
            await Compose("central.yml", "executor-e2e-central", central, "up", "-d");
            await Compose("runner-host.yml", "executor-e2e-host", host, "up", "-d");
            using var api = Client(port);
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                try
                {
                    using var hosts = await api.GetAsync("/admin/hosts");
                    return hosts.IsSuccessStatusCode && (await hosts.Content.ReadAsStringAsync()).Contains("\"e2e-host\"", StringComparison.Ordinal);
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the runner host joins the central tier");

            var hello = await api.RunAsync("print('across compose projects')\n");
            Assert.Equal("across compose projects\n", hello.GetProperty("logs").GetString());
            Assert.Equal("e2e-host", hello.GetProperty("runner_host").GetString());
        }
        finally
        {
            await Compose("runner-host.yml", "executor-e2e-host", host, "down", "-v");
            await Compose("central.yml", "executor-e2e-central", central, "down", "-v");
        }
    }

    [Fact]
    public async Task The_offline_compose_stack_runs_scripts_on_port_5000_and_leaves_nothing_behind()
    {
        Assert.NotNull(images);
        var port = IsFree(5000) ? 5000 : StackFixture.FreePort();
        try
        {
            await Script(TimeSpan.FromMinutes(5),
            [
                "-p", Project, "up", "-d", "--no-build", ("EXECUTOR_PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("EXECUTOR_OPERATOR_KEY", OperatorKey), ("EXECUTOR_DATA_POOL_SIZE", "0"), ("EXECUTOR_LANGUAGE_POOL_SIZE", "0"), .. StackSecrets.Cast<object>(),
            ]);
            using var api = Client(port);
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                try
                {
                    return (await api.GetAsync("/health")).IsSuccessStatusCode && (await api.GetAsync("/openapi/v1.json")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the compose stack answers on its port");
            // Healthy services are not yet a runner host that can take work: until its first heartbeat, submissions get 503.
            await ExecutorApi.WaitUntilAsync(async () =>
            {
                using var hosts = await api.GetAsync("/admin/hosts");
                return hosts.IsSuccessStatusCode && (await hosts.Content.ReadAsStringAsync()).Contains("\"alive\"", StringComparison.Ordinal);
            }, "the runner host has joined");
            using (var anonymous = await new HttpClient { BaseAddress = api.BaseAddress }.UploadAsync("print(1)\n"))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode); // docker-compose requires keys
            }

            var hello = await api.RunAsync("print(\"Hello from Python\")\n");
            Assert.Equal("Hello from Python\n", hello.GetProperty("logs").GetString());
            Assert.Equal(0, hello.GetProperty("exit_code").GetInt32());

            var loop = await api.RunAsync("while True:\n    pass\n", ("timeout_seconds", "2"));
            Assert.Equal("timed_out", loop.GetProperty("status").GetString());

            using var docs = await api.GetAsync("/apidocs/index.html");
            Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        }
        finally
        {
            await Script(TimeSpan.FromMinutes(3),
            [
                "-p", Project, "down", "-v", "--remove-orphans", ("EXECUTOR_OPERATOR_KEY", OperatorKey), ("EXECUTOR_DATA_POOL_SIZE", "0"), ("EXECUTOR_LANGUAGE_POOL_SIZE", "0"),
                .. StackSecrets.Cast<object>(),
            ]);
        }

        using var docker = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
        var left = await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(left, c => c.Labels.TryGetValue("com.docker.compose.project", out var p) && p == Project);
        await ExecutorApi.WaitUntilAsync(async () => !(await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }))
            .Any(c => c.Labels.TryGetValue("executor.deployment", out var d) && d == "compose"), "no sandbox of the compose deployment is left");
    }

    /// <summary>What an operator computes with openssl (README): HMAC-SHA256 of the host's name under the host secret.</summary>
    public static string HostCredential(string secret, string host) => Convert.ToHexStringLower(
        System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret), System.Text.Encoding.UTF8.GetBytes(host)));

    /// <summary>The secrets docker-compose.yml requires besides the operator key.</summary>
    private static readonly (string, string)[] StackSecrets =
    [
        ("EXECUTOR_HOST_SECRET", "e2e-compose-host-secret-0123456789"),
        ("EXECUTOR_HOST_CREDENTIAL", HostCredential("e2e-compose-host-secret-0123456789", "compose")),
        ("EXECUTOR_INTERNAL_TOKEN", "e2e-compose-internal-token-0123456789"),
    ];

    private static HttpClient Client(int port)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", OperatorKey);
        return client;
    }

    private static async Task Compose(string file, string project, (string Name, string Value)[] environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("docker-compose", ["-p", project, "-f", Path.Combine(Repository.Root, "eng", "compose", file), .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(cancel.Token);
        Assert.True(process.ExitCode == 0, $"docker-compose -f {file} {string.Join(' ', arguments)} failed: {await output}{await errors}");
    }

    internal static async Task Script(TimeSpan timeout, params object[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(Repository.Root, "eng", "compose-offline.sh"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            if (argument is (string name, string value))
            {
                start.Environment[name] = value;
            }
            else
            {
                start.ArgumentList.Add((string)argument);
            }
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cancel.Token);
        Assert.True(process.ExitCode == 0, $"compose-offline.sh {string.Join(' ', start.ArgumentList)} failed: {await output}{await errors}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Any, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
