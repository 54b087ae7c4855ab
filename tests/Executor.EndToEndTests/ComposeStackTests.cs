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

/// <summary>The deployment an operator runs: docker-compose, built offline here (no registry), on the real engine.</summary>
[Collection(ComposeCollection.Name)]
public sealed class ComposeStackTests
{
    private const string Project = "executor-e2e";

    [Fact]
    public async Task The_offline_compose_stack_runs_scripts_on_port_5000_and_leaves_nothing_behind()
    {
        await Script(TimeSpan.FromMinutes(15), "build");
        var port = IsFree(5000) ? 5000 : StackFixture.FreePort();
        try
        {
            await Script(TimeSpan.FromMinutes(5), "-p", Project, "up", "-d", "--no-build", ("EXECUTOR_PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
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
            await Script(TimeSpan.FromMinutes(3), "-p", Project, "down", "-v", "--remove-orphans");
        }

        using var docker = new DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
        var left = await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(left, c => c.Labels.TryGetValue("com.docker.compose.project", out var p) && p == Project);
        await ExecutorApi.WaitUntilAsync(async () => !(await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }))
            .Any(c => c.Labels.TryGetValue("executor.deployment", out var d) && d == "compose"), "no sandbox of the compose deployment is left");
    }

    private static async Task Script(TimeSpan timeout, params object[] arguments)
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
