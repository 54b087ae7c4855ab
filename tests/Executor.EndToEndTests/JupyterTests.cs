using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Executor.EndToEndTests;

/// <summary>A stack whose callers need keys (Jupyter's tokens), with a warm sandbox of the data runtime for matplotlib.</summary>
public sealed class JupyterStackFixture : StackFixture
{
    public override string Deployment => "tests-jupyter";

    protected override bool RequireKeys => true;

    protected override int DataPoolSize => 1;

    /// <summary>A key of an ordinary user, presented as Jupyter's token.</summary>
    public string Key { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        (_, Key) = await Operator.CreateKeyAsync("jupyter");
    }

    /// <summary>A client of the gateway presenting the key as Jupyter's clients do.</summary>
    public HttpClient WithKey()
    {
        var client = new HttpClient { BaseAddress = Gateway.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Add("Authorization", "token " + Key);
        return client;
    }
}

[CollectionDefinition(Name)]
public sealed class JupyterCollection : ICollectionFixture<JupyterStackFixture>
{
    public const string Name = "8 jupyter";
}

/// <summary>
/// Jupyter's own clients on Executor's sandboxes, unmodified: @jupyterlab/services (the v1 binary WebSocket frames) and
/// Debian's Jupyter Server with Executor as its gateway (the legacy JSON frames), with a key as the token.
/// </summary>
[Collection(JupyterCollection.Name)]
public sealed class JupyterTests(JupyterStackFixture stack, ITestOutputHelper log)
{
    /// <summary>Runs a cell and collects what came on iopub (but status) and the reply.</summary>
    private const string RunCell = """
        const run = async (kernel, code) => {
          const messages = [];
          const future = kernel.requestExecute({ code });
          future.onIOPub = msg => {
            if (msg.header.msg_type === "status") return;
            const content = { ...msg.content };
            if (content.data && content.data["image/png"]) content.data = { ...content.data, "image/png": content.data["image/png"].slice(0, 8) };
            messages.push({ type: msg.header.msg_type, content });
          };
          const reply = await future.done.catch(e => ({ content: { status: "rejected", evalue: String(e) } }));
          return { reply: reply.content, messages };
        };
        """;

    [Fact]
    public async Task The_jupyterlab_services_client_runs_cells_that_keep_state_gets_streams_results_plots_and_errors_interrupts_restarts_and_shuts_down()
    {
        var output = LastLine(await NodeClients.RunAsync("jupyter-kernels", $$"""
            import { KernelManager, KernelAPI, ServerConnection } from "@jupyterlab/services";
            const serverSettings = ServerConnection.makeSettings({ baseUrl: process.argv[2], token: process.argv[3] });
            const kernels = new KernelManager({ serverSettings });
            {{RunCell}}
            const kernel = await kernels.startNew({ name: "python3" });
            const info = await kernel.info;
            const set = await run(kernel, "x = 20\nprint('set', x)");
            const value = await run(kernel, "x + 22");
            const error = await run(kernel, "def boom():\n    return 1 / 0\nboom()");

            // An endless loop, interrupted once it has printed (its print arrives while it still runs).
            let looping;
            const printed = new Promise(resolve => looping = resolve);
            const loop = kernel.requestExecute({ code: "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.05)" });
            const loopMessages = [];
            loop.onIOPub = msg => { if (msg.header.msg_type !== "status") loopMessages.push(msg.header.msg_type); if (msg.header.msg_type === "stream") looping(); };
            await printed;
            await kernel.interrupt();
            const interrupted = (await loop.done.catch(e => ({ content: { status: "rejected" } }))).content;
            const survived = await run(kernel, "x");

            await kernel.restart();
            const restarted = await run(kernel, "'x' in dir()");

            const data = await kernels.startNew({ name: "python-3.11-data" });
            const plot = await run(data, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()");
            const listed = (await KernelAPI.listRunning(serverSettings)).map(k => k.id);

            await kernel.shutdown();
            await data.shutdown();
            const gone = await KernelAPI.getKernelModel(kernel.id, serverSettings);
            kernels.dispose();
            console.log(JSON.stringify({ id: kernel.id, dataId: data.id, protocol: info.protocol_version, language: info.language_info.name,
              set, value, error, loopMessages, interrupted, survived, restarted, plot, listed, gone: gone === undefined }));
            """, stack.Gateway.BaseAddress!.ToString(), stack.Key));

        Assert.Equal(("5.3", "python"), (output.GetProperty("protocol").GetString(), output.GetProperty("language").GetString()));
        var set = output.GetProperty("set");
        Assert.Equal("ok", set.GetProperty("reply").GetProperty("status").GetString());
        // print() writes its text and its line end apart: one stream message or two, as they leave the sandbox.
        Assert.Equal(["execute_input", "stream"], Types(set).Distinct());
        Assert.Equal("set 20\n", string.Concat(set.GetProperty("messages").EnumerateArray().Skip(1).Select(m => m.GetProperty("content").GetProperty("text").GetString())));

        var value = output.GetProperty("value");
        Assert.Equal(["execute_input", "execute_result"], Types(value));
        var result = value.GetProperty("messages")[1].GetProperty("content");
        Assert.Equal(("42", 2), (result.GetProperty("data").GetProperty("text/plain").GetString(), result.GetProperty("execution_count").GetInt32()));
        Assert.Equal(2, value.GetProperty("reply").GetProperty("execution_count").GetInt32());
        Assert.Equal(2, value.GetProperty("messages")[0].GetProperty("content").GetProperty("execution_count").GetInt32());

        var error = output.GetProperty("error");
        Assert.Equal(("error", "ZeroDivisionError"), (error.GetProperty("reply").GetProperty("status").GetString(),
            error.GetProperty("reply").GetProperty("ename").GetString()));
        var raised = error.GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("type").GetString() == "error").GetProperty("content");
        Assert.Contains("boom", string.Join("\n", raised.GetProperty("traceback").EnumerateArray().Select(l => l.GetString())), StringComparison.Ordinal);

