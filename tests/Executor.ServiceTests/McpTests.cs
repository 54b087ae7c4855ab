using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Executor.ServiceTests;

/// <summary>
/// The MCP server's shapes at /mcp on the gateway, driven by the C# SDK's client: its tools, a run's summary, the files a
/// run hands back as an image and an embedded resource, a refusal. The runner host hands back the plot a real run would
/// draw; the end-to-end suite drives the TypeScript SDK's client against real runs.
/// </summary>
public sealed class McpTests : IClassFixture<SessionServiceFixture>
{
    private static readonly byte[] Png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0];

    /// <summary>A script that saves a figure and a CSV to out/ (the runner host answers it with both files).</summary>
    private const string Plot = "fig.savefig('out/bars.png')\nopen('out/summary.csv', 'w').write('label,value\\na,3\\n')\n";

    private readonly SessionServiceFixture _service;

    public McpTests(SessionServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => Runs.Script(job).Contains("savefig", StringComparison.Ordinal)
            ? Runs.Completed("plotted\n").WithFiles(("bars.png", Png), ("summary.csv", "label,value\na,3\n"u8.ToArray()))
            : Runs.Echo(job);
        _service.Host.RespondToCall = job => job.Sandbox!.Code!.Contains("plt", StringComparison.Ordinal)
            ? Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok, 2, [Runs.Output(new Dictionary<string, object>
            {
                ["output_type"] = "display_data", ["metadata"] = new Dictionary<string, string>(),
                ["data"] = new Dictionary<string, string> { ["image/png"] = Convert.ToBase64String(Png), ["text/plain"] = "<Figure size 640x480 with 1 Axes>" },
            })]))
            : Runs.EchoCall(job);
    }

    [Fact]
    public async Task The_sandbox_tools_keep_a_sandbox_across_calls_give_plots_as_images_move_files_and_close_it()
    {
        await using var client = await _service.McpClientAsync();

        var created = await client.CallToolAsync("sandbox_create", new Dictionary<string, object?>());
        Assert.True(created.IsError != true, created.Content.OfType<TextContentBlock>().FirstOrDefault()?.Text);
        var id = JsonDocument.Parse(created.Content.OfType<TextContentBlock>().First().Text).RootElement.GetProperty("sandbox_id").GetString()!;

        var call = await client.CallToolAsync("sandbox_run", new Dictionary<string, object?> { ["sandboxId"] = id, ["code"] = "x + 1" });
        Assert.True(call.IsError != true, string.Join("\n", call.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        var texts = call.Content.OfType<TextContentBlock>().Select(t => t.Text).ToList();
        Assert.Equal("ok", JsonDocument.Parse(texts[0]).RootElement.GetProperty("status").GetString());
        Assert.Equal("x + 1", texts[1]);
        var plot = await client.CallToolAsync("sandbox_run", new Dictionary<string, object?> { ["sandboxId"] = id, ["code"] = "plt.plot([1, 2])" });
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Assert.Single(plot.Content.OfType<ImageContentBlock>()).DecodedData.ToArray()[..4]);

        var upload = await client.CallToolAsync("sandbox_upload", new Dictionary<string, object?> { ["sandboxId"] = id, ["path"] = "notes.txt", ["text"] = "kept" });
        Assert.NotEqual(true, upload.IsError);
        var download = await client.CallToolAsync("sandbox_download", new Dictionary<string, object?> { ["sandboxId"] = id, ["path"] = "notes.txt" });
        Assert.Equal("kept", download.Content.OfType<TextContentBlock>().Single().Text);
        var list = await client.CallToolAsync("sandbox_list_files", new Dictionary<string, object?> { ["sandboxId"] = id });
        Assert.Contains("notes.txt", list.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);

        var closed = await client.CallToolAsync("sandbox_close", new Dictionary<string, object?> { ["sandboxId"] = id });
        Assert.Contains("\"state\": \"ended\"", closed.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);
        var late = await client.CallToolAsync("sandbox_run", new Dictionary<string, object?> { ["sandboxId"] = id, ["code"] = "x" });
        Assert.True(late.IsError);
        Assert.Contains("ended", late.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_csharp_sdk_client_lists_the_tools_runs_hello_world_and_gets_a_plot_back_as_an_image()
    {
        await using var client = await _service.McpClientAsync();

        var tools = await client.ListToolsAsync();
        Assert.Equal(["grade", "list_runtimes", "run_code", "run_python", "sandbox_close", "sandbox_create", "sandbox_download", "sandbox_list_files", "sandbox_run",
            "sandbox_upload"], tools.Select(t => t.Name).Order(StringComparer.Ordinal));
        var run = tools.Single(t => t.Name == "run_python");
        Assert.Contains("no network", run.Description, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("numpy", run.Description, StringComparison.Ordinal);

        var hello = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "print('Hello from Python')" });
        Assert.NotEqual(true, hello.IsError);
        var summary = JsonDocument.Parse(hello.Content.OfType<TextContentBlock>().First().Text).RootElement;
        Assert.Equal(("completed", "Hello from Python\n", 0), (summary.GetProperty("status").GetString(), summary.GetProperty("stdout").GetString(),
            summary.GetProperty("exit_code").GetInt32()));

        var plot = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = Plot, ["runtime"] = "python-3.11-data" });
        var image = Assert.Single(plot.Content.OfType<ImageContentBlock>());
        Assert.Equal("image/png", image.MimeType);
        var png = image.DecodedData.ToArray();
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var csv = Assert.Single(plot.Content.OfType<EmbeddedResourceBlock>());
        Assert.Equal("label,value\na,3\n", Assert.IsType<TextResourceContents>(csv.Resource).Text);

        var runtimes = await client.CallToolAsync("list_runtimes", new Dictionary<string, object?>());
        Assert.Contains("pandas", runtimes.Content.OfType<TextContentBlock>().First().Text, StringComparison.Ordinal);

        var refused = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "print(1)", ["runtime"] = "cobol" });
        Assert.True(refused.IsError);
        Assert.Contains("cobol", refused.Content.OfType<TextContentBlock>().First().Text, StringComparison.Ordinal);
    }
}

/// <summary>How the service tests reach the MCP server.</summary>
public static class McpClients
{
    /// <summary>The C# SDK's client of the service's MCP server, through the gateway, as an anonymous caller.</summary>
    public static Task<McpClient> McpClientAsync(this SessionServiceFixture service) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(service.Client.BaseAddress!, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, service.Client));
}
