using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Executor.EndToEndTests;

/// <summary>The MCP server at /mcp on the gateway, driven by the two official SDKs' clients: C# and TypeScript.</summary>
[Collection(StackCollection.Name)]
public sealed class McpTests(StackFixture stack)
{
    private const string Plot = """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
        ax.bar(["a", "b", "c"], [3, 1, 2])
        fig.savefig("out/bars.png")
        with open("out/summary.csv", "w") as f:
            f.write("label,value\na,3\n")
        print("plotted")
        """;

    private Uri Endpoint => new(stack.Gateway.BaseAddress!, "/mcp");

    [Fact]
    public async Task The_csharp_sdk_client_lists_the_tools_runs_hello_world_and_gets_a_plot_back_as_an_image()
    {
        await using var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = Endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
        }));

        var tools = await client.ListToolsAsync();
        Assert.Equal(["list_runtimes", "run_python"], tools.Select(t => t.Name).Order());
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

    [Fact]
    public async Task The_typescript_sdk_client_lists_the_tools_runs_hello_world_and_gets_a_plot_back()
    {
        var output = JsonDocument.Parse(await NodeClients.RunAsync("mcp", $$"""
            import { Client } from "@modelcontextprotocol/sdk/client/index.js";
            import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
            const client = new Client({ name: "executor-e2e", version: "1.0.0" });
            await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
            const tools = await client.listTools();
            const hello = await client.callTool({ name: "run_python", arguments: { code: "print('Hello from Python')" } });
            const plot = await client.callTool({ name: "run_python", arguments: { runtime: "python-3.11-data", code: {{JsonSerializer.Serialize(Plot)}} } });
            await client.close();
            console.log(JSON.stringify({ tools: tools.tools.map(t => t.name), hello, plot }));
            """, Endpoint.ToString())).RootElement;

        Assert.Equal(["list_runtimes", "run_python"], output.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).Order());
        var hello = output.GetProperty("hello").GetProperty("content")[0];
        Assert.Equal("text", hello.GetProperty("type").GetString());
        Assert.Equal("Hello from Python\n", JsonDocument.Parse(hello.GetProperty("text").GetString()!).RootElement.GetProperty("stdout").GetString());
        var image = output.GetProperty("plot").GetProperty("content").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "image");
        Assert.Equal("image/png", image.GetProperty("mimeType").GetString());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(image.GetProperty("data").GetString()!)[..4]);
    }
}