        Assert.Equal("stream", output.GetProperty("loopMessages")[1].GetString());
        Assert.Equal(("error", "KeyboardInterrupt"), (output.GetProperty("interrupted").GetProperty("status").GetString(),
            output.GetProperty("interrupted").GetProperty("ename").GetString()));
        Assert.Equal("20", Result(output.GetProperty("survived")));
        Assert.Equal("False", Result(output.GetProperty("restarted")));
        Assert.Equal(1, output.GetProperty("restarted").GetProperty("reply").GetProperty("execution_count").GetInt32());

        var display = output.GetProperty("plot").GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("type").GetString() == "display_data");
        Assert.Equal("iVBORw0K", display.GetProperty("content").GetProperty("data").GetProperty("image/png").GetString()); // PNG's signature in base64
        Assert.Contains(output.GetProperty("id").GetString(), output.GetProperty("listed").EnumerateArray().Select(i => i.GetString()));
        Assert.Contains(output.GetProperty("dataId").GetString(), output.GetProperty("listed").EnumerateArray().Select(i => i.GetString()));
        Assert.True(output.GetProperty("gone").GetBoolean());

        // The kernel was one of Executor's sandboxes, and shutting it down ended it.
        var sandboxId = "sbx_" + output.GetProperty("id").GetString()!.Replace("-", "", StringComparison.Ordinal);
        using var client = stack.WithKey();
        var sandbox = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/{sandboxId}");
        Assert.Equal(("ended", "deleted by its owner"), (sandbox.GetProperty("state").GetString(), sandbox.GetProperty("ended_reason").GetString()));
    }

    [Fact]
    public async Task Debian_jupyter_server_with_executor_as_its_gateway_runs_a_notebook_cell_on_an_executor_sandbox()
    {
        await using var server = await JupyterServer.StartAsync(stack.Gateway.BaseAddress!, stack.Key);
        var output = LastLine(await NodeClients.RunAsync("jupyter-gateway", $$"""
            import { KernelAPI, KernelManager, SessionManager, ServerConnection } from "@jupyterlab/services";
            const serverSettings = ServerConnection.makeSettings({ baseUrl: process.argv[2], token: process.argv[3] });
            const kernelManager = new KernelManager({ serverSettings });
            const sessions = new SessionManager({ serverSettings, kernelManager });
            {{RunCell}}
            const session = await sessions.startNew({ path: "analysis.ipynb", name: "analysis.ipynb", type: "notebook", kernel: { name: "python3" } });
            const kernel = session.kernel;
            await kernel.info;
            const first = await run(kernel, "y = 6 * 7\nprint('printed', y)");
            const second = await run(kernel, "y + 1");
            const onExecutor = (await KernelAPI.listRunning(ServerConnection.makeSettings({ baseUrl: process.argv[4], token: process.argv[5] }))).map(k => k.id);
            await session.shutdown();
            sessions.dispose();
            kernelManager.dispose();
            console.log(JSON.stringify({ kernelId: kernel.id, first, second, onExecutor }));
            """, server.BaseAddress, server.Token, stack.Gateway.BaseAddress!.ToString(), stack.Key));

        var first = output.GetProperty("first");
        Assert.Equal("ok", first.GetProperty("reply").GetProperty("status").GetString());
        Assert.Equal("printed 42\n", first.GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("type").GetString() == "stream")
            .GetProperty("content").GetProperty("text").GetString());
        Assert.Equal("43", Result(output.GetProperty("second")));
        var kernelId = output.GetProperty("kernelId").GetString();
        Assert.Contains(kernelId, output.GetProperty("onExecutor").EnumerateArray().Select(k => k.GetString()));
        using var client = stack.WithKey();
        var sandbox = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/sbx_{kernelId!.Replace("-", "", StringComparison.Ordinal)}");
        Assert.Equal("ended", sandbox.GetProperty("state").GetString());
    }

    [Fact]
    public async Task The_benchmark_script_starts_kernels_and_times_their_first_cell()
    {
        var script = await File.ReadAllTextAsync(Path.Combine(NodeClients.Root, "bench-jupyter.mjs"));
        var output = LastLine(await NodeClients.RunAsync("bench-jupyter", script, stack.Gateway.BaseAddress!.ToString(), stack.Key, "3"));

        log.WriteLine(output.ToString());
        Assert.Equal(("jupyter", 3), (output.GetProperty("surface").GetString(), output.GetProperty("n").GetInt32()));
        Assert.True(output.GetProperty("total_ms").GetDouble() >= output.GetProperty("start_ms").GetDouble(), output.ToString());
    }

    /// <summary>The script's JSON: its last line (the client logs its own lines before it).</summary>
    private static JsonElement LastLine(string output) =>
        JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1]).RootElement;

    private static string[] Types(JsonElement cell) =>
        [.. cell.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("type").GetString()!)];

    private static string? Result(JsonElement cell) =>
        cell.GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("type").GetString() == "execute_result")
            .GetProperty("content").GetProperty("data").GetProperty("text/plain").GetString();
}

