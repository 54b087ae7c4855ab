using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Executor.ServiceTests;

/// <summary>
/// The MCP server's shapes at /mcp on the gateway, driven by the C# SDK's client: its tools, a run's summary, the files a
/// run hands back as an image and an embedded resource, a refusal. The end-to-end suite drives both SDKs' clients
/// against real runs.
/// </summary>
public sealed class McpTests : IClassFixture<SessionServiceFixture>
{
    private static readonly byte[] Png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0];

    private readonly SessionServiceFixture _service;

    public McpTests(SessionServiceFixture service)
    {
        _service = service;
        _service.Host.Respond = job => Runs.Script(job).Contains("savefig", StringComparison.Ordinal)
            ? Runs.Completed("plotted\n").WithFiles(("bars.png", Png), ("summary.csv", "label,value\na,3\n"u8.ToArray()))
            : Runs.Echo(job);
    }

    [Fact]
    public async Task The_tools_are_listed_a_run_is_summarised_and_its_files_come_back_as_an_image_and_a_resource()
    {
        await using var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(_service.Client.BaseAddress!, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, _service.Client));

        var tools = await client.ListToolsAsync();
        Assert.Equal(["list_runtimes", "run_python"], tools.Select(t => t.Name).Order());
        Assert.Contains("no network", tools.Single(t => t.Name == "run_python").Description, StringComparison.OrdinalIgnoreCase);

        var hello = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "print('Hello from Python')" });
        Assert.NotEqual(true, hello.IsError);
        var summary = JsonDocument.Parse(hello.Content.OfType<TextContentBlock>().First().Text).RootElement;
        Assert.Equal(("completed", "Hello from Python\n", 0), (summary.GetProperty("status").GetString(), summary.GetProperty("stdout").GetString(),
            summary.GetProperty("exit_code").GetInt32()));

        var plot = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "fig.savefig('out/bars.png')", ["runtime"] = "python-3.11-data" });
        var image = Assert.Single(plot.Content.OfType<ImageContentBlock>());
        Assert.Equal("image/png", image.MimeType);
        Assert.Equal(Png, image.DecodedData.ToArray());
        var csv = Assert.Single(plot.Content.OfType<EmbeddedResourceBlock>());
        Assert.Equal("label,value\na,3\n", Assert.IsType<TextResourceContents>(csv.Resource).Text);

        var runtimes = await client.CallToolAsync("list_runtimes", new Dictionary<string, object?>());
        Assert.Contains("pandas", runtimes.Content.OfType<TextContentBlock>().First().Text, StringComparison.Ordinal);

        var refused = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "print(1)", ["runtime"] = "cobol" });
        Assert.True(refused.IsError);
        Assert.Contains("cobol", refused.Content.OfType<TextContentBlock>().First().Text, StringComparison.Ordinal);
    }
}