/// <summary>
/// Debian's Jupyter Server (python3-jupyter-server 1.23) with Executor as its gateway, on a free loopback port with a
/// token of its own; its configuration and runtime files in a directory of its own.
/// </summary>
public sealed class JupyterServer(Process process, string directory, string baseAddress, string token) : IAsyncDisposable
{
    private readonly Process _process = process;
    private readonly StringBuilder _log = new();

    public string BaseAddress { get; } = baseAddress;

    public string Token { get; } = token;

    public static async Task<JupyterServer> StartAsync(Uri gateway, string key)
    {
        Assert.True(File.Exists("/usr/lib/python3/dist-packages/jupyter_server/__init__.py"),
            "Debian's python3-jupyter-server is not installed (apt-get install python3-jupyter-server)");
        var directory = Directory.CreateTempSubdirectory("executor-jupyter-server-").FullName;
        var port = StackFixture.FreePort();
        var token = Guid.NewGuid().ToString("N");
        var start = new ProcessStartInfo("/usr/bin/python3",
        [
            "-m", "jupyter_server", "--no-browser", "--allow-root", // the tests may run as root
            "--ServerApp.ip=127.0.0.1", $"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            $"--ServerApp.token={token}", $"--ServerApp.root_dir={directory}",
            $"--gateway-url={gateway.GetLeftPart(UriPartial.Authority)}", $"--GatewayClient.auth_token={key}",
        ])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory,
        };
        foreach (var variable in (string[])["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"])
        {
            start.Environment[variable] = Path.Combine(directory, ".jupyter");
        }
        var server = new JupyterServer(Process.Start(start)!, directory, $"http://127.0.0.1:{port}/", token);
        server._process.OutputDataReceived += (_, e) => server.Collect(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.Collect(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        using var probe = new HttpClient();
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            Assert.False(server._process.HasExited, $"jupyter server ended: {server.Log}");
            try
            {
                using var response = await probe.GetAsync($"{server.BaseAddress}api/status?token={token}");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "Jupyter Server answers");
        return server;
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private void Collect(string? line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Directory.Delete(directory, recursive: true);
    }
}
